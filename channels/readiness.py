"""``GET /webhooks/ready/``: whether this Rasa server can take a turn now, answered within a
second: the model is loaded, the conversation store answers ``SELECT 1``, the lock store answers
``PING``, and its action server answers ``/health``. 200 with each check's result, 503 when
one fails. The load balancer takes a replica that is not ready out (``scripts/scale.py watch``);
nginx never forwards this path from outside.

Registered as an input channel (credentials.yml) because that is how Rasa 3.6 lets a project
add a route to its server; it never takes a message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import text

from tickets import db

#: Each check gets this long; they run side by side, so the answer comes within it.
CHECK_SECONDS = 0.8


async def _model(agent: Any) -> str:
    return "ok" if agent is not None and agent.is_ready() else "not loaded"


async def _tracker_store(agent: Any) -> str:
    store = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)
    engine = getattr(store, "engine", None)
    if engine is None:
        return "ok"  # an in-memory store is always there

    def select_one() -> bool:
        with engine.connect() as connection:
            return bool(connection.execute(text("SELECT 1")).scalar() == 1)

    # shared by the checks that come while one waits (a hung database holds one thread)
    check = db.shared_check(("trackers", id(engine)), select_one)
    return "ok" if await asyncio.shield(check) else "unexpected answer"


async def _lock_store(agent: Any) -> str:
    ping = getattr(agent.lock_store, "ping", None)
    if ping is None:
        return "ok"  # Rasa's in-memory lock
    return "ok" if await ping() else "no answer"


async def _action_server(agent: Any) -> str:
    endpoint = agent.action_endpoint
    if endpoint is None or not endpoint.url:
        return "ok"
    url = endpoint.url.rsplit("/", 1)[0] + "/health"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CHECK_SECONDS)) as s:
        async with s.get(url) as reply:
            return "ok" if reply.status == 200 else f"answered {reply.status}"


CHECKS: dict[str, Callable[[Any], Awaitable[str]]] = {
    "model": _model,
    "tracker_store": _tracker_store,
    "lock_store": _lock_store,
    "action_server": _action_server,
}


async def readiness(agent: Any) -> tuple[bool, dict[str, str]]:
    """Every check's result (``ok`` or what went wrong), run side by side within a second."""

    async def run(check: Callable[[Any], Awaitable[str]]) -> str:
        if agent is None:
            return "not loaded"
        try:
            return await asyncio.wait_for(check(agent), CHECK_SECONDS)
        except asyncio.TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; its kind is shown
            return type(exc).__name__

    results = await asyncio.gather(*(run(check) for check in CHECKS.values()))
    found = dict(zip(CHECKS, results, strict=True))
    return all(result == "ok" for result in results), found


class ReadinessInput(InputChannel):  # type: ignore[misc]  # rasa has no type information
    """The readiness route of this Rasa server (see the module)."""

    @classmethod
    def name(cls) -> str:
        return "ready"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("dy_readiness", __name__)

        async def ready(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            ok, checks = await readiness(agent)
            return response.json({"ready": ok, **checks}, status=200 if ok else 503)

        blueprint.add_route(ready, "/", methods=["GET"])
        return blueprint
