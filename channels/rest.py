"""The REST channel with input checks at the edge.

Same URL and protocol as Rasa's built-in REST channel (``/webhooks/rest/webhook``), but a
request without a usable ``sender`` is refused with 400 instead of landing in a shared
"default" conversation (whose tickets every anonymous caller could then ask about), a
missing ``message`` counts as an empty message (the assistant asks the user to describe the
problem), and an absurdly long message is answered (``utter_message_too_long``) without
being parsed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage as BadRequest  # sanic 21.12: 400 Bad Request
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import action_calls, redelivery, speedups, trackerstore
from channels.guard import Turn, guarded_turn
from tickets.privacy import install_log_redaction

#: A conversation id: letters, digits and . _ : @ + - (no spaces, markup or paths), at most 128.
SENDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
#: Rasa's id for a message without a sender: a conversation every such caller would share.
SHARED_SENDER = "default"

install_log_redaction()  # the Rasa server process logs user text on errors
speedups.install()  # cached action-response schema check (see speedups.py)
trackerstore.install()  # a conversation store failure fails the turn (never a fresh tracker)
action_calls.install()  # the shared secret with every action call, each bounded in time
redelivery.install()  # a message nginx delivers twice is answered from the stored reply


class DyRestInput(RestInput):  # type: ignore[misc]  # rasa has no type information
    """Rasa's REST channel, validating ``sender`` and ``message``.

    Every turn gets an answer: when processing fails (e.g. the action server is down) or
    produces no message at all, the user receives the domain's apology instead of silence.
    """

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        """Rasa's routes (``GET /``, ``POST /webhook``, ``?stream=true``), written here so
        that a turn that failed (the lock store or the tracker store unreachable) answers 503
        with the apology instead of Rasa's 200 ``[]``."""

        async def answered(message: UserMessage) -> None:
            output = message.output_channel
            await guarded_turn(
                message,
                on_new_message,
                lambda: not isinstance(output, CollectingOutputChannel) or bool(output.messages),
            )

        blueprint = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @blueprint.get("/")
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        blueprint.listener("before_server_stop")(action_calls.close_kept_clients)

        @blueprint.post("/webhook")
        async def receive(request: Request) -> Any:  # HTTPResponse, or a ResponseStream
            # for ?stream=true (sanic 21.12 types a handler's result as HTTPResponse only)
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            input_channel = self._extract_input_channel(request)
            metadata = self.get_metadata(request)
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(answered, text, sender_id, input_channel, metadata),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            message = UserMessage(
                text,
                collector,
                sender_id,
                input_channel=input_channel,
                metadata=metadata,
                # nginx's id of this message, the same if it sends it to the other replica
                message_id=redelivery.message_id_from_header(
                    request.headers.get(redelivery.MESSAGE_ID_HEADER)
                ),
            )
            turn = await guarded_turn(message, on_new_message, lambda: bool(collector.messages))
            return response.json(collector.messages, status=503 if turn is Turn.FAILED else 200)

        return blueprint

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        body = req.json
        if not isinstance(body, dict):
            raise BadRequest(
                'request body must be a JSON object: {"sender": "...", "message": "..."}'
            )
        return body

    async def _extract_sender(self, req: Request) -> str | None:
        sender = self._body(req).get("sender")
        if not isinstance(sender, str) or not SENDER_RE.match(sender) or sender == SHARED_SENDER:
            raise BadRequest(
                "'sender' must identify the conversation: 1-128 letters, digits or . _ : @ + - "
                "(and not 'default')"
            )
        return sender

    def _extract_message(self, req: Request) -> str | None:
        message = self._body(req).get("message")
        if message is None:
            return ""
        if not isinstance(message, str):
            raise BadRequest("'message' must be a string")
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (\ud800) that JSON let through
            raise BadRequest("'message' must be valid Unicode text") from None
        return message  # an overlong one is answered without parsing (channels.guard)
