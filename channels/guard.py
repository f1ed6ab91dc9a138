"""What every channel does around a turn: refuse overlong text, never leave a user unanswered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from playbook.domain import DomainUnreadable, domain_texts

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 20_000


#: Said when domain.yml cannot give the response: the user must still hear something.
LAST_RESORT = "抱歉，系统出了点问题，请稍后再试。"


def domain_text(response: str) -> str:
    """A response's text from domain.yml (re-read when it changes, so editors' changes count)."""
    try:
        text = domain_texts().text(response)
    except DomainUnreadable as exc:
        logger.error("cannot read %s: %s", response, exc)
        return LAST_RESORT
    if text is None:
        logger.error("domain.yml has no text for %s", response)
        return LAST_RESORT
    return text


async def guarded_turn(
    message: UserMessage,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    replied: Callable[[], bool],
) -> None:
    """Process one message; an overlong one gets ``utter_message_too_long`` unparsed, and a
    turn that produced no reply (``replied()`` is false) gets ``utter_action_failed``."""
    output = message.output_channel
    if len(message.text or "") > MAX_MESSAGE_CHARS:
        await output.send_text_message(message.sender_id, domain_text("utter_message_too_long"))
        return
    try:
        await on_new_message(message)
    except Exception:
        logger.exception("processing a message failed")
    if not replied():
        logger.warning("no reply was produced for a message; sending the apology")
        await output.send_text_message(message.sender_id, domain_text("utter_action_failed"))
