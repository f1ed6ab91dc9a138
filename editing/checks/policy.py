"""The priority policy check: the policy, or its problems at the lines of the mistakes."""

from __future__ import annotations

from editing.project import Project
from tickets.policy import PolicyError, PriorityPolicy, parse_policy


def check_policy(project: Project) -> tuple[PriorityPolicy | None, list[str]]:
    """The priority policy, or None and its problems as ``file:line: message``."""
    file = project.rel(project.policy_path)
    data, problems = project.read(project.policy_path)
    if problems:
        return None, problems
    try:
        return parse_policy(data, source=file), []
    except PolicyError as exc:
        return None, [f"{file}:{exc.line}: {exc.text} (priority policy invalid)"]
    except (
        TypeError,
        AttributeError,
        ValueError,
        KeyError,
    ):  # a shape the policy code did not expect
        return None, [
            f"{file}:1: 优先级策略的格式不对："
            f"levels、categories、statuses 必须是 名称: 内容 的映射，"
            f"default 和规则里的 priority 必须是一个优先级名称，when 里的值必须是文字或数字，"
            f"请对照 docs/editing.md 检查 (priority policy invalid)"
        ]
