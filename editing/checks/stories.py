"""Stories, rules and test stories: each intent, action, response and slot must be in the domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from editing.checks.domain import Domain, suggest
from editing.checks.training_files import story_files
from editing.project import Project, line_of


def step_alternatives(step: Any) -> Iterator[dict[str, Any]]:
    """A story step, or the alternatives of an ``or`` step (a bare name counts as an intent)."""
    if isinstance(step, dict) and isinstance(step.get("or"), list):
        for alternative in step["or"]:
            yield alternative if isinstance(alternative, dict) else {"intent": alternative}
    elif isinstance(step, dict):
        yield step


def check_stories(project: Project, domain: Domain) -> tuple[list[str], set[str]]:
    """Problems of the stories and rules, and the names they are about (as for the NLU)."""
    problems: list[str] = []
    covered: set[str] = set()
    for path in story_files(project):
        data, _ = project.read(path)
        if not isinstance(data, dict):
            continue
        file = project.rel(path)
        for kind, label in (("stories", "故事"), ("rules", "规则")):
            items = data.get(kind)
            for story in items if isinstance(items, list) else []:
                if not isinstance(story, dict):
                    problems.append(
                        f"{file}:{line_of(data, kind)}: {kind} 下的每一项必须是映射（- {kind[:-1]}"
                        f": 名称 / steps: 步骤列表）({kind[:-1]} must be a mapping)"
                    )
                    continue
                name = story.get("story") or story.get("rule") or "?"
                steps = story.get("steps")
                if not isinstance(steps, list):
                    problems.append(
                        f"{file}:{line_of(story, 'steps' if 'steps' in story else None)}: "
                        f"{label}「{name}」的 steps 必须是步骤列表（每步以 - 开头）"
                        f"(steps must be a list)"
                    )
                    continue
                for outer in steps:
                    if not isinstance(outer, dict):
                        problems.append(
                            f"{file}:{line_of(story, 'steps')}: {label}「{name}」的每一步必须"
                            f"写成 - intent: 名称 或 - action: 名称 (step must be a mapping)"
                        )
                        continue
                    for step in step_alternatives(outer):
                        line = line_of(step)
                        intent = step.get("intent")
                        if intent is not None and domain.ok and str(intent) not in domain.intents:
                            covered.add(str(intent))
                            problems.append(
                                f"{file}:{line_of(step, 'intent')}: {label}「{name}」用到的意图 "
                                f"{intent} 不在 domain.yml 的 intents 中，请添加或检查拼写"
                                f"{suggest(str(intent), domain.intents)} (intent not in domain)"
                            )
                        action = step.get("action")
                        if (
                            action is not None
                            and domain.ok
                            and not domain.knows_action(str(action))
                        ):
                            covered.add(str(action))
                            where = "responses" if str(action).startswith("utter_") else "actions"
                            problems.append(
                                f"{file}:{line_of(step, 'action')}: "
                                f"{label}「{name}」用到的 {action} "
                                f"不在 domain.yml 的 {where} 中，请添加或检查拼写"
                                f"{suggest(str(action), domain.actions + domain.responses)} "
                                f"(action or response not in domain)"
                            )
                        slots = step.get("slot_was_set")
                        for slot in slots if isinstance(slots, list) else []:
                            slot_name = next(iter(slot)) if isinstance(slot, dict) else slot
                            if domain.ok and str(slot_name) not in domain.slots:
                                problems.append(
                                    f"{file}:{line}: {label}「{name}」用到的槽位 {slot_name} 不在 "
                                    f"domain.yml 的 slots 中，请添加或检查拼写 (slot not in domain)"
                                )
    return problems, covered
