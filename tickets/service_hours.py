"""When the service clock runs: 7x24 (the service guide's promise, the default) or the opening
hours of a calendar in the priority policy (weekday hours in one UTC offset, and holidays).

Two questions are asked of it: how much service time lies between two moments, and when a
number of service hours from a moment have passed. Both are exact to the second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The farthest a due time is looked for in a calendar (a calendar open one hour a week still
#: reaches a 24-hour target well within it).
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class ServiceHours:
    """A calendar: ``windows[weekday]`` are the (open, close) times of that day (Monday = 0) in
    the calendar's offset; no windows at all means 7x24."""

    windows: Mapping[int, Sequence[tuple[time, time]]] = field(default_factory=dict)
    offset: timezone = timezone(timedelta(hours=8))
    holidays: frozenset[date] = frozenset()

    @property
    def always(self) -> bool:
        return not self.windows

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        spans = []
        for start, end in self.windows.get(day.weekday(), ()):
            opens = datetime.combine(day, start, self.offset)
            closes = (
                datetime.combine(day + timedelta(days=1), time(0), self.offset)
                if end == time(0)
                else datetime.combine(day, end, self.offset)
            )
            spans.append((opens, closes))
        return spans

    def between(self, start: datetime, end: datetime) -> float:
        """Service seconds from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        total = 0.0
        day = start.astimezone(self.offset).date() - timedelta(days=1)
        last = end.astimezone(self.offset).date()
        while day <= last:
            for opens, closes in self._day_windows(day):
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of service time after ``start`` (``start`` itself for 0)."""
        if seconds <= 0:
            return start
        if self.always:
            return start + timedelta(seconds=seconds)
        left = seconds
        day = start.astimezone(self.offset).date() - timedelta(days=1)
        for _ in range(MAX_DAYS):
            for opens, closes in self._day_windows(day):
                lo = max(opens, start)
                if closes <= lo:
                    continue
                span = (closes - lo).total_seconds()
                if span >= left:
                    return (lo + timedelta(seconds=left)).astimezone(timezone.utc)
                left -= span
            day += timedelta(days=1)
        raise ValueError("the calendar has no service hours within three years")


ALWAYS = ServiceHours()


def parse_offset(text: str) -> timezone:
    """``+08:00`` (or ``+8``, ``-05:30``) as a fixed UTC offset; raises ValueError."""
    raw = text.strip()
    if raw.upper() in ("UTC", "Z"):
        return timezone.utc
    sign = -1 if raw.startswith("-") else 1
    digits = raw.lstrip("+-")
    hours, _, minutes = digits.partition(":")
    total = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if total > timedelta(hours=14):
        raise ValueError(text)
    return timezone(sign * total)


def parse_window(text: str) -> tuple[time, time]:
    """``09:00-18:00`` as (open, close); ``24:00`` closes at midnight; raises ValueError."""
    opens, dash, closes = text.replace(" ", "").partition("-")
    if not dash:
        raise ValueError(text)
    start = time.fromisoformat(opens)
    end = time(0) if closes == "24:00" else time.fromisoformat(closes)
    if end != time(0) and end <= start:
        raise ValueError(text)
    return start, end
