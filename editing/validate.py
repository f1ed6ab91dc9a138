"""Check the domain, NLU data, stories, rules, playbooks and priority policy together.

Every problem is one line ``file:line: 中文说明，怎么改 (English key)``. The checks:

* YAML syntax of every file (file and line of the mistake);
* NLU: an intent with too few examples, the same example under two intents, an example
  repeated within one intent, an example labelled with an intent the domain does not list,
  a held-out test example (tests/nlu/test_nlu.yml) that is also a training example;
* stories, rules and test stories: an intent, action, response or slot not in the domain;
* code: a response an action sends that is not in the domain, an action the domain lists
  that no code implements, an action the code implements that the domain does not list;
* playbooks (the same checks the action server makes when it loads them): a step pointing
  to a step that does not exist, an unreachable step, a missing message or check, a
  duplicate step id, an unknown key, an invalid link or video URL, a missing image file, a
  priority not in the policy, a missing trigger; across playbooks: the same id or trigger
  intent twice, a trigger intent not in the domain or not started by any rule, a category
  without a Chinese label in the policy;
* the priority policy itself;
* everything ``rasa data validate --fail-on-warnings`` reports (placed at the line that
  names the intent, action or response it is about).

It also tells whether the trained model is older than the data (``rasa train`` needed);
that is a notice, not a failure. Exit status 1 when there is any problem.

Usage: python -m editing.validate [--project DIR] [--skip-rasa]
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from editing.project import Example, Project, line_of

if TYPE_CHECKING:
    from tickets.policy import PriorityPolicy

#: An intent needs at least this many training examples (DIET learns little from fewer).
MIN_EXAMPLES = 20
#: Intents with no examples by design: Rasa's fallback, and intents other systems send.
NO_EXAMPLES_NEEDED = re.compile(r"^(nlu_fallback|EXTERNAL_\w+)$")


class Domain:
    """The parts of domain.yml the checks need, each name with its line."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = project.domain_path
        self.file = project.rel(self.path)
        data, self.problems = project.read(self.path)
        self.ok = isinstance(data, dict)
        if data is None and not self.problems:
            self.problems.append(
                f"{self.file}:1: domain.yml 是空的，它需要列出意图、回复和动作 (domain is empty)"
            )
        if data is not None and not self.ok:
            self.problems.append(
                f"{self.file}:1: domain.yml 必须是一个映射，包含 intents、entities、slots、"
                f"actions、responses 等部分 (domain must be a mapping)"
            )
        data = data if isinstance(data, dict) else {}
        if self.ok and not isinstance(data.get("intents"), list):
            self.ok = False  # every intent would look unknown: one message instead
            self.problems.append(
                f"{self.file}:{line_of(data, 'intents')}: domain.yml 的 intents 必须是"
                f"意图名称的列表（每行一个 - 意图名），请检查 (domain intents must be a list)"
            )
        self.intents = [self._name(i) for i in self._section(data, "intents", list)]
        self.entities = [self._name(e) for e in self._section(data, "entities", list)]
        self.actions = [self._name(a) for a in self._section(data, "actions", list)]
        self.forms = list(self._section(data, "forms", dict))
        self.slots = list(self._section(data, "slots", dict))
        self._responses_map = self._section(data, "responses", dict)
        self.responses = list(self._responses_map)

    @overload
    def _section(self, data: dict[str, Any], name: str, kind: type[list[Any]]) -> list[Any]: ...

    @overload
    def _section(
        self, data: dict[str, Any], name: str, kind: type[dict[str, Any]]
    ) -> dict[str, Any]: ...

    def _section(
        self, data: dict[str, Any], name: str, kind: type[list[Any]] | type[dict[str, Any]]
    ) -> list[Any] | dict[str, Any]:
        value = data.get(name)
        if value is None:
            return kind()
        if not isinstance(value, kind):
            what = "列表（每行一个 - 名称）" if kind is list else "映射（名称: 内容）"
            self.problems.append(
                f"{self.file}:{line_of(data, name)}: domain.yml 的 {name} 必须是{what} "
                f"(domain {name} must be a {kind.__name__})"
            )
            return kind()
        return value

    @staticmethod
    def _name(item: Any) -> str:
        return str(next(iter(item), "")) if isinstance(item, dict) else str(item)

    def line(self, section: str, name: str) -> int:
        """The line where ``name`` is listed under ``section``."""
        start = self.project.find_line(self.path, rf"^{section}:\s*$")
        if section == "responses" and name in self._responses_map:
            return line_of(self._responses_map, name)
        return self.project.find_line(
            self.path, rf"^\s*(-\s*)?{re.escape(name)}\s*:?\s*(#.*)?$", start
        )

    def section_line(self, section: str) -> int:
        return self.project.find_line(self.path, rf"^{section}:\s*$")

    def knows_action(self, name: str) -> bool:
        from rasa.shared.core.constants import DEFAULT_ACTION_NAMES

        return (
            name in self.actions
            or name in self.responses
            or name in self.forms
            or name in DEFAULT_ACTION_NAMES
        )


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"，是不是想写 {close[0]}？" if close else ""


# --- NLU ------------------------------------------------------------------------------------


TRAINING_KEYS = {"version", "nlu", "stories", "rules", "responses"}


def check_training_files(project: Project) -> tuple[list[str], set[str]]:
    """Every YAML file under data/ (except playbooks and policy) must be Rasa training data."""
    problems: list[str] = []
    covered: set[str] = set()
    for path in project.training_files():
        data, syntax = project.read(path)
        if syntax:
            continue
        file = project.rel(path)
        if not isinstance(data, dict) or not (set(data) & {"nlu", "stories", "rules"}):
            problems.append(
                f"{file}:1: 这个文件不是 Rasa 训练数据（顶层需要 nlu:、stories: 或 rules:），"
                f"不会被训练，请检查格式或删除它 (not training data)"
            )
            continue
        for key in data:
            if key not in TRAINING_KEYS:
                problems.append(
                    f"{file}:{line_of(data, key)}: 未知的顶层字段 {key!r}，可用：nlu、stories、"
                    f"rules、version (unknown key)"
                )
        for key in ("nlu", "stories", "rules"):
            if key in data and not isinstance(data[key], list):
                problems.append(
                    f"{file}:{line_of(data, key)}: {key} 必须是列表（每项以 - 开头）"
                    f"({key} must be a list)"
                )
        nlu = data.get("nlu")
        for block in nlu if isinstance(nlu, list) else []:
            if not isinstance(block, dict):
                problems.append(
                    f"{file}:{line_of(data, 'nlu')}: nlu 下的每一项必须是映射，例如 "
                    f"- intent: 名称 / examples: | (nlu item must be a mapping)"
                )
            elif "intent" in block and isinstance(block.get("examples"), list):
                covered.add(str(block["intent"]))
                problems.append(
                    f"{file}:{line_of(block, 'examples')}: 意图 {block['intent']} 的 examples "
                    f"要写成文字块：examples: | 换行后每行一句 - 用户的说法，而不是 YAML 列表 "
                    f"(examples must be a | block)"
                )
            elif "intent" in block and (
                not isinstance(block.get("examples"), str) or not block["examples"].strip()
            ):
                covered.add(str(block["intent"]))
                problems.append(
                    f"{file}:{line_of(block, 'intent')}: 意图 {block['intent']} 没有写例句，"
                    f"请在 examples: | 下面每行写一句 - 用户的说法 (intent block without examples)"
                )
    return problems, covered


def _training_files_with(project: Project, *keys: str) -> list[Path]:
    """The training files whose top level has one of ``keys``."""
    return [
        path
        for path in project.training_files()
        if isinstance(data := project.read(path)[0], dict) and any(k in data for k in keys)
    ]


def nlu_files(project: Project) -> list[Path]:
    return _training_files_with(project, "nlu")


def check_nlu(project: Project, domain: Domain) -> tuple[list[str], set[str]]:
    """Problems of the NLU data, and the names they are about (to drop Rasa's duplicates)."""
    problems: list[str] = []
    covered: set[str] = set()
    examples: list[Example] = []
    first_block: dict[str, str] = {}
    for path in nlu_files(project):
        for intent, line in project.intent_blocks(path):
            first_block.setdefault(intent, f"{project.rel(path)}:{line}")
            if domain.ok and intent not in domain.intents:
                covered.add(intent)
                problems.append(
                    f"{project.rel(path)}:{line}: 意图 {intent} 不在 domain.yml 的 "
                    f"intents 中，请在 domain.yml 中添加，或检查拼写"
                    f"{_suggest(intent, domain.intents)} (intent not in domain)"
                )
        examples.extend(project.examples(path))

    seen: dict[str, Example] = {}
    for example in examples:
        earlier = seen.get(example.plain)
        if earlier is None:
            seen[example.plain] = example
        elif earlier.intent != example.intent:
            covered.add(example.text)
            problems.append(
                f"{example.where}: 例句「{example.text}」同时出现在意图 {earlier.intent}"
                f"（{earlier.where}）和 {example.intent} 下，模型无法区分，请只保留在"
                f"正确的意图下 (same example under two intents)"
            )
        else:
            problems.append(
                f"{example.where}: 例句「{example.text}」在意图 {example.intent} 下重复"
                f"（第一次在 {earlier.where}），请删除这一行 (duplicate example)"
            )

    counts: dict[str, int] = defaultdict(int)
    for example in {e.plain: e for e in reversed(examples)}.values():
        counts[example.intent] += 1
    for intent in domain.intents:
        if NO_EXAMPLES_NEEDED.match(intent) or counts[intent] >= MIN_EXAMPLES:
            continue
        covered.add(intent)
        where = first_block.get(intent) or f"{domain.file}:{domain.line('intents', intent)}"
        problems.append(
            f"{where}: 意图 {intent} 只有 {counts[intent]} 条训练例句，至少需要 "
            f"{MIN_EXAMPLES} 条，请在 data/nlu/ 中再补充 {MIN_EXAMPLES - counts[intent]} "
            f"条用户真实的说法 (intent has too few examples)"
        )

    if project.test_nlu_path.is_file():
        data, syntax = project.read(project.test_nlu_path)
        problems.extend(syntax)
        for example in project.examples(project.test_nlu_path):
            training = seen.get(example.plain)
            if training is not None:
                problems.append(
                    f"{example.where}: 测试例句「{example.text}」也是训练例句"
                    f"（{training.where}），评估结果会虚高，请换一句新的说法 "
                    f"(test example also in training data)"
                )
    return problems, covered


# --- stories, rules, test stories --------------------------------------------------------------


def story_files(project: Project) -> list[Path]:
    files = _training_files_with(project, "stories", "rules")
    if project.test_stories_path.is_file():
        files.append(project.test_stories_path)
    return files


def _steps(step: Any) -> Iterator[dict[str, Any]]:
    """A story step, or the alternatives of an ``or`` step (a bare name counts as an intent)."""
    if isinstance(step, dict) and isinstance(step.get("or"), list):
        for alternative in step["or"]:
            yield alternative if isinstance(alternative, dict) else {"intent": alternative}
    elif isinstance(step, dict):
        yield step


def check_stories(project: Project, domain: Domain) -> tuple[list[str], set[str]]:
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
                    for step in _steps(outer):
                        line = line_of(step)
                        intent = step.get("intent")
                        if intent is not None and domain.ok and str(intent) not in domain.intents:
                            covered.add(str(intent))
                            problems.append(
                                f"{file}:{line_of(step, 'intent')}: {label}「{name}」用到的意图 "
                                f"{intent} 不在 domain.yml 的 intents 中，请添加或检查拼写"
                                f"{_suggest(str(intent), domain.intents)} (intent not in domain)"
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
                                f"{_suggest(str(action), domain.actions + domain.responses)} "
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


# --- code -------------------------------------------------------------------------------------

RESPONSE_IN_CODE = re.compile(r"[\"'](utter_[a-z0-9_]*[a-z0-9])[\"']")
ACTION_NAME_IN_CODE = re.compile(r"return\s+[\"'](action_[a-z0-9_]+)[\"']")


def _code_files(project: Project) -> list[Path]:
    files: list[Path] = []
    for package in ("actions", "channels", "playbook", "web"):
        files.extend(sorted(project.code_dir(package).glob("*.py")))
    static = project.code_dir("web") / "static"
    files.extend(sorted(p for p in static.glob("*.*") if p.suffix in (".html", ".js")))
    return files


def responses_used_in_code(project: Project) -> dict[str, tuple[str, int]]:
    """Responses the actions send, the channels use or the widget page shows, with a place."""
    used: dict[str, tuple[str, int]] = {}
    for path in _code_files(project):
        pattern = (
            RESPONSE_IN_CODE
            if path.suffix == ".py"
            else re.compile(r"\b(utter_widget_[a-z0-9_]+)\b")
        )
        for number, text in enumerate(project.lines(path), start=1):
            for name in pattern.findall(text):
                used.setdefault(name, (project.rel(path), number))
    return used


def check_code(project: Project, domain: Domain) -> list[str]:
    if not domain.ok:
        return []
    problems: list[str] = []
    for name, (file, line) in sorted(responses_used_in_code(project).items()):
        if name not in domain.responses:
            problems.append(
                f"{file}:{line}: 代码要发送的回复 {name} 不在 domain.yml 的 responses 中，"
                f"用户会看不到这句话，请在 domain.yml 中添加{_suggest(name, domain.responses)} "
                f"(response used by the code is not in the domain)"
            )
    implemented: dict[str, tuple[str, int]] = {}
    for path in sorted(project.code_dir("actions").glob("*.py")):
        for number, text in enumerate(project.lines(path), start=1):
            for name in ACTION_NAME_IN_CODE.findall(text):
                implemented.setdefault(name, (project.rel(path), number))
    for name, (file, line) in sorted(implemented.items()):
        if name not in domain.actions:
            problems.append(
                f"{file}:{line}: 自定义动作 {name} 没有列在 domain.yml 的 actions 中，"
                f"Rasa 不会调用它，请添加 (action missing from domain)"
            )
    for name in domain.actions:
        if name.startswith("action_") and name not in implemented:
            problems.append(
                f"{domain.file}:{domain.line('actions', name)}: 动作 {name} 列在 "
                f"domain.yml 的 actions 中，但 actions/ 里没有实现它，请删除这一行或"
                f"检查拼写{_suggest(name, implemented)} (action not implemented)"
            )
    return problems


# --- playbooks and the priority policy -------------------------------------------------------


def _rules_starting_playbooks(project: Project) -> set[str]:
    started: set[str] = set()
    for path in project.training_files():
        data, _ = project.read(path)
        rules = data.get("rules") if isinstance(data, dict) else None
        for rule in rules if isinstance(rules, list) else []:
            raw = rule.get("steps") if isinstance(rule, dict) else None
            steps = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
            for index, step in enumerate(steps[:-1]):
                if steps[index + 1].get("action") == "action_start_playbook":
                    started.update(str(s["intent"]) for s in _steps(step) if "intent" in s)
    return started


def check_policy(project: Project) -> tuple[PriorityPolicy | None, list[str]]:
    """The priority policy, or None and its problems as ``file:line: message``."""
    from tickets.policy import PolicyError, parse_policy

    file = project.rel(project.policy_path)
    data, problems = project.read(project.policy_path)
    if problems:
        return None, problems
    try:
        return parse_policy(data, source=file), []
    except PolicyError as exc:
        text = str(exc).removeprefix(f"{file}: ")
        named = re.search(r"levels\.(\w+)", text)
        line = project.find_line(project.policy_path, rf"^\s+{named.group(1)}:") if named else 1
        return None, [f"{file}:{line}: {text} (priority policy invalid)"]
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


def check_playbooks(project: Project, domain: Domain) -> list[str]:
    from playbook.registry import PlaybookRegistry

    policy, problems = check_policy(project)
    policy_file = project.rel(project.policy_path)
    started = _rules_starting_playbooks(project)
    registry = PlaybookRegistry(
        project.playbook_dir, priorities=list(policy.levels) if policy else None, root=project.root
    )
    for path in sorted(project.playbook_dir.rglob("*")):
        if (
            path.is_file()
            and path.suffix in (".yml", ".yaml")
            and (path.suffix == ".yaml" or path.parent != project.playbook_dir)
        ):
            problems.append(
                f"{project.rel(path)}:1: 手册文件必须直接放在 data/playbooks/ 下，并以 .yml 结尾，"
                f"这个文件不会被读取 (playbook file ignored)"
            )
    for playbook in registry.all():
        categories = list(policy.categories) if policy else []
        file = project.root / playbook.source
        for category, line in (
            (playbook.category, project.find_line(file, r"^category:")),
            (playbook.escalation.category, playbook.escalation.line),
        ):
            if policy and category not in policy.categories:
                problems.append(
                    f"{playbook.source}:{line}: 类别 {category} 不在 {policy_file} 的 categories "
                    f"中{_suggest(category, categories) or '。'}"
                    f"如果是新类别，请在 categories 中添加它的"
                    f"中文名称 (unknown category)"
                )
        for step in playbook.steps.values():
            if step.branch and domain.ok and step.branch.slot not in domain.slots:
                problems.append(
                    f"{playbook.source}:{step.line}: 步骤 {step.id} 按槽位 {step.branch.slot} "
                    f"分支，但 domain.yml 的 slots 中没有它，所有用户都会走 default"
                    f"{_suggest(step.branch.slot, domain.slots)} (unknown branch slot)"
                )
        for trigger in playbook.triggers:
            if domain.ok and trigger.intent not in domain.intents:
                problems.append(
                    f"{playbook.source}:{trigger.line}: 触发意图 {trigger.intent} 不在 "
                    f"domain.yml 的 intents 中，请先添加意图和训练例句 "
                    f"(trigger intent not in domain)"
                )
            elif trigger.intent not in started:
                problems.append(
                    f"{playbook.source}:{trigger.line}: 没有规则用意图 {trigger.intent} "
                    f"启动 action_start_playbook，请在 data/rules.yml 中添加一条规则 "
                    f"(no rule starts the playbook)"
                )
    for errors in registry.errors.values():
        problems.extend(errors)
    return problems


# --- Rasa's own validator ---------------------------------------------------------------------

UNUSED_RESPONSE = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
#: Rasa warnings that one of our checks above already reports with its file and line.
OURS = [
    re.compile(r"The intent '([^']+)' is listed in the domain file, but is not found in the NLU"),
    re.compile(r"There is a message in the training data labeled with intent '([^']+)'"),
    re.compile(r"The example '(.+)' was found labeled with multiple different intents"),
    re.compile(r"The intent '([^']+)' is used in your stories, but it is not listed"),
    re.compile(r"The action '([^']+)' is used in the"),
    re.compile(r"Found intent '([^']+)' in stories which is not part of the domain"),
    re.compile(r"Intent '([^']+)' has no examples"),
]
#: Rasa's warnings an editor meets most, in Chinese with how to fix them.
TRANSLATED = [
    (
        re.compile(r"The intent '([^']+)' is not used in any story or rule\."),
        "意图 {0} 没有在任何规则或故事中使用：助手识别出它以后不知道该做什么，"
        "请在 data/rules.yml 中为它"
        "加一条规则 (intent not used in any story or rule)",
    ),
    (
        re.compile(r"The utterance '([^']+)' is not used in any story or rule\."),
        "回复 {0} 没有被任何规则、故事或代码使用，请删除它，或在规则中使用它 (response not used)",
    ),
    (
        re.compile(
            r"The intent '([^']+)' is listed in the domain file, but is not found in the NLU"
        ),
        "意图 {0} 列在 domain.yml 中，但没有任何训练例句，请在 data/nlu/ 中添加 "
        "(intent has no examples)",
    ),
]
ABSOLUTE_YAML = re.compile(r"'?(/[^'\s]+?\.ya?ml)'?(?::(\d+))?")


def _locate(project: Project, message: str) -> str:
    """``file:line`` of what the warning is about: the file Rasa names, else the first line of
    the domain or the training data naming its intent, action or response."""
    matches = sorted(ABSOLUTE_YAML.finditer(message), key=lambda m: m.group(2) is None)
    for match in matches:  # a mention with a line number first
        path = Path(match.group(1))
        if path.is_file() and path.resolve().is_relative_to(project.root):
            return f"{project.rel(path.resolve())}:{match.group(2) or 1}"
    names = re.findall(r"'([^']{2,})'", message)
    files = [project.domain_path, *project.training_files()]
    if project.test_stories_path.is_file():
        files.append(project.test_stories_path)
    for name in names:
        token = rf"(^|[\s:\-\[\(]){re.escape(name)}(\s*$|[\s:\]\)]|$)"
        for path in files:
            for number, text in enumerate(project.lines(path), start=1):
                if re.search(token, text):
                    return f"{project.rel(path)}:{number}"
    return f"{project.rel(project.domain_path)}:1"


def check_with_rasa(project: Project, covered: set[str]) -> list[str]:
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.utils.common import EXPECTED_WARNINGS  # warnings Rasa's own CLI filters out

    importer = TrainingDataImporter.load_from_config(
        config_path=str(project.config_path),
        domain_path=str(project.domain_path),
        training_data_paths=[str(p) for p in project.training_files()],
    )
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            validate_files(True, None, importer)
        except SystemExit as exc:
            if exc.code:
                problems.append(
                    f"{project.rel(project.domain_path)}:1: rasa data validate 校验失败，"
                    f"详见上方 Rasa 的输出 (rasa data validate failed)"
                )
        except Exception as exc:  # noqa: BLE001 - a file Rasa cannot read at all
            problems.append(
                f"{_locate(project, str(exc))}: Rasa 无法读取训练数据：{_tidy(project, exc)}，"
                f"请按提示修改 (rasa cannot load the data)"
            )
    used = responses_used_in_code(project)
    for warning in caught:
        if not issubclass(warning.category, UserWarning):
            continue
        message = str(warning.message)
        if any(
            issubclass(warning.category, category) and re.match(pattern, message)
            for category, pattern in EXPECTED_WARNINGS
        ):
            continue
        if re.search(
            r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found", message
        ):
            continue
        match = UNUSED_RESPONSE.search(message)
        if match and match.group(1) in used:
            continue
        if any((m := regex.search(message)) and m.group(1) in covered for regex in OURS):
            continue
        problems.append(f"{_locate(project, message)}: {_translate(project, message)}")
    return problems


def _tidy(project: Project, text: object) -> str:
    """One line, with the project's absolute paths made relative."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text.replace(str(project.root) + "/", "")


def _translate(project: Project, message: str) -> str:
    for pattern, chinese in TRANSLATED:
        match = pattern.search(message)
        if match:
            return chinese.format(*match.groups())
    return f"rasa data validate 报告：{_tidy(project, message)} (rasa)"


# --- all together -------------------------------------------------------------------------------


def validate(project: Project, with_rasa: bool = True) -> list[str]:
    """Every problem of the project, ``file:line: message`` each."""
    domain = Domain(project)
    problems: list[str] = list(domain.problems)
    for path in [
        *project.training_files(),
        *([project.test_stories_path] if project.test_stories_path.is_file() else []),
    ]:
        problems.extend(project.read(path)[1])
    nlu, covered = check_nlu(project, domain)
    stories, covered_in_stories = check_stories(project, domain)
    files, covered_files = check_training_files(project)
    problems += (
        files + nlu + stories + check_code(project, domain) + check_playbooks(project, domain)
    )
    if with_rasa and not any("(YAML syntax error)" in p for p in problems):
        problems += check_with_rasa(project, covered | covered_in_stories | covered_files)
    unique: list[str] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="校验手册、训练数据、故事、规则和 domain "
        "(validate playbooks, NLU, stories, rules, domain)"
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="项目文件夹，默认是本仓库 (project folder, default: this repository)",
    )
    parser.add_argument(
        "--skip-rasa",
        action="store_true",
        help="不运行 Rasa 自带的校验（更快）(skip rasa data validate)",
    )
    args = parser.parse_args(argv)
    # the registry logs each rejected playbook for the running server; here they are printed once
    logging.getLogger("playbook.registry").disabled = True
    project = Project(args.project)
    problems = validate(project, with_rasa=not args.skip_rasa)
    for problem in problems:
        print(problem)
    from editing.fingerprint import training_notices

    notices = training_notices(project)
    for notice in notices:
        print(f"提示 (notice) {notice}")
    if problems:
        print(
            f"\n{len(problems)} 个问题 (problems)。请按提示修改后再运行 make validate。",
            file=sys.stderr,
        )
        return 1
    print(
        "校验通过 (validation passed): domain、训练例句、故事、规则、手册和优先级策略都没有问题。"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
