"""Playbooks as flow diagrams: :func:`mermaid` draws one playbook as Mermaid ``flowchart TD``
source: triggers, steps, branches, the 已解决 and 转人工 ends (with the escalation's priority
and promised response time), and, given its statistics (:mod:`web.flow_stats`), how many
conversations took each edge and where users left.

Pure Python, text in and text out (without a ``policy`` the project's priority policy is
loaded): the console (``web/console/flow_pages.py``) renders the pages.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from playbook.engine import ANSWER_TITLES, HUMAN
from playbook.engine import target as answer_target
from playbook.model import ESCALATE, RESOLVED, Playbook
from tickets.policy import PriorityPolicy, load_policy
from web.flow_replay import ANSWERS, PlaybookStats, StepStats

#: Labels longer than this many characters are cut short with 「…」.
MAX_LABEL = 80
_SAFE = re.compile(r"[^\w\s\u2010-\u2027\u3000-\u303f\uff00-\uffef.,:!?/·+=*@$^~'-]", re.UNICODE)


def label(text: Any, limit: int = MAX_LABEL) -> str:
    """Editor text made safe inside a quoted Mermaid label: one line, and every character
    that Mermaid or HTML could read as syntax (quotes, brackets, ``<``, ``&``, ``#``, ``;``,
    backticks, ``%``, ``|`` …) written as a Mermaid entity code such as ``#60;``."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _SAFE.sub(lambda m: f"#{ord(m.group(0))};", flat)


def _count(value: int | None) -> str:
    return "" if value is None else f" · {value}"


def mermaid(
    playbook: Playbook,
    stats: PlaybookStats | None = None,
    policy: PriorityPolicy | None = None,
) -> str:
    """Mermaid ``flowchart TD`` source for one playbook; with ``stats`` every edge carries
    how many conversations took it, and steps where users left point to a 用户离开 node."""
    if policy is None:
        policy = load_policy()
    ids = {step_id: f"s{index}" for index, step_id in enumerate(playbook.steps)}
    lines = ["flowchart TD"]
    for index, trigger in enumerate(playbook.triggers):
        starts = stats.starts.get(trigger.intent, 0) if stats else None
        lines.append(f'  t{index}(["用户说：{label(trigger.intent)}"])')
        target = ids.get(trigger.start)
        if target:
            lines.append(f"  t{index} -->{_edge('开始' + _count(starts))} {target}")
    number = 0
    for step_id, step in playbook.steps.items():
        node = ids[step_id]
        if step.branch is not None:
            lines.append(f'  {node}{{"{label(step.title)}<br/>按 {label(step.branch.slot)} 分支"}}')
            by_target: dict[str, list[str]] = defaultdict(list)
            for case_value, target in step.branch.cases.items():
                by_target[target].append(label(case_value, 20))
            by_target[step.branch.default].append("其他")
            for target, cases in by_target.items():
                hops = stats.branches.get((step_id, target), 0) if stats else None
                if target in ids:
                    text = " / ".join(cases) + _count(hops)
                    lines.append(f"  {node} -->{_edge(text)} {ids[target]}")
            continue
        number += 1
        counts = stats.steps.get(step_id, StepStats()) if stats else None
        shown = f"<br/>展示 {counts.shown} 次" if counts else ""
        lines.append(f'  {node}["{number}. {label(step.title)}<br/>{label(step_id)}{shown}"]')
        for answer in ANSWERS:
            target = answer_target(step, answer)
            taken = counts.answers[answer] if counts else None
            if answer == HUMAN and target == ESCALATE and not taken:
                continue  # 转人工 is possible at every step; drawn only where someone used it
            arrow = "-.->" if answer == HUMAN else "-->"
            lines.append(
                f"  {node} {arrow}{_edge(ANSWER_TITLES[answer] + _count(taken))} "
                f"{_terminal(target, ids)}"
            )
        if counts and counts.gave_up:
            lines.append(f"  {node} -.->{_edge(f'离开 · {counts.gave_up}')} gone")
    wanted = playbook.escalation.priority
    promise = policy.priority_promise(wanted)
    priority = label(f"{policy.priority_label(wanted)} · {promise}响应" if promise else wanted)
    lines.append('  done(["已解决"])')
    lines.append(f'  human{{{{"转人工<br/>优先级：{priority}"}}}}')
    if stats and stats.gave_up:
        lines.append('  gone(["用户离开"])')
        lines.append("  class gone goneEnd")
    lines += [
        "  classDef okEnd fill:#e3f6e8,stroke:#1c7c3a,color:#12401f",
        "  classDef escEnd fill:#ffe3e6,stroke:#c8102e,color:#5c0a17",
        "  classDef goneEnd fill:#f1f1f3,stroke:#8a8d94,color:#44464d,stroke-dasharray:4 3",
        "  class done okEnd",
        "  class human escEnd",
    ]
    return "\n".join(lines) + "\n"


def _edge(text: str) -> str:
    return f'|"{text}"|'


def _terminal(target: str, ids: Mapping[str, str]) -> str:
    if target == RESOLVED:
        return "done"
    if target == ESCALATE:
        return "human"
    return ids[target]
