"""The service clocks applied to the ticket store: a ticket's history read from its audit trail,
its clock columns kept up to date, and its warnings and breaches recorded once each.

``refresh`` runs in the transaction of every change to a ticket (``tickets.workflow``,
``tickets.store``); ``sweep`` (``tickets.sla_sweeper``) runs it for every ticket whose next
warning or due time has come, and for every open ticket when the policy's SLA settings changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tickets.models import SlaEvent, Ticket, TicketEvent, TicketMeta
from tickets.policy import PriorityPolicy, load_policy
from tickets.sla import History, SlaState, evaluate

#: The audit kinds a ticket's clocks are computed from.
HISTORY_KINDS = ("status", "reply")
#: The key in ``ticket_meta`` of the fingerprint of the SLA settings the clocks were computed
#: with (a changed policy makes the sweeper refresh every open ticket).
POLICY_KEY = "sla_policy"


def history_of(session: Session, ticket: Ticket) -> History:
    """The ticket's report, status changes and staff replies from its audit trail."""
    statuses: list[tuple[datetime, str]] = []
    replies: list[datetime] = []
    rows = session.execute(
        select(TicketEvent.kind, TicketEvent.detail, TicketEvent.created_at)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(HISTORY_KINDS))
        .order_by(TicketEvent.created_at, TicketEvent.id)
    )
    for kind, detail, at in rows:
        if kind == "status" and isinstance(detail, dict) and detail.get("new"):
            statuses.append((at, str(detail["new"])))
        elif kind == "reply":
            replies.append(at)
    if not replies and ticket.first_response_at is not None:
        replies.append(ticket.first_response_at)  # a ticket answered before replies were audited
    return History(
        created_at=ticket.created_at,
        priority=ticket.priority,
        statuses=statuses,
        replies=replies,
    )


def apply(ticket: Ticket, state: SlaState) -> None:
    """Write the clocks' due times, the pause and the next check onto the ticket's row."""
    first, update, resolution = (
        state.clock("first_response"),
        state.clock("update"),
        state.clock("resolution"),
    )
    if first is not None and first.due_at is not None:
        ticket.sla_due_at = first.due_at
    ticket.update_due_at = update.due_at if update is not None and not update.done else None
    ticket.resolution_due_at = resolution.due_at if resolution is not None else None
    ticket.paused_since = state.paused_since
    ticket.paused_seconds = state.paused_seconds
    ticket.sla_check_at = state.check_at


def running_dues(values: Mapping[str, Any]) -> list[tuple[str, datetime]]:
    """The due times of a ticket's running clocks, read from its clock columns (a mapping of
    ``first_response_at``, ``sla_due_at``, ``update_due_at``, ``resolution_due_at``): the
    first response's until it is given, the others while ``apply`` keeps them (None: paused
    or done)."""
    dues: list[tuple[str, datetime]] = []
    if values["first_response_at"] is None:
        dues.append(("first_response", values["sla_due_at"]))
    for clock, column in (("update", "update_due_at"), ("resolution", "resolution_due_at")):
        if values[column] is not None:
            dues.append((clock, values[column]))
    return dues


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """:func:`running_dues` past ``now``, as SQL over the clock columns (the status is the
    caller's: a ticket waiting for the user or done has no running clock)."""
    return or_(
        and_(Ticket.first_response_at.is_(None), Ticket.sla_due_at < now),
        Ticket.update_due_at < now,
        Ticket.resolution_due_at < now,
    )


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the rows an earlier writer did not; the number inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(SlaEvent.__table__).values(rows).on_conflict_do_nothing()
    return int(session.execute(statement).rowcount or 0)


def record_crossings(session: Session, ticket: Ticket, state: SlaState, now: datetime) -> int:
    """Store every warning and breach passed by ``now`` that is not stored yet (the unique key
    keeps a second writer from storing it twice); the number stored."""
    rows = [
        {
            "ticket_id": ticket.id,
            "clock": c.clock,
            "kind": c.kind,
            "cycle": c.cycle,
            "priority": ticket.priority,
            "assignee_id": ticket.assignee_id,
            "due_at": c.due_at,
            "at": c.at,
            "recorded_at": now,
        }
        for c in state.crossings
    ]
    return _insert_ignoring_duplicates(session, rows)


def refresh(
    session: Session, ticket: Ticket, now: datetime, policy: PriorityPolicy | None = None
) -> int:
    """Recompute the ticket's clocks from its history at ``now``, keep them on its row and
    record the warnings and breaches passed (their number is returned). Call it after the
    change is added to the session (the history read flushes it)."""
    session.flush()
    state = evaluate(history_of(session, ticket), policy or load_policy(), now)
    apply(ticket, state)
    return record_crossings(session, ticket, state, now)


def fingerprint(policy: PriorityPolicy) -> str:
    """A digest of what the clocks depend on: each level's targets, the share, the calendar."""
    facts = {
        "levels": {
            name: [level.response_hours, level.update_hours, level.resolution_hours]
            for name, level in sorted(policy.levels.items())
        },
        "default": policy.default,
        "share": policy.warning_share,
        "calendar": _calendar_facts(policy),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _calendar_facts(policy: PriorityPolicy) -> Any:
    """The calendar as plain, ordered data (a set's order differs between processes)."""
    calendar = policy.calendar
    if calendar.always:
        return "7x24"
    return {
        "offset": calendar.offset.utcoffset(None).total_seconds(),
        "windows": {
            str(day): [[a.isoformat(), b.isoformat()] for a, b in spans]
            for day, spans in sorted(calendar.windows.items())
        },
        "holidays": sorted(day.isoformat() for day in calendar.holidays),
    }


def stored_fingerprint(session: Session) -> str | None:
    value: str | None = session.execute(
        select(TicketMeta.value).where(TicketMeta.key == POLICY_KEY)
    ).scalar()
    return value


def store_fingerprint(session: Session, value: str, now: datetime) -> None:
    row = session.get(TicketMeta, POLICY_KEY)
    if row is None:
        session.add(TicketMeta(key=POLICY_KEY, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now


def events_of(session: Session, ticket_ids: Iterable[int]) -> list[SlaEvent]:
    """The warnings and breaches of the given tickets, oldest first."""
    ids = list(ticket_ids)
    if not ids:
        return []
    return list(
        session.execute(
            select(SlaEvent).where(SlaEvent.ticket_id.in_(ids)).order_by(SlaEvent.at, SlaEvent.id)
        ).scalars()
    )
