"""The assignment rules (``data/policy/assignment.yml``): who takes which unassigned ticket.

Data only; ``tickets.assignment`` applies it. A mistake raises :class:`AssignmentPolicyError`
naming the file and line, as the priority policy does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.sourcefile import FileCache, line_of
from tickets import config
from tickets.models import TICKET_ROLES
from tickets.policy import PolicyError, load_policy

SKILL_MODES = ("required", "preferred", "ignored")
CONDITION_KEYS = ("priority", "category")


class AssignmentPolicyError(PolicyError):
    """The assignment rules are invalid: a :class:`~tickets.policy.PolicyError` (the
    ``source:line: text`` of the mistake, its ``line`` and ``text``) of this file."""


@dataclass(frozen=True)
class AssignmentRule:
    name: str
    when: Mapping[str, str]
    skill: str  # one of SKILL_MODES
    #: For ``required``: after this many minutes unassigned, anyone on duty will do.
    fallback_minutes: float | None = None

    def matches(self, priority: str, category: str) -> bool:
        facts = {"priority": priority, "category": category}
        return all(facts[key] == value for key, value in self.when.items())


@dataclass(frozen=True)
class AssignmentPolicy:
    enabled: bool
    roles: tuple[str, ...]
    max_open_per_person: int
    rules: tuple[AssignmentRule, ...]

    def rule_for(self, priority: str, category: str) -> AssignmentRule:
        """The first matching rule; no rule matching: skill preferred."""
        return next(
            (rule for rule in self.rules if rule.matches(priority, category)),
            AssignmentRule(name="默认：优先擅长该类别的客服", when={}, skill="preferred"),
        )


def parse_assignment_policy(
    data: Any,
    source: str = "assignment.yml",
    *,
    priorities: Collection[str] | None = None,
    categories: Collection[str] | None = None,
) -> AssignmentPolicy:
    """The rules from parsed YAML; ``priorities`` and ``categories`` (the priority policy's),
    when given, are the values a rule's ``when`` may name."""
    if not isinstance(data, dict):
        raise AssignmentPolicyError(
            source, line_of(data), "文件内容必须是一个映射，包含 enabled、roles、assignment_rules"
        )
    roles = data.get("roles", ["agent"])
    if not isinstance(roles, list) or not roles or any(r not in TICKET_ROLES for r in roles):
        raise AssignmentPolicyError(
            source, line_of(data, "roles"), f"roles 只能列出 {'、'.join(TICKET_ROLES)}"
        )
    limit = data.get("max_open_per_person", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise AssignmentPolicyError(
            source, line_of(data, "max_open_per_person"), "max_open_per_person 必须是正整数"
        )
    rules = []
    # (not "rules": Rasa reads every YAML file under data/ and would take them for its own)
    for index, raw in enumerate(data.get("assignment_rules") or []):
        where = f"assignment_rules[{index}]"
        if not isinstance(raw, dict):
            raise AssignmentPolicyError(
                source, line_of(data, "assignment_rules"), f"{where} 必须包含 when 和 skill"
            )
        when = raw.get("when") or {}
        if not isinstance(when, dict) or any(key not in CONDITION_KEYS for key in when):
            raise AssignmentPolicyError(
                source,
                line_of(raw, "when"),
                f"{where}.when 只能用条件 {'、'.join(CONDITION_KEYS)}",
            )
        for key, known in (("priority", priorities), ("category", categories)):
            if key in when and known is not None and str(when[key]) not in known:
                raise AssignmentPolicyError(
                    source,
                    line_of(when, key),
                    f"{where}.when.{key} 的取值 {when[key]!r} 不存在（可选：{', '.join(known)}）",
                )
        skill = raw.get("skill", "preferred")
        if skill not in SKILL_MODES:
            raise AssignmentPolicyError(
                source, line_of(raw, "skill"), f"{where}.skill 只能是 {'、'.join(SKILL_MODES)}"
            )
        fallback = raw.get("fallback_minutes")
        if fallback is not None and (
            isinstance(fallback, bool) or not isinstance(fallback, (int, float)) or fallback < 0
        ):
            raise AssignmentPolicyError(
                source, line_of(raw, "fallback_minutes"), f"{where}.fallback_minutes 必须是分钟数"
            )
        rules.append(
            AssignmentRule(
                name=str(raw.get("name") or where),
                when={str(k): str(v) for k, v in when.items()},
                skill=skill,
                fallback_minutes=float(fallback) if fallback is not None else None,
            )
        )
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AssignmentPolicyError(
            source,
            line_of(data, "enabled"),
            "enabled 只能写 true（自动分配）或 false（不自动分配）",
        )
    return AssignmentPolicy(
        enabled=enabled,
        roles=tuple(str(r) for r in roles),
        max_open_per_person=limit,
        rules=tuple(rules),
    )


def _parse_known(data: Any, source: str) -> AssignmentPolicy:
    """The rules, their conditions checked against the priority policy's names."""
    known = load_policy()
    return parse_assignment_policy(
        data, source=source, priorities=list(known.levels), categories=list(known.categories)
    )


_files: FileCache[AssignmentPolicy] = FileCache(_parse_known)


def load_assignment_policy(path: Path | None = None) -> AssignmentPolicy:
    """Load (and cache until the file changes) the assignment rules."""
    return _files.load(Path(path or config.assignment_path()))
