"""The console's ticket pages: the queue, one ticket, and its forms (for agents and
supervisors; every change through ``web.console.operations``)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any
from urllib.parse import quote

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from playbook.sourcefile import SourceError
from tickets import duty, quality, queries, workflow
from tickets.models import TICKET_STATUSES
from tickets.policy import load_policy
from tickets.quality_policy import SCORES, load_quality_policy
from tickets.staff import Staff
from web.console import operations
from web.console.auth import ticket_forms, ticket_workers_only
from web.console.pages import message, render

logger = logging.getLogger(__name__)
routes = Blueprint("console_tickets")
#: The form fields an operation may read, and the longest value taken from each.
FORM_FIELDS = ("to", "note", "text", "assignee", "priority", "reason")
MAX_FIELD = 10_000


@routes.get("/")
@ticket_workers_only
async def queue(request: Request, person: Staff) -> HTTPResponse:
    filters = queries.QueueFilters.from_mapping(
        {k: request.args.get(k) for k in queries.FILTER_KEYS}
    )
    found = await asyncio.to_thread(queries.queue, filters)
    on_duty = await asyncio.to_thread(duty.is_available, person)
    levels = load_policy().levels
    return render(
        "queue.html",
        request,
        me=person,
        on_duty=on_duty,
        queue=found,
        filters=filters,
        statuses=TICKET_STATUSES,
        priority_labels={name: level.label for name, level in levels.items()},
        refresh_ms=int(os.environ.get("CONSOLE_REFRESH_MS", "20000")),
    )


@routes.get("/tickets/<number>")
@ticket_workers_only
async def ticket_page(request: Request, person: Staff, number: str) -> HTTPResponse:
    ticket = await asyncio.to_thread(queries.ticket_detail, number[:32])
    if ticket is None:
        return message(request, person, "工单不存在", 404)
    return await ticket_view(
        request,
        person,
        ticket,
        error=request.args.get("error"),
        reviewed=request.args.get("reviewed") == "1",
    )


async def ticket_view(
    request: Request,
    person: Staff,
    ticket: queries.TicketDetail,
    *,
    status: int = 200,
    **values: Any,
) -> HTTPResponse:
    """The ticket page; for a supervisor with the ticket's spot-check sample and its scorecard
    (``web.console.quality_pages``). A broken spot-check policy leaves the rest of the page."""
    try:
        qa_policy = load_quality_policy()
    except SourceError as exc:
        logger.error("spot-check policy unreadable: %s", exc)
        qa_policy = None
    qa = None
    if person.is_supervisor and qa_policy is not None:
        qa = await asyncio.to_thread(quality.ticket_sample, ticket.number)
    return render(
        "ticket.html",
        request,
        status=status,
        me=person,
        ticket=ticket,
        qa=qa,
        qa_policy=qa_policy,
        qa_names={c.id: c.name for c in qa_policy.criteria} if qa_policy else {},
        scores=SCORES,
        **values,
    )


@routes.post("/tickets/<number>/reveal")
@ticket_forms
async def reveal_contact(request: Request, person: Staff, number: str) -> HTTPResponse:
    """The full contact details, shown once the view is in the audit trail."""
    number = number[:32]
    try:
        await asyncio.to_thread(workflow.reveal_contact, number, person)
    except workflow.WorkflowError as exc:
        return message(request, person, str(exc), 404)
    ticket = await asyncio.to_thread(queries.ticket_detail, number, reveal=True)
    if ticket is None:  # tickets are never deleted; this is belt and braces
        return message(request, person, "工单不存在", 404)
    return await ticket_view(request, person, ticket)


@routes.post("/tickets/<number>/<action>")
@ticket_forms
async def ticket_form(request: Request, person: Staff, number: str, action: str) -> HTTPResponse:
    number = number[:32]
    fields = {key: (request.form.get(key) or "")[:MAX_FIELD] for key in FORM_FIELDS}
    try:
        outcome = await operations.perform(number, person, action, fields)
        error = outcome.warning
    except operations.UnknownOperation:
        return message(request, person, "未知操作", 404)
    except workflow.WorkflowError as exc:
        error = str(exc)
    target = f"/console/tickets/{number}"
    if error:
        target += "?error=" + quote(error)
    return response.redirect(target)
