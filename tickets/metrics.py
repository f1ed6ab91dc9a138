"""Quality-supervision figures for supervisors (the service guide's "质量监督"): tickets by
category and priority, first responses within the promised time, time to resolve, resolution
rate, how many conversations the bot solved alone, ratings, and per-agent figures; and the CSV
export. Everything is counted by the database (GROUP BY, CASE, AVG): no ticket row, let alone
a transcript, is loaded into Python."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Collection, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, extract, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tickets.db import session_scope
from tickets.models import DONE_STATUSES, TICKET_STATUSES, Feedback, StaffUser, Ticket, utcnow
from tickets.policy import load_policy
from understanding.ratings import ASPECTS

DONE = DONE_STATUSES
#: The CSV export's columns (no contact details, no transcript).
CSV_HEADER = (
    "number",
    "category",
    "priority",
    "status",
    "assignee",
    "created_at",
    "sla_due_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "reason",
)
#: Rows the CSV export reads from the database at a time (and writes as one chunk).
CSV_CHUNK_ROWS = 1_000


def summed_hours(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """The sum of ``end - start`` over a group, in hours, as SQL (NULL when no row has both):
    SQLite has no interval type and sums julianday differences (days); PostgreSQL sums the
    intervals and takes the epoch (seconds) of the total once."""
    if dialect == "sqlite":
        return func.sum(func.julianday(end) - func.julianday(start)) * 24.0
    return extract("epoch", func.sum(end - start)) / 3600.0


def _count_if(condition: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.count(case((condition, 1)))


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _ordered(counts: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    """``counts`` in the given order of keys, any other key after them by name."""
    known = [key for key in order if key in counts]
    return {key: counts[key] for key in known + sorted(set(counts) - set(known))}


@dataclass
class _Totals:
    """Sums over groups of tickets, for one priority or one agent."""

    tickets: int = 0
    met: int = 0
    waiting: int = 0
    done: int = 0
    answered: int = 0
    first_hours: float = 0.0

    def mean_first_hours(self) -> float | None:
        return round(self.first_hours / self.answered, 2) if self.answered else None


def _groups(session: Session, now: datetime) -> list[Any]:
    """The tickets counted per priority, status, category and assignee (the order of
    ``ix_tickets_dashboard``, which holds every column read: the rows are never touched):
    first responses in time (a missing one compares as NULL: not counted) and tickets still
    unanswered within their due time (every other ticket missed it), resolutions and first
    responses with their hours summed."""
    dialect = session.get_bind().dialect.name
    first, due, created = Ticket.first_response_at, Ticket.sla_due_at, Ticket.created_at
    keys = (Ticket.priority, Ticket.status, Ticket.category, Ticket.assignee_id)
    rows: list[Any] = session.execute(
        select(
            *keys,
            func.count().label("tickets"),
            _count_if(first <= due).label("met"),
            _count_if(and_(first.is_(None), due >= now)).label("waiting"),
            func.count(Ticket.resolved_at).label("resolved"),
            summed_hours(dialect, created, Ticket.resolved_at).label("resolve_hours"),
            func.count(first).label("answered"),
            summed_hours(dialect, created, first).label("first_hours"),
        ).group_by(*keys)
    ).all()
    return rows


def _usernames(session: Session, ids: Collection[int]) -> dict[int, str]:
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids)))
    return {int(staff_id): str(name) for staff_id, name in rows}


def _feedback(session: Session) -> tuple[int, int, float | None]:
    """Conversations the bot solved alone, ratings given, and their mean."""
    bot, rated, mean = session.execute(
        select(
            _count_if(Feedback.ticket_number.is_(None)),
            func.count(Feedback.rating),
            func.avg(Feedback.rating),
        )
    ).one()
    return int(bot), int(rated), _rounded(mean)


def _staff_ratings(session: Session) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The three-part ratings of tickets staff resolved: overall and per member of staff
    (those with all three aspects given count; the means per aspect)."""
    complete = and_(*(getattr(Feedback, a).is_not(None) for a in ASPECTS))
    columns = [func.count().label("n")] + [func.avg(getattr(Feedback, a)).label(a) for a in ASPECTS]
    rows = session.execute(
        select(Feedback.staff_id, *columns).where(complete).group_by(Feedback.staff_id)
    ).all()
    per_staff: dict[int, dict[str, Any]] = {}
    total = 0
    sums = dict.fromkeys(ASPECTS, 0.0)
    for row in rows:
        n = int(row.n)
        total += n
        for aspect in ASPECTS:
            sums[aspect] += float(getattr(row, aspect)) * n
        if row.staff_id is not None:
            per_staff[int(row.staff_id)] = {
                "ratings": n,
                **{a: _rounded(getattr(row, a)) for a in ASPECTS},
            }
    overall = {
        "ratings": total,
        **{a: (round(sums[a] / total, 2) if total else None) for a in ASPECTS},
    }
    return overall, per_staff


def compute(*, now: datetime | None = None, database_url: str | None = None) -> dict[str, Any]:
    """The dashboard's figures at ``now``: three queries (the ticket groups, the assignees'
    names, the feedback), whatever the number of tickets; the groups added up here."""
    now = now or utcnow()
    policy = load_policy()
    with session_scope(database_url) as session:
        groups = _groups(session, now)
        staff_ratings, rated = _staff_ratings(session)
        names = _usernames(
            session,
            {g.assignee_id for g in groups if g.assignee_id is not None} | set(rated),
        )
        bot_resolved, ratings, average_rating = _feedback(session)
    by: dict[str, dict[str, int]] = {"category": {}, "status": {}}
    sla: dict[str, _Totals] = defaultdict(_Totals)
    agents: dict[str, _Totals] = defaultdict(_Totals)
    resolved, resolve_hours = 0, 0.0
    for g in groups:
        for key, value in (("category", g.category), ("status", g.status)):
            by[key][value] = by[key].get(value, 0) + g.tickets
        bucket = sla[g.priority]
        bucket.tickets += g.tickets
        bucket.met += g.met
        bucket.waiting += g.waiting
        resolved += g.resolved
        resolve_hours += float(g.resolve_hours or 0)
        if names.get(g.assignee_id):
            agent = agents[names[g.assignee_id]]
            agent.tickets += g.tickets
            agent.done += g.tickets if g.status in DONE else 0
            agent.answered += g.answered
            agent.first_hours += float(g.first_hours or 0)
    total = sum(by["status"].values())
    ranked = sorted(policy.levels, key=lambda name: policy.levels[name].rank)
    first_response = {
        priority: {
            "met": t.met,
            "missed": t.tickets - t.met - t.waiting,
            "waiting": t.waiting,
            "compliance_pct": _pct(t.met, t.tickets - t.waiting),
        }
        for priority, t in _ordered(sla, ranked).items()
    }
    return {
        "tickets": total,
        "by_category": _ordered(by["category"], policy.categories),
        "by_priority": {priority: sla[priority].tickets for priority in first_response},
        "by_status": _ordered(by["status"], TICKET_STATUSES),
        "first_response": first_response,
        "mean_hours_to_resolve": round(resolve_hours / resolved, 2) if resolved else None,
        "resolution_rate_pct": _pct(sum(by["status"].get(s, 0) for s in DONE), total),
        "bot_resolved": bot_resolved,
        "containment_pct": _pct(bot_resolved, bot_resolved + total),
        "average_rating": average_rating,
        "ratings": ratings,
        "staff_ratings": staff_ratings,
        "per_agent": {
            name: {
                "assigned": t.tickets,
                "resolved": t.done,
                "mean_first_response_hours": t.mean_first_hours(),
                **_agent_ratings(rated, name, names),
            }
            for name, t in sorted(agents.items())
        },
    }


def _agent_ratings(
    rated: Mapping[int, Mapping[str, Any]], name: str, names: Mapping[int, str]
) -> dict[str, Any]:
    """The member of staff's rating means per aspect (None before any rating)."""
    staff_id = next((i for i, n in names.items() if n == name), None)
    found = rated.get(staff_id) if staff_id is not None else None
    return {"ratings": found["ratings"] if found else 0} | {
        a: (found[a] if found else None) for a in ASPECTS
    }


def _export_rows(session: Session) -> Iterator[Any]:
    """Every ticket's exported columns, oldest first, in lists of ``CSV_CHUNK_ROWS`` read one
    after the other (a server-side cursor on PostgreSQL); the query runs at once."""
    query = (
        select(
            Ticket.number,
            Ticket.category,
            Ticket.priority,
            Ticket.status,
            StaffUser.username,
            Ticket.created_at,
            Ticket.sla_due_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
            Ticket.closed_at,
            Ticket.reason,
        )
        .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
        .order_by(Ticket.id)
        .execution_options(yield_per=CSV_CHUNK_ROWS)
    )
    partitions: Iterator[Any] = session.execute(query).partitions()
    return partitions


def csv_chunks(*, database_url: str | None = None) -> Generator[str, None, None]:
    """Every ticket as CSV (no contact details, no transcript), for spreadsheets: the header
    (once the query runs: a database that fails, fails here), then one chunk of text per
    ``CSV_CHUNK_ROWS`` tickets, so no export is held whole. Close it to stop early."""
    out = io.StringIO()
    writer = csv.writer(out)

    def drain() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    with session_scope(database_url) as session:
        partitions = _export_rows(session)
        writer.writerow(CSV_HEADER)
        yield drain()
        for rows in partitions:
            for number, category, priority, status, assignee, *moments, reason in rows:
                writer.writerow(
                    [
                        number,
                        category,
                        priority,
                        status,
                        assignee or "",
                        *[(m.isoformat() if m else "") for m in moments],
                        reason,
                    ]
                )
            yield drain()
