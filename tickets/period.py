"""The dashboard's period: whole days in China time (``tickets.config.DISPLAY_TZ``), read from
a query string (``from`` / ``to`` as YYYY-MM-DD, both included; ``days=N`` for the last N days;
``all=1`` for every ticket), the last 30 days by default. Bad input is refused with a message a
supervisor can act on."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tickets.config import DISPLAY_TZ

#: The default period: the last 30 days, today included.
DEFAULT_DAYS = 30
#: The longest period chosen by dates (its daily table has a row per day); longer: all=1.
MAX_DAYS = 731
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
FORMAT_HINT = "请按 YYYY-MM-DD 填写，例如 2026-11-24"


class PeriodError(ValueError):
    """A period (or a day) that cannot be used; the message says why, in Chinese."""


def today_local(now: datetime) -> date:
    """The date in China time at ``now``."""
    return now.astimezone(DISPLAY_TZ).date()


def day_start(day: date) -> datetime:
    """Midnight starting ``day`` in China time, as an aware moment."""
    return datetime.combine(day, time(0), DISPLAY_TZ)


def parse_day(text: str, name: str) -> date:
    """A YYYY-MM-DD date typed into the field ``name`` (its Chinese label)."""
    value = text.strip()
    if not DATE_RE.fullmatch(value):
        raise PeriodError(f"{name}「{value[:20]}」不是有效的日期，{FORMAT_HINT}")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"{name}「{value}」不是有效的日期（没有这一天），{FORMAT_HINT}") from None
    if not EARLIEST <= day <= LATEST:
        raise PeriodError(f"{name}「{value}」超出范围：日期须在 {EARLIEST} 至 {LATEST} 之间")
    return day


@dataclass(frozen=True)
class Period:
    """Tickets created from ``first`` to ``last`` (whole days, China time); ``everything``:
    every ticket whatever its date (``first`` and ``last`` are then None)."""

    first: date | None
    last: date | None

    @property
    def everything(self) -> bool:
        return self.first is None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The moments the period starts (included) and ends (excluded); None: unbounded."""
        if self.first is None or self.last is None:
            return None, None
        return day_start(self.first), day_start(self.last + timedelta(days=1))

    def query(self) -> dict[str, str]:
        """The period as a query string's parameters (what links carry)."""
        if self.first is None or self.last is None:
            return {"all": "1"}
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    def holds(self, day: date) -> bool:
        return self.first is None or self.last is None or self.first <= day <= self.last

    @property
    def label(self) -> str:
        if self.first is None or self.last is None:
            return "全部时间"
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"


def days_between(first: date, last: date) -> Iterator[date]:
    """Every day from ``first`` to ``last``, both included."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _days(text: str | None) -> int:
    """``days=N``: the last N days (today included)."""
    value = (text or "").strip()
    if not value:
        return DEFAULT_DAYS
    if not value.isdigit() or not 1 <= int(value) <= MAX_DAYS:
        raise PeriodError(f"天数「{value[:10]}」无效：请填写 1 到 {MAX_DAYS} 之间的整数")
    return int(value)


def parse_period(values: Mapping[str, str], today: date) -> Period:
    """The period a query string asks for (see the module): ``from`` and ``to`` (a missing
    ``to`` is today; a missing ``from``, 30 days or ``days`` up to ``to``), or ``all``; raises
    PeriodError."""
    if (values.get("all") or "").strip() in ("1", "true", "yes"):
        return Period(None, None)
    raw_from = (values.get("from") or "").strip()
    raw_to = (values.get("to") or "").strip()
    last = parse_day(raw_to, "结束日期") if raw_to else today
    days = _days(values.get("days")) if not raw_from else DEFAULT_DAYS
    first = parse_day(raw_from, "开始日期") if raw_from else last - timedelta(days=days - 1)
    if first > last:
        raise PeriodError(f"开始日期（{first}）晚于结束日期（{last}），请重新选择")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(
            f"所选时段共 {(last - first).days + 1} 天，最长可选 {MAX_DAYS} 天；"
            "更长的时段请选择“全部时间”"
        )
    return Period(first, last)
