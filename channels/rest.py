"""The REST channel with input checks at the edge.

Same URL and protocol as Rasa's built-in REST channel (``/webhooks/rest/webhook``), but a
request without a usable ``sender`` is refused with 400 instead of landing in a shared
"default" conversation (whose tickets every anonymous caller could then ask about), a
missing ``message`` counts as an empty message (the assistant asks the user to describe the
problem), and an absurdly long message is refused instead of being parsed.
"""

from __future__ import annotations

import re
from typing import Optional, Text

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage as BadRequest  # sanic 21.12: 400 Bad Request
from sanic.request import Request

from actions.privacy import install_log_redaction
from channels import speedups

SENDER_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
MAX_MESSAGE_CHARS = 20_000

install_log_redaction()  # the Rasa server process logs user text on errors
speedups.install()  # cached action-response schema check (see speedups.py)


class DyRestInput(RestInput):
    """Rasa's REST channel, validating ``sender`` and ``message``."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

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
        if len(message) > MAX_MESSAGE_CHARS:
            raise BadRequest(f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
        return message
