"""The support mailbox in the console: every mail that came in (with what became of it: a new
ticket, a reply on one, an automatic mail left unanswered, one too large or unreadable that
got a clear answer) and every mail the desk sends (waiting, sent, failed), and the raw copy of
a mail that came in, for staff to open in their own mail program."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import mail_store
from tickets.staff import Staff
from web.console.auth import ticket_workers_only
from web.console.pages import message, render
from web.console.ticket_pages import ATTACHMENT_HEADERS

routes = Blueprint("console_mail")


@routes.get("/mail")
@ticket_workers_only
async def mailbox(request: Request, person: Staff) -> HTTPResponse:
    only = request.args.get("look") == "1"
    lines = await asyncio.to_thread(mail_store.mailbox_log, needs_a_look=only)
    count = await asyncio.to_thread(mail_store.needs_a_look_count)
    return render(
        "mail.html",
        request,
        me=person,
        lines=lines,
        only=only,
        look_count=count,
        needs_a_look=mail_store.NEEDS_A_LOOK,
    )


@routes.get("/mail/<mail_id:int>/raw")
@ticket_workers_only
async def raw_mail(request: Request, person: Staff, mail_id: int) -> HTTPResponse:
    """The raw copy, as a download (``.eml``): never rendered by the browser."""
    raw = await asyncio.to_thread(mail_store.raw_of, mail_id, actor_id=person.id)
    if raw is None:
        return message(request, person, "没有这封邮件的原始副本", 404)
    return response.raw(
        raw,
        content_type="application/octet-stream",
        headers={
            **ATTACHMENT_HEADERS,
            "Content-Disposition": f'attachment; filename="mail-{mail_id}.eml"',
        },
    )
