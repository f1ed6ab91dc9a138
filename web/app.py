"""A small Sanic app serving the support widget on port 8000.

- ``/``                 the help screen with the chat widget (static files in ``web/static``)
- ``/config.js``        where the widget finds Rasa's socket.io endpoint
- ``/vendor/socket.io.min.js``  the socket.io client, installed from npm by ``make setup``
- ``/vendor/mermaid.min.js``    Mermaid (the console's flow diagrams), installed the same way
- ``/vendor/echarts.min.js``    Apache ECharts (the dashboard's trends), installed the same way
- ``POST /api/session`` a new widget session, ``{"session_id", "token"}``
  (channels/widget_session.py)
- ``/api/history/<id>`` the user and bot turns of one conversation, so a reloaded page shows
  its history; only with the session's token in ``X-Dy-Session`` (never in the URL).
- ``/ready``            whether the ticket database answers (for the load balancer).
- ``/feedback/<token>`` the follow-up page of an e-mail ticket (web/feedback_pages.py).
"""

from __future__ import annotations

import asyncio
import gc
import html
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from channels.widget_session import (
    TOKEN_HEADER,
    SessionSecretMissing,
    WidgetSessions,
    is_session_id,
)
from playbook.domain import DomainUnreadable, domain_texts
from playbook.sourcefile import SourceError
from tickets import assignment, db, notifications, quality, sla_sweeper
from tickets.transcript import conversation_turns
from web import rasa_client

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent
STATIC = ROOT / "static"
PLACEHOLDER_RE = re.compile(r"\{\{(utter_widget_[a-z_]+)\}\}")
SOCKET_IO_CLIENT = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
MERMAID = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
ECHARTS = ROOT / "node_modules" / "echarts" / "dist" / "echarts.min.js"
HIDDEN_PAYLOADS = {"/greet"}  # the widget's silent opener


def history_from_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User and bot turns as the widget shows them: button payloads become their titles."""
    history: list[dict[str, Any]] = []
    for turn in conversation_turns(events):
        if turn.role == "user":
            if (turn.payload or turn.text) not in HIDDEN_PAYLOADS:
                history.append({"role": "user", "text": turn.text, "ts": turn.timestamp})
            continue
        entry: dict[str, Any] = {
            "role": "bot",
            "text": turn.text,
            "ts": turn.timestamp,
            "buttons": [{"title": title, "payload": payload} for title, payload in turn.buttons],
        }
        if turn.image:
            entry["image"] = turn.image
        history.append(entry)
    return history


def widget_strings() -> dict[str, str]:
    """The page's own words (title, placeholder, connection states) from domain.yml."""
    try:
        responses = domain_texts().responses
    except DomainUnreadable as exc:
        logger.error("widget strings unavailable: %s", exc)
        return {}
    return {key: text for key, text in responses.items() if key.startswith("utter_widget_")}


def create_app(name: str = "dy_web") -> Sanic:
    """The web app; raises SessionSecretMissing at once when DY_SESSION_SECRET is unset."""
    sessions = WidgetSessions.from_environment()
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"

    @app.get("/")
    async def index(_: Request) -> HTTPResponse:
        strings = widget_strings()
        page = PLACEHOLDER_RE.sub(
            lambda m: html.escape(strings.get(m.group(1), "")),
            (STATIC / "index.html").read_text(encoding="utf-8"),
        )
        return response.html(page)

    @app.get("/favicon.ico")
    async def favicon(_: Request) -> HTTPResponse:
        return response.empty()

    @app.get("/config.js")
    async def config(_: Request) -> HTTPResponse:
        settings = {
            "rasaUrl": os.environ.get("RASA_PUBLIC_URL") or "",
            "rasaPort": int(os.environ.get("RASA_PORT", "5005")),
            "strings": widget_strings(),
        }
        return response.text(
            f"window.DY_CONFIG = {json.dumps(settings, ensure_ascii=False)};",
            content_type="application/javascript",
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/vendor/socket.io.min.js")
    async def socket_io(_: Request) -> HTTPResponse:
        if not SOCKET_IO_CLIENT.exists():
            return response.json({"error": "socket.io client missing: run make setup"}, status=500)
        return await response.file(SOCKET_IO_CLIENT, mime_type="application/javascript")

    @app.get("/vendor/mermaid.min.js")
    async def mermaid(_: Request) -> HTTPResponse:
        if not MERMAID.exists():
            return response.json({"error": "mermaid missing: run make setup"}, status=500)
        return await response.file(
            MERMAID,
            mime_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/vendor/echarts.min.js")
    async def echarts(_: Request) -> HTTPResponse:
        if not ECHARTS.exists():
            return response.json({"error": "echarts missing: run make setup"}, status=500)
        return await response.file(
            ECHARTS,
            mime_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.post("/api/session")
    async def new_session(_: Request) -> HTTPResponse:
        """A new widget session, signed here; Rasa's socket.io channel verifies it."""
        issued = sessions.issue()
        return response.json(
            {"session_id": issued.session_id, "token": issued.token},
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/api/history/<session_id>")
    async def history(request: Request, session_id: str) -> HTTPResponse:
        if not is_session_id(session_id):
            return response.json({"error": "invalid session id"}, status=400)
        token = request.headers.get(TOKEN_HEADER)
        if not token:
            return response.json(
                {"error": f"session token required in the {TOKEN_HEADER} header"}, status=403
            )
        if not sessions.verify(session_id, token):
            return response.json({"error": "session token invalid or expired"}, status=403)
        try:
            events = await rasa_client.conversation_events(session_id)
        except rasa_client.RasaUnavailable as exc:
            logger.warning("history: %s", exc)
            return response.json({"error": "assistant unavailable"}, status=502)
        return response.json(
            {"session_id": session_id, "turns": history_from_events(events)},
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/ready")
    async def ready(_: Request) -> HTTPResponse:
        """Whether this web server can serve the console: the ticket database answers
        ``SELECT 1`` within a second (the load balancer takes it out otherwise)."""
        ok, checks = await db.readiness()
        return response.json({"ready": ok, **checks}, status=200 if ok else 503)

    from web.console import blueprint as console_blueprint
    from web.feedback_pages import routes as feedback_routes

    app.blueprint(console_blueprint())
    app.blueprint(feedback_routes)
    app.static("/static", str(STATIC))

    @app.after_server_start
    async def start_desk_rounds(app: Sanic, *_: Any) -> None:
        """The desk's background rounds, each every so many seconds (0 turns one off): the
        SLA sweep (``SLA_SWEEP_SECONDS``, 30), the automatic assignment (``ASSIGN_SECONDS``,
        5), the console notifications (``NOTIFY_SECONDS``, 3) and the spot-check draw of the
        periods that ended (``QA_DRAW_SECONDS``, 3600)."""
        for name, work, variable, default in (
            ("SLA sweep", sla_sweeper.sweep, "SLA_SWEEP_SECONDS", "30"),
            ("assignment", assignment.assign_waiting, "ASSIGN_SECONDS", "5"),
            ("notifications", notifications.collect, "NOTIFY_SECONDS", "3"),
            ("spot-check draw", quality.draw_due, "QA_DRAW_SECONDS", "3600"),
        ):
            seconds = float(os.environ.get(variable, default))
            if seconds > 0:
                app.add_task(rounds(name, work, seconds), name=name)

    @app.after_server_start
    async def freeze_start_up_objects(*_: Any) -> None:
        """Move what start-up made (modules, templates, the model of the policy) out of the
        garbage collector's reach: its full collections then walk only what requests made.
        At 100,000 tickets the queue page's p95 was 96-156 ms before (README, Performance)."""
        gc.collect()
        gc.freeze()

    return app


async def rounds(name: str, work: Callable[[], object], seconds: float) -> None:
    """Do ``work`` at start-up (what came due while no server ran is caught up at once) and
    every ``seconds`` after; a failed round is logged and the next one tries again."""
    while True:
        try:
            await asyncio.to_thread(work)
        # the database may be down, a policy file mid-edit: the next round catches up
        except (SQLAlchemyError, SourceError, OSError) as exc:
            logger.error("%s round failed (%s)", name, type(exc).__name__)
        await asyncio.sleep(seconds)


def run(host: str | None = None, port: int | None = None) -> None:
    try:
        app = create_app()
    except SessionSecretMissing as exc:
        raise SystemExit(f"web: {exc}") from None
    app.run(
        host=host or os.environ.get("DY_HOST", "127.0.0.1"),
        port=port or int(os.environ.get("WEB_PORT", "8000")),
        access_log=False,
    )
