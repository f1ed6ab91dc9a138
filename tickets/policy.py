"""Priority policy: which priority an escalation gets and by when staff must respond.

The policy is data (``data/policy/priority.yml``); this module only reads and applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tickets import config

CONDITION_KEYS = {"category", "reason", "urgent_signal"}
REASONS = {"playbook_exhausted", "user_request"}


class PolicyError(ValueError):
    """The policy file is invalid; the message says where and how to fix it."""


@dataclass(frozen=True)
class Level:
    name: str
    label: str
    rank: int
    response_hours: float
    promise: str


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
            due_at=created_at + timedelta(hours=level.response_hours),
            matched_rules=[name for _rank, _prio, name in candidates],
        )

    def status_label(self, status: str) -> str:
        return self.statuses.get(status, status)

    def category_label(self, category: str) -> str:
        return self.categories.get(category, category)


def parse_policy(data: Any, source: str = "priority.yml") -> PriorityPolicy:
    """Build a policy from parsed YAML, raising :class:`PolicyError` on any mistake."""
    if not isinstance(data, dict):
        raise PolicyError(
            f"{source}: 文件内容必须是一个映射（mapping），包含 levels、escalation_rules、default"
        )
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, dict) or not raw_levels:
        raise PolicyError(f"{source}: 缺少 levels（优先级列表），请至少定义一个优先级")
    levels: dict[str, Level] = {}
    for name, spec in raw_levels.items():
        if not isinstance(spec, dict):
            raise PolicyError(f"{source}: levels.{name} 必须包含 label、rank、response_hours")
        try:
            hours = float(spec["response_hours"])
            rank = int(spec["rank"])
        except (KeyError, TypeError, ValueError):
            raise PolicyError(
                f"{source}: levels.{name} 的 rank（整数）和 response_hours（小时数）必须填写"
            ) from None
        if hours <= 0:
            raise PolicyError(f"{source}: levels.{name}.response_hours 必须大于 0")
        levels[str(name)] = Level(
            name=str(name),
            label=str(spec.get("label") or name),
            rank=rank,
            response_hours=hours,
            promise=str(spec.get("promise") or f"{hours:g} 小时内"),
        )
    default = data.get("default")
    if default not in levels:
        raise PolicyError(
            f"{source}: default 的取值 {default!r} 不在 levels 中（可选：{', '.join(levels)}）"
        )
    rules: list[Rule] = []
    for index, raw in enumerate(data.get("escalation_rules") or []):
        where = f"{source}: escalation_rules[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("when"), dict):
            raise PolicyError(f"{where} 必须包含 when（条件）和 priority（优先级）")
        unknown = set(raw["when"]) - CONDITION_KEYS
        if unknown:
            raise PolicyError(
                f"{where}.when 中有未知条件 {sorted(unknown)}，可用条件：{sorted(CONDITION_KEYS)}"
            )
        if raw.get("priority") not in levels:
            raise PolicyError(
                f"{where}.priority 的取值 {raw.get('priority')!r} 不在 levels 中"
                f"（可选：{', '.join(levels)}）"
            )
        if "reason" in raw["when"] and raw["when"]["reason"] not in REASONS:
            raise PolicyError(f"{where}.when.reason 只能是 {sorted(REASONS)}")
        rules.append(
            Rule(
                name=str(raw.get("name") or f"rule {index}"),
                when=dict(raw["when"]),
                priority=raw["priority"],
            )
        )
    return PriorityPolicy(
        levels=levels,
        rules=rules,
        default=default,
        statuses={str(k): str(v) for k, v in (data.get("statuses") or {}).items()},
        categories={str(k): str(v) for k, v in (data.get("categories") or {}).items()},
    )


_cache: dict[str, tuple[int, PriorityPolicy]] = {}  # path -> (mtime_ns, policy)


def load_policy(path: Path | None = None) -> PriorityPolicy:
    """Load (and cache until the file changes) the priority policy."""
    path = Path(path or config.policy_path())
    mtime = path.stat().st_mtime_ns
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    with path.open(encoding="utf-8") as handle:
        policy = parse_policy(yaml.safe_load(handle), source=str(path))
    _cache[str(path)] = (mtime, policy)
    return policy
