"""The console's HTML: the Jinja2 environment (auto-escaping), its filters, and rendering."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import config as ticket_config
from tickets.policy import load_policy
from tickets.queries import CHANNEL_LABELS

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
templates = Environment(
    loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
)
#: The answer to a form sent from a page older than the session.
STALE_FORM = "表单已过期，请刷新页面后重试"


def local(moment: datetime) -> datetime:
    """A stored moment (UTC) in the display time zone."""
    return moment.astimezone(ticket_config.DISPLAY_TZ)


def iso(moment: datetime | None) -> str | None:
    """A stored moment as ISO 8601 in the display time zone (the JSON API's form)."""
    return local(moment).isoformat() if moment else None


def _short(moment: datetime | None) -> str:
    return local(moment).strftime("%m-%d %H:%M") if moment else ""


def _short_iso(text: str | None) -> str:
    """An ISO timestamp from a transcript, shown like ``_short`` with seconds; "" if unreadable."""
    try:
        return local(datetime.fromisoformat(text or "")).strftime("%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return ""


templates.filters["local"] = _short
templates.filters["local_iso"] = _short_iso


def render(name: str, request: Request, status: int = 200, **values: Any) -> HTTPResponse:
    """The page ``console/<name>`` with the request's CSRF token, the priority policy and the
    channels' names (``channel_labels``: name -> label, in the channels' order)."""
    page = templates.get_template(f"console/{name}").render(
        csrf=getattr(request.ctx, "csrf", ""),
        policy=load_policy(),
        channel_labels=CHANNEL_LABELS,
        **values,
    )
    return response.html(page, status=status, headers={"Cache-Control": "no-store"})


def message(request: Request, me: Any, text: str, status: int) -> HTTPResponse:
    """A page saying one thing: a refusal, a missing ticket, a stale form."""
    return render("message.html", request, status=status, me=me, text=text)
