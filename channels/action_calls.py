"""How the Rasa server calls the action server: with the shared secret, bounded in time, over
kept connections.

Applied when a channel module is loaded (before the first turn):

- every call carries ``X-Dy-Action-Secret`` from the environment (``DY_ACTION_SECRET``), which
  the action server requires when it has one (actions/server.py); the secret lives in the
  environment of both servers, never in endpoints.yml (Rasa's ``${VAR}`` substitution does
  not reach the nested ``headers`` of an endpoint);
- Rasa waits 300 s for an action server by default, longer than any conversation lock; a
  call here gives up after :data:`ACTION_CALL_TIMEOUT_SECONDS` (the actions themselves give
  up after 20 s and apologise), so no turn hangs on a stuck action server while it holds its
  conversation's lock;
- Rasa opens a new HTTP client, and a new connection, for every action call; here the action
  endpoint keeps one client per event loop whose connections stay open between calls
  (:class:`KeptAliveEndpoint`; figures in the README, "Performance"), its bodies written by
  ujson (:func:`to_json`). A kept connection idle for :data:`IDLE_SECONDS` is closed by this
  side (aiohttp looks every :data:`IDLE_SECONDS`, so within twice that), before the action
  server (Sanic closes idle ones after 5 s) would; a
  call whose kept connection turns out dead before an answer came (the action server
  restarted) is sent once more on a new connection: running an action again gives the same
  answer from the same tracker (a ticket is made once per escalation key), as when the user
  sends the message again.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import weakref
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import rasa.core.actions.action
import ujson
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

SECRET_HEADER = "X-Dy-Action-Secret"
SECRET_ENV = "DY_ACTION_SECRET"
ACTION_CALL_TIMEOUT_SECONDS = 30
#: A kept connection to the action server unused this long is closed (seconds).
IDLE_SECONDS = 2.0
_rasas_run = RemoteAction.run

#: The kept client of each event loop (Rasa's server runs one).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


class _Borrowed:
    """The kept client in Rasa's ``async with self.session() as session:``, not closed on
    exit."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.client

    async def __aexit__(self, *_: object) -> None:
        return None


async def _on_reuse(
    _: aiohttp.ClientSession, context: SimpleNamespace, __: aiohttp.TraceConnectionReuseconnParams
) -> None:
    """A call went out on a kept connection (aiohttp's trace signal): noted for its retry."""
    if isinstance(context.trace_request_ctx, SimpleNamespace):
        context.trace_request_ctx.reused = True


def kept_client(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """This event loop's kept client for ``endpoint`` (made on first use)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.closed:
        trace = aiohttp.TraceConfig()
        # (aiohttp 3.8 types a signal's callbacks as taking the signal itself)
        trace.on_connection_reuseconn.append(cast(Any, _on_reuse))
        basic = endpoint.basic_auth
        client = aiohttp.ClientSession(
            # headers, parameters and the timeout of each call are Rasa's own (request())
            auth=aiohttp.BasicAuth(basic["username"], basic["password"]) if basic else None,
            timeout=aiohttp.ClientTimeout(total=rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=IDLE_SECONDS),
            trace_configs=[trace],
            json_serialize=to_json,
        )
        _clients[loop] = client
    return client


def to_json(body: Any) -> str:
    """The call's body as JSON: ujson (Rasa's and Sanic's own dependency; twice as fast as
    the standard library on a tracker here), the standard library for what ujson refuses."""
    try:
        encoded: str = ujson.dumps(body)
    except (TypeError, OverflowError, ValueError):
        encoded = json.dumps(body)
    return encoded


class KeptAliveEndpoint(EndpointConfig):  # type: ignore[misc]  # rasa has no type information
    """Rasa's endpoint of the action server, its calls over this loop's kept client."""

    def session(self) -> Any:
        return _Borrowed(kept_client(self))

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        ctx = SimpleNamespace(reused=False)
        try:
            return await super().request(*args, trace_request_ctx=ctx, **kwargs)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if not ctx.reused:
                raise
        # the kept connection was dead before an answer came: once more, as Rasa sends it
        # (a client of its own, a new connection; the kept client's other idle connections
        # may be as dead, and each is found out and dropped when next used)
        fresh = EndpointConfig.copy(self)
        fresh.cafile = self.cafile
        return await fresh.request(*args, **kwargs)


@functools.wraps(_rasas_run)
async def _run_with_secret(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
    secret = os.environ.get(SECRET_ENV)
    endpoint = self.action_endpoint
    if endpoint is not None:
        if secret:
            endpoint.headers = {**(endpoint.headers or {}), SECRET_HEADER: secret}
        if type(endpoint) is EndpointConfig:
            endpoint.__class__ = KeptAliveEndpoint  # the agent's one endpoint, once
    return await _rasas_run(self, *args, **kwargs)


async def close_kept_clients(*_: object) -> None:
    """Close this event loop's kept client (a listener of the server's stop)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()


def install() -> None:
    """Bound every action call, send the shared secret with it and keep its connections
    (idempotent)."""
    rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT = ACTION_CALL_TIMEOUT_SECONDS
    RemoteAction.run = _run_with_secret
