"""The console's JSON API for tickets (bearer tokens from ``make staff-token``): the same
queue, ticket and operations as the pages."""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import queries, workflow
from tickets.staff import Staff
from web.console import operations
from web.console.auth import api_error, ticket_api
from web.console.pages import iso

routes = Blueprint("console_api", url_prefix="/api")


def summary_json(ticket: queries.TicketSummary) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "channel": ticket.channel,
        "category": ticket.category,
        "category_unsure": ticket.category_unsure,
        "priority": ticket.priority,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "reason": ticket.reason,
        "created_at": iso(ticket.created_at),
        "sla_due_at": iso(ticket.sla_due_at),
        "first_response_at": iso(ticket.first_response_at),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
        "resolution_due_at": iso(ticket.resolution_due_at),
        "update_due_at": iso(ticket.update_due_at),
        "paused_since": iso(ticket.paused_since),
        "overdue": ticket.overdue,
    }


def detail_json(ticket: queries.TicketDetail) -> dict[str, Any]:
    """One ticket with its transcript and audit trail; the contact always masked."""
    return summary_json(ticket) | {
        "steps_tried": ticket.steps_tried,
        "transcript": ticket.transcript,
        "contact": {"phone": ticket.contact.phone, "email": ticket.contact.email},
        "audit": [
            {"kind": e.kind, "actor": e.actor, "detail": e.detail, "at": iso(e.at)}
            for e in ticket.trail
        ],
        "sla": {
            "paused_seconds": ticket.paused_seconds,
            "clocks": [
                {
                    "clock": c.name,
                    "cycle": c.cycle,
                    "target_hours": c.target_hours,
                    "due_at": iso(c.due_at),
                    "stopped_at": iso(c.stopped_at),
                    "state": c.state,
                }
                for c in ticket.clocks
            ],
            "events": [
                {
                    "clock": m.clock,
                    "kind": m.kind,
                    "cycle": m.cycle,
                    "due_at": iso(m.due_at),
                    "at": iso(m.at),
                }
                for m in ticket.sla_marks
            ],
        },
    }


@routes.get("/tickets")
@ticket_api
async def list_tickets(request: Request, person: Staff) -> HTTPResponse:
    filters = queries.QueueFilters.from_mapping(
        {k: request.args.get(k) for k in queries.FILTER_KEYS}
    )
    found = await asyncio.to_thread(queries.queue, filters)
    body = {"tickets": [summary_json(t) for t in found.tickets], "counts": found.counts}
    return response.json(body, ensure_ascii=False)


@routes.get("/tickets/<number>")
@ticket_api
async def get_ticket(request: Request, person: Staff, number: str) -> HTTPResponse:
    ticket = await asyncio.to_thread(queries.ticket_detail, number[:32])
    if ticket is None:
        return api_error("工单不存在", 404)
    return response.json(detail_json(ticket), ensure_ascii=False)


@routes.post("/tickets/<number>/<action>")
@ticket_api
async def change_ticket(request: Request, person: Staff, number: str, action: str) -> HTTPResponse:
    body = request.json if isinstance(request.json, dict) else {}
    fields = {str(key): str(value) for key, value in body.items() if value is not None}
    try:
        outcome = await operations.perform(number[:32], person, action, fields)
    except operations.UnknownOperation:
        return api_error("未知操作", 404)
    except workflow.TicketNotFound:
        return api_error("工单不存在", 404)
    except workflow.WorkflowError as exc:
        return api_error(str(exc), 409)
    answer: dict[str, Any] = {"ok": True}
    if outcome.delivered is not None:
        answer["delivered"] = outcome.delivered
    if outcome.warning is not None:
        answer["warning"] = outcome.warning
    return response.json(answer, ensure_ascii=False)
