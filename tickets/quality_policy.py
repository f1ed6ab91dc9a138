"""The spot-check policy (``data/policy/quality.yml``, or ``DY_QUALITY_POLICY``): the sampling
period, how many closed tickets per agent and how many bot-only conversations each period's
sample takes, and the reviewers' scorecard.

Data only; ``tickets.quality`` draws the samples and records the reviews with it. A mistake
raises :class:`QualityPolicyError` naming the file and the line, as the priority policy does.

The choices the file cannot change, documented here once:

* **Periods** are ``period_days`` whole days in the time zone ``utc_offset``, aligned on
  ``period_anchor`` (a period starts on it and every ``period_days`` days before and after it);
  the default is a week starting on Monday 00:00 China time.
* **Per agent**: ``ceil(share × closed)`` tickets, at least ``min`` and at most ``max``, never
  more than the agent closed (all of them when fewer than ``min``).
* **Scores** are whole numbers from 1 to 5 (:data:`SCORES`) on every criterion that applies to
  the sample's kind. **Weights** must be positive and sum to exactly 1 (decimal arithmetic: 0.35
  + 0.2 + 0.2 + 0.25 is 1); they are not silently normalised, so the percentages reviewers
  read are the ones written. A kind some criteria do not apply to (``applies_to``) is scored
  on the others, their weights scaled up in proportion.
* **Total** (0-100) = Σ(weight × score / 5) / Σ weight × 100, computed exactly and rounded half
  up to two decimals: 4 everywhere is 80.00, 5 everywhere is 100.00, 1 everywhere is 20.00.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeGuard

from playbook.sourcefile import FileCache, line_of
from tickets import config
from tickets.policy import PolicyError
from tickets.service_hours import parse_offset

#: The kinds of sample: a closed ticket (counts against its assignee), or a conversation the
#: bot resolved alone (a ``feedback`` row with no ticket number).
KINDS = ("ticket", "bot")
KIND_LABELS = {"ticket": "工单", "bot": "机器人独立解决的对话"}
#: The scores of one criterion, with what each means to a reviewer.
SCORES = {1: "很差", 2: "较差", 3: "合格", 4: "良好", 5: "优秀"}
MAX_SCORE = max(SCORES)
CRITERION_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: The longest seed stored with a sample.
MAX_SEED = 64

TOP_KEYS = (
    "period_days",
    "period_anchor",
    "utc_offset",
    "catch_up_periods",
    "tickets",
    "bot_conversations",
    "scorecard",
)
TICKET_KEYS = ("share", "min", "max")
SCORECARD_KEYS = ("comment_required_below", "criteria")
CRITERION_KEYS = ("id", "name", "weight", "description", "applies_to")
DEFAULT_ANCHOR = date(2024, 1, 1)  # a Monday


class QualityPolicyError(PolicyError):
    """The spot-check policy are invalid: a :class:`~tickets.policy.PolicyError` (the
    ``source:line: text`` of the mistake, its ``line`` and ``text``) of this file."""


@dataclass(frozen=True)
class SamplePeriod:
    """One sampling period: the days from ``start`` up to ``end`` (excluded), local time."""

    start: date
    end: date
    offset: timezone

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(0), self.offset)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, time(0), self.offset)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        if self.start == self.last_day:
            return self.start.isoformat()
        return f"{self.start.isoformat()} 至 {self.last_day.isoformat()}"


@dataclass(frozen=True)
class Criterion:
    """One line of the scorecard."""

    id: str
    name: str
    #: Its share of the total (exact: the decimal written in the file).
    weight: Fraction
    description: str
    kinds: tuple[str, ...] = KINDS

    @property
    def percent(self) -> str:
        """The weight as reviewers read it (``35%``)."""
        return f"{float(self.weight * 100):g}%"


@dataclass(frozen=True)
class QualityPolicy:
    period_days: int
    anchor: date
    offset: timezone
    #: How many of the latest ended periods a periodic draw catches up on.
    catch_up_periods: int
    share: Fraction
    minimum: int
    maximum: int
    bot_conversations: int
    criteria: tuple[Criterion, ...]
    #: A score below this needs a comment (0: comments are always optional).
    comment_required_below: int

    # --- periods ---------------------------------------------------------------------------

    def period_of(self, moment: datetime) -> SamplePeriod:
        """The period ``moment`` falls in."""
        local = moment.astimezone(self.offset).date()
        index = (local - self.anchor).days // self.period_days
        return self._period(index)

    def period_starting(self, day: date) -> SamplePeriod | None:
        """The period that starts on ``day``; None when no period starts that day."""
        offset_days = (day - self.anchor).days
        if offset_days % self.period_days:
            return None
        return self._period(offset_days // self.period_days)

    def previous(self, period: SamplePeriod) -> SamplePeriod:
        return SamplePeriod(
            start=period.start - timedelta(days=self.period_days),
            end=period.start,
            offset=self.offset,
        )

    def _period(self, index: int) -> SamplePeriod:
        start = self.anchor + timedelta(days=index * self.period_days)
        return SamplePeriod(
            start=start, end=start + timedelta(days=self.period_days), offset=self.offset
        )

    # --- the sample's size -------------------------------------------------------------------

    def tickets_to_draw(self, closed: int) -> int:
        """How many of an agent's ``closed`` tickets of one period the sample takes."""
        wanted = math.ceil(self.share * closed)
        return min(closed, max(self.minimum, min(self.maximum, wanted)))

    # --- the scorecard ---------------------------------------------------------------------

    def criteria_for(self, kind: str) -> tuple[Criterion, ...]:
        """The criteria a sample of ``kind`` is scored on, in the file's order."""
        return tuple(c for c in self.criteria if kind in c.kinds)

    def weight_percent(self, kind: str, criterion: Criterion) -> str:
        """The criterion's share of a ``kind`` sample's total (scaled when some do not apply)."""
        total = sum((c.weight for c in self.criteria_for(kind)), Fraction(0))
        share = criterion.weight / total * 100
        exact = Decimal(share.numerator) / Decimal(share.denominator)
        return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP).normalize():f}%"

    def total(self, kind: str, scores: Mapping[str, int]) -> float:
        """The weighted total (0-100, two decimals) of a complete set of ``scores``."""
        criteria = self.criteria_for(kind)
        weight = sum((c.weight for c in criteria), Fraction(0))
        exact = sum((c.weight * scores[c.id] for c in criteria), Fraction(0))
        exact = exact * 100 / (weight * MAX_SCORE)
        decimal = Decimal(exact.numerator) / Decimal(exact.denominator)
        return float(decimal.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unknown_keys(
    mapping: Mapping[str, Any], known: tuple[str, ...], where: str, source: str
) -> None:
    for key in mapping:
        if str(key) not in known:
            raise QualityPolicyError(
                source,
                line_of(mapping, str(key)),
                f"{where}中有未知字段 {key}（可用字段：{'、'.join(known)}），请检查拼写",
            )


def _count(
    data: Mapping[str, Any],
    key: str,
    default: int,
    source: str,
    *,
    where: str = "",
    low: int = 0,
    high: int = 10_000,
) -> int:
    value = data.get(key, default)
    if not _is_int(value) or not low <= value <= high:
        raise QualityPolicyError(
            source, line_of(data, key), f"{where}{key} 必须是 {low} 到 {high} 之间的整数"
        )
    return int(value)


def parse_quality_policy(data: Any, source: str = "quality.yml") -> QualityPolicy:
    """The policy from parsed YAML, raising :class:`QualityPolicyError` on any mistake (at its
    line when ``data`` was read by :func:`playbook.sourcefile.read_yaml_with_lines`)."""
    if not isinstance(data, dict):
        raise QualityPolicyError(
            source,
            line_of(data),
            "文件内容必须是一个映射，包含 period_days、tickets、bot_conversations、scorecard",
        )
    _unknown_keys(data, TOP_KEYS, "", source)
    period_days = _count(data, "period_days", 7, source, low=1, high=366)
    anchor = _anchor(data, source)
    offset = _offset(data, source)
    catch_up = _count(data, "catch_up_periods", 4, source, low=1, high=520)
    share, minimum, maximum = _ticket_rate(data, source)
    bots = _count(data, "bot_conversations", 5, source, high=1000)
    criteria, comment_below = _scorecard(data, source)
    return QualityPolicy(
        period_days=period_days,
        anchor=anchor,
        offset=offset,
        catch_up_periods=catch_up,
        share=share,
        minimum=minimum,
        maximum=maximum,
        bot_conversations=bots,
        criteria=criteria,
        comment_required_below=comment_below,
    )


def _anchor(data: Mapping[str, Any], source: str) -> date:
    value = data.get("period_anchor", DEFAULT_ANCHOR)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise QualityPolicyError(
            source,
            line_of(data, "period_anchor"),
            f"period_anchor 的取值 {value!r} 不是日期，请写成 2024-01-01 这样的形式"
            "（周期从这一天的 0 点开始）",
        ) from None


def _offset(data: Mapping[str, Any], source: str) -> timezone:
    value = data.get("utc_offset", "+08:00")
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_offset(value)
    except ValueError:
        raise QualityPolicyError(
            source,
            line_of(data, "utc_offset"),
            'utc_offset 是时区与 UTC 的时差，请加上引号写成 "+08:00" 这样的形式',
        ) from None


def _ticket_rate(data: Mapping[str, Any], source: str) -> tuple[Fraction, int, int]:
    raw = data.get("tickets", {"share": 0.1, "min": 2, "max": 10})
    if not isinstance(raw, dict):
        raise QualityPolicyError(
            source, line_of(data, "tickets"), "tickets 必须是一个映射，包含 share、min、max"
        )
    _unknown_keys(raw, TICKET_KEYS, "tickets ", source)
    share = raw.get("share", 0.1)
    if not _is_number(share) or not 0 < share <= 1:
        raise QualityPolicyError(
            source,
            line_of(raw, "share"),
            "tickets.share 是每位客服抽查的工单比例，必须大于 0 且不超过 1（例如 0.1 表示 10%）",
        )
    minimum = _count(raw, "min", 2, source, where="tickets.", high=1000)
    maximum = _count(raw, "max", 10, source, where="tickets.", low=1, high=1000)
    if minimum > maximum:
        raise QualityPolicyError(
            source,
            line_of(raw, "min"),
            f"tickets.min（{minimum}）不能大于 tickets.max（{maximum}）",
        )
    return Fraction(str(share)), minimum, maximum


def _scorecard(data: Mapping[str, Any], source: str) -> tuple[tuple[Criterion, ...], int]:
    raw = data.get("scorecard")
    if not isinstance(raw, dict):
        raise QualityPolicyError(
            source,
            line_of(data, "scorecard"),
            "缺少 scorecard（评分表），请写出 criteria：每一项的 id、name、weight 和 description",
        )
    _unknown_keys(raw, SCORECARD_KEYS, "scorecard ", source)
    comment_below = _count(
        raw, "comment_required_below", 3, source, where="scorecard.", high=MAX_SCORE
    )
    items = raw.get("criteria")
    items_line = line_of(raw, "criteria")
    if not isinstance(items, list) or not items:
        raise QualityPolicyError(
            source, items_line, "scorecard.criteria 必须是一个列表，至少包含一个评分项"
        )
    criteria: list[Criterion] = []
    for index, item in enumerate(items):
        criteria.append(_criterion(item, f"scorecard.criteria[{index}]", items_line, source))
    for field_name in ("id", "name"):
        seen: set[str] = set()
        for index, criterion in enumerate(criteria):
            value = getattr(criterion, field_name)
            if value in seen:
                raise QualityPolicyError(
                    source,
                    line_of(items[index], field_name),
                    f"scorecard.criteria[{index}].{field_name}「{value}」与前面的评分项重复",
                )
            seen.add(value)
    weight = sum((c.weight for c in criteria), Fraction(0))
    if weight != 1:
        raise QualityPolicyError(
            source,
            items_line,
            f"scorecard.criteria 的权重（weight）加起来是 {float(weight):g}，必须正好等于 1",
        )
    for kind in KINDS:
        if not any(kind in c.kinds for c in criteria):
            raise QualityPolicyError(
                source,
                items_line,
                f"没有适用于{KIND_LABELS[kind]}（{kind}）的评分项，请检查各项的 applies_to",
            )
    return tuple(criteria), comment_below


def _criterion(item: Any, where: str, items_line: int, source: str) -> Criterion:
    if not isinstance(item, dict):
        raise QualityPolicyError(
            source, items_line, f"{where} 必须包含 id、name、weight 和 description"
        )
    _unknown_keys(item, CRITERION_KEYS, f"{where} ", source)
    line = line_of(item)
    ident = item.get("id")
    if not isinstance(ident, str) or not CRITERION_ID.match(ident):
        raise QualityPolicyError(
            source,
            line_of(item, "id"),
            f"{where}.id 必须以小写英文字母开头，只用小写字母、数字和下划线，最多 32 个字符"
            "（例如 accuracy）",
        )
    texts: dict[str, str] = {}
    for key, meaning in (("name", "评分项的名称（例如 准确性）"), ("description", "给主管的说明")):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise QualityPolicyError(
                source,
                line_of(item, key) if key in item else line,
                f"{where}.{key} 请填写{meaning}",
            )
        texts[key] = value.strip()
    if len(texts["name"]) > 20:
        raise QualityPolicyError(
            source, line_of(item, "name"), f"{where}.name 最多 20 个字，详细说明请写在 description"
        )
    weight = item.get("weight")
    if not _is_number(weight) or not math.isfinite(weight) or weight <= 0:
        raise QualityPolicyError(
            source,
            line_of(item, "weight") if "weight" in item else line,
            f"{where}.weight 是这一项在总分中的比重，必须是大于 0 的数（例如 0.35）",
        )
    kinds = item.get("applies_to", list(KINDS))
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, list) or not kinds or any(kind not in KINDS for kind in kinds):
        raise QualityPolicyError(
            source,
            line_of(item, "applies_to"),
            f"{where}.applies_to 只能列出 ticket（工单）和 bot（机器人对话），例如 [ticket]",
        )
    return Criterion(
        id=ident,
        name=texts["name"],
        weight=Fraction(str(weight)),
        description=texts["description"],
        kinds=tuple(kind for kind in KINDS if kind in kinds),
    )


_files: FileCache[QualityPolicy] = FileCache(
    lambda data, source: parse_quality_policy(data, source=source)
)


def load_quality_policy(path: Path | None = None) -> QualityPolicy:
    """Load (and cache until the file changes) the spot-check policy.

    A YAML mistake raises :class:`~playbook.sourcefile.SourceError`, an invalid policy its
    subclass :class:`QualityPolicyError`; both name the line.
    """
    return _files.load(Path(path or config.quality_path()))
