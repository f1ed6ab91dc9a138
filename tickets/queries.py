"""What staff read about tickets: the queue and one ticket with its audit trail, as frozen
dataclasses (no ORM object leaves this module; changes go through ``tickets.workflow``), and
the names staff read for the channels tickets come in by."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from tickets.db import session_scope
from tickets.models import (
    CHANNELS,
    OPEN_STATUSES,
    TICKET_STATUSES,
    WAITING_USER,
    StaffUser,
    Ticket,
    TicketEvent,
    utcnow,
)
from tickets.policy import load_policy
from tickets.privacy import mask_email, mask_phone
from tickets.sla import evaluate
from tickets.sla_store import events_of, history_of, running_dues
from tickets.workflow import TRANSITIONS

#: The most tickets one queue page lists.
QUEUE_LIMIT = 500
FILTER_KEYS = ("status", "priority", "category", "assignee", "channel")
#: What staff call each channel (``tickets.models.CHANNELS``, in their order), wherever the
#: console shows one: the queue, a ticket, the dashboard.
CHANNEL_LABELS = {"chat": "在线聊天", "email": "邮件", "phone": "电话热线"}


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as typed in: an unknown status, priority, category or channel
    filters nothing (no status: the open ones); the assignee is a username, matched exactly."""

    status: str = ""
    priority: str = ""
    category: str = ""
    assignee: str = ""
    channel: str = ""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> QueueFilters:
        return cls(**{key: str(values.get(key) or "")[:64] for key in FILTER_KEYS})


@dataclass(frozen=True)
class TicketSummary:
    """One line of the queue."""

    number: str
    #: How it came in (``tickets.models.CHANNELS``).
    channel: str
    category: str
    #: The category is the understanding's guess: a person should confirm it (待分类).
    category_unsure: bool
    priority: str
    status: str
    assignee: str | None
    reason: str
    created_at: datetime
    sla_due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution_due_at: datetime | None
    update_due_at: datetime | None
    #: Since when the ticket waits for the user (its clocks paused).
    paused_since: datetime | None
    #: A running clock is past its due time (a first response, a progress update, the
    #: resolution); a ticket waiting for the user is never overdue.
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
    #: Every clock cycle computed now from the ticket's history, and the stored warnings
    #: and breaches.
    clocks: list[ClockLine] = field(default_factory=list)
    sla_marks: list[SlaMark] = field(default_factory=list)
    paused_seconds: int = 0


@dataclass(frozen=True)
class Queue:
    tickets: list[TicketSummary]
    #: Every status's ticket count (all tickets, not only those shown).
    counts: dict[str, int]


#: The columns of a queue line: the queue never reads a ticket's transcript or steps.
SUMMARY_COLUMNS = (
    Ticket.number,
    Ticket.channel,
    Ticket.category,
    Ticket.category_unsure,
    Ticket.priority,
    Ticket.status,
    StaffUser.username.label("assignee"),
    Ticket.reason,
    Ticket.created_at,
    Ticket.sla_due_at,
    Ticket.first_response_at,
    Ticket.resolved_at,
    Ticket.closed_at,
    Ticket.resolution_due_at,
    Ticket.update_due_at,
    Ticket.paused_since,
)
SUMMARY_KEYS = tuple(column.key for column in SUMMARY_COLUMNS)
#: The rank of a priority the policy no longer knows: after every known one.
UNKNOWN_RANK = 99


def _overdue(values: Mapping[str, Any], now: datetime) -> bool:
    if values["status"] not in OPEN_STATUSES or values["status"] == WAITING_USER:
        return False
    return any(due < now for _clock, due in running_dues(values))


@dataclass(frozen=True)
class ClockLine:
    """One cycle of one service clock, as the ticket page shows it."""

    name: str
    cycle: int
    target_hours: float
    due_at: datetime | None
    stopped_at: datetime | None
    #: running | paused | met | missed | breached
    state: str
    left_seconds: float


@dataclass(frozen=True)
class SlaMark:
    """A stored warning or breach."""

    clock: str
    kind: str
    cycle: int
    due_at: datetime | None
    at: datetime


def queue_slice(
    status: str, priority: str, filters: QueueFilters, categories: Collection[str], limit: int
) -> Select:
    """The queue's tickets of one status and one priority, earliest due first: a range of the
    ``ix_tickets_queue`` index read in order and stopped after ``limit`` rows. A category
    filter counts only when it names one of ``categories``, a channel filter one of
    ``CHANNELS`` (both checked on the rows of the range)."""
    query = (
        select(*SUMMARY_COLUMNS)
        .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
        .where(Ticket.status == status, Ticket.priority == priority)
    )
    if filters.category in categories:
        query = query.where(Ticket.category == filters.category)
    if filters.channel in CHANNELS:
        query = query.where(Ticket.channel == filters.channel)
    if filters.assignee:
        query = query.where(StaffUser.username == filters.assignee)
    return query.order_by(Ticket.sla_due_at).limit(limit)


def merged_slices(slices: list[Select], limit: int) -> Select:
    """The first ``limit`` tickets of ``slices`` (each in due order) by due time: the database
    merges them, each slice still read through its index with its own limit."""
    if len(slices) == 1:
        return slices[0]
    merged = union_all(*[select(part.subquery()) for part in slices]).subquery()
    return select(merged).order_by(merged.c.sla_due_at).limit(limit)


def queue(filters: QueueFilters, *, database_url: str | None = None) -> Queue:
    """The tickets the filters select (by default the open ones), most urgent and earliest due
    first, and the count of every status. Read the slices of each priority (one per status),
    most urgent first, merged by due time, until the page is full: one query per priority
    reading at most ``QUEUE_LIMIT`` rows per slice, whatever the number of tickets."""
    policy = load_policy()
    statuses = {filters.status} if filters.status in TICKET_STATUSES else set(OPEN_STATUSES)
    wanted = filters.priority if filters.priority in policy.levels else None
    now = utcnow()
    with session_scope(database_url) as session:
        counts: dict[str, int] = {}
        slices: dict[int, list[tuple[str, str]]] = defaultdict(list)  # rank -> (status, prio)
        for status, priority, n in session.execute(
            select(Ticket.status, Ticket.priority, func.count()).group_by(
                Ticket.status, Ticket.priority
            )
        ):
            counts[status] = counts.get(status, 0) + int(n)
            if status in statuses and wanted in (None, priority):
                level = policy.levels.get(priority)
                slices[level.rank if level else UNKNOWN_RANK].append((status, priority))
        tickets: list[TicketSummary] = []
        for rank in sorted(slices):
            room = QUEUE_LIMIT - len(tickets)
            if room <= 0:
                break
            parts = [
                queue_slice(status, priority, filters, policy.categories, room)
                for status, priority in sorted(slices[rank])
            ]
            for row in session.execute(merged_slices(parts, room)):
                values = dict(zip(SUMMARY_KEYS, row, strict=True))
                tickets.append(TicketSummary(**values, overdue=_overdue(values, now)))
    return Queue(tickets=tickets, counts=counts)


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
        values = {
            key: assignee if key == "assignee" else getattr(ticket, key) for key in SUMMARY_KEYS
        }
        now = utcnow()
        state = evaluate(history_of(session, ticket), load_policy(), now)
        return TicketDetail(
            **values,
            overdue=_overdue(values, now),
            clocks=[
                ClockLine(
                    name=c.name,
                    cycle=c.cycle,
                    target_hours=c.target_hours,
                    due_at=c.due_at,
                    stopped_at=c.stopped_at,
                    state=c.state,
                    left_seconds=c.left_seconds,
                )
                for c in state.clocks
            ],
            sla_marks=[
                SlaMark(clock=e.clock, kind=e.kind, cycle=e.cycle, due_at=e.due_at, at=e.at)
                for e in events_of(session, [ticket.id])
            ],
            paused_seconds=state.paused_seconds,
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
