"""Priority policy: which priority an escalation gets and by when staff must respond.

The policy is data (``data/policy/priority.yml``); this module only reads and applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from playbook.sourcefile import FileCache, SourceError, line_of
from tickets import config
from tickets.service_hours import (
    ALWAYS,
    WEEKDAYS,
    ServiceHours,
    parse_offset,
    parse_window,
)

CONDITION_KEYS = {"category", "reason", "urgent_signal"}
REASONS = {"playbook_exhausted", "user_request"}


class PolicyError(SourceError):
    """The policy file is invalid: ``problems`` holds the one ``source:line: text``, ``line``
    is the line of the mistake and ``text`` says how to fix it."""

    def __init__(self, source: str, line: int, text: str) -> None:
        super().__init__([f"{source}:{line}: {text}"])
        self.source = source
        self.line = line
        self.text = text


@dataclass(frozen=True)
class Level:
    name: str
    label: str
    rank: int
    response_hours: float
    promise: str
    #: The longest staff may leave an answered ticket without a word to the user (hours of
    #: service time); None: no cadence for this level.
    update_hours: float | None = None
    #: The resolution target, from the report (hours of service time).
    resolution_hours: float = 24.0


@dataclass(frozen=True)
class Rule:
    name: str
    when: Mapping[str, Any]
    priority: str

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(facts.get(key) == value for key, value in self.when.items())


@dataclass(frozen=True)
class Decision:
    priority: str
    level: Level
    due_at: datetime
    matched_rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PriorityPolicy:
    levels: dict[str, Level]
    rules: list[Rule]
    default: str
    statuses: dict[str, str]
    categories: dict[str, str]
    #: The share of a target's time after which staff are warned (0.8: at 80 %).
    warning_share: float = 0.8
    #: When the service clock runs (7x24 unless the policy gives a calendar).
    calendar: ServiceHours = ALWAYS

    def decide(
        self,
        *,
        category: str,
        reason: str,
        urgent_signal: bool,
        created_at: datetime,
        playbook_priority: str | None = None,
    ) -> Decision:
        """Choose the most urgent priority among every matching rule.

        ``playbook_priority`` (the playbook's own escalation priority) counts only when
        every step of the playbook failed; it can raise the priority, never lower it.
        """
        facts = {"category": category, "reason": reason, "urgent_signal": bool(urgent_signal)}
        candidates: list[tuple[int, str, str]] = []
        for rule in self.rules:
            if rule.matches(facts):
                candidates.append((self.levels[rule.priority].rank, rule.priority, rule.name))
        if reason == "playbook_exhausted" and playbook_priority in self.levels:
            candidates.append((self.levels[playbook_priority].rank, playbook_priority, "playbook"))
        if candidates:
            candidates.sort()
            priority = candidates[0][1]
        else:
            priority = self.default
        level = self.levels[priority]
        return Decision(
            priority=priority,
            level=level,
            due_at=self.calendar.add(created_at, level.response_hours * 3600),
            matched_rules=[name for _rank, _prio, name in candidates],
        )

    def priority_label(self, priority: str) -> str:
        """The priority's Chinese name (紧急 ...); an unknown one as it is stored."""
        level = self.levels.get(priority)
        return level.label if level else priority

    def priority_promise(self, priority: str) -> str:
        """The response time promised for the priority (e.g. 1 小时内); "" for an unknown one."""
        level = self.levels.get(priority)
        return level.promise if level else ""

    def status_label(self, status: str) -> str:
        return self.statuses.get(status, status)

    def category_label(self, category: str) -> str:
        return self.categories.get(category, category)


def parse_policy(data: Any, source: str = "priority.yml") -> PriorityPolicy:
    """Build a policy from parsed YAML, raising :class:`PolicyError` on any mistake.

    When ``data`` was read by :func:`playbook.sourcefile.read_yaml_with_lines` the error
    names the line of the mistake; for other data (a plain dict) the line is 1.
    """
    if not isinstance(data, dict):
        raise PolicyError(
            source,
            line_of(data),
            "文件内容必须是一个映射（mapping），包含 levels、escalation_rules、default",
        )
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, dict) or not raw_levels:
        raise PolicyError(
            source, line_of(data, "levels"), "缺少 levels（优先级列表），请至少定义一个优先级"
        )
    levels: dict[str, Level] = {}
    for name, spec in raw_levels.items():
        line = line_of(raw_levels, str(name))
        if not isinstance(spec, dict):
            raise PolicyError(source, line, f"levels.{name} 必须包含 label、rank、response_hours")
        try:
            hours = float(spec["response_hours"])
            rank = int(spec["rank"])
        except (KeyError, TypeError, ValueError):
            raise PolicyError(
                source,
                line,
                f"levels.{name} 的 rank（整数）和 response_hours（小时数）必须填写",
            ) from None
        if hours <= 0:
            raise PolicyError(
                source,
                line_of(spec, "response_hours"),
                f"levels.{name}.response_hours 必须大于 0",
            )
        levels[str(name)] = Level(
            name=str(name),
            label=str(spec.get("label") or name),
            rank=rank,
            response_hours=hours,
            promise=str(spec.get("promise") or f"{hours:g} 小时内"),
            update_hours=_hours(spec, "update_hours", f"levels.{name}", source, optional=True),
            resolution_hours=_hours(spec, "resolution_hours", f"levels.{name}", source) or 24.0,
        )
    default = data.get("default")
    if default not in levels:
        raise PolicyError(
            source,
            line_of(data, "default"),
            f"default 的取值 {default!r} 不在 levels 中（可选：{', '.join(levels)}）",
        )
    rules: list[Rule] = []
    rules_line = line_of(data, "escalation_rules")
    for index, raw in enumerate(data.get("escalation_rules") or []):
        where = f"escalation_rules[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("when"), dict):
            line = line_of(raw, "when") if isinstance(raw, dict) else rules_line
            raise PolicyError(source, line, f"{where} 必须包含 when（条件）和 priority（优先级）")
        when = raw["when"]
        unknown = set(when) - CONDITION_KEYS
        if unknown:
            first = next(str(key) for key in when if key in unknown)
            raise PolicyError(
                source,
                line_of(when, first),
                f"{where}.when 中有未知条件 {sorted(unknown)}，可用条件：{sorted(CONDITION_KEYS)}",
            )
        if raw.get("priority") not in levels:
            raise PolicyError(
                source,
                line_of(raw, "priority"),
                f"{where}.priority 的取值 {raw.get('priority')!r} 不在 levels 中"
                f"（可选：{', '.join(levels)}）",
            )
        if "reason" in when and when["reason"] not in REASONS:
            raise PolicyError(
                source, line_of(when, "reason"), f"{where}.when.reason 只能是 {sorted(REASONS)}"
            )
        rules.append(
            Rule(
                name=str(raw.get("name") or f"rule {index}"),
                when=dict(when),
                priority=raw["priority"],
            )
        )
    share, calendar = _sla_settings(data, source)
    return PriorityPolicy(
        levels=levels,
        rules=rules,
        default=default,
        statuses={str(k): str(v) for k, v in (data.get("statuses") or {}).items()},
        categories={str(k): str(v) for k, v in (data.get("categories") or {}).items()},
        warning_share=share,
        calendar=calendar,
    )


def _hours(
    spec: Mapping[str, Any], key: str, where: str, source: str, *, optional: bool = False
) -> float | None:
    """``spec[key]`` as a positive number of hours; None when it is absent (or, with
    ``optional``, set to null)."""
    if key not in spec or (optional and spec[key] is None):
        return None
    try:
        hours = float(spec[key])
    except (TypeError, ValueError):
        hours = -1.0
    if hours <= 0:
        hint = "（不需要时写 null）" if optional else ""
        raise PolicyError(source, line_of(spec, key), f"{where}.{key} 必须是大于 0 的小时数{hint}")
    return hours


def _sla_settings(data: Mapping[str, Any], source: str) -> tuple[float, ServiceHours]:
    """The ``sla`` section: the warning share and the calendar (7x24 by default)."""
    raw = data.get("sla")
    if raw is None:
        return 0.8, ALWAYS
    if not isinstance(raw, dict):
        raise PolicyError(
            source, line_of(data, "sla"), "sla 必须是一个映射，包含 warning_share 和 calendar"
        )
    share = raw.get("warning_share", 0.8)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise PolicyError(
            source,
            line_of(raw, "warning_share"),
            "sla.warning_share 是预警时间占时限的比例，必须在 0 和 1 之间（例如 0.8）",
        )
    return float(share), _calendar(raw, source)


def _calendar(raw: Mapping[str, Any], source: str) -> ServiceHours:
    spec = raw.get("calendar", "7x24")
    line = line_of(raw, "calendar")
    if spec in ("7x24", "24x7", None):
        return ALWAYS
    if not isinstance(spec, dict) or not isinstance(spec.get("hours"), dict):
        raise PolicyError(
            source,
            line,
            "sla.calendar 写 7x24，或写成包含 hours（每天的服务时间，如 mon: 09:00-18:00）的映射",
        )
    try:
        offset = parse_offset(str(spec.get("utc_offset", "+08:00")))
    except ValueError:
        raise PolicyError(
            source, line_of(spec, "utc_offset"), "sla.calendar.utc_offset 应写成 +08:00 这样的时差"
        ) from None
    hours = spec["hours"]
    windows: dict[int, list[Any]] = {}
    for day, value in hours.items():
        if str(day) not in WEEKDAYS:
            raise PolicyError(
                source,
                line_of(hours, str(day)),
                f"sla.calendar.hours 中的 {day} 不是星期（可选：{', '.join(WEEKDAYS)}）",
            )
        texts = [] if value is None else value if isinstance(value, list) else [value]
        try:
            windows[WEEKDAYS.index(str(day))] = [parse_window(str(text)) for text in texts]
        except ValueError:
            raise PolicyError(
                source,
                line_of(hours, str(day)),
                f"sla.calendar.hours.{day} 应写成 09:00-18:00 这样的时间段（不服务的日子写 null）",
            ) from None
    if not any(windows.values()):
        raise PolicyError(source, line, "sla.calendar.hours 中至少要有一天有服务时间")
    holidays: set[date] = set()
    raw_holidays = spec.get("holidays") or []
    for value in raw_holidays if isinstance(raw_holidays, list) else [raw_holidays]:
        try:
            holidays.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise PolicyError(
                source,
                line_of(spec, "holidays"),
                f"sla.calendar.holidays 中的 {value!r} 不是日期（应写成 2026-10-01）",
            ) from None
    return ServiceHours(windows=windows, offset=offset, holidays=frozenset(holidays))


_files: FileCache[PriorityPolicy] = FileCache(lambda data, source: parse_policy(data, source))


def load_policy(path: Path | None = None) -> PriorityPolicy:
    """Load (and cache until the file changes) the priority policy.

    A YAML mistake raises :class:`~playbook.sourcefile.SourceError`, an invalid policy its
    subclass :class:`PolicyError`; both name the line.
    """
    return _files.load(Path(path or config.policy_path()))
