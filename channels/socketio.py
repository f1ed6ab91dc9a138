"""Rasa's socket.io channel with the same edge checks as our REST channel.

Used by the support widget (web/). A conversation id (``session_id``) must be a widget session
the web server issued: ``session_request`` and ``user_uttered`` carry its ``token``
(channels/widget_session.py), and one that does not verify is refused before Rasa sees it: no
``session_confirm``, no room joined, no turn, and the sending socket alone gets
``session_refused`` (the widget then asks the web server for a new session). So nobody joins
another conversation's room (its live replies) or talks in it with a made-up or guessed id. An
overlong message is answered without being parsed, and a turn that produces no reply at all
(e.g. the action server is down) gets the domain's apology instead of silence.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncRedisManager, AsyncServer

from channels import action_calls, speedups, trackerstore
from channels.guard import guarded_turn
from channels.widget_session import WidgetSessions, is_session_id
from tickets.privacy import install_log_redaction

logger = logging.getLogger(__name__)
#: Sent to the one socket whose session (id and token) did not verify.
SESSION_REFUSED_EVT = "session_refused"
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
    """Rasa's socket.io channel, verifying the widget session and checking the message."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # at start, not per message: a server without the secret refuses to start
        sessions = WidgetSessions.from_environment()

        async def checked(message: UserMessage) -> None:
            if not is_session_id(message.sender_id):  # verified before; never a shared id
                logger.warning("socket.io message without a valid widget session id ignored")
                return
            output = _CountingOutput(message.output_channel)
            message.output_channel = output
            text = message.text if isinstance(message.text, str) else ""
            # a lone surrogate (\ud800) would fail the turn when it is stored: replaced
            message.text = text.encode("utf-8", "replace").decode("utf-8")
            await guarded_turn(message, on_new_message, lambda: output.sent > 0)

        blueprint: Blueprint = super().blueprint(checked)
        self._require_sessions(sessions)
        url = os.environ.get(REDIS_URL_ENV, "").strip()
        if url:
            share_between_replicas(self.sio, url)
        blueprint.listener("before_server_stop")(action_calls.close_kept_clients)
        return blueprint

    def _require_sessions(self, sessions: WidgetSessions) -> None:
        """Put a session check in front of Rasa's own ``session_request`` and user message
        handlers (python-socketio keeps them in ``sio.handlers``; ``on`` replaces one)."""
        sio: AsyncServer = self.sio
        namespace = self.namespace or "/"
        rasa_handlers = sio.handlers[namespace]
        rasa_session_request = rasa_handlers["session_request"]
        rasa_user_message = rasa_handlers[self.user_message_evt]

        def verified(data: Any) -> bool:
            return isinstance(data, dict) and sessions.verify(
                data.get("session_id"), data.get("token")
            )

        async def refuse(sid: str, event: str) -> None:
            # the id is not logged: it may be someone else's, and logs are no place for it
            logger.warning("socket.io %s without a valid widget session refused", event)
            await sio.emit(SESSION_REFUSED_EVT, room=sid, namespace=namespace, ignore_queue=True)

        # python-socketio calls a handler without ``data`` when an event carries none
        async def session_request(sid: str, data: Any = None) -> None:
            if not verified(data):
                await refuse(sid, "session request")
                return
            await rasa_session_request(sid, {"session_id": data["session_id"]})

        async def user_message(sid: str, data: Any = None) -> None:
            if not verified(data):
                await refuse(sid, "message")
                return
            text, metadata = data.get("message"), data.get(self.metadata_key)
            await rasa_user_message(
                sid,
                {
                    "session_id": data["session_id"],
                    # Rasa strips the text (an error for anything but a string) and parses a
                    # string of metadata as JSON (an error for any other string)
                    "message": text if isinstance(text, str) else "",
                    self.metadata_key: metadata if isinstance(metadata, dict) else {},
                },
            )

        sio.on("session_request", session_request, namespace=namespace)
        sio.on(self.user_message_evt, user_message, namespace=namespace)


def redis_channel(url: str) -> str:
    """The pub/sub channel of ``url``'s database: Redis's pub/sub ignores the database
    number, so two scale-outs on one Redis (databases 2 and 3, say) would hear each other's
    messages on one channel name."""
    path = urlsplit(url).path.strip("/")
    return f"{REDIS_CHANNEL}-{path if path.isdigit() else '0'}"


def share_between_replicas(sio: AsyncServer, url: str) -> None:
    """Route every emit through Redis (python-socketio's ``AsyncRedisManager``), so a message
    for a user whose socket is on another replica (a staff reply, the follow-up question,
    pushed through the HTTP API of this one) reaches them; without it it is dropped while
    the API answers 200. The manager starts listening when the server starts."""
    manager = AsyncRedisManager(url, channel=redis_channel(url))
    manager.set_server(sio)
    sio.manager = manager
    sio.manager_initialized = False
    logger.info("socket.io messages shared between replicas through Redis")
