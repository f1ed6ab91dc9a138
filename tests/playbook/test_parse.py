"""The shipped playbooks load, and broken ones are refused with file:line messages."""

from __future__ import annotations

import pytest
import yaml

from playbook.parse import PlaybookError, load_playbook_file
from playbook.registry import DEFAULT_PLAYBOOK_DIR
from tests.factories import GOOD, PRIORITIES, ROOT, write

DOMAIN_INTENTS = set(yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"])
#: The intents a rule answers with action_start_playbook (data/rules.yml).
STARTING_INTENTS = {
    step["intent"]
    for rule in yaml.safe_load((ROOT / "data/rules.yml").read_text(encoding="utf-8"))["rules"]
    if {"action": "action_start_playbook"} in rule["steps"]
    for step in rule["steps"]
    if "intent" in step
}


@pytest.mark.parametrize("path", sorted(DEFAULT_PLAYBOOK_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_every_trigger_of_a_shipped_playbook_is_an_intent_a_rule_starts(path):
    """What the parser cannot know: the domain has the trigger's intent, and a rule runs the
    playbook action for it (a trigger without one is never reached in a conversation)."""
    playbook = load_playbook_file(path, priorities=PRIORITIES)
    for trigger in playbook.triggers:
        assert trigger.intent in DOMAIN_INTENTS, f"{path.name}: {trigger.intent} not in domain"
        assert trigger.intent in STARTING_INTENTS, f"{path.name}: no rule starts {trigger.intent}"


def test_good_file_loads(tmp_path):
    playbook = load_playbook_file(write(tmp_path, GOOD), priorities=PRIORITIES)
    assert list(playbook.steps) == ["one", "two"]
    assert playbook.step("two").on_yes == "resolved"


@pytest.mark.parametrize(
    "old, new, line, fragment",
    [
        ("on_no: two", "on_no: three", 14, "指向的步骤 'three' 不存在"),
        ("start: one", "start: zero", 6, "起始步骤 'zero' 不存在"),
        ("priority: general", "priority: asap", 22, "优先级 'asap' 不在优先级策略中"),
        ("    check: 现在好了吗？\n", "", 15, "缺少 check"),
        ("  - id: two\n", "  - id: one\n", 15, "重复"),
    ],
)
def test_broken_file_reports_file_line_and_fix(tmp_path, old, new, line, fragment):
    text = GOOD.replace(old, new)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(path, priorities=PRIORITIES)
    messages = info.value.problems
    assert any(m.startswith(f"{path}:{line}: ") and fragment in m for m in messages), messages


def test_unreachable_step_is_reported(tmp_path):
    text = GOOD.replace("on_no: two", "on_no: escalate")
    path = write(tmp_path, text)
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(path, priorities=PRIORITIES)
    assert any(":15: " in m and "走不到" in m for m in info.value.problems), info.value.problems


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace("title: 第二步", "title: [第二步"))
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(path)
    assert f"{path}:" in str(info.value) and "YAML" in str(info.value)


ANSWERS_STEP = GOOD.replace(
    "    on_no: two\n",
    "    on_no: two\n    answers:\n"
    "      worked:\n        - 进首页了\n"
    "      failed:\n        - 又弹验证\n",
)


def test_a_step_may_list_its_own_answer_phrases(tmp_path):
    path = tmp_path / "demo.yml"
    path.write_text(ANSWERS_STEP, encoding="utf-8")
    step = load_playbook_file(path, priorities=PRIORITIES).step("one")
    assert step.answers == {"worked": ("进首页了",), "failed": ("又弹验证",)}


@pytest.mark.parametrize(
    "old,new,line,fragment",
    [
        ("      worked:\n", "      solved:\n", 16, "没有 'solved' 这一类"),
        (
            "        - 又弹验证\n",
            "        - 进首页了\n",
            19,
            "同时写在 answers.worked 和 answers.failed 里",
        ),
        ("        - 又弹验证\n", '        - ""\n', 19, "第 1 条是空的"),
        ("        - 又弹验证\n", "        - " + "很长" * 30 + "\n", 19, "太长了"),
        ("      failed:\n        - 又弹验证\n", "      failed: []\n", 18, "至少一条说法"),
        ("    answers:\n", "    answers: 进首页了\n    unused:\n", 15, "answers 必须写成"),
    ],
)
def test_bad_answer_phrases_are_refused_at_their_line(tmp_path, old, new, line, fragment):
    path = tmp_path / "demo.yml"
    path.write_text(ANSWERS_STEP.replace(old, new), encoding="utf-8")
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(path, priorities=PRIORITIES)
    assert any(p.startswith(f"{path}:{line}: ") and fragment in p for p in info.value.problems), (
        info.value.problems
    )


def test_a_playbook_may_list_the_words_that_mention_its_problems(tmp_path):
    path = tmp_path / "demo.yml"
    path.write_text(
        GOOD + "mentions:\n  network_problem:\n    - 掉线\n    - 断网\n", encoding="utf-8"
    )
    assert load_playbook_file(path, priorities=PRIORITIES).triggers[0].mentions == ("掉线", "断网")
    lines = len(GOOD.splitlines())
    path.write_text(
        GOOD + "mentions:\n  network_problem:\n    - 掉线\n    - 掉线\n  login_problem:\n"
        "    - 登不上\n",
        encoding="utf-8",
    )
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(path, priorities=PRIORITIES)
    assert any(f":{lines + 4}: " in p and "写了两次" in p for p in info.value.problems), (
        info.value.problems
    )
    assert any(
        f":{lines + 5}: " in p and "mentions for an unknown trigger" in p
        for p in info.value.problems
    ), info.value.problems
