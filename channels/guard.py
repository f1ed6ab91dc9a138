"""What every channel does around a turn: refuse overlong text, never leave a user unanswered."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from sqlalchemy.exc import SQLAlchemyError

from playbook.domain import DomainUnreadable, domain_texts
from playbook.sourcefile import SourceError
from tickets import workflow

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


class Turn(enum.Enum):
    """How a turn went, for the channel's answer (REST: 200, or 503 when it failed)."""

    ANSWERED = "answered"
    TOO_LONG = "too_long"  # answered with utter_message_too_long, not parsed
    SILENT = "silent"  # processed, but nothing was said: the apology was sent
    FAILED = "failed"  # processing raised (lock store, tracker store down): the apology was sent


async def guarded_turn(
    message: UserMessage,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    replied: Callable[[], bool],
) -> Turn:
    """Process one message; an overlong one gets ``utter_message_too_long`` unparsed, and a
    turn that failed or produced no reply (``replied()`` is false) gets
    ``utter_action_failed``. Nothing the user wrote is logged."""
    output = message.output_channel
    if len(message.text or "") > MAX_MESSAGE_CHARS:
        await output.send_text_message(message.sender_id, domain_text("utter_message_too_long"))
        return Turn.TOO_LONG
    await note_on_tickets(message)  # first: this very turn may tell the ticket's status
    try:
        await on_new_message(message)
    except Exception as exc:
        logger.error(
            "processing a message failed (%s: %s)", type(exc).__name__, _reason(exc), exc_info=True
        )
        await output.send_text_message(message.sender_id, domain_text("utter_action_failed"))
        return Turn.FAILED
    if not replied():
        logger.warning("no reply was produced for a message; sending the apology")
        await output.send_text_message(message.sender_id, domain_text("utter_action_failed"))
        return Turn.SILENT
    return Turn.ANSWERED


async def note_on_tickets(message: UserMessage) -> None:
    """The user wrote: their message joins the open tickets staff answered or wait on, and a
    ticket waiting for them starts its clocks again (``tickets.workflow.user_wrote``). A
    tapped button (``/intent``) counts as an answer but adds no text. A database that fails
    here is logged, never the user's problem: the next message tries again."""
    text = message.text or ""
    try:
        await asyncio.to_thread(
            workflow.user_wrote, message.sender_id, "" if text.startswith("/") else text
        )
    except (SQLAlchemyError, SourceError, OSError) as exc:
        logger.error("could not note the message on the user's tickets (%s)", type(exc).__name__)


def _reason(exc: BaseException) -> str:
    """The failure's own words, at most one line (never the message being processed)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]
