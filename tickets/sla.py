"""The service promise of one ticket as clocks, computed from its history on a given clock.

Three clocks run on service time (``tickets.service_hours``; 7x24 unless the policy says):

- **first_response**: from the report to the first word from staff (a reply, or the
  resolution itself), ``response_hours`` of the ticket's level;
- **update** (levels with ``update_hours``): once staff have answered, each reply starts a
  cycle that the next reply (or the resolution) ends; the user hears from staff at least
  every ``update_hours``;
- **resolution**: from the report to resolved, ``resolution_hours``; a reopened ticket's clock
  goes on from where it stopped.

Every clock pauses while the ticket waits for the user (``waiting_user``), and the update and
resolution clocks while the ticket is resolved. A clock warns after ``warning_share`` of its
time and breaches at its due time; both moments are exact, whenever they are noticed.

Pure: no database, no "now" but the one given. ``tickets.sla_store`` applies it to the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from tickets.models import DONE_STATUSES, WAITING_USER
from tickets.policy import Level, PriorityPolicy
from tickets.service_hours import ServiceHours

#: (start, end) of a span of wall-clock time; end None: still going.
Span = tuple[datetime, datetime | None]

WARNING, BREACH = "warning", "breach"


@dataclass(frozen=True)
class History:
    """What the clocks are computed from: the ticket's report, its status changes and the
    staff's replies to the user, each with its time (oldest first)."""

    created_at: datetime
    priority: str
    #: (moment, new status) of every status change after the report (which is "open").
    statuses: Sequence[tuple[datetime, str]] = ()
    #: The moments staff replied to the user.
    replies: Sequence[datetime] = ()


@dataclass(frozen=True)
class Clock:
    """One cycle of one clock."""

    name: str
    cycle: int
    target_hours: float
    started_at: datetime
    #: None while paused (the due time moves with the pause).
    due_at: datetime | None
    warn_at: datetime | None
    stopped_at: datetime | None
    #: Service seconds used so far (until the stop, or ``now``).
    used_seconds: float
    #: running | paused | met | missed | breached (still running or paused, past due)
    state: str

    @property
    def done(self) -> bool:
        return self.state in ("met", "missed")

    @property
    def left_seconds(self) -> float:
        return max(0.0, self.target_hours * 3600 - self.used_seconds)


@dataclass(frozen=True)
class Crossing:
    """A warning or breach moment that has passed."""

    clock: str
    kind: str
    cycle: int
    #: None for a warning of a clock paused before its due time was reached.
    due_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class SlaState:
    clocks: tuple[Clock, ...]
    #: Since when the ticket waits for the user (None: not waiting).
    paused_since: datetime | None
    #: Wall-clock seconds waited for the user in pauses that ended.
    paused_seconds: int
    crossings: tuple[Crossing, ...]
    #: The next moment a running clock warns or breaches (None: nothing pending).
    check_at: datetime | None

    def clock(self, name: str) -> Clock | None:
        """The newest cycle of clock ``name`` (None: it does not run for this ticket)."""
        found = [c for c in self.clocks if c.name == name]
        return found[-1] if found else None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def breached(self) -> bool:
        return any(c.state in ("missed", "breached") for c in self.clocks)


def _status_spans(history: History, wanted: frozenset[str]) -> list[Span]:
    """The spans during which the ticket's status was one of ``wanted``."""
    spans: list[Span] = []
    since: datetime | None = None
    current = "open"
    for moment, status in history.statuses:
        if status in wanted and current not in wanted:
            since = moment
        elif status not in wanted and current in wanted and since is not None:
            spans.append((since, moment))
            since = None
        current = status
    if current in wanted and since is not None:
        spans.append((since, None))
    return spans


def _running(start: datetime, stop: datetime | None, pauses: Sequence[Span]) -> list[Span]:
    """The spans from ``start`` to ``stop`` outside every pause (the last open when the clock
    has not stopped and is not paused)."""
    spans: list[Span] = []
    cursor: datetime | None = start
    for p_start, p_end in sorted(pauses, key=lambda span: span[0]):
        if cursor is None:
            break
        if p_end is not None and p_end <= cursor:
            continue
        if stop is not None and p_start >= stop:
            break
        if p_start > cursor:
            spans.append((cursor, p_start))
        cursor = None if p_end is None else max(cursor, p_end)
    if cursor is not None and (stop is None or cursor < stop):
        spans.append((cursor, stop))
    return spans


def _served(spans: Sequence[Span], calendar: ServiceHours, now: datetime) -> float:
    return sum(calendar.between(a, min(b, now) if b else now) for a, b in spans if a < now)


def _reach(
    spans: Sequence[Span], calendar: ServiceHours, seconds: float, open_ended: bool
) -> datetime | None:
    """When the running spans hold ``seconds`` of service time; the last span continues for
    ever when ``open_ended`` (a stopped clock is extended so its due time still shows). None
    when the clock pauses first and has not reached it."""
    left = seconds
    for index, (a, b) in enumerate(spans):
        last = index == len(spans) - 1
        if b is None or (last and open_ended):
            return calendar.add(a, left)
        span = calendar.between(a, b)
        if span >= left:
            return calendar.add(a, left)
        left -= span
    return None


def _clock(
    name: str,
    cycle: int,
    hours: float,
    start: datetime,
    stop: datetime | None,
    pauses: Sequence[Span],
    policy: PriorityPolicy,
    now: datetime,
) -> Clock:
    calendar = policy.calendar
    spans = _running(start, stop, pauses)
    paused = stop is None and (not spans or spans[-1][1] is not None)
    # a stopped clock's due time still shows: the time it had left, counted on from its stop
    # (from the stop itself when it stopped during a pause, e.g. resolved while waiting)
    reach = spans
    if stop is not None and (not spans or spans[-1][1] != stop):
        reach = [*spans, (stop, None)]
    open_ended = stop is not None or not paused
    target = hours * 3600
    due = _reach(reach, calendar, target, open_ended)
    warn = _reach(reach, calendar, target * policy.warning_share, open_ended)
    used = _served(spans, calendar, stop or now)
    if stop is not None:
        state = "met" if used <= target else "missed"
    elif used >= target:
        state = "breached"
    else:
        state = "paused" if paused else "running"
    return Clock(
        name=name,
        cycle=cycle,
        target_hours=hours,
        started_at=start,
        due_at=due,
        warn_at=warn,
        stopped_at=stop,
        used_seconds=used,
        state=state,
    )


def _first_after(moments: Sequence[datetime], after: datetime) -> datetime | None:
    return next((m for m in moments if m > after), None)


def _clocks(
    history: History, level: Level, policy: PriorityPolicy, now: datetime
) -> Iterator[Clock]:
    waiting = _status_spans(history, frozenset({WAITING_USER}))
    done = _status_spans(history, frozenset(DONE_STATUSES))
    done_starts = [start for start, _ in done]
    replies = sorted(history.replies)
    # first response: the first reply, or the first resolution without one
    answers = sorted(m for m in (replies[:1] + done_starts[:1]) if m)
    first = answers[0] if answers else None
    yield _clock(
        "first_response",
        0,
        level.response_hours,
        history.created_at,
        first,
        waiting,
        policy,
        now,
    )
    if level.update_hours and replies:
        for cycle, start in enumerate(replies):
            if done and done[-1][1] is None and start >= done[-1][0]:
                break  # a reply after the resolution (e.g. a last note): no new cycle
            ends = [
                m for m in (_first_after(replies, start), _first_after(done_starts, start)) if m
            ]
            yield _clock(
                "update",
                cycle,
                level.update_hours,
                start,
                min(ends) if ends else None,
                waiting + done,
                policy,
                now,
            )
    resolved = done[-1][0] if done and done[-1][1] is None else None
    reopened: list[Span] = [(a, b) for a, b in done if b is not None]
    yield _clock(
        "resolution",
        0,
        level.resolution_hours,
        history.created_at,
        resolved,
        waiting + reopened,
        policy,
        now,
    )


def evaluate(history: History, policy: PriorityPolicy, now: datetime) -> SlaState:
    """Every clock of the ticket at ``now``, with the warnings and breaches passed by then."""
    level = policy.levels.get(history.priority) or policy.levels[policy.default]
    clocks = tuple(_clocks(history, level, policy, now))
    crossings: list[Crossing] = []
    pending: list[datetime] = []
    for clock in clocks:
        for kind, moment in ((WARNING, clock.warn_at), (BREACH, clock.due_at)):
            if moment is None:
                continue
            if clock.stopped_at is not None and moment >= clock.stopped_at:
                continue  # stopped in time for this threshold
            if moment <= now:
                crossings.append(Crossing(clock.name, kind, clock.cycle, clock.due_at, moment))
            elif clock.stopped_at is None:
                pending.append(moment)
    waiting = _status_spans(history, frozenset({WAITING_USER}))
    paused_since = waiting[-1][0] if waiting and waiting[-1][1] is None else None
    ended = sum((b - a).total_seconds() for a, b in waiting if b is not None)
    return SlaState(
        clocks=clocks,
        paused_since=paused_since,
        paused_seconds=int(ended),
        crossings=tuple(crossings),
        check_at=min(pending) if pending else None,
    )
