"""What staff read about tickets: the queue and one ticket with its audit trail, as frozen
dataclasses (no ORM object leaves this module; changes go through ``tickets.workflow``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tickets.db import session_scope
from tickets.models import OPEN_STATUSES, TICKET_STATUSES, StaffUser, Ticket, TicketEvent, utcnow
from tickets.policy import load_policy
from tickets.privacy import mask_email, mask_phone
from tickets.workflow import TRANSITIONS

#: The most tickets one queue page lists.
QUEUE_LIMIT = 500
FILTER_KEYS = ("status", "priority", "category", "assignee")


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as typed in: an unknown status, priority or category filters nothing
    (no status: the open ones); the assignee is a username, matched exactly."""

    status: str = ""
    priority: str = ""
    category: str = ""
    assignee: str = ""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> QueueFilters:
        return cls(**{key: str(values.get(key) or "")[:64] for key in FILTER_KEYS})


@dataclass(frozen=True)
class TicketSummary:
    """One line of the queue."""

    number: str
    category: str
    priority: str
    status: str
    assignee: str | None
    reason: str
    created_at: datetime
    sla_due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    #: Still waiting for staff, and past the promised response time.
    overdue: bool


@dataclass(frozen=True)
class Contact:
    """The user's contact details, masked unless a staff member asked to see them (audited)."""

    phone: str | None
    email: str | None
    masked: bool

    @property
    def given(self) -> bool:
        return bool(self.phone or self.email)


@dataclass(frozen=True)
class AuditEntry:
    kind: str
    #: The staff member's username; None for the user or the system.
    actor: str | None
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class TicketDetail(TicketSummary):
    """One ticket as its page shows it."""

    sender_id: str
    steps_tried: list[dict[str, Any]]
    transcript: list[dict[str, Any]]
    contact: Contact
    trail: list[AuditEntry]
    #: The statuses the workflow allows next, sorted.
    next_statuses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Queue:
    tickets: list[TicketSummary]
    #: Every status's ticket count (all tickets, not only those shown).
    counts: dict[str, int]


def _summary_fields(ticket: Ticket, assignee: str | None, now: datetime) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": ticket.status,
        "assignee": assignee,
        "reason": ticket.reason,
        "created_at": ticket.created_at,
        "sla_due_at": ticket.sla_due_at,
        "first_response_at": ticket.first_response_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "overdue": ticket.status in OPEN_STATUSES and ticket.sla_due_at < now,
    }


def queue(filters: QueueFilters, *, database_url: str | None = None) -> Queue:
    """The tickets the filters select (by default the open ones), most urgent and earliest due
    first, and the count of every status."""
    policy = load_policy()
    rank = case(
        {name: level.rank for name, level in policy.levels.items()}, value=Ticket.priority, else_=99
    )
    query = select(Ticket, StaffUser.username).join(
        StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True
    )
    if filters.status in TICKET_STATUSES:
        query = query.where(Ticket.status == filters.status)
    else:
        query = query.where(Ticket.status.in_(OPEN_STATUSES))
    if filters.priority in policy.levels:
        query = query.where(Ticket.priority == filters.priority)
    if filters.category in policy.categories:
        query = query.where(Ticket.category == filters.category)
    if filters.assignee:
        query = query.where(StaffUser.username == filters.assignee)
    now = utcnow()
    with session_scope(database_url) as session:
        rows = session.execute(query.order_by(rank, Ticket.sla_due_at).limit(QUEUE_LIMIT)).all()
        tickets = [TicketSummary(**_summary_fields(t, name, now)) for t, name in rows]
        counts = session.execute(select(Ticket.status, func.count()).group_by(Ticket.status))
        return Queue(tickets=tickets, counts={status: int(n) for status, n in counts.all()})


def ticket_detail(
    number: str, *, reveal: bool = False, database_url: str | None = None
) -> TicketDetail | None:
    """One ticket, its contact masked unless ``reveal`` (the caller audits the reveal through
    ``tickets.workflow.reveal_contact`` first), or None when there is no such ticket."""
    with session_scope(database_url) as session:
        row = session.execute(
            select(Ticket, StaffUser.username)
            .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
            .where(Ticket.number == number)
        ).first()
        if row is None:
            return None
        ticket, assignee = row
        phone, email = ticket.contact_phone, ticket.contact_email
        contact = Contact(
            phone=phone if reveal or not phone else mask_phone(phone),
            email=email if reveal or not email else mask_email(email),
            masked=not reveal,
        )
        return TicketDetail(
            **_summary_fields(ticket, assignee, utcnow()),
            sender_id=ticket.sender_id,
            steps_tried=list(ticket.steps_tried or []),
            transcript=list(ticket.transcript or []),
            contact=contact,
            trail=_trail(session, ticket.id),
            next_statuses=sorted(TRANSITIONS[ticket.status]),
        )


def sender_of(number: str, *, database_url: str | None = None) -> str | None:
    """The conversation a ticket came from (to send its user a reply), or None."""
    with session_scope(database_url) as session:
        sender: str | None = session.execute(
            select(Ticket.sender_id).where(Ticket.number == number)
        ).scalar()
        return sender


def audit_trail(number: str, *, database_url: str | None = None) -> list[AuditEntry]:
    """Every change of the ticket, oldest first; empty when there is no such ticket."""
    with session_scope(database_url) as session:
        ticket_id = session.execute(select(Ticket.id).where(Ticket.number == number)).scalar()
        return [] if ticket_id is None else _trail(session, ticket_id)


def _trail(session: Session, ticket_id: int) -> list[AuditEntry]:
    rows = session.execute(
        select(TicketEvent, StaffUser.username)
        .join(StaffUser, TicketEvent.actor_id == StaffUser.id, isouter=True)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
    ).all()
    return [
        AuditEntry(
            kind=event.kind, actor=username, detail=dict(event.detail or {}), at=event.created_at
        )
        for event, username in rows
    ]
