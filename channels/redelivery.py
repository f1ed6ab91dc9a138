"""A message delivered twice is answered once: the second delivery gets the stored reply.

nginx sends a message to the other Rasa server when the one it chose dies (a reset
connection; ``proxy_next_upstream error non_idempotent``). If that one died in the instant
between saving the turn and answering it, the other would take the same message a second
time and the conversation would skip a step. nginx gives every message an id
(``X-Dy-Message-Id: $request_id``, the same on its retry); the REST channel makes it the
message's id (``nginx-<id>``), Rasa stores it with the user's event, and here, under the
conversation's lock, a message whose id the conversation already holds is not processed
again: the bot's messages that followed it are sent instead (the tracker is the one Rasa
loads for the turn anyway, so this costs no query). Messages without such an id (Rasa
makes a random one) are processed as always.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

#: The request header nginx sets, and what the channel accepts of it.
MESSAGE_ID_HEADER = "X-Dy-Message-Id"
_HEADER_VALUE = re.compile(r"[0-9a-f]{32}")
PREFIX = "nginx-"


def message_id_from_header(value: str | None) -> str | None:
    """The message id for nginx's ``$request_id`` header value, or None (not from nginx)."""
    if value is None or not _HEADER_VALUE.fullmatch(value):
        return None
    return PREFIX + value


class AlreadyTaken(Exception):
    """The conversation already holds this message (a second delivery): its stored replies."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        super().__init__("message already taken")
        self.replies = replies


def stored_replies(events: Iterable[Event], message_id: str) -> list[dict[str, Any]] | None:
    """The bot's messages after the user's message ``message_id`` (until the next user
    message), or None when the conversation does not hold that message."""
    replies: list[dict[str, Any]] | None = None
    for event in events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break
            if event.message_id == message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            data = {key: value for key, value in (event.data or {}).items() if value}
            replies.append({"text": event.text, **data} if event.text else data)
    return replies


_rasas_handle_message = MessageProcessor.handle_message
_rasas_handle_message_with_tracker = MessageProcessor._handle_message_with_tracker


async def _handle_message_with_tracker(
    self: MessageProcessor, message: UserMessage, tracker: DialogueStateTracker
) -> None:
    message_id = message.message_id
    if isinstance(message_id, str) and message_id.startswith(PREFIX):
        replies = stored_replies(tracker.events, message_id)
        if replies is not None:
            raise AlreadyTaken(replies)
    await _rasas_handle_message_with_tracker(self, message, tracker)


async def _handle_message(
    self: MessageProcessor, message: UserMessage
) -> list[dict[str, Any]] | None:
    try:
        result: list[dict[str, Any]] | None = await _rasas_handle_message(self, message)
        return result
    except AlreadyTaken as taken:  # nothing was changed or saved for it
        output = message.output_channel
        for reply in taken.replies:
            await output.send_response(message.sender_id, reply)
        return output.messages if isinstance(output, CollectingOutputChannel) else None


def install() -> None:
    """Answer a second delivery of a message from the stored reply (idempotent)."""
    MessageProcessor._handle_message_with_tracker = _handle_message_with_tracker
    MessageProcessor.handle_message = _handle_message
