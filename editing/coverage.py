"""Which playbook steps and branches the test stories exercise.

Every test story in ``tests/test_stories.yml`` is walked through the playbooks with the same
engine the action server uses (playbook/engine.py): a problem intent starts (or restates) its
playbook, 解决了 / 还是不行 / 转人工 (``affirm`` / ``deny`` / ``request_human``) answer the
step on screen. A branch step picks its case from the entity the user's sentence names, found
the way the assistant finds it (the entity synonyms of data/nlu/, or an annotation).

The report lists, per playbook, each step with how many stories show it and which answers
and branch cases they cover. A step no story reaches is a failure (exit 1): it has never been
tested. Answers never tested are listed as hints.

Usage: python -m editing.coverage [--project DIR]
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from editing.checks.policy import check_policy
from editing.project import ANNOTATION, Project, line_of
from playbook import engine
from playbook.engine import ANSWER_TITLES
from playbook.model import ESCALATE, TERMINALS, Playbook
from playbook.registry import PlaybookRegistry
from understanding.answers import BUTTON_VERDICTS

ENTITY = re.compile(r"\[([^\]]*)\]\(([^):]+)(?::([^)]+))?\)")


@dataclass
class Coverage:
    """What the stories exercised: steps shown, (step, answer) pairs, (step, case) branches."""

    shown: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    answered: dict[tuple[str, str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    branches: dict[tuple[str, str, str], set[str]] = field(default_factory=lambda: defaultdict(set))


def entity_synonyms(project: Project) -> dict[str, str]:
    """Surface form (lower case) -> canonical value, as the assistant's entity ruler uses them."""
    from rasa.shared.nlu.training_data.loading import load_data

    synonyms: dict[str, str] = {}
    for path in sorted((project.data_dir / "nlu").glob("*.yml")):
        try:
            data = load_data(str(path))
        except Exception:  # noqa: BLE001 - an unreadable file is the validator's to report
            continue
        for surface, canonical in data.entity_synonyms.items():
            if not str(canonical).isdigit():
                synonyms[surface.lower()] = canonical
                synonyms[str(canonical).lower()] = canonical
    return synonyms


def entities_of(text: str, synonyms: dict[str, str], slot: str = "feature") -> dict[str, str]:
    """Entities a user sentence carries: annotations first, else the longest synonym found."""
    found: dict[str, str] = {}
    for surface, entity, value in ENTITY.findall(text or ""):
        found.setdefault(entity, value or synonyms.get(surface.lower(), surface))
    plain = ANNOTATION.sub(r"\1", text or "").lower()
    if slot not in found:
        for surface in sorted(synonyms, key=len, reverse=True):
            if surface and surface in plain:
                found[slot] = synonyms[surface]
                break
    return found


class Walker:
    """Follows one story through the playbooks, recording what it exercises."""

    def __init__(
        self, playbooks: list[Playbook], coverage: Coverage, story: str, synonyms: dict[str, str]
    ) -> None:
        self.playbooks = playbooks
        self.coverage = coverage
        self.story = story
        self.synonyms = synonyms
        self.playbook: Playbook | None = None
        self.step: str | None = None
        self.tried: list[str] = []
        self.slots: dict[str, str] = {}

    def _show(self, outcome: engine.Outcome, entered_at: str | None) -> None:
        assert self.playbook is not None
        if entered_at is not None:
            self._record_branches(entered_at)
        self.step, self.tried = outcome.step, outcome.steps_tried
        if outcome.step and not (outcome.resolved or outcome.escalate):
            self.coverage.shown[(self.playbook.id, outcome.step)].add(self.story)

    def _record_branches(self, step_id: str) -> None:
        """Record the branch cases taken on the way from ``step_id`` to the step shown."""
        assert self.playbook is not None
        try:
            hops = engine.land(self.playbook, step_id, self.slots).hops
        except engine.EngineError:  # an unknown step or a loop: the validator reports it
            return
        for step, case in hops:
            self.coverage.shown[(self.playbook.id, step.id)].add(self.story)
            taken = "default" if case is None else case
            self.coverage.branches[(self.playbook.id, step.id, taken)].add(self.story)

    def user(self, intent: str, text: str) -> None:
        for playbook in self.playbooks:
            if playbook.trigger_for(intent):
                self.slots.update(entities_of(text, self.synonyms))
                self._start(playbook, intent)
                return
        answer = engine.answer_for(BUTTON_VERDICTS.get(intent))
        if answer is not None and self.playbook is not None and self.step is not None:
            self.slots.update(entities_of(text, self.synonyms))
            current = self.playbook.step(self.step)
            self.coverage.answered[(self.playbook.id, self.step, answer)].add(self.story)
            target = engine.target(current, answer) if current else ESCALATE
            outcome = engine.answer(self.playbook, self.step, answer, self.slots, self.tried)
            if outcome.resolved or outcome.escalate:
                self.playbook, self.step = None, None
            else:
                self._show(outcome, target if target not in TERMINALS else None)

    def _start(self, playbook: Playbook, intent: str) -> None:
        trigger = playbook.trigger_for(intent)
        assert trigger is not None
        if self.playbook is playbook and self.step is not None:
            start_step = engine.resolve_branches(playbook, trigger.start, self.slots)
            if start_step.id in self.tried:  # a restatement means "still not solved"
                self.user("deny", "")
                return
            outcome = engine.enter(playbook, trigger.start, self.slots, self.tried)
        else:
            self.playbook, self.tried = playbook, []
            outcome = engine.start(playbook, trigger, self.slots)
        self._show(outcome, trigger.start)


def measure(project: Project) -> tuple[list[Playbook], Coverage, list[str]]:
    """Walk every test story; returns the playbooks, the coverage and reading problems."""
    policy, problems = check_policy(project)
    registry = PlaybookRegistry(
        project.playbook_dir, priorities=list(policy.levels) if policy else None, root=project.root
    )
    playbooks = registry.all()
    for errors in registry.errors.values():
        problems.extend(errors)
    coverage = Coverage()
    data, syntax = project.read(project.test_stories_path)
    problems.extend(syntax)
    synonyms = entity_synonyms(project)
    stories = data.get("stories") if isinstance(data, dict) else None
    for story in stories if isinstance(stories, list) else []:
        if not isinstance(story, dict) or not isinstance(story.get("steps"), list):
            continue
        walker = Walker(playbooks, coverage, str(story.get("story") or "?"), synonyms)
        for step in story["steps"]:
            if isinstance(step, dict) and step.get("intent"):
                try:
                    walker.user(str(step["intent"]), str(step.get("user") or ""))
                except engine.EngineError as exc:  # a broken playbook the validator reports
                    problems.append(
                        f"{project.rel(project.test_stories_path)}:{line_of(step)}: "
                        f"故事「{walker.story}」走不下去：{exc} (playbook cannot be walked)"
                    )
                    break
    return playbooks, coverage, problems


def report(project: Project) -> tuple[list[str], list[str], list[str]]:
    """(report lines, failures, hints). A failure is a step no test story reaches."""
    playbooks, coverage, problems = measure(project)
    lines: list[str] = []
    failures: list[str] = list(problems)
    hints: list[str] = []
    stories_file = project.rel(project.test_stories_path)
    for playbook in playbooks:
        lines.append(f"{playbook.id}（{playbook.title}，{playbook.source}）")
        for step in playbook.steps.values():
            line = step.line
            stories = coverage.shown.get((playbook.id, step.id), set())
            mark = "✓" if stories else "✗"
            parts = [f"  {mark} {step.id:<22} {len(stories):>2} 个故事"]
            if step.branch:
                cases = list(step.branch.cases) + ["default"]
                for case in cases:
                    hit = bool(coverage.branches.get((playbook.id, step.id, case)))
                    parts.append(f"{case} {'✓' if hit else '✗'}")
                    if stories and not hit:
                        hints.append(
                            f"{playbook.source}:{line}: 分支步骤 {step.id} 的「{case}」还没有"
                            f"测试故事走过 (branch case not tested)"
                        )
            else:
                for answer in (engine.YES, engine.NO):
                    hit = bool(coverage.answered.get((playbook.id, step.id, answer)))
                    parts.append(f"{ANSWER_TITLES[answer]} {'✓' if hit else '✗'}")
                    if stories and not hit:
                        hints.append(
                            f"{playbook.source}:{line}: 步骤 {step.id} 还没有测试用户回答"
                            f"「{ANSWER_TITLES[answer]}」的故事 (answer not tested)"
                        )
                human = bool(coverage.answered.get((playbook.id, step.id, engine.HUMAN)))
                parts.append(f"转人工 {'✓' if human else '-'}")
            lines.append("  ".join(parts))
            if not stories:
                failures.append(
                    f"{playbook.source}:{line}: 步骤 {step.id}（{step.title}）没有任何测试"
                    f"故事走到，请在 {stories_file} 中添加一个走到这一步的故事 "
                    f"(step has no test story)"
                )
    return lines, failures, hints


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="手册测试覆盖报告 (playbook coverage by the test stories)"
    )
    parser.add_argument("--project", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.getLogger("playbook.registry").disabled = True  # rejected files are listed below
    project = Project(args.project)
    lines, failures, hints = report(project)
    print(
        f"手册步骤的测试覆盖（{project.rel(project.test_stories_path)}）"
        f"(playbook coverage by the test stories)"
    )
    for line in lines:
        print(line)
    for hint in hints:
        print(f"提示 (hint) {hint}")
    for failure in failures:
        print(failure)
    if failures:
        print(
            f"\n{len(failures)} 个问题 (problems)：没有测试的步骤，或无法读取的文件",
            file=sys.stderr,
        )
        return 1
    print("每个步骤都有测试故事 (every step has a test story)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
