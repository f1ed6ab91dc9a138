"""Rasa's socket.io channel with the same edge checks as our REST channel.

Used by the support widget (web/). A conversation id (``session_id``) must be the widget's
random 32-hex id: never "default", never another channel's sender. An overlong message is
answered without being parsed, and a turn that produces no reply at all (e.g. the action
server is down) gets the domain's apology instead of silence.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncRedisManager, AsyncServer

from channels import action_calls, speedups, trackerstore
from channels.guard import guarded_turn
from tickets.privacy import install_log_redaction

logger = logging.getLogger(__name__)
SESSION_ID_RE = re.compile(r"^[a-f0-9]{32}$")
#: Set (``redis://host:port/db``) when several Rasa servers serve the widget.
REDIS_URL_ENV = "SOCKETIO_REDIS_URL"
REDIS_CHANNEL = "dy-socketio"

install_log_redaction()
speedups.install()
trackerstore.install()  # a conversation store failure fails the turn (never a fresh tracker)
action_calls.install()  # the shared secret with every action call, each bounded in time


class _CountingOutput(SocketIOOutput):  # type: ignore[misc]  # rasa has no type information
    """The replies to a user's own message: counted, and sent straight to the sockets of this
    server (``ignore_queue``). The message came in on one of them, so the reply needs no
    detour through Redis, and when Redis is down the user still hears the answer (or the
    apology) instead of silence; pushes through the HTTP API (staff replies) still go through
    Redis to whichever server holds the socket."""

    def __init__(self, inner: SocketIOOutput) -> None:
        super().__init__(inner.sio, inner.bot_message_evt)
        self.sent = 0

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent += 1
        await self.sio.emit(self.bot_message_evt, response, room=socket_id, ignore_queue=True)

    async def send_custom_json(self, recipient_id: str, json_message: Any, **kwargs: Any) -> None:
        self.sent += 1
        json_message.setdefault("room", recipient_id)
        await self.sio.emit(self.bot_message_evt, **json_message, ignore_queue=True)


class DySocketIOInput(SocketIOInput):  # type: ignore[misc]  # rasa has no type information
    """Rasa's socket.io channel, validating the session id and the message."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def checked(message: UserMessage) -> None:
            if not isinstance(message.sender_id, str) or not SESSION_ID_RE.match(message.sender_id):
                logger.warning("socket.io message without a valid widget session id ignored")
                return
            output = _CountingOutput(message.output_channel)
            message.output_channel = output
            text = message.text if isinstance(message.text, str) else ""
            # a lone surrogate (\ud800) would fail the turn when it is stored: replaced
            message.text = text.encode("utf-8", "replace").decode("utf-8")
            await guarded_turn(message, on_new_message, lambda: output.sent > 0)

        blueprint: Blueprint = super().blueprint(checked)
        url = os.environ.get(REDIS_URL_ENV, "").strip()
        if url:
            share_between_replicas(self.sio, url)
        return blueprint


def share_between_replicas(sio: AsyncServer, url: str) -> None:
    """Route every emit through Redis (python-socketio's ``AsyncRedisManager``), so a message
    for a user whose socket is on another replica (a staff reply, the follow-up question,
    pushed through the HTTP API of this one) reaches them; without it it is dropped while
    the API answers 200. The manager starts listening when the server starts."""
    manager = AsyncRedisManager(url, channel=REDIS_CHANNEL)
    manager.set_server(sio)
    sio.manager = manager
    sio.manager_initialized = False
    logger.info("socket.io messages shared between replicas through Redis")
