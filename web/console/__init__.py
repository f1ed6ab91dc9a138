"""The support console at /console/: staff log in, see the queue, open a ticket, work it;
supervisors and content editors see the playbooks as flow diagrams with real counts, and the
inbox of messages the assistant misunderstood, which they file as training data.

Server-rendered Jinja2 pages with auto-escaping (``pages``); a signed HttpOnly,
SameSite=Strict session cookie and a CSRF token on every form (``sessions``); who may see what
as decorators for pages and the JSON API alike (``auth``); every ticket change through the one
dispatcher (``operations``) into ``tickets.workflow``, every training label through
``tickets.labels``, and so into an audit trail with its author; showing a contact's details
is not a change but is audited the same way (``tickets.workflow.reveal_contact``). Editors
see only the flow diagrams and the inbox (masked messages, no conversation ids): no tickets,
transcripts, contact details, dashboard or export. Routes read through ``tickets.queries``:
no SQL here.
"""

from __future__ import annotations

from sanic import Blueprint
from sanic.blueprint_group import BlueprintGroup

from web.console import (
    call_pages,
    desk_pages,
    flow_pages,
    inbox_pages,
    live_pages,
    login,
    mail_pages,
    quality_pages,
    supervision,
    ticket_api,
    ticket_pages,
)


def blueprint() -> BlueprintGroup:
    """Every console route under /console (a group of one blueprint per part)."""
    return Blueprint.group(
        login.routes,
        ticket_pages.routes,
        call_pages.routes,
        desk_pages.routes,
        live_pages.routes,
        ticket_api.routes,
        supervision.routes,
        quality_pages.routes,
        flow_pages.routes,
        inbox_pages.routes,
        mail_pages.routes,
        url_prefix="/console",
    )
