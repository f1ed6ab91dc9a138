"""The action server: rasa_sdk's app with a shared secret, a readiness check, and errors that
never echo what Rasa sent.

``python -m actions.server [--port 5055]`` (``make run``, ``make scale-up``). rasa_sdk's own
server has no authentication and its 500 handler answers with the whole request body, i.e. the
user's tracker. Here:

- when ``DY_ACTION_SECRET`` is set, every request but ``/health`` and ``/ready`` needs it in the
  ``X-Dy-Action-Secret`` header (Rasa sends it from ``action_endpoint.headers`` in
  ``endpoints.yml``); a wrong or missing one is 401, compared in constant time;
- an unexpected error is logged (masked, see :mod:`tickets.privacy`) and answered with
  ``{"error": "internal error"}`` only;
- ``GET /ready`` answers 200 when the ticket database answers ``SELECT 1`` within a second,
  503 otherwise (``/health`` stays the liveness check);
- the tickets the database could not take (:mod:`tickets.outbox`) are written every few
  seconds once it answers again;
- it listens on ``SANIC_HOST`` (default 127.0.0.1, never all interfaces by accident);
- with ``DY_ACTION_CALL_LOG`` set, every action call is logged with its conversation and the
  moments it entered and left (:mod:`actions.call_log`).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
from typing import Any, cast

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import call_log
from tickets import db, outbox

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Dy-Action-Secret"
SECRET_ENV = "DY_ACTION_SECRET"
#: How often the tickets waiting in the outbox are tried again (seconds).
OUTBOX_RETRY_SECONDS = float(os.environ.get("DY_OUTBOX_RETRY_SECONDS", "") or 5)
OPEN_PATHS = {"/health", "/ready"}  # what the checks say holds no data


async def ready() -> tuple[bool, dict[str, str]]:
    """Whether this action server can do its work: the ticket database answers in time."""
    return await db.readiness()


def build_app(secret: str | None = None) -> Sanic:
    """rasa_sdk's app for the ``actions`` package, guarded as the module says."""
    app: Sanic = create_app("actions", cors_origins=None)
    expected = (secret or "").encode("utf-8")

    async def require_secret(request: Request) -> HTTPResponse | None:
        if not expected or request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            logger.warning("action server request refused: missing or wrong shared secret")
            return response.json({"error": "unauthorized"}, status=401)
        return None

    calls = call_log.log_path()

    async def call_entered(request: Request) -> None:
        request.ctx.entered = call_log.now_ns()

    async def call_left(request: Request, _response: HTTPResponse) -> None:
        entered = getattr(request.ctx, "entered", None)
        if calls is None or entered is None or request.path != "/webhook":
            return
        try:
            sender, action = call_log.who(request.json)
        except Exception:  # noqa: BLE001 - a body that is not JSON was refused already
            sender, action = "?", "?"
        try:
            call_log.record(calls, sender, action, entered, call_log.now_ns())
        except OSError as exc:
            logger.warning("action call log not written (%s)", type(exc).__name__)

    async def readiness(_: Request) -> HTTPResponse:
        ok, checks = await ready()
        return response.json({"ready": ok, **checks}, status=200 if ok else 503)

    async def no_echo(request: Request, exception: Exception) -> HTTPResponse:
        logger.error("action server error (%s)", type(exception).__name__, exc_info=exception)
        return response.json({"error": "internal error"}, status=500)

    async def deliver_outbox_forever() -> None:
        """Write the tickets the database could not take, as soon as it answers again."""
        while True:
            await asyncio.sleep(OUTBOX_RETRY_SECONDS)
            try:
                await asyncio.to_thread(outbox.deliver)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                logger.warning("outbox round failed (%s)", type(exc).__name__)

    async def start_outbox(app_: Sanic, _loop: Any) -> None:
        app_.add_task(deliver_outbox_forever())

    app.register_listener(start_outbox, "after_server_start")
    app.register_middleware(require_secret, "request")
    if calls is not None:
        app.register_middleware(call_entered, "request")
        app.register_middleware(cast(Any, call_left), "response")  # Sanic types it as request
    app.add_route(readiness, "/ready", methods=["GET"])
    app.error_handler.add(Exception, no_echo)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dy action server (rasa_sdk, guarded)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    args = parser.parse_args(argv)
    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    app = build_app(os.environ.get(SECRET_ENV))
    host = os.environ.get("SANIC_HOST", "127.0.0.1")
    logger.info("action server on %s:%s", host, args.port)
    app.run(host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
