"""Live parts of the console: each person's notifications (the bell in the header, polled by
``static/notifications.js`` without a reload) and the supervisor's live view of the service
promise (tickets past or near a due time, the queue's age, each person's load and duty),
whose sections refresh themselves (``static/console.js``)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import live, notifications
from tickets.staff import Staff
from web.console.auth import supervisors_only, ticket_forms, ticket_workers_only
from web.console.pages import iso, render

routes = Blueprint("console_live")
#: How often the live view refreshes itself (ms).
LIVE_REFRESH_MS = int(os.environ.get("CONSOLE_LIVE_REFRESH_MS", "5000"))


def item_json(item: notifications.Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "label": item.label,
        "text": item.text,
        "ticket": item.ticket_number,
        "at": iso(item.created_at),
        "read": item.read,
    }


@routes.get("/notifications.json")
@ticket_workers_only
async def notifications_json(request: Request, person: Staff) -> HTTPResponse:
    try:
        after = max(0, int(request.args.get("after") or 0))
    except ValueError:
        after = 0
    unread, items = await asyncio.to_thread(notifications.inbox, person.id, after=after)
    return response.json(
        {"unread": unread, "items": [item_json(i) for i in items]},
        ensure_ascii=False,
        headers={"Cache-Control": "no-store"},
    )


@routes.get("/notifications")
@ticket_workers_only
async def notifications_page(request: Request, person: Staff) -> HTTPResponse:
    unread, items = await asyncio.to_thread(notifications.inbox, person.id)
    return render("notifications.html", request, me=person, unread=unread, items=items)


@routes.post("/notifications/read")
@ticket_forms
async def mark_read(request: Request, person: Staff) -> HTTPResponse:
    """Mark one notification read (``id``) or all of them; a form answers with the page, a
    script (``Accept: application/json``) with the new unread count."""
    raw = request.form.get("id")
    ids = None
    if raw:
        try:
            ids = [int(raw)]
        except ValueError:
            ids = []
    await asyncio.to_thread(notifications.mark_read, person.id, ids)
    if "application/json" in (request.headers.get("accept") or ""):
        count = await asyncio.to_thread(notifications.unread, person.id)
        return response.json({"ok": True, "unread": count})
    target = request.form.get("back") or "/console/notifications"
    return response.redirect(target if target.startswith("/console/") else "/console/")


@routes.get("/live")
@supervisors_only("只有主管可以查看实时监控")
async def live_page(request: Request, person: Staff) -> HTTPResponse:
    view = await asyncio.to_thread(live.live_view)
    return render("live.html", request, me=person, view=view, refresh_ms=LIVE_REFRESH_MS)
