"""The follow-up of a resolved ticket outside the chat (回访): the user's answer, given on the
signed page of an e-mail ticket's follow-up mail, or told to the agent who calls them back:
solved (the ticket closes) or not (it goes back to in_progress), and the three-part rating
of the service (kept as the chat's follow-up keeps it, against the ticket's assignee)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from tickets import store, workflow
from tickets.db import session_scope
from tickets.models import Ticket
from understanding.ratings import ASPECTS

#: The flow id of a ticket's follow-up (the chat's follow-up uses the same, see
#: actions/ratings.py): one feedback row per ticket, whichever way the user answered.
FOLLOWUP_PREFIX = "ticket-"


@dataclass(frozen=True)
class FollowUp:
    number: str
    status: str
    channel: str
    #: The aspects already scored (a second visit of the page shows them).
    scores: Mapping[str, int]


def feedback_key(sender_id: str, number: str) -> str:
    return store.escalation_key(sender_id, FOLLOWUP_PREFIX + number)


def follow_up_of(number: str, *, database_url: str | None = None) -> FollowUp | None:
    with session_scope(database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar()
        if ticket is None:
            return None
        facts = (ticket.number, ticket.status, ticket.channel, ticket.sender_id)
    scores = store.staff_rating_so_far(feedback_key(facts[3], number), database_url=database_url)
    return FollowUp(number=facts[0], status=facts[1], channel=facts[2], scores=scores)


def record_answer(
    number: str,
    *,
    solved: bool,
    scores: Mapping[str, int],
    comment: str = "",
    how: str,
    now: datetime | None = None,
    database_url: str | None = None,
) -> str:
    """The user's answer to the follow-up of a resolved ticket; the ticket's status after it.
    ``how`` says where it came from, for the audit trail (e.g. 回访邮件链接). Raises
    ``ValueError`` for a score out of range and ``workflow.WorkflowError`` when the ticket
    is not waiting for a follow-up (not resolved)."""
    for aspect, score in scores.items():
        if aspect not in ASPECTS or not (isinstance(score, int) and 1 <= score <= 5):
            raise ValueError(f"invalid score {aspect}={score!r}")
    with session_scope(database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar()
        if ticket is None:
            raise workflow.TicketNotFound(f"工单 {number} 不存在")
        sender_id, status = ticket.sender_id, ticket.status
    if status != "resolved":
        raise workflow.WorkflowError("这张工单现在不需要确认（可能已经确认过，或正在处理中）")
    key = feedback_key(sender_id, number)
    if scores:
        store.record_staff_rating(
            idempotency_key=key,
            sender_id=sender_id,
            ticket_number=number,
            scores=dict(scores),
            database_url=database_url,
        )
    if comment.strip():
        store.record_feedback(
            idempotency_key=key,
            sender_id=sender_id,
            playbook=None,
            resolved_step=None,
            ticket_number=number,
            database_url=database_url,
        )
        store.record_comment(key, sender_id, comment, database_url=database_url)
    if solved:
        workflow.close_by_user(number, sender_id, now=now, database_url=database_url)
        return "closed"
    note = f"用户通过{how}反馈：问题仍未解决" + (f"（{comment.strip()[:200]}）" if comment else "")
    workflow.reopen_by_user(number, sender_id, note, now=now, database_url=database_url)
    return "in_progress"
