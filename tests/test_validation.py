"""The editors' validator, coverage report and training fingerprint on broken copies of the project.

Each broken file in tests/fixtures/broken/ is dropped into a fresh copy of the project and the
exact ``file:line: message`` the editor will read is asserted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest

from editing.coverage import report as coverage_report
from editing.fingerprint import record, training_notices
from editing.project import Project
from editing.validate import MIN_EXAMPLES, validate

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "fixtures" / "broken"


@pytest.fixture()
def project(tmp_path) -> Path:
    """A copy of everything an editor touches (the code stays in the repository)."""
    copy = tmp_path / "project"
    (copy / "tests").mkdir(parents=True)
    for name in ("domain.yml", "config.yml"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "data", copy / "data")
    shutil.copy(ROOT / "tests" / "test_stories.yml", copy / "tests" / "test_stories.yml")
    shutil.copytree(ROOT / "tests" / "nlu", copy / "tests" / "nlu")
    return copy


def problems_of(copy: Path, with_rasa: bool = False) -> List[str]:
    return validate(Project(copy), with_rasa=with_rasa)


def add(copy: Path, fixture: str, where: str) -> None:
    shutil.copy(BROKEN / fixture, copy / where / fixture)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_repository_itself_is_valid():
    assert validate(Project(ROOT), with_rasa=True) == []


# --- playbooks -------------------------------------------------------------------------------


def test_step_pointing_to_a_missing_step(project):
    add(project, "unknown_step.yml", "data/playbooks")
    assert problems_of(project) == [
        "data/playbooks/unknown_step.yml:14: 步骤 first 的 on_no 指向的步骤 'secnd' 不存在，可选："
        "first, second, escalate, resolved (unknown step)",
        "data/playbooks/unknown_step.yml:15: 步骤 second 从任何起始步骤都走不到，请检查 on_yes/on_no "
        "的指向 (unreachable step)",
    ]


def test_unreachable_step(project):
    add(project, "unreachable.yml", "data/playbooks")
    assert problems_of(project) == [
        "data/playbooks/unreachable.yml:14: 步骤 orphan 从任何起始步骤都走不到，请检查 on_yes/on_no "
        "的指向 (unreachable step)",
    ]


def test_priority_url_image_and_missing_check(project):
    add(project, "bad_priority_url_image.yml", "data/playbooks")
    assert problems_of(project) == [
        "data/playbooks/bad_priority_url_image.yml:10: 步骤 first 缺少 check（询问是否解决的问题），"
        "请补充 (step check missing)",
        "data/playbooks/bad_priority_url_image.yml:13: 步骤 first 的 link 需要 title 和以 http:// 或 "
        "https:// 开头的有效 url (invalid link)",
        "data/playbooks/bad_priority_url_image.yml:16: 步骤 first 的图片 "
        "'docs/images/no-such-picture.png' 不存在，请检查路径或改用网址 (image file not found)",
        "data/playbooks/bad_priority_url_image.yml:19: 优先级 'very_urgent' 不在优先级策略中，可选："
        "urgent, general, complex (unknown priority)",
    ]


def test_yaml_syntax_error(project):
    add(project, "yaml_error.yml", "data/playbooks")
    assert problems_of(project, with_rasa=True) == [
        "data/playbooks/yaml_error.yml:7: YAML 格式错误：expected <block end>, but found "
        "'<block mapping start>'，请检查缩进和冒号 (YAML syntax error)",
    ]


def test_trigger_without_rule_or_domain_intent_and_category_without_label(project):
    add(project, "no_rule.yml", "data/playbooks")
    assert problems_of(project) == [
        "data/playbooks/no_rule.yml:4: 类别 live 在 data/policy/priority.yml 的 categories 中没有"
        "中文名称，请添加 (category has no label)",
        "data/playbooks/no_rule.yml:6: 没有规则用意图 thank 启动 action_start_playbook，请在 "
        "data/rules.yml 中添加一条规则 (no rule starts the playbook)",
        "data/playbooks/no_rule.yml:8: 触发意图 live_push_problem 不在 domain.yml 的 intents 中，"
        "请先添加意图和训练例句 (trigger intent not in domain)",
    ]


def test_two_playbooks_with_the_same_id_and_intent(project):
    shutil.copy(project / "data/playbooks/network.yml", project / "data/playbooks/network_copy.yml")
    assert problems_of(project) == [
        "data/playbooks/network_copy.yml:1: 手册 id 'network' 已在 data/playbooks/network.yml 中使用，"
        "请换一个名字 (duplicate playbook id)",
        "data/playbooks/network_copy.yml:8: 触发意图 network_problem 已由 data/playbooks/network.yml "
        "使用，一个意图只能启动一本手册 (intent already triggers another playbook)",
    ]


def test_the_action_server_refuses_a_broken_playbook_with_the_same_message(project, caplog):
    from actions.playbooks import PlaybookRegistry

    registry = PlaybookRegistry(project / "data/playbooks", priorities=["urgent", "general", "complex"],
                                root=project)
    assert registry.get("network").steps["restart_device"].on_no == "contact_isp"
    edit(project / "data/playbooks/network.yml", "on_no: contact_isp", "on_no: contact_ips")
    with caplog.at_level("ERROR", logger="actions.playbooks"):
        still = registry.get("network")
    expected = ("data/playbooks/network.yml:34: 步骤 restart_device 的 on_no 指向的步骤 'contact_ips' "
                "不存在，可选：check_network, restart_device, contact_isp, escalate, resolved "
                "(unknown step)")
    assert still.steps["restart_device"].on_no == "contact_isp"  # the last valid version serves
    assert expected in caplog.text
    assert expected in problems_of(project)


# --- NLU, stories, rules, domain ----------------------------------------------------------------


def test_nlu_same_example_under_two_intents_too_few_examples_unknown_intent(project):
    add(project, "nlu_problems.yml", "data/nlu")
    edit(project / "domain.yml", "  - data_loss\n", "  - data_loss\n  - live_push_problem\n")
    assert problems_of(project) == [
        "data/nlu/nlu_problems.yml:14: 意图 greeting 不在 domain.yml 的 intents 中，请在 domain.yml 中"
        "添加，或检查拼写，是不是想写 greet？ (intent not in domain)",
        "data/nlu/problems.yml:6: 例句「网络老是断开，刚连上又掉了」同时出现在意图 greet"
        "（data/nlu/nlu_problems.yml:8）和 network_problem 下，模型无法区分，请只保留在正确的意图下 "
        "(same example under two intents)",
        f"data/nlu/nlu_problems.yml:9: 意图 live_push_problem 只有 3 条训练例句，至少需要 {MIN_EXAMPLES} "
        f"条，请在 data/nlu/ 中再补充 {MIN_EXAMPLES - 3} 条用户真实的说法 (intent has too few examples)",
    ]


def test_intent_in_domain_without_any_example(project):
    edit(project / "domain.yml", "  - data_loss\n", "  - data_loss\n  - live_push_problem\n")
    assert problems_of(project) == [
        f"domain.yml:18: 意图 live_push_problem 只有 0 条训练例句，至少需要 {MIN_EXAMPLES} 条，请在 "
        f"data/nlu/ 中再补充 {MIN_EXAMPLES} 条用户真实的说法 (intent has too few examples)",
    ]


def test_repeated_example_and_test_example_leaking_into_training(project):
    edit(project / "data/nlu/problems.yml", "    - 频繁掉线咋回事\n",
         "    - 频繁掉线咋回事\n    - 频繁掉线咋回事\n    - 网一直掉，根本连不上\n")
    assert problems_of(project) == [
        "data/nlu/problems.yml:9: 例句「频繁掉线咋回事」在意图 network_problem 下重复（第一次在 "
        "data/nlu/problems.yml:8），请删除这一行 (duplicate example)",
        "tests/nlu/test_nlu.yml:6: 测试例句「网一直掉，根本连不上」也是训练例句"
        "（data/nlu/problems.yml:10），评估结果会虚高，请换一句新的说法 "
        "(test example also in training data)",
    ]


def test_rules_with_unknown_response_intent_and_slot(project):
    add(project, "rules_problems.yml", "data")
    assert problems_of(project) == [
        "data/rules_problems.yml:8: 规则「拼错的回复」用到的 utter_gret 不在 domain.yml 的 responses 中，"
        "请添加或检查拼写，是不是想写 utter_greet？ (action or response not in domain)",
        "data/rules_problems.yml:12: 规则「不存在的意图」用到的意图 say_hello 不在 domain.yml 的 intents "
        "中，请添加或检查拼写 (intent not in domain)",
        "data/rules_problems.yml:18: 规则「不存在的槽位」用到的槽位 mood 不在 domain.yml 的 slots 中，"
        "请添加或检查拼写 (slot not in domain)",
    ]


def test_test_story_using_an_action_missing_from_the_domain(project):
    edit(project / "tests/test_stories.yml", "      - action: action_save_rating\n",
         "      - action: action_save_ratings\n")
    lines = (project / "tests/test_stories.yml").read_text(encoding="utf-8").splitlines()
    line = lines.index("      - action: action_save_ratings") + 1
    problems = problems_of(project)
    assert len(problems) == 1
    assert problems[0].startswith(f"tests/test_stories.yml:{line}: 故事「网络 第一步就解决 并打分」用到的 "
                                  f"action_save_ratings 不在 domain.yml 的 actions 中")
    assert problems[0].endswith("是不是想写 action_save_rating？ (action or response not in domain)")


def test_code_and_domain_disagree(project):
    shutil.copytree(ROOT / "actions", project / "actions")
    (project / "actions" / "extra.py").write_text(
        'def name():\n    return "action_not_listed"\n\n'
        'def run(dispatcher):\n    dispatcher.utter_message(response="utter_not_written")\n',
        encoding="utf-8")
    edit(project / "domain.yml", "  - action_ticket_followup\n",
         "  - action_ticket_followup\n  - action_nobody_wrote\n")
    assert problems_of(project) == [
        "actions/extra.py:5: 代码要发送的回复 utter_not_written 不在 domain.yml 的 responses 中，用户会"
        "看不到这句话，请在 domain.yml 中添加 (response used by the code is not in the domain)",
        "actions/extra.py:2: 自定义动作 action_not_listed 没有列在 domain.yml 的 actions 中，Rasa 不会"
        "调用它，请添加 (action missing from domain)",
        "domain.yml:98: 动作 action_nobody_wrote 列在 domain.yml 的 actions 中，但 actions/ 里没有实现它，"
        "请删除这一行或检查拼写 (action not implemented)",
    ]


def test_rasa_findings_are_reported_at_their_line(project):
    edit(project / "domain.yml", "responses:\n",
         "responses:\n  utter_orphan:\n    - text: 这句回复没有任何故事或动作使用。\n")
    assert problems_of(project, with_rasa=True) == [
        "domain.yml:100: rasa data validate: The utterance 'utter_orphan' is not used in any story "
        "or rule. (rasa)",
    ]


# --- coverage ---------------------------------------------------------------------------------


def test_every_step_of_the_repository_has_a_test_story():
    lines, failures, _hints = coverage_report(Project(ROOT))
    assert failures == []
    assert any(line.strip().startswith("✓ contact_isp") for line in lines)


def test_a_new_step_without_a_story_fails_coverage(project):
    # reached only when the user asks for a person at the last step: no story does that
    edit(project / "data/playbooks/network.yml", "    on_no: escalate\nescalation:",
         "    on_no: escalate\n    on_human: ask_neighbours\n"
         "  - id: ask_neighbours\n"
         "    title: 询问周边网络\n"
         "    message: 请问身边其他人的网络是否也有同样的问题？\n"
         "    check: 问过之后，网络恢复正常了吗？\n"
         "    on_no: escalate\nescalation:")
    _lines, failures, hints = coverage_report(Project(project))
    assert failures == [
        "data/playbooks/network.yml:44: 步骤 ask_neighbours（询问周边网络）没有任何测试故事走到，请在 "
        "tests/test_stories.yml 中添加一个走到这一步的故事 (step has no test story)",
    ]
    assert hints == []  # hints are about steps some story reaches


def test_an_untested_branch_case_is_a_hint(project):
    edit(project / "data/playbooks/feature.yml", "        直播: live_guide\n",
         "        直播: live_guide\n        评论: general_guide\n")
    _lines, failures, hints = coverage_report(Project(project))
    assert failures == []
    assert hints == ["data/playbooks/feature.yml:11: 分支步骤 choose_guide 的「评论」还没有测试故事走过 "
                     "(branch case not tested)"]


# --- when to train --------------------------------------------------------------------------------


def test_fingerprint_names_what_needs_training(project):
    model = project / "models" / "dy.tar.gz"
    model.parent.mkdir()
    model.write_bytes(b"a trained model")
    record(Project(project))
    assert training_notices(Project(project)) == []

    # a comment, or a change to a playbook, needs no training
    edit(project / "data/nlu/problems.yml", "nlu:\n", "# 编辑的备注\nnlu:\n")
    edit(project / "data/playbooks/network.yml", "第一步：", "第一步（已更新）：")
    assert training_notices(Project(project)) == []

    edit(project / "data/nlu/problems.yml", "    - 频繁掉线咋回事\n", "    - 频繁掉线咋回事\n    - 老掉线\n")
    edit(project / "domain.yml", "请问遇到了什么问题？", "请问您遇到了什么问题？")
    assert training_notices(Project(project)) == [
        "domain.yml:1: domain（意图、回复、槽位、动作）自上次训练以来有修改，需要运行 make train 重新训练，"
        "修改才会生效 (changed since the model was trained: run rasa train)",
        "data/nlu/problems.yml:1: 训练例句或同义词自上次训练以来有修改，需要运行 make train 重新训练，"
        "修改才会生效 (changed since the model was trained: run rasa train)",
    ]


def test_a_model_trained_elsewhere_is_compared_by_date(project):
    model = project / "models" / "dy.tar.gz"
    model.parent.mkdir()
    model.write_bytes(b"a model without a fingerprint")
    import os

    old = model.stat().st_mtime - 3600
    for path in Project(project).training_files() + [project / "domain.yml", project / "config.yml"]:
        os.utime(path, (old, old))
    assert training_notices(Project(project)) == []
    (project / "data/rules.yml").touch()
    assert training_notices(Project(project)) == [
        "data/rules.yml:1: 规则在模型训练之后修改过，需要运行 make train 重新训练，修改才会生效 "
        "(changed since the model was trained: run rasa train)",
    ]
