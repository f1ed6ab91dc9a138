"""Validate the domain, NLU data, stories, rules, playbooks and priority policy together.

Runs Rasa's own validation (what ``rasa data validate --fail-on-warnings`` runs) and fails
on every warning it raises, except one it cannot know about: a response used only by our
custom actions (``dispatcher.utter_message(response="utter_...")``) is "not used in any
story or rule". Such a response is accepted only if the actions really use it.
Then it loads every playbook with its checks and the priority policy.
Prints ``file:line: message`` for each problem; exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import List, Set

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UNUSED_RESPONSE = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
#: Intents sent by other systems through Rasa's HTTP API have no training examples by design.
EXTERNAL_INTENT = re.compile(r"The intent 'EXTERNAL_[A-Za-z_]+' is listed in the domain file, "
                             r"but is not found in the NLU training data\.")


def responses_used_by_actions() -> Set[str]:
    """Responses named in the actions, the channels and the widget page."""
    used: Set[str] = set()
    for path in [*(ROOT / "actions").glob("*.py"), *(ROOT / "channels").glob("*.py")]:
        used |= set(re.findall(r'"(utter_[a-z0-9_]+)"', path.read_text(encoding="utf-8")))
    for path in [*(ROOT / "web").glob("*.py"), *(ROOT / "web" / "static").glob("*.*")]:
        used |= set(re.findall(r"\b(utter_widget_[a-z0-9_]+)\b", path.read_text(encoding="utf-8")))
    return used


def rasa_problems() -> List[str]:
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        config_path=str(ROOT / "config.yml"), domain_path=str(ROOT / "domain.yml"),
        training_data_paths=[str(ROOT / "data")],
    )
    problems: List[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            validate_files(True, None, importer)
        except SystemExit as exc:
            if exc.code:
                problems.append("rasa data validate: 项目校验失败，详见上方输出 (project validation failed)")
    from rasa.utils.common import EXPECTED_WARNINGS  # warnings Rasa's own CLI filters out

    used = responses_used_by_actions()
    for warning in caught:
        if not issubclass(warning.category, UserWarning):
            continue
        message = str(warning.message)
        if any(issubclass(warning.category, category) and re.match(pattern, message)
               for category, pattern in EXPECTED_WARNINGS):
            continue
        if EXTERNAL_INTENT.search(message):
            continue
        match = UNUSED_RESPONSE.search(message)
        if match and match.group(1) in used:
            continue
        problems.append(f"rasa data validate: {message}")
    return problems


def playbook_problems() -> List[str]:
    import yaml

    from tickets.policy import PolicyError, load_policy

    problems: List[str] = []
    try:
        priorities = list(load_policy().levels)
    except PolicyError as exc:
        return [str(exc)]
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    rules = yaml.safe_load((ROOT / "data" / "rules.yml").read_text(encoding="utf-8"))
    started_by_rule = {
        step.get("intent")
        for rule in rules.get("rules") or []
        for index, step in enumerate(rule.get("steps") or [])
        if "intent" in step and index + 1 < len(rule["steps"])
        and rule["steps"][index + 1].get("action") == "action_start_playbook"
    }
    from actions.playbooks import PlaybookRegistry

    policy = load_policy()
    registry = PlaybookRegistry(ROOT / "data" / "playbooks", priorities=priorities)
    for playbook in registry.all():
        if playbook.escalation.category not in policy.categories:
            problems.append(f"{playbook.source}:1: 类别 {playbook.escalation.category} 在 "
                            f"data/policy/priority.yml 的 categories 中没有中文名称，请添加 "
                            f"(category has no label)")
        for trigger in playbook.triggers:
            if trigger.intent not in domain.get("intents", []):
                problems.append(f"{playbook.source}:1: 触发意图 {trigger.intent} 不在 domain.yml 的 "
                                f"intents 中，请先添加意图和训练例句 (trigger intent not in domain)")
            elif trigger.intent not in started_by_rule:
                problems.append(f"{playbook.source}:1: 没有规则用意图 {trigger.intent} 启动 "
                                f"action_start_playbook，请在 data/rules.yml 中添加 (no rule starts it)")
    for errors in registry.errors.values():
        problems.extend(errors)
    return problems


def main() -> int:
    problems = rasa_problems() + playbook_problems()
    for problem in problems:
        print(problem)
    if problems:
        print(f"\n{len(problems)} 个问题 (problems) found.", file=sys.stderr)
        return 1
    print("validation passed: domain, NLU data, stories, rules, playbooks and priority policy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
