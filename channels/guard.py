"""What every channel does around a turn: refuse overlong text, never leave a user unanswered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from rasa.core.channels.channel import UserMessage

logger = logging.getLogger(__name__)
DOMAIN_PATH = Path(__file__).resolve().parent.parent / "domain.yml"
MAX_MESSAGE_CHARS = 20_000


def domain_text(response: str) -> str:
    """A response's text from domain.yml (read when needed, so editors' changes count)."""
    try:
        domain = yaml.safe_load(DOMAIN_PATH.read_text(encoding="utf-8"))
        text: str = domain["responses"][response][0]["text"]
        return text
    except Exception:  # the domain is unreadable: the assistant must still say something
        logger.exception("cannot read %s from %s", response, DOMAIN_PATH)
        return "抱歉，系统出了点问题，请稍后再试。"


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
