"""The REST channel with input checks at the edge.

Same URL and protocol as Rasa's built-in REST channel (``/webhooks/rest/webhook``), but a
request without a usable ``sender`` is refused with 400 instead of landing in a shared
"default" conversation (whose tickets every anonymous caller could then ask about), a
missing ``message`` counts as an empty message (the assistant asks the user to describe the
problem), and an absurdly long message is answered (``utter_message_too_long``) without
being parsed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Awaitable, Callable, Optional, Text

import yaml
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.exceptions import InvalidUsage as BadRequest  # sanic 21.12: 400 Bad Request
from sanic.request import Request

from actions.privacy import install_log_redaction
from channels import speedups

logger = logging.getLogger(__name__)
DOMAIN_PATH = Path(__file__).resolve().parent.parent / "domain.yml"
SENDER_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
MAX_MESSAGE_CHARS = 20_000

install_log_redaction()  # the Rasa server process logs user text on errors
speedups.install()  # cached action-response schema check (see speedups.py)


def domain_text(response: Text) -> Text:
    """A response's text from domain.yml (read when needed, so editors' changes count)."""
    try:
        domain = yaml.safe_load(DOMAIN_PATH.read_text(encoding="utf-8"))
        return domain["responses"][response][0]["text"]
    except Exception:  # the domain is unreadable: the assistant must still say something
        logger.exception("cannot read %s from %s", response, DOMAIN_PATH)
        return "抱歉，系统出了点问题，请稍后再试。"


class DyRestInput(RestInput):
    """Rasa's REST channel, validating ``sender`` and ``message``.

    Every turn gets an answer: when processing fails (e.g. the action server is down) or
    produces no message at all, the user receives the domain's apology instead of silence.
    """

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        async def answered(message: UserMessage) -> None:
            output = message.output_channel
            if len(message.text or "") > MAX_MESSAGE_CHARS:
                await output.send_text_message(message.sender_id,
                                               domain_text("utter_message_too_long"))
                return
            try:
                await on_new_message(message)
            except Exception:
                logger.exception("processing a message failed")
            if isinstance(output, CollectingOutputChannel) and not output.messages:
                logger.warning("no reply was produced for a message; sending the apology")
                await output.send_text_message(message.sender_id,
                                               domain_text("utter_action_failed"))

        return super().blueprint(answered)

    @staticmethod
    def _body(req: Request) -> dict:
        body = req.json
        if not isinstance(body, dict):
            raise BadRequest('request body must be a JSON object: {"sender": "...", "message": "..."}')
        return body

    async def _extract_sender(self, req: Request) -> Optional[Text]:
        sender = self._body(req).get("sender")
        if not isinstance(sender, str) or not sender.strip() or not SENDER_RE.match(sender):
            raise BadRequest("'sender' must be a string of 1-128 printable characters "
                             "identifying the conversation")
        return sender

    def _extract_message(self, req: Request) -> Optional[Text]:
        message = self._body(req).get("message")
        if message is None:
            return ""
        if not isinstance(message, str):
            raise BadRequest("'message' must be a string")
        return message  # longer than MAX_MESSAGE_CHARS: answered without parsing, see blueprint
