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
from tickets import duty, mail_store, quality, queries, workflow
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
FORM_FIELDS = ("to", "note", "text", "assignee", "priority", "reason", "category")
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
    mail = await asyncio.to_thread(mail_store.ticket_mail, ticket.number)
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
        mail=mail,
        **values,
    )


#: Images the console shows inline, by their first bytes (never by what the sender said).
IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
#: What a served attachment may do in the browser: nothing (no script, no plug-in, no sniffing).
ATTACHMENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


def image_type(data: bytes) -> str | None:
    """The image type of ``data`` read from its first bytes (WebP too), or None."""
    for magic, kind in IMAGE_MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def download_headers(filename: str) -> dict[str, str]:
    """``Content-Disposition: attachment`` with the file's name (RFC 6266, UTF-8)."""
    ascii_name = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in filename)
    return {
        **ATTACHMENT_HEADERS,
        "Content-Disposition": (
            f'attachment; filename="{ascii_name or "attachment"}"; '
            f"filename*=UTF-8''{quote(filename)}"
        ),
    }


@routes.get("/tickets/<number>/attachments/<attachment_id:int>")
@ticket_workers_only
async def attachment(
    request: Request, person: Staff, number: str, attachment_id: int
) -> HTTPResponse:
    """A ticket's attachment: an image inline as what its bytes are (``?download=1``: saved),
    anything else as a download; never as the content type the sender claimed."""
    found = await asyncio.to_thread(mail_store.attachment_of, number[:32], attachment_id)
    if found is None:
        return message(request, person, "附件不存在或未保存", 404)
    line, digest = found
    try:
        data = await asyncio.to_thread(mail_store.attachment_file(digest).read_bytes)
    except OSError:
        logger.error("attachment %s of a ticket is missing from the mail store", line.id)
        return message(request, person, "附件文件缺失，请联系管理员", 404)
    kind = image_type(data)
    if kind and line.inline_image and request.args.get("download") != "1":
        return response.raw(data, content_type=kind, headers=ATTACHMENT_HEADERS)
    return response.raw(
        data, content_type="application/octet-stream", headers=download_headers(line.filename)
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
