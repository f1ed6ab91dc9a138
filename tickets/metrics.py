"""Quality-supervision figures for supervisors (the service guide's "质量监督"), over the tickets
created in a period (``tickets.period``, days in China time): tickets by category, priority and
status; each service clock's outcome per priority and per agent (first response, resolution,
progress-update breaches); time to resolve, resolution rate, conversations the bot solved
alone, ratings (the bot's and the three aspects of staff's work, counted on the day given),
the spot checks' scores per agent (``tickets.quality``); the same per day; every figure of
tickets also per channel the tickets came in by (``channels``: chat, email, phone, each with
the same figures, zeros included); the tickets behind any of these figures (the drill-down);
and the CSV export of one row per ticket.

Everything is counted by the database (GROUP BY, CASE, COUNT, SUM) from indexes that hold
every column read (``ix_tickets_period``, ``ix_tickets_dashboard``, ``ix_feedback_period``,
``ix_sla_events_breaches``; migrations 0011 and 0012): no ticket row, let alone a transcript,
is loaded into Python, and the lists read only the lines they show. A breach or a rating holds
its ticket's key, not its channel: the channel is looked up in an index (``_channel_of``).

A clock's outcome (``first_response_outcome``, ``resolution_outcome``: one SQL expression each,
used by the figures, the drill-down and the export alike) is ``met``, ``missed`` or
``pending`` (not decided yet: not counted in a compliance rate). The columns that
``tickets.sla`` keeps decide, except for a first response still awaited while the ticket waits
for the user: the stored due time is then the one from before the pause, and the stored
breach (``sla_events``) is the exact record. Progress updates are counted as breaches (one per
missed cycle) against the priority and the agent the breach was recorded with.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from tickets import quality
from tickets.config import DISPLAY_TZ
from tickets.db import session_scope
from tickets.models import (
    CHANNELS,
    SLA_CLOCKS,
    TICKET_STATUSES,
    WAITING_USER,
    Feedback,
    SlaEvent,
    StaffUser,
    Ticket,
    utcnow,
)
from tickets.period import (
    Period,
    PeriodError,
    days_between,
    parse_day,
    parse_period,
    today_local,
)
from tickets.policy import PriorityPolicy, load_policy
from tickets.quality_models import QaReview, QaSample
from understanding.ratings import ASPECTS

MET, MISSED, PENDING = "met", "missed", "pending"
OUTCOMES = (MET, MISSED, PENDING)
FIRST_RESPONSE, UPDATE, RESOLUTION = SLA_CLOCKS
_T = TypeVar("_T")
BREACH = "breach"
#: The label of a figure's channel in the queries that look it up (not a column's name: a
#: query that joins the tickets would read ``channel`` as theirs).
CHANNEL_OF = "channel_of"
#: The CSV export's columns: one row per ticket, no contact details, no transcript, no bot
#: rating (those belong to conversations, not tickets).
CSV_HEADER = (
    "number",
    "channel",
    "category",
    "priority",
    "status",
    "agent",
    "created_at",
    "first_response_at",
    "first_response_hours",
    "resolved_at",
    "resolution_hours",
    "first_response_sla",
    "resolution_sla",
    "paused_minutes",
    "attitude",
    "expertise",
    "result",
)
#: Rows the CSV export reads from the database at a time (and writes as one chunk).
CSV_CHUNK_ROWS = 1_000
#: Lines one drill-down page lists (the next page follows the last one shown).
DRILL_LIMIT = 200
#: What a drill-down may be narrowed to besides the filters: tickets resolved (the mean time
#: to resolve, the resolution rate), rated on all three aspects (the staff ratings) or
#: reviewed in a spot check (the QA scores).
ONLY = ("resolved", "rated", "reviewed")


# --- SQL building blocks --------------------------------------------------------------------


def _sql(value: str) -> ColumnElement[Any]:
    """A constant written into the statement (not a parameter), so that an expression is the
    same text wherever it appears."""
    return literal_column("'" + value.replace("'", "''") + "'")


def summed_hours(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """The sum of ``end - start`` over a group, in hours, as SQL (NULL when no row has both):
    SQLite has no interval type and sums julianday differences (days); PostgreSQL sums the
    intervals and takes the epoch (seconds) of the total once."""
    if dialect == "sqlite":
        return func.sum(func.julianday(end) - func.julianday(start)) * 24.0
    return extract("epoch", func.sum(end - start)) / 3600.0


def local_day(dialect: str, moment: Any) -> ColumnElement[Any]:
    """The date of ``moment`` in China time, as SQL (text YYYY-MM-DD on SQLite, a date on
    PostgreSQL; ``_day`` reads both)."""
    offset = DISPLAY_TZ.utcoffset(None)
    assert offset is not None
    hours = offset.total_seconds() / 3600
    if dialect == "sqlite":
        return func.date(moment, _sql(f"{hours:+g} hours"))
    return cast(
        func.timezone(_sql("UTC"), moment) + literal_column(f"interval '{hours:g} hours'"), Date
    )


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _unindexed(column: Any) -> ColumnElement[Any]:
    """``column`` in an expression that no index holds, so the database reads the index that
    holds every column it needs (e.g. the period's range of ``ix_tickets_period``) and checks
    or groups by it there, instead of reading the rows another index finds or orders: SQLite,
    without statistics, would take an equality on an indexed column (status, assignee,
    channel) for the narrower read, or an index in a group's order, and fetch every row."""
    if isinstance(column.type, Integer):
        return column + 0
    return column.concat("")


def _channel_of(ticket_id: Any) -> ColumnElement[Any]:
    """The channel of the ticket whose id is ``ticket_id`` (a breach's, a rating's ticket), as
    SQL: for each channel after the first, whether the ids of that channel's tickets hold it
    (an uncorrelated IN: a range of ``ix_tickets_dashboard``, read once per statement); any
    other ticket is of the first channel (chat, where every ticket came from before there
    were others)."""
    return case(
        *((ticket_id.in_(_ids_of(name)), _sql(name)) for name in CHANNELS[1:]),
        else_=_sql(CHANNELS[0]),
    )


def _ids_of(channel: str) -> Select:
    """The ids of the channel's tickets (``ix_tickets_dashboard``'s first and last column)."""
    return select(Ticket.id).where(Ticket.channel == _sql(channel)).correlate(None)


def _breached(clock: str) -> ColumnElement[bool]:
    """The ticket has a stored breach of ``clock`` (an index holds the key)."""
    return exists().where(
        SlaEvent.ticket_id == Ticket.id, SlaEvent.clock == clock, SlaEvent.kind == BREACH
    )


def first_response_outcome(now: datetime) -> ColumnElement[Any]:
    """The first-response clock's outcome at ``now``: answered by the due time or not; not
    answered and waiting for the user (the clock paused: the stored due time may be the one
    from before the pause), missed only when a breach is stored; otherwise missed once the
    due time passed, pending before it."""
    first, due = Ticket.first_response_at, Ticket.sla_due_at
    return case(
        (first.is_not(None), case((first <= due, _sql(MET)), else_=_sql(MISSED))),
        (
            Ticket.status == WAITING_USER,
            case((_breached(FIRST_RESPONSE), _sql(MISSED)), else_=_sql(PENDING)),
        ),
        (due < now, _sql(MISSED)),
        else_=_sql(PENDING),
    )


def resolution_outcome(now: datetime) -> ColumnElement[Any]:
    """The resolution clock's outcome at ``now``: resolved by the due time or not; not
    resolved: missed once the due time passed (a clock that paused before reaching it has
    none until it runs again), pending before it; pending also for a ticket resolved before
    the clocks were kept (it has no due time). The columns decide: ``tickets.sla`` keeps the
    due time of a clock that reached it before a pause."""
    resolved, due = Ticket.resolved_at, Ticket.resolution_due_at
    return case(
        (
            and_(resolved.is_not(None), due.is_not(None)),
            case((resolved <= due, _sql(MET)), else_=_sql(MISSED)),
        ),
        (and_(resolved.is_(None), due < now), _sql(MISSED)),
        else_=_sql(PENDING),
    )


def _complete_rating() -> ColumnElement[bool]:
    return and_(*(getattr(Feedback, a).is_not(None) for a in ASPECTS))


def _staff_rated() -> ColumnElement[bool]:
    """A ticket's feedback with all three aspects rated (one left half-way is not counted)."""
    return and_(Feedback.ticket_number.is_not(None), _complete_rating())


def _in_period(column: Any, period: Period) -> list[ColumnElement[bool]]:
    """``column`` (a moment) within the period; nothing to check for every ticket."""
    start, end = period.bounds()
    return [] if start is None or end is None else [column >= start, column < end]


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _ordered(counts: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    """``counts`` in the given order of keys, any other key after them by name."""
    known = [key for key in order if key in counts]
    return {key: counts[key] for key in known + sorted(set(counts) - set(known))}


# --- the figures ------------------------------------------------------------------------------


@dataclass
class _Clock:
    met: int = 0
    missed: int = 0
    pending: int = 0

    def add(self, tickets: int, met: int, missed: int) -> None:
        self.met += met
        self.missed += missed
        self.pending += tickets - met - missed

    def figures(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "missed": self.missed,
            "pending": self.pending,
            "compliance_pct": _pct(self.met, self.met + self.missed),
        }


@dataclass
class _Ratings:
    n: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ASPECTS, 0.0))

    def add(self, n: int, sums: Mapping[str, Any]) -> None:
        self.n += n
        for aspect in ASPECTS:
            self.sums[aspect] += float(sums[aspect] or 0)

    def figures(self) -> dict[str, Any]:
        return {"ratings": self.n, **{a: _mean(self.sums[a], self.n) for a in ASPECTS}}


@dataclass
class _Totals:
    """Sums over groups of tickets: the whole period, one priority, one agent or one day."""

    tickets: int = 0
    resolved: int = 0
    resolve_hours: float = 0.0
    answered: int = 0
    first_hours: float = 0.0
    first_response: _Clock = field(default_factory=_Clock)
    resolution: _Clock = field(default_factory=_Clock)
    update_breaches: int = 0
    update_breached_tickets: int = 0
    ratings: _Ratings = field(default_factory=_Ratings)

    def add(self, row: Any) -> None:
        """A group of ``_groups``."""
        self.tickets += row.tickets
        self.resolved += row.resolved
        self.answered += row.answered
        self.first_hours += float(row.first_hours or 0)
        self.first_response.add(row.tickets, row.fr_met, row.fr_missed)
        self.resolution.add(row.tickets, row.res_met, row.res_missed)

    def sla(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "first_response": self.first_response.figures(),
            "resolution": self.resolution.figures(),
            "update_breaches": self.update_breaches,
            "update_breached_tickets": self.update_breached_tickets,
        }

    def agent(self) -> dict[str, Any]:
        """An agent's line: the tickets assigned, their clocks, the agent's ratings."""
        return {
            "assigned": self.tickets,
            "resolved": self.resolved,
            "mean_first_response_hours": _mean(self.first_hours, self.answered),
            **self.sla(),
            **self.ratings.figures(),
        }


def _count_if(condition: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.count(case((condition, 1)))


def _groups(session: Session, period: Period, now: datetime) -> list[Any]:
    """The tickets counted per channel, priority, status, category and assignee: each clock's
    outcomes (pending: the rest), resolutions, first responses with their hours summed. Every
    column read is in ``ix_tickets_dashboard`` (in the order of the groups: all tickets are
    counted as the index is read, without a sort) and in ``ix_tickets_period`` (a period's
    range); the rows are never read."""
    dialect = session.get_bind().dialect.name
    fr, res = first_response_outcome(now), resolution_outcome(now)
    keys = (Ticket.channel, Ticket.priority, Ticket.status, Ticket.category, Ticket.assignee_id)
    query = select(
        *keys,
        func.count().label("tickets"),
        _count_if(fr == _sql(MET)).label("fr_met"),
        _count_if(fr == _sql(MISSED)).label("fr_missed"),
        _count_if(res == _sql(MET)).label("res_met"),
        _count_if(res == _sql(MISSED)).label("res_missed"),
        func.count(Ticket.resolved_at).label("resolved"),
        func.count(Ticket.first_response_at).label("answered"),
        summed_hours(dialect, Ticket.created_at, Ticket.first_response_at).label("first_hours"),
    )
    query = query.where(*_in_period(Ticket.created_at, period))
    return list(session.execute(query.group_by(*keys)).all())


def _daily(session: Session, period: Period, now: datetime) -> list[Any]:
    """Per day of creation (China time) and channel: tickets, first responses in time and
    late, resolutions and their hours summed (a range of ``ix_tickets_period``)."""
    dialect = session.get_bind().dialect.name
    fr = first_response_outcome(now)
    query = (
        select(
            local_day(dialect, Ticket.created_at).label("day"),
            Ticket.channel,
            func.count().label("tickets"),
            _count_if(fr == _sql(MET)).label("fr_met"),
            _count_if(fr == _sql(MISSED)).label("fr_missed"),
            func.count(Ticket.resolved_at).label("resolved"),
            summed_hours(dialect, Ticket.created_at, Ticket.resolved_at).label("resolve_hours"),
        )
        .where(*_in_period(Ticket.created_at, period))
        # the label: the expression has parameters
        .group_by(literal_column("day"), Ticket.channel)
    )
    return list(session.execute(query).all())


def _update_breach_query(period: Period, *columns: Any) -> Select:
    """``columns`` over the progress-update breaches of the period's tickets, with their
    tickets' channel (``CHANNEL_OF``). A breach comes after its ticket was made: only those
    from the period's start on are joined to their tickets (``ix_sla_events_breaches`` in that
    order), whose channel is then read with them; for every ticket, it is looked up."""
    query = select(*columns).where(SlaEvent.kind == BREACH, SlaEvent.clock == UPDATE)
    start, _end = period.bounds()
    if start is None:
        return query.add_columns(_channel_of(SlaEvent.ticket_id).label(CHANNEL_OF))
    return (
        query.add_columns(Ticket.channel.label(CHANNEL_OF))
        .join(Ticket, Ticket.id == SlaEvent.ticket_id)
        .where(SlaEvent.at >= start, *_in_period(Ticket.created_at, period))
    )


def _update_breaches(session: Session, period: Period) -> list[Any]:
    """Progress-update breaches of the period's tickets per channel, and per priority and agent
    (as recorded with each breach): how many, and on how many tickets."""
    query = _update_breach_query(
        period,
        SlaEvent.priority,
        SlaEvent.assignee_id,
        func.count().label("breaches"),
        func.count(func.distinct(SlaEvent.ticket_id)).label("tickets"),
    ).group_by(literal_column(CHANNEL_OF), SlaEvent.priority, SlaEvent.assignee_id)
    return list(session.execute(query).all())


def _update_breached_tickets(session: Session, period: Period) -> dict[str, int]:
    """The period's tickets with at least one progress-update breach, per channel (one ticket
    may have breaches under two agents or priorities: counted once here)."""
    query = _update_breach_query(
        period, func.count(func.distinct(SlaEvent.ticket_id)).label("tickets")
    ).group_by(literal_column(CHANNEL_OF))
    return {str(row.channel_of): int(row.tickets) for row in session.execute(query)}


def _feedback_query(period: Period, key: Any, group: Any, *figures: Any) -> Select:
    """``figures`` of the feedback given in the period per ``key`` (grouped by ``group``) and
    channel of its ticket (none, the bot's: chat): a range of ``ix_feedback_period``, each
    rated ticket's id found by its number (SQLite: ``ix_tickets_number``, which holds the
    rowid; PostgreSQL: ``ix_tickets_period``, hashed), its channel by its id
    (``_channel_of``). The conditions are counted, not filtered on: filtered, the databases
    would read the rows another feedback index finds."""
    rated = aliased(Ticket, name="rated")
    return (
        select(key, _channel_of(rated.id).label(CHANNEL_OF), *figures)
        .select_from(Feedback)
        .join(rated, rated.number == Feedback.ticket_number, isouter=True)
        .where(*_in_period(Feedback.created_at, period))
        .group_by(group, literal_column(CHANNEL_OF))  # the label: the expression has parameters
    )


def _ticket_rating_sums() -> list[ColumnElement[Any]]:
    """The three-part ratings of tickets in a group (all three aspects given; one left
    half-way is not counted): how many, and the sum of each aspect."""
    staff = _staff_rated()
    return [
        _count_if(staff).label("n"),
        *[func.sum(case((staff, getattr(Feedback, a)))).label(a) for a in ASPECTS],
    ]


def _feedback_days(session: Session, period: Period) -> list[Any]:
    """Feedback given in the period per day (China time) and channel of the ticket: the
    conversations the bot solved alone (no ticket: counted as chat) with their ratings
    (count, sum), and the three-part ratings of tickets (``_ticket_rating_sums``)."""
    dialect = session.get_bind().dialect.name
    bot = Feedback.ticket_number.is_(None)
    query = _feedback_query(
        period,
        local_day(dialect, Feedback.created_at).label("day"),
        literal_column("day"),  # the label: the expression has parameters
        _count_if(bot).label("solved"),
        _count_if(and_(bot, Feedback.rating.is_not(None))).label("rated"),
        func.sum(case((bot, Feedback.rating))).label("rating_sum"),
        *_ticket_rating_sums(),
    )
    return list(session.execute(query).all())


def _staff_ratings(session: Session, period: Period) -> list[Any]:
    """The three-part ratings given in the period per member of staff rated (``staff``) and
    channel of the ticket (``_ticket_rating_sums``; the bot's feedback rates no one)."""
    # by the id as no index holds it: in the order of ix_feedback_staff_ratings, SQLite would
    # read the rows (that index lacks the number and the day)
    staff = _unindexed(Feedback.staff_id).label("staff")
    query = _feedback_query(period, staff, literal_column("staff"), *_ticket_rating_sums())
    return list(session.execute(query).all())


def _span(session: Session, period: Period, now: datetime) -> tuple[date, date] | None:
    """The days the daily figures run over: the period's, or for every ticket from the first
    ticket's or feedback's day to today (None: nothing at all); the ends of indexes only."""
    if period.first is not None and period.last is not None:
        return period.first, period.last
    # one MIN or MAX per statement: each reads one end of an index (both at once scan it)
    ends = [
        session.execute(select(end(column))).scalar()
        for column in (Ticket.created_at, Feedback.created_at)
        for end in (func.min, func.max)
    ]
    known = [today_local(moment) for moment in ends if moment is not None]
    return (min(known), max([today_local(now), *known])) if known else None


def default_period(now: datetime | None = None) -> Period:
    """The last 30 days (today included) at ``now``."""
    return parse_period({}, today_local(now or utcnow()))


def _no_jit(session: Session) -> None:
    """PostgreSQL compiles a query it deems costly (JIT): for these aggregates compiling took
    longer than running them (0.5 s over 100,000 tickets), so not here."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


#: The figures' queries run side by side, each in a session of its own: the database sorts
#: their groups on several cores at once (SQLite in each connection's thread; PostgreSQL
#: runs parallel workers anyway). Over 100,000 tickets on two cores this halves the time.
PARALLEL_QUERIES = 4
_readers = ThreadPoolExecutor(max_workers=PARALLEL_QUERIES, thread_name_prefix="dashboard")


def _read(database_url: str | None, work: Callable[[Session], _T]) -> _T:
    with session_scope(database_url) as session:
        _no_jit(session)
        return work(session)


def _all_usernames(session: Session) -> dict[int, str]:
    """Every member of staff's username by id (a few hundred rows at most)."""
    rows = session.execute(select(StaffUser.id, StaffUser.username))
    return {int(staff_id): str(name) for staff_id, name in rows}


@dataclass
class _Bot:
    """Conversations the bot solved alone, and their ratings."""

    solved: int = 0
    rated: int = 0
    rating_sum: int = 0

    def add(self, row: Any) -> None:
        self.solved += row.solved
        self.rated += row.rated
        self.rating_sum += int(row.rating_sum or 0)

    def rating(self) -> dict[str, Any]:
        return {"ratings": self.rated, "mean": _mean(self.rating_sum, self.rated)}


@dataclass
class _Day:
    tickets: _Totals = field(default_factory=_Totals)
    bot: _Bot = field(default_factory=_Bot)

    def ticket_figures(self, day: date) -> dict[str, Any]:
        """The day's figures of tickets (a channel's day has only these)."""
        t = self.tickets
        return {
            "day": day.isoformat(),
            "tickets": t.tickets,
            "first_response": t.first_response.figures(),
            "resolved": t.resolved,
            "mean_hours_to_resolve": _mean(t.resolve_hours, t.resolved),
            "staff_ratings": t.ratings.figures(),
        }

    def figures(self, day: date) -> dict[str, Any]:
        """The day's figures of tickets and of the conversations the bot solved alone."""
        solved = self.bot.solved
        return self.ticket_figures(day) | {
            "bot_resolved": solved,
            "containment_pct": _pct(solved, solved + self.tickets.tickets),
            "bot_rating": self.bot.rating(),
        }


@dataclass
class _Figures:
    """The figures of a set of the period's tickets (every one, or one channel's), added up
    from the groups of the queries above; staff by their usernames (``names``)."""

    names: Mapping[int, str]
    total: _Totals = field(default_factory=_Totals)
    categories: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    priorities: defaultdict[str, _Totals] = field(default_factory=lambda: defaultdict(_Totals))
    agents: defaultdict[str, _Totals] = field(default_factory=lambda: defaultdict(_Totals))
    days: defaultdict[date, _Day] = field(default_factory=lambda: defaultdict(_Day))

    def add_group(self, g: Any) -> None:
        """A group of ``_groups``."""
        self.total.add(g)
        self.priorities[g.priority].add(g)
        self.categories[g.category] = self.categories.get(g.category, 0) + g.tickets
        self.statuses[g.status] = self.statuses.get(g.status, 0) + g.tickets
        if g.assignee_id in self.names:
            self.agents[self.names[g.assignee_id]].add(g)

    def add_update_breaches(self, u: Any) -> None:
        """A group of ``_update_breaches``."""
        buckets = [self.total, self.priorities[u.priority]]
        if u.assignee_id in self.names:
            buckets.append(self.agents[self.names[u.assignee_id]])
        for bucket in buckets:
            bucket.update_breaches += u.breaches
            bucket.update_breached_tickets += u.tickets

    def add_day(self, row: Any) -> None:
        """A group of ``_daily``."""
        day = self.days[_day(row.day)].tickets
        day.tickets += row.tickets
        day.resolved += row.resolved
        day.resolve_hours += float(row.resolve_hours or 0)
        day.first_response.add(row.tickets, row.fr_met, row.fr_missed)
        self.total.resolve_hours += float(row.resolve_hours or 0)

    def add_ratings(self, row: Any) -> None:
        """A group of ``_feedback_days``: its day's ratings of tickets."""
        n, sums = int(row.n), {a: getattr(row, a) for a in ASPECTS}
        self.days[_day(row.day)].tickets.ratings.add(n, sums)
        self.total.ratings.add(n, sums)

    def add_agent_ratings(self, row: Any) -> None:
        """A group of ``_staff_ratings``: one member of staff's ratings."""
        if row.staff in self.names:
            sums = {a: getattr(row, a) for a in ASPECTS}
            self.agents[self.names[row.staff]].ratings.add(int(row.n), sums)

    def figures(self, policy: PriorityPolicy, span: tuple[date, date] | None) -> dict[str, Any]:
        """The figures of these tickets: counts by category, priority and status, the clocks
        overall and per priority, resolutions, ratings, each agent's line and each day's
        (every day of ``span``, zeros included)."""
        ranked = sorted(policy.levels, key=lambda name: policy.levels[name].rank)
        per_priority = {p: t.sla() for p, t in _ordered(self.priorities, ranked).items()}
        total = self.total
        return {
            "tickets": total.tickets,
            "by_category": _ordered(self.categories, policy.categories),
            "by_priority": {p: row["tickets"] for p, row in per_priority.items()},
            "by_status": _ordered(self.statuses, TICKET_STATUSES),
            "sla": total.sla(),
            "per_priority": per_priority,
            "mean_hours_to_resolve": _mean(total.resolve_hours, total.resolved),
            "resolved": total.resolved,
            "resolution_rate_pct": _pct(total.resolved, total.tickets),
            "staff_ratings": total.ratings.figures(),
            "per_agent": {name: t.agent() for name, t in sorted(self.agents.items())},
            "daily": [
                (self.days.get(day) or _Day()).ticket_figures(day)
                for day in (days_between(*span) if span else ())
            ],
        }


def compute(
    period: Period | None = None,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """The dashboard's figures for the tickets created in ``period`` (default: the last 30
    days) at ``now``: a handful of aggregate queries whatever the number of tickets (run side
    by side, see ``PARALLEL_QUERIES``), each group added up here, to every ticket's figures
    and to its channel's (``channels``: every channel of ``CHANNELS``, zeros included; the
    same figures but the bot's, which are no channel's tickets, and the spot checks'); the
    spot checks' scores per agent from ``tickets.quality`` (reviews of the tickets closed in
    the period)."""
    now = now or utcnow()
    period = period or default_period(now)
    policy = load_policy()
    since, until = period.bounds()
    jobs: dict[str, Callable[[Session], Any]] = {  # the longest first
        "daily": lambda session: _daily(session, period, now),
        "groups": lambda session: _groups(session, period, now),
        "feedback": lambda session: (
            _feedback_days(session, period),
            _span(session, period, now),
            _all_usernames(session),
        ),
        "ratings": lambda session: _staff_ratings(session, period),
        "updates": lambda session: (
            _update_breaches(session, period),
            _update_breached_tickets(session, period),
        ),
    }
    futures = {name: _readers.submit(_read, database_url, job) for name, job in jobs.items()}
    qa_scores = _readers.submit(quality.agent_scores, since, until, database_url=database_url)
    groups, daily_rows = futures["groups"].result(), futures["daily"].result()
    feedback_rows, span, names = futures["feedback"].result()
    rated_rows = futures["ratings"].result()
    updates, breached_tickets = futures["updates"].result()
    qa = qa_scores.result()

    every = _Figures(names)
    channels: dict[str, _Figures] = {name: _Figures(names) for name in CHANNELS}

    def of(channel: str) -> _Figures:
        if channel not in channels:  # a channel no longer known: after the others
            channels[channel] = _Figures(names)
        return channels[channel]

    for g in groups:
        every.add_group(g)
        of(g.channel).add_group(g)
    for u in updates:
        every.add_update_breaches(u)
        of(u.channel_of).add_update_breaches(u)
    every.total.update_breached_tickets = sum(breached_tickets.values())
    for channel, count in breached_tickets.items():
        of(channel).total.update_breached_tickets = count
    for row in daily_rows:
        every.add_day(row)
        of(row.channel).add_day(row)
    bot = _Bot()
    for row in feedback_rows:
        every.days[_day(row.day)].bot.add(row)
        bot.add(row)
        if row.n:
            every.add_ratings(row)
            of(row.channel_of).add_ratings(row)
    for row in rated_rows:
        if row.n:
            every.add_agent_ratings(row)
            of(row.channel_of).add_agent_ratings(row)

    for name in qa:  # reviewed in the period, perhaps without a ticket made in it
        every.agents.setdefault(name, _Totals())
    figures = every.figures(policy, span)
    return {
        "period": {
            **period.query(),
            "label": period.label,
            "first_day": span[0].isoformat() if span else None,
            "last_day": span[1].isoformat() if span else None,
        },
        **figures,
        "bot_resolved": bot.solved,
        "containment_pct": _pct(bot.solved, bot.solved + every.total.tickets),
        "bot_rating": bot.rating(),
        "per_agent": {
            name: row | {"qa": dict(qa.get(name) or {"reviews": 0, "score": None})}
            for name, row in figures["per_agent"].items()
        },
        "daily": [
            (every.days.get(day) or _Day()).figures(day)
            for day in (days_between(*span) if span else ())
        ],
        "channels": {
            name: channel.figures(policy, span)
            for name, channel in _ordered(channels, CHANNELS).items()
        },
    }


# --- the drill-down: the tickets behind a figure -------------------------------------------


class DrillError(PeriodError):
    """A drill-down filter that cannot be used; the message says why, in Chinese."""


@dataclass(frozen=True)
class DrillFilters:
    """Which tickets a figure counts: the period's (or one ``day`` of it), narrowed to a
    channel, priority, category, status, agent, a clock's outcome and tickets resolved or
    rated.

    ``agent`` (a username) and ``priority`` are those a figure counts against: the ticket's
    assignee and priority, but for progress updates (``clock=update``: tickets with a breach)
    those the breach was recorded with, for ratings (``only=rated``) the member of staff
    rated, for spot checks (``only=reviewed``) the agent sampled. The period (or day) is the
    tickets' day of creation, but for ratings the day the rating was given, for spot checks
    the day the ticket was closed (as the figures count them). ``after``: the id of the last
    ticket of the previous page."""

    period: Period
    day: date | None = None
    channel: str = ""
    priority: str = ""
    category: str = ""
    status: str = ""
    agent: str = ""
    clock: str = ""
    outcome: str = ""
    only: str = ""
    after: int | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, str], today: date) -> DrillFilters:
        """The filters of a query string; raises DrillError (or PeriodError) on bad input."""

        def given(key: str, longest: int) -> str:
            value = (values.get(key) or "").strip()
            if len(value) > longest:
                raise DrillError(f"参数 {key} 太长（最多 {longest} 个字符）")
            return value

        period = parse_period(values, today)
        raw_day = given("day", 10)
        day = parse_day(raw_day, "日期") if raw_day else None
        if day is not None and not period.holds(day):
            raise DrillError(f"日期 {day} 不在所选时段（{period.label}）内")
        channel, status, clock, outcome, only = (
            given(k, 16) for k in ("channel", "status", "clock", "outcome", "only")
        )
        if channel and channel not in CHANNELS:
            raise DrillError(f"没有「{channel}」这种渠道（可选：{'、'.join(CHANNELS)}）")
        if status and status not in TICKET_STATUSES:
            raise DrillError(f"没有「{status}」这种工单状态（可选：{'、'.join(TICKET_STATUSES)}）")
        if clock and clock not in SLA_CLOCKS:
            raise DrillError(f"没有「{clock}」这种时限（可选：{'、'.join(SLA_CLOCKS)}）")
        if outcome and outcome not in OUTCOMES:
            raise DrillError(f"没有「{outcome}」这种结果（可选：{'、'.join(OUTCOMES)}）")
        if outcome and not clock:
            raise DrillError("指定结果（outcome）时，请同时指定时限（clock）")
        if clock == UPDATE and outcome not in ("", MISSED):
            raise DrillError("进度通报只统计超时：clock=update 时 outcome 只能是 missed")
        if only and only not in ONLY:
            raise DrillError(f"没有「{only}」这种筛选（可选：{'、'.join(ONLY)}）")
        raw_after = given("after", 12)
        if raw_after and not raw_after.isdigit():
            raise DrillError(f"参数 after「{raw_after}」应为工单的编号（数字）")
        return cls(
            period=period,
            day=day,
            channel=channel,
            priority=given("priority", 32),
            category=given("category", 32),
            status=status,
            agent=given("agent", 64),
            clock=clock,
            outcome=outcome,
            only=only,
            after=int(raw_after) if raw_after else None,
        )

    def query(self) -> dict[str, str]:
        """The filters as query-string parameters (the page's links; no ``after``)."""
        values = {
            "day": self.day.isoformat() if self.day else "",
            "channel": self.channel,
            "priority": self.priority,
            "category": self.category,
            "status": self.status,
            "agent": self.agent,
            "clock": self.clock,
            "outcome": self.outcome,
            "only": self.only,
        }
        return self.period.query() | {key: value for key, value in values.items() if value}

    def days(self) -> Period:
        """The days the tickets were created on: the one ``day``, or the period."""
        return Period(self.day, self.day) if self.day else self.period


@dataclass(frozen=True)
class TicketLine:
    """One ticket of a drill-down list."""

    id: int
    number: str
    #: How it came in (``tickets.models.CHANNELS``).
    channel: str
    priority: str
    category: str
    status: str
    agent: str | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    #: met | missed | pending, as the figures count them
    first_response: str
    resolution: str
    #: Seconds waited for the user, the current pause included.
    paused_seconds: int
    #: The progress-update breaches counted for the filter (its priority, its agent).
    update_breaches: int = 0
    #: The three-part rating, when given (each aspect as far as the user went).
    ratings: dict[str, int] = field(default_factory=dict)

    @property
    def first_response_hours(self) -> float | None:
        return _hours(self.created_at, self.first_response_at)

    @property
    def resolution_hours(self) -> float | None:
        return _hours(self.created_at, self.resolved_at)


@dataclass(frozen=True)
class DrillPage:
    lines: list[TicketLine]
    #: The id to continue after (``after``) when there are more lines; None at the end.
    next_after: int | None


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 3600, 2)


def _paused(paused_seconds: int | None, paused_since: datetime | None, now: datetime) -> int:
    running = (now - paused_since).total_seconds() if paused_since is not None else 0
    return int(paused_seconds or 0) + max(0, int(running))


def _update_breach_rows(filters: DrillFilters, agent_id: int | None) -> list[ColumnElement[bool]]:
    conditions = [SlaEvent.kind == BREACH, SlaEvent.clock == UPDATE]
    if filters.priority:
        conditions.append(SlaEvent.priority == filters.priority)
    if agent_id is not None:
        conditions.append(SlaEvent.assignee_id == agent_id)
    return conditions


def drill_query(filters: DrillFilters, now: datetime, agent_id: int | None) -> Select:
    """The lines of ``filters`` (``agent_id``: the agent's id, looked up), oldest first, one
    more than a page: a range of ``ix_tickets_period`` read in order, each filter checked on
    the index's columns (a stored breach or rating looked up by its key)."""
    fr, res = first_response_outcome(now), resolution_outcome(now)
    query = select(
        Ticket.id,
        Ticket.number,
        Ticket.channel,
        Ticket.priority,
        Ticket.category,
        Ticket.status,
        StaffUser.username,
        Ticket.created_at,
        Ticket.first_response_at,
        Ticket.resolved_at,
        fr.label("fr"),
        res.label("res"),
        Ticket.paused_seconds,
        Ticket.paused_since,
    ).join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
    by_event = filters.clock == UPDATE
    by_rating, by_review = filters.only == "rated", filters.only == "reviewed"
    if by_review:
        query = query.where(*_in_period(Ticket.closed_at, filters.days()))
    elif not by_rating:
        query = query.where(*_in_period(Ticket.created_at, filters.days()))
    if filters.channel:
        query = query.where(_unindexed(Ticket.channel) == filters.channel)
    if filters.priority and not by_event:
        query = query.where(_unindexed(Ticket.priority) == filters.priority)
    if filters.category:
        query = query.where(Ticket.category == filters.category)
    if filters.status:
        query = query.where(_unindexed(Ticket.status) == filters.status)
    if filters.agent and not (by_event or by_rating or by_review):
        query = query.where(_unindexed(Ticket.assignee_id) == (agent_id or -1))
    if filters.clock == FIRST_RESPONSE and filters.outcome:
        query = query.where(fr == _sql(filters.outcome))
    if filters.clock == RESOLUTION and filters.outcome:
        query = query.where(res == _sql(filters.outcome))
    if by_event:
        query = query.where(
            exists().where(
                SlaEvent.ticket_id == Ticket.id,
                *_update_breach_rows(filters, agent_id if filters.agent else None),
            )
        )
        if filters.agent and agent_id is None:
            query = query.where(Ticket.id < 0)  # nobody by that name: nothing
    if filters.only == "resolved":
        query = query.where(Ticket.resolved_at.is_not(None))
    if by_rating:  # rated in the period (or on the day), whenever the ticket was made
        rated = [
            Feedback.ticket_number.is_not(None),
            _complete_rating(),
            *_in_period(Feedback.created_at, filters.days()),
        ]
        if filters.agent:
            rated.append(Feedback.staff_id == (agent_id or -1))
        query = query.where(Ticket.number.in_(select(Feedback.ticket_number).where(*rated)))
    if by_review:  # as ``quality.agent_scores`` counts them
        reviewed = select(QaSample.ticket_id).join(QaReview, QaReview.sample_id == QaSample.id)
        reviewed = reviewed.where(QaSample.kind == "ticket")
        if filters.agent:
            reviewed = reviewed.where(QaSample.staff_id == (agent_id or -1))
        query = query.where(Ticket.id.in_(reviewed))
    return query.order_by(Ticket.created_at, Ticket.id).limit(DRILL_LIMIT + 1)


def drill_down(
    filters: DrillFilters, *, now: datetime | None = None, database_url: str | None = None
) -> DrillPage:
    """One page of the tickets behind a figure (see ``DrillFilters``): the lines, then the
    progress-update breaches and ratings of the lines shown, by their keys."""
    now = now or utcnow()
    with session_scope(database_url) as session:
        agent_id = None
        if filters.agent:
            agent_id = session.execute(
                select(StaffUser.id).where(StaffUser.username == filters.agent)
            ).scalar()
        query = drill_query(filters, now, agent_id)
        if filters.after is not None:
            since = session.execute(
                select(Ticket.created_at).where(Ticket.id == filters.after)
            ).scalar()
            if since is not None:
                query = query.where(
                    Ticket.created_at >= since,
                    or_(Ticket.created_at > since, Ticket.id > filters.after),
                )
        rows = session.execute(query).all()
        shown = rows[:DRILL_LIMIT]
        ids = [row.id for row in shown]
        breaches: dict[int, int] = {}
        ratings: dict[str, dict[str, int]] = defaultdict(dict)
        if ids:
            if filters.clock == UPDATE:  # the breaches the figure counted
                conditions = _update_breach_rows(filters, agent_id if filters.agent else None)
            else:  # every one of the ticket's
                conditions = _update_breach_rows(replace(filters, priority=""), None)
            breaches = {
                int(ticket_id): int(n)
                for ticket_id, n in session.execute(
                    select(SlaEvent.ticket_id, func.count())
                    .where(SlaEvent.ticket_id.in_(ids), *conditions)
                    .group_by(SlaEvent.ticket_id)
                )
            }
            for row in session.execute(
                select(Feedback.ticket_number, *(getattr(Feedback, a) for a in ASPECTS)).where(
                    Feedback.ticket_number.in_([r.number for r in shown])
                )
            ):
                for aspect in ASPECTS:
                    score = getattr(row, aspect)
                    if score is not None:
                        ratings[row.ticket_number][aspect] = int(score)
    lines = [
        TicketLine(
            id=row.id,
            number=row.number,
            channel=row.channel,
            priority=row.priority,
            category=row.category,
            status=row.status,
            agent=row.username,
            created_at=row.created_at,
            first_response_at=row.first_response_at,
            resolved_at=row.resolved_at,
            first_response=str(row.fr),
            resolution=str(row.res),
            paused_seconds=_paused(row.paused_seconds, row.paused_since, now),
            update_breaches=breaches.get(row.id, 0),
            ratings=dict(ratings.get(row.number, {})),
        )
        for row in shown
    ]
    return DrillPage(lines=lines, next_after=shown[-1].id if len(rows) > DRILL_LIMIT else None)


# --- the CSV export ---------------------------------------------------------------------------


def _local_iso(moment: datetime | None) -> str:
    return moment.astimezone(DISPLAY_TZ).isoformat() if moment else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _export_query(period: Period | None, now: datetime) -> Select:
    """Every ticket of ``period`` (None: every ticket) with its exported columns, oldest
    first, the three scores of its rating joined (one row per ticket)."""
    scores = (
        select(
            Feedback.ticket_number,
            *(func.max(getattr(Feedback, a)).label(a) for a in ASPECTS),
        )
        .where(Feedback.ticket_number.is_not(None))
        .group_by(Feedback.ticket_number)
        .subquery("scores")
    )
    query = (
        select(
            Ticket.number,
            Ticket.channel,
            Ticket.category,
            Ticket.priority,
            Ticket.status,
            StaffUser.username,
            Ticket.created_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
            first_response_outcome(now).label("fr"),
            resolution_outcome(now).label("res"),
            Ticket.paused_seconds,
            Ticket.paused_since,
            *(getattr(scores.c, a) for a in ASPECTS),
        )
        .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
        .join(scores, scores.c.ticket_number == Ticket.number, isouter=True)
        .order_by(Ticket.id)
        .execution_options(yield_per=CSV_CHUNK_ROWS)
    )
    if period is not None:
        query = query.where(*_in_period(Ticket.created_at, period))
    return query


def export_row(row: Any, now: datetime) -> list[str]:
    """One ticket's line of the export (a row of ``_export_query``), in the order of
    ``CSV_HEADER``. (Unpacked, not read by name: 100,000 lines take a second less.)"""
    (
        number,
        channel,
        category,
        priority,
        status,
        agent,
        created,
        first,
        resolved,
        first_outcome,
        resolution,
        paused_seconds,
        paused_since,
        *scores,
    ) = row
    return [
        number,
        channel,
        category,
        priority,
        status,
        agent or "",
        _local_iso(created),
        _local_iso(first),
        "" if first is None else _number(_hours(created, first)),
        _local_iso(resolved),
        "" if resolved is None else _number(_hours(created, resolved)),
        first_outcome,
        resolution,
        _number(round(_paused(paused_seconds, paused_since, now) / 60, 1)),
        *("" if score is None else str(score) for score in scores),
    ]


def csv_chunks(
    period: Period | None = None,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> Generator[str, None, None]:
    """The tickets of ``period`` (None: every ticket) as CSV, one row per ticket (no contact
    details, no transcript; times in China time, ISO 8601 with the offset), for
    spreadsheets: the header (once the query runs: a database that fails, fails here), then
    one chunk of text per ``CSV_CHUNK_ROWS`` tickets (a server-side cursor on PostgreSQL), so
    no export is held whole. Close it to stop early."""
    now = now or utcnow()
    out = io.StringIO()
    writer = csv.writer(out)

    def drain() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    with session_scope(database_url) as session:
        partitions: Iterator[Any] = session.execute(_export_query(period, now)).partitions()
        writer.writerow(CSV_HEADER)
        yield drain()
        for rows in partitions:
            writer.writerows(export_row(row, now) for row in rows)
            yield drain()
