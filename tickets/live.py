"""The supervisor's live view: tickets past a due time and tickets near one (inside the last
``1 - warning_share`` of a running clock), the queue's age (unassigned tickets per priority
and the oldest one's wait), and each person's load and duty, read from the clock columns
``tickets.sla_store`` keeps (no ticket's history is replayed here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from tickets.db import session_scope
from tickets.duty import RosterEntry, roster
from tickets.models import OPEN_STATUSES, WAITING_USER, StaffUser, Ticket, utcnow
from tickets.policy import PriorityPolicy, load_policy
from tickets.sla_store import running_dues

#: The most tickets each list shows.
LIST_LIMIT = 100


@dataclass(frozen=True)
class AtRisk:
    """A ticket with a running clock past its due time, or near it."""

    number: str
    priority: str
    category: str
    status: str
    assignee: str | None
    clock: str  # first_response | update | resolution
    due_at: datetime
    #: Seconds to the due time (negative: past it).
    left_seconds: float


@dataclass(frozen=True)
class QueueAge:
    priority: str
    waiting: int
    oldest_at: datetime | None


@dataclass(frozen=True)
class LiveView:
    breached: list[AtRisk]
    near: list[AtRisk]
    queue: list[QueueAge]
    people: list[RosterEntry]
    at: datetime


def _window(policy: PriorityPolicy, priority: str, clock: str) -> timedelta:
    """How long before its due time a clock counts as near: the part after the warning."""
    level = policy.levels.get(priority) or policy.levels[policy.default]
    hours = {
        "first_response": level.response_hours,
        "update": level.update_hours or 0.0,
        "resolution": level.resolution_hours,
    }[clock]
    return timedelta(hours=hours * (1 - policy.warning_share))


def _largest_window(policy: PriorityPolicy) -> timedelta:
    return max(
        _window(policy, name, clock)
        for name in policy.levels
        for clock in ("first_response", "update", "resolution")
    )


def at_risk(
    policy: PriorityPolicy, *, now: datetime, database_url: str | None = None
) -> tuple[list[AtRisk], list[AtRisk]]:
    """The running tickets past a due time (most overdue first) and near one (soonest first)."""
    horizon = now + _largest_window(policy)
    first_due = (Ticket.first_response_at.is_(None)) & (Ticket.sla_due_at <= horizon)
    with session_scope(database_url) as session:
        rows = session.execute(
            select(
                Ticket.number,
                Ticket.priority,
                Ticket.category,
                Ticket.status,
                StaffUser.username,
                Ticket.first_response_at,
                Ticket.sla_due_at,
                Ticket.update_due_at,
                Ticket.resolution_due_at,
            )
            .join(StaffUser, StaffUser.id == Ticket.assignee_id, isouter=True)
            .where(
                Ticket.status.in_([s for s in OPEN_STATUSES if s != WAITING_USER]),
                or_(
                    first_due,
                    Ticket.update_due_at <= horizon,
                    Ticket.resolution_due_at <= horizon,
                ),
            )
        ).all()
    breached: list[AtRisk] = []
    near: list[AtRisk] = []
    for row in rows:
        dues = sorted(running_dues(row._mapping), key=lambda item: item[1])
        for clock, due in dues:
            left = (due - now).total_seconds()
            item = AtRisk(
                number=row.number,
                priority=row.priority,
                category=row.category,
                status=row.status,
                assignee=row.username,
                clock=clock,
                due_at=due,
                left_seconds=left,
            )
            if left < 0:
                breached.append(item)
                break
            if timedelta(seconds=left) <= _window(policy, row.priority, clock):
                near.append(item)
                break
    breached.sort(key=lambda item: item.left_seconds)
    near.sort(key=lambda item: item.left_seconds)
    return breached[:LIST_LIMIT], near[:LIST_LIMIT]


def queue_age(policy: PriorityPolicy, *, database_url: str | None = None) -> list[QueueAge]:
    """Unassigned open tickets per priority (most urgent first) and the oldest one's report."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Ticket.priority, func.count(), func.min(Ticket.created_at))
            .where(Ticket.status == "open", Ticket.assignee_id.is_(None))
            .group_by(Ticket.priority)
        ).all()
    found = {priority: (int(n), oldest) for priority, n, oldest in rows}
    ranked = sorted(policy.levels, key=lambda name: policy.levels[name].rank)
    names: Sequence[str] = ranked + sorted(set(found) - set(ranked))
    return [
        QueueAge(
            priority=name,
            waiting=found.get(name, (0, None))[0],
            oldest_at=found.get(name, (0, None))[1],
        )
        for name in names
    ]


def live_view(*, now: datetime | None = None, database_url: str | None = None) -> LiveView:
    now = now or utcnow()
    policy = load_policy()
    breached, near = at_risk(policy, now=now, database_url=database_url)
    return LiveView(
        breached=breached,
        near=near,
        queue=queue_age(policy, database_url=database_url),
        people=roster(now=now, database_url=database_url),
        at=now,
    )
