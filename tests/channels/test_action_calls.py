"""The action endpoint's kept connections (channels/action_calls.py), against a real HTTP
server on loopback: one connection for many calls, a call whose kept connection died sent
once more on a new one, and no second try for a call that never reached a server or that a
fresh connection lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from channels import action_calls
from scripts.servers import free_port


class ActionServer:
    """An HTTP server on a loopback port that records the client port of every call; it can
    be stopped and started again on the same port, or told to drop calls unanswered."""

    def __init__(self) -> None:
        self.port = free_port()
        self.peers: list[int] = []
        self.drop = 0  # this many next calls are cut off without an answer
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.peers.append(request.transport.get_extra_info("peername")[1])
        body = await request.json()
        if self.drop:
            self.drop -= 1
            request.transport.close()  # the connection dies before any answer
            return web.Response()
        return web.json_response({"events": [], "responses": [], "echo": body["n"]})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self.handle)
        self.runner = web.AppRunner(app, keepalive_timeout=75)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def server() -> AsyncIterator[ActionServer]:
    running = ActionServer()
    await running.start()
    yield running
    await running.stop()
    await action_calls.close_kept_clients()


def endpoint(port: int) -> EndpointConfig:
    kept = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook", headers={"X-Test": "1"})
    kept.__class__ = action_calls.KeptAliveEndpoint
    return kept


async def call(kept: EndpointConfig, n: int) -> int:
    answer = await kept.request(json={"n": n}, method="post", timeout=5)
    echoed: int = answer["echo"]
    return echoed


async def test_calls_share_one_kept_connection(server):
    kept = endpoint(server.port)
    assert [await call(kept, n) for n in range(5)] == list(range(5))
    assert len(set(server.peers)) == 1, server.peers


async def test_a_kept_connection_the_server_dropped_is_sent_again_on_a_new_one(server):
    kept = endpoint(server.port)
    assert await call(kept, 1) == 1
    server.drop = 1  # the next call arrives on the kept connection and is cut off
    assert await call(kept, 2) == 2
    assert len(server.peers) == 3 and server.peers[1] == server.peers[0] != server.peers[2]


async def test_after_the_server_restarted_the_next_call_is_answered(server):
    kept = endpoint(server.port)
    assert await call(kept, 1) == 1
    await server.stop()
    await server.start()
    assert await call(kept, 2) == 2


async def test_a_call_lost_on_a_new_connection_is_not_sent_again(server):
    kept = endpoint(server.port)
    server.drop = 2
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await call(kept, 1)
    assert len(server.peers) == 1  # one try only: it was not a kept connection


async def test_a_kept_connection_lost_twice_is_an_error(server):
    kept = endpoint(server.port)
    assert await call(kept, 1) == 1
    server.drop = 2
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await call(kept, 2)
    assert len(server.peers) == 3  # the kept connection, then one new one


async def test_a_server_that_is_not_there_is_tried_once():
    kept = endpoint(free_port())
    with pytest.raises(aiohttp.ClientConnectorError):
        await call(kept, 1)
    await action_calls.close_kept_clients()


async def test_an_action_call_goes_over_the_kept_client_with_the_secret(server, monkeypatch):
    monkeypatch.setenv(action_calls.SECRET_ENV, "s3cret")
    seen: list[str | None] = []
    original = server.handle

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get(action_calls.SECRET_HEADER))
        return await original(request)

    server.handle = handle  # type: ignore[method-assign]
    await server.stop()
    await server.start()
    plain = EndpointConfig(url=f"http://127.0.0.1:{server.port}/webhook")
    action_calls.install()

    async def run_once(n: int) -> None:
        action = RemoteAction("action_probe", plain)
        monkeypatched = {"n": n}
        monkeypatch.setattr(action, "_action_call_format", lambda *_: monkeypatched)
        monkeypatch.setattr(action, "_validate_action_result", lambda *_: True)
        await action.run(None, None, None, None)  # type: ignore[arg-type]

    await run_once(1)
    await run_once(2)
    assert type(plain) is action_calls.KeptAliveEndpoint
    assert seen == ["s3cret", "s3cret"]
    assert len(set(server.peers)) == 1


async def test_each_event_loop_has_its_own_client(server):
    kept = endpoint(server.port)
    first = action_calls.kept_client(kept)
    assert action_calls.kept_client(kept) is first
    other = await asyncio.to_thread(asyncio.run, _client_in_new_loop(kept))
    assert other is not first
    await action_calls.close_kept_clients()
    assert first.closed


async def _client_in_new_loop(kept: EndpointConfig) -> aiohttp.ClientSession:
    client = action_calls.kept_client(kept)
    await action_calls.close_kept_clients()
    return client


def test_the_body_reads_back_as_the_standard_librarys_json():
    bodies = [
        {"events": [{"event": "user", "text": "网络老是掉线 / <b>\u0000", "ts": 1.5e9}]},
        {"numbers": [0.1 + 0.2, 1e-7, 3.0, 2**70, -(2**63)], "none": None, "flag": True},
        {"nested": [[[{"k": "v"}]]], 1: "int key"},
    ]
    for body in bodies:
        assert json.loads(action_calls.to_json(body)) == json.loads(json.dumps(body))
    with pytest.raises(TypeError):
        action_calls.to_json({"not json": object()})
