"""How staff work a ticket: claim, assign, move it through its statuses, change its priority,
write notes, record replies. Every change is written to the audit trail with its author.

open -> assigned -> in_progress -> resolved -> closed; a resolved ticket the user says is still
broken goes back to in_progress; supervisors may assign to anyone and change priorities.
Staff waiting for an answer set ``waiting_user``: the service clocks pause until the user
writes again (:func:`user_wrote`), which brings the ticket back to in_progress. Every change
recomputes the ticket's clocks in the same transaction (``tickets.sla_store.refresh``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.db import session_scope
from tickets.models import (
    OPEN_STATUSES,
    TICKET_ROLES,
    WAITING_USER,
    StaffUser,
    Ticket,
    TicketEvent,
    utcnow,
)
from tickets.policy import load_policy
from tickets.sla_store import refresh
from tickets.staff import Staff

TRANSITIONS = {
    "open": {"assigned"},
    "assigned": {"in_progress", "open", WAITING_USER},
    "in_progress": {"resolved", WAITING_USER},
    WAITING_USER: {"in_progress", "resolved"},
    "resolved": {"closed", "in_progress"},
    "closed": set(),
}
#: The longest user message kept on a ticket.
MAX_USER_TEXT = 4000
MAX_NOTE = 4000


class WorkflowError(ValueError):
    """A change the rules do not allow; the message says why (Chinese, for the console)."""


class TicketNotFound(WorkflowError):
    """There is no ticket with that number."""


def _ticket(session: Session, number: str) -> Ticket:
    """The ticket, its row locked until the change commits (PostgreSQL; SQLite has one writer),
    so a sweep of its clocks cannot interleave with the change."""
    ticket: Ticket | None = session.execute(
        select(Ticket).where(Ticket.number == number).with_for_update()
    ).scalar()
    if ticket is None:
        raise TicketNotFound(f"工单 {number} 不存在")
    return ticket


def _audit(
    session: Session,
    ticket: Ticket,
    actor: Staff | None,
    kind: str,
    *,
    at: datetime | None = None,
    **detail: Any,
) -> None:
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor_id=actor.id if actor else None,
            kind=kind,
            detail=detail,
            created_at=at or utcnow(),
        )
    )


def _move(
    session: Session,
    ticket: Ticket,
    actor: Staff | None,
    to: str,
    note: str = "",
    *,
    now: datetime | None = None,
) -> None:
    """Change the status (audited) and recompute the clocks."""
    if to not in TRANSITIONS.get(ticket.status, set()):
        policy = load_policy()
        raise WorkflowError(
            f"工单状态不能从「{policy.status_label(ticket.status)}」直接变为"
            f"「{policy.status_label(to)}」"
        )
    now = now or utcnow()
    _audit(
        session, ticket, actor, "status", at=now, old=ticket.status, new=to, note=note[:MAX_NOTE]
    )
    ticket.status = to
    if to == "resolved":
        ticket.resolved_at = now
        if ticket.first_response_at is None:
            ticket.first_response_at = now  # the resolution reaches the user: a response
    if to == "closed":
        ticket.closed_at = now
    if to == "in_progress" and ticket.resolved_at is not None:
        ticket.resolved_at = None  # reopened
    if to == "open":
        ticket.assignee_id = None  # back in the queue: anyone may take it, the rules may give it
    ticket.updated_at = now
    refresh(session, ticket, now)


def give(
    session: Session,
    ticket: Ticket,
    assignee: StaffUser,
    actor: Staff | None,
    reason: str,
    *,
    auto: bool = False,
    now: datetime | None = None,
) -> None:
    """Make ``assignee`` the ticket's owner, audited with ``reason`` (``auto``: by the
    assignment rules); an open ticket becomes assigned."""
    moment = now or utcnow()
    ticket.assignee_id = assignee.id
    assignee.last_assigned_at = moment
    detail: dict[str, Any] = {"assignee": assignee.username, "reason": reason[:MAX_NOTE]}
    if auto:
        detail["auto"] = True
    _audit(session, ticket, actor, "assign", at=moment, **detail)
    if ticket.status == "open":
        _move(session, ticket, actor, "assigned", now=moment)


def claim(
    number: str, actor: Staff, *, now: datetime | None = None, database_url: str | None = None
) -> None:
    """The agent takes an open ticket."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能处理工单")
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        if ticket.status != "open":
            raise WorkflowError("只能认领待处理的工单")
        me = session.get(StaffUser, actor.id)
        give(session, ticket, me, actor, "本人认领", now=now)


def assign(
    number: str,
    actor: Staff,
    assignee_username: str,
    reason: str = "",
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> None:
    """A supervisor gives (or gives again) the ticket to an agent, with a reason."""
    if not actor.is_supervisor:
        raise WorkflowError("只有主管可以把工单分配给他人")
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        assignee = session.execute(
            select(StaffUser).where(
                StaffUser.username == assignee_username.strip().lower(),
                StaffUser.active.is_(True),
            )
        ).scalar()
        if assignee is None:
            raise WorkflowError(f"找不到客服 {assignee_username}")
        if assignee.role not in TICKET_ROLES:
            raise WorkflowError(f"{assignee.username} 是内容编辑账号，工单只能分配给客服或主管")
        if ticket.status == "closed":
            raise WorkflowError("已关闭的工单不能再分配")
        previous = ticket.assignee_id
        why = reason.strip() or ("主管改派" if previous else "主管分配")
        give(session, ticket, assignee, actor, why, now=now)


def transition(
    number: str,
    actor: Staff,
    to: str,
    note: str = "",
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> None:
    """Move the ticket to ``to``; only its assignee or a supervisor may."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能处理工单")
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        if not actor.is_supervisor and ticket.assignee_id != actor.id:
            raise WorkflowError("只有负责这个工单的客服或主管可以修改它的状态")
        _move(session, ticket, actor, to, note, now=now)


def reopen_by_user(
    number: str,
    sender_id: str,
    note: str,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> bool:
    """The user says a resolved ticket is still broken: back to in_progress, with a note."""
    with session_scope(database_url) as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.number == number, Ticket.sender_id == sender_id)
        ).scalar()
        if ticket is None or ticket.status != "resolved":
            return False
        _move(session, ticket, None, "in_progress", note, now=now)
        return True


def close_by_user(
    number: str, sender_id: str, *, now: datetime | None = None, database_url: str | None = None
) -> bool:
    """The user confirms the fix of a resolved ticket: it is closed (the follow-up visit)."""
    with session_scope(database_url) as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.number == number, Ticket.sender_id == sender_id)
        ).scalar()
        if ticket is None or ticket.status != "resolved":
            return False
        _move(session, ticket, None, "closed", "用户确认问题已解决", now=now)
        return True


def change_priority(
    number: str,
    actor: Staff,
    priority: str,
    reason: str,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> None:
    """A supervisor changes the priority (with a reason); every clock follows the new level
    from the report on (pauses still count)."""
    if not actor.is_supervisor:
        raise WorkflowError("只有主管可以修改优先级")
    if not reason.strip():
        raise WorkflowError("修改优先级需要填写原因")
    levels = load_policy().levels
    if priority not in levels:
        raise WorkflowError(f"优先级只能是 {'、'.join(levels)}")
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        moment = now or utcnow()
        _audit(
            session,
            ticket,
            actor,
            "priority",
            at=moment,
            old=ticket.priority,
            new=priority,
            reason=reason.strip()[:MAX_NOTE],
        )
        ticket.priority = priority
        ticket.updated_at = moment
        refresh(session, ticket, moment)


def add_note(number: str, actor: Staff, text: str, *, database_url: str | None = None) -> None:
    """An internal note (never shown to the user)."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能处理工单")
    if not text.strip():
        raise WorkflowError("备注不能为空")
    with session_scope(database_url) as session:
        _audit(session, _ticket(session, number), actor, "note", text=text.strip()[:MAX_NOTE])


def record_reply(
    number: str,
    actor: Staff,
    text: str,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> None:
    """A reply sent to the user: audited, and the first one is the ticket's first response."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能处理工单")
    if not text.strip():
        raise WorkflowError("回复内容不能为空")
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        moment = now or utcnow()
        if ticket.first_response_at is None:
            ticket.first_response_at = moment
        _audit(session, ticket, actor, "reply", at=moment, text=text.strip()[:MAX_NOTE])
        ticket.transcript = list(ticket.transcript or []) + [
            {
                "role": "staff",
                "text": text.strip()[:MAX_NOTE],
                "ts": moment.isoformat(),
                "staff": actor.display_name,
            }
        ]
        ticket.updated_at = moment
        refresh(session, ticket, moment)


def user_wrote(
    sender_id: str,
    text: str,
    *,
    channel: str = "chat",
    now: datetime | None = None,
    database_url: str | None = None,
) -> list[str]:
    """The user wrote again (in chat, or by any channel): the message joins each of their open
    tickets that staff have answered or wait on (audited as ``user_reply``, so the assignee
    hears of it), and a ticket waiting for the user goes back to in_progress, its clocks
    running again. The numbers of the tickets it joined; none for a user without such a
    ticket (one indexed read)."""
    moment = now or utcnow()
    clipped = (text or "").strip()[:MAX_USER_TEXT]
    with session_scope(database_url) as session:
        tickets = session.execute(
            select(Ticket)
            .where(
                Ticket.sender_id == sender_id,
                Ticket.status.in_(OPEN_STATUSES),
                (Ticket.first_response_at.is_not(None)) | (Ticket.status == WAITING_USER),
            )
            .with_for_update()
        ).scalars()
        joined: list[str] = []
        for ticket in list(tickets):
            _user_turn(session, ticket, clipped, channel, moment)
            joined.append(ticket.number)
        return joined


def _user_turn(
    session: Session, ticket: Ticket, text: str, channel: str, moment: datetime, **detail: Any
) -> None:
    """The user's message on ``ticket``: audited (``user_reply``), in the transcript, and a
    ticket waiting for the user back to in_progress, its clocks running again."""
    waiting = ticket.status == WAITING_USER
    _audit(
        session,
        ticket,
        None,
        "user_reply",
        at=moment,
        text=text,
        channel=channel,
        resumed=waiting,
        **detail,
    )
    if text:
        ticket.transcript = list(ticket.transcript or []) + [
            {"role": "user", "text": text, "ts": moment.isoformat(), "channel": channel}
        ]
    ticket.updated_at = moment
    if waiting:
        _move(session, ticket, None, "in_progress", "用户已回复，继续处理", now=moment)


def user_wrote_on(
    number: str,
    text: str,
    *,
    channel: str,
    source: str,
    now: datetime | None = None,
    database_url: str | None = None,
) -> bool:
    """The user answered on one ticket (a mail that threads to it): the text joins it (audited
    as ``user_reply``, so the assignee hears of it), a ticket waiting for the user goes back to
    in_progress, its clocks running again, and a resolved one is reopened. Once per
    ``source`` (e.g. ``mail:17``): the same message read twice joins once. False when it had
    joined before."""
    moment = now or utcnow()
    clipped = (text or "").strip()[:MAX_USER_TEXT]
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        joined = session.execute(
            select(TicketEvent.detail).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "user_reply"
            )
        ).scalars()
        if any(detail.get("source") == source for detail in joined):
            return False
        _user_turn(session, ticket, clipped, channel, moment, source=source)
        if ticket.status == "resolved":
            _move(session, ticket, None, "in_progress", "用户来信，工单重新打开", now=moment)
        return True


def change_category(
    number: str, actor: Staff, category: str, *, database_url: str | None = None
) -> None:
    """Staff set the ticket's category (confirming the understanding's guess or correcting
    it); audited. The priority stays as it is (a supervisor changes it if it should)."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能处理工单")
    with session_scope(database_url) as session:
        ticket = _ticket(session, number)
        if category not in load_policy().categories:
            raise WorkflowError(f"没有「{category}」这个问题类别")
        if ticket.category == category and not ticket.category_unsure:
            return
        _audit(session, ticket, actor, "category", old=ticket.category, new=category)
        ticket.category = category
        ticket.category_unsure = False
        ticket.updated_at = utcnow()


def reveal_contact(number: str, actor: Staff, *, database_url: str | None = None) -> None:
    """A staff member is shown the ticket's full contact details: audited before they see them."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能查看用户的联系方式")
    with session_scope(database_url) as session:
        _audit(session, _ticket(session, number), actor, "contact_view")
