"""The editors' validator, coverage report and training fingerprint on broken copies of the project.

Each broken file in tests/fixtures/broken/ is dropped into a fresh copy of the project and the
exact ``file:line: message`` the editor will read is asserted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from editing.checks.nlu import MIN_EXAMPLES
from editing.coverage import report as coverage_report
from editing.fingerprint import record, training_notices
from editing.project import Project
from editing.validate import validate
from tests.factories import ROOT, copy_project

BROKEN = ROOT / "tests" / "fixtures" / "broken"


@pytest.fixture()
def project(tmp_path) -> Path:
    """A copy of everything an editor touches (the code stays in the repository)."""
    return copy_project(tmp_path / "project")


def problems_of(copy: Path, with_rasa: bool = False) -> list[str]:
    return validate(Project(copy), with_rasa=with_rasa)


def add(copy: Path, fixture: str, where: str) -> None:
    shutil.copy(BROKEN / fixture, copy / where / fixture)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_repository_itself_is_valid():
    # Rasa's own validation of the repository runs once, in `make validate` (the next suite)
    assert validate(Project(ROOT), with_rasa=False) == []


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
        "data/playbooks/no_rule.yml:4: 类别 live 不在 data/policy/priority.yml 的 categories 中。"
        "如果是新类别，请在 categories 中添加它的中文名称 (unknown category)",
        "data/playbooks/no_rule.yml:17: 类别 live 不在 data/policy/priority.yml 的 categories 中。"
        "如果是新类别，请在 categories 中添加它的中文名称 (unknown category)",
        "data/playbooks/no_rule.yml:6: 没有规则用意图 thank 启动 action_start_playbook，请在 "
        "data/rules.yml 中添加一条规则 (no rule starts the playbook)",
        "data/playbooks/no_rule.yml:8: 触发意图 live_push_problem 不在 domain.yml 的 intents 中，"
        "请先添加意图和训练例句 (trigger intent not in domain)",
    ]


def test_two_playbooks_with_the_same_id_and_intent(project):
    shutil.copy(project / "data/playbooks/network.yml", project / "data/playbooks/network_copy.yml")
    assert problems_of(project) == [
        "data/playbooks/network_copy.yml:4: 手册 id 'network' 已在 data/playbooks/network.yml 中使用，"
        "请换一个名字 (duplicate playbook id)",
        "data/playbooks/network_copy.yml:8: 触发意图 network_problem 已由 data/playbooks/network.yml "
        "使用，一个意图只能启动一本手册 (intent already triggers another playbook)",
    ]


def test_the_action_server_refuses_a_broken_playbook_with_the_same_message(project, caplog):
    from playbook.registry import PlaybookRegistry

    registry = PlaybookRegistry(
        project / "data/playbooks", priorities=["urgent", "general", "complex"], root=project
    )
    assert registry.get("network").steps["restart_device"].on_no == "contact_isp"
    edit(project / "data/playbooks/network.yml", "on_no: contact_isp", "on_no: contact_ips")
    with caplog.at_level("ERROR", logger="playbook.registry"):
        still = registry.get("network")
    expected = (
        "data/playbooks/network.yml:34: 步骤 restart_device 的 on_no 指向的步骤 'contact_ips' "
        "不存在，可选：check_network, restart_device, contact_isp, escalate, resolved "
        "(unknown step)"
    )
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
    edit(
        project / "data/nlu/problems.yml",
        "    - 频繁掉线咋回事\n",
        "    - 频繁掉线咋回事\n    - 频繁掉线咋回事\n    - 网一直掉，根本连不上\n",
    )
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
    edit(
        project / "tests/test_stories.yml",
        "      - action: action_save_rating\n",
        "      - action: action_save_ratings\n",
    )
    lines = (project / "tests/test_stories.yml").read_text(encoding="utf-8").splitlines()
    line = lines.index("      - action: action_save_ratings") + 1
    problems = problems_of(project)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"tests/test_stories.yml:{line}: 故事「网络 第一步就解决 并打分」用到的 "
        f"action_save_ratings 不在 domain.yml 的 actions 中"
    )
    assert problems[0].endswith(
        "是不是想写 action_save_rating？ (action or response not in domain)"
    )


def test_code_and_domain_disagree(project):
    shutil.copytree(ROOT / "actions", project / "actions")
    (project / "actions" / "extra.py").write_text(
        'def name():\n    return "action_not_listed"\n\n'
        'def run(dispatcher):\n    dispatcher.utter_message(response="utter_not_written")\n',
        encoding="utf-8",
    )
    edit(
        project / "domain.yml",
        "  - action_ticket_followup\n",
        "  - action_ticket_followup\n  - action_nobody_wrote\n",
    )
    assert problems_of(project) == [
        "actions/extra.py:5: 代码要发送的回复 utter_not_written 不在 domain.yml 的 responses 中，用户会"
        "看不到这句话，请在 domain.yml 中添加 (response used by the code is not in the domain)",
        "actions/extra.py:2: 自定义动作 action_not_listed 没有列在 domain.yml 的 actions 中，Rasa 不会"
        "调用它，请添加 (action missing from domain)",
        f"domain.yml:{line_of_text(project / 'domain.yml', '  - action_nobody_wrote')}: 动作 action_nobody_wrote 列在 domain.yml 的 actions 中，但 actions/ 里没有实现它，"
        "请删除这一行或检查拼写 (action not implemented)",
    ]


def line_of_text(path, text):
    """The 1-based line of the first line of ``path`` equal to ``text``."""
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_rasa_findings_are_reported_at_their_line(project):
    edit(
        project / "domain.yml",
        "responses:\n",
        "responses:\n  utter_orphan:\n    - text: 这句回复没有任何故事或动作使用。\n",
    )
    assert problems_of(project, with_rasa=True) == [
        f"domain.yml:{line_of_text(project / 'domain.yml', '  utter_orphan:')}: 回复 utter_orphan 没有被任何规则、故事或代码使用，请删除它，或在规则中使用它 "
        "(response not used)",
    ]


# --- coverage ---------------------------------------------------------------------------------


def test_every_step_of_the_repository_has_a_test_story():
    lines, failures, _hints = coverage_report(Project(ROOT))
    assert failures == []
    assert any(line.strip().startswith("✓ contact_isp") for line in lines)


def test_a_new_step_without_a_story_fails_coverage(project):
    # reached only when the user asks for a person at the last step: no story does that
    edit(
        project / "data/playbooks/network.yml",
        "    on_no: escalate\nescalation:",
        "    on_no: escalate\n    on_human: ask_neighbours\n"
        "  - id: ask_neighbours\n"
        "    title: 询问周边网络\n"
        "    message: 请问身边其他人的网络是否也有同样的问题？\n"
        "    check: 问过之后，网络恢复正常了吗？\n"
        "    on_no: escalate\nescalation:",
    )
    _lines, failures, hints = coverage_report(Project(project))
    assert failures == [
        "data/playbooks/network.yml:44: 步骤 ask_neighbours（询问周边网络）没有任何测试故事走到，请在 "
        "tests/test_stories.yml 中添加一个走到这一步的故事 (step has no test story)",
    ]
    assert hints == []  # hints are about steps some story reaches


def test_an_untested_branch_case_is_a_hint(project):
    edit(
        project / "data/playbooks/feature.yml",
        "        直播: live_guide\n",
        "        直播: live_guide\n        评论: general_guide\n",
    )
    _lines, failures, hints = coverage_report(Project(project))
    assert failures == []
    assert hints == [
        "data/playbooks/feature.yml:11: 分支步骤 choose_guide 的「评论」还没有测试故事走过 "
        "(branch case not tested)"
    ]


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

    edit(
        project / "data/nlu/problems.yml",
        "    - 频繁掉线咋回事\n",
        "    - 频繁掉线咋回事\n    - 老掉线\n",
    )
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
    for path in Project(project).training_files() + [
        project / "domain.yml",
        project / "config.yml",
    ]:
        os.utime(path, (old, old))
    assert training_notices(Project(project)) == []
    (project / "data/rules.yml").touch()
    assert training_notices(Project(project)) == [
        "data/rules.yml:1: 规则在模型训练之后修改过，需要运行 make train 重新训练，修改才会生效 "
        "(changed since the model was trained: run rasa train)",
    ]


# --- shapes an editor gets wrong, and the running registry staying up -----------------------------


def test_branch_default_to_a_terminal_and_branch_loops(project):
    add(project, "branch_problems.yml", "data/playbooks")
    assert problems_of(project) == [
        "data/playbooks/branch_problems.yml:12: 步骤 pick 的 default 必须指向一个步骤，不能是 escalate "
        "(branch target must be a step)",
        "data/playbooks/branch_problems.yml:10: 步骤 pick 的分支形成了循环（pick → pick_again → pick），"
        "用户会卡住，请让分支最终指向一个普通步骤 (branch loop)",
        "data/playbooks/branch_problems.yml:17: 步骤 pick_again 的分支形成了循环（pick_again → pick → "
        "pick_again），用户会卡住，请让分支最终指向一个普通步骤 (branch loop)",
    ]


def test_odd_shapes_are_reported_not_crashed_on(project):
    add(project, "odd_shapes.yml", "data")
    (project / "data/nlu/empty.yml").write_text("", encoding="utf-8")
    (project / "data/nlu/list.yml").write_text("- intent: greet\n", encoding="utf-8")
    assert problems_of(project) == [
        "data/nlu/empty.yml:1: 这个文件不是 Rasa 训练数据（顶层需要 nlu:、stories: 或 rules:），不会被训练，"
        "请检查格式或删除它 (not training data)",
        "data/nlu/list.yml:1: 这个文件不是 Rasa 训练数据（顶层需要 nlu:、stories: 或 rules:），不会被训练，"
        "请检查格式或删除它 (not training data)",
        "data/odd_shapes.yml:6: 故事「数字」的 steps 必须是步骤列表（每步以 - 开头）(steps must be a list)",
        "data/odd_shapes.yml:10: 规则「一句话」的每一步必须写成 - intent: 名称 或 - action: 名称 "
        "(step must be a mapping)",
    ]
    _lines, failures, _hints = coverage_report(Project(project))  # and coverage still runs
    assert failures == []


def test_empty_domain_and_misplaced_playbook(project):
    (project / "domain.yml").write_text("", encoding="utf-8")
    shutil.copy(BROKEN / "unknown_step.yml", project / "data/playbooks/unknown_step.yaml")
    problems = problems_of(project)
    assert (
        problems[0]
        == "domain.yml:1: domain.yml 是空的，它需要列出意图、回复和动作 (domain is empty)"
    )
    assert (
        "data/playbooks/unknown_step.yaml:1: 手册文件必须直接放在 data/playbooks/ 下，并以 .yml 结尾，"
        "这个文件不会被读取 (playbook file ignored)" in problems
    )


def test_list_key_and_duplicate_key_in_a_playbook(project):
    edit(
        project / "data/playbooks/feature.yml",
        "        直播: live_guide\n",
        "        [直播, 推流]: live_guide\n",
    )
    edit(
        project / "data/playbooks/network.yml",
        "    on_no: restart_device\n",
        "    on_no: restart_device\n    on_no: contact_isp\n",
    )
    assert problems_of(project) == [
        "data/playbooks/feature.yml:19: YAML 格式错误：冒号前的名字不能是列表或映射（例如 [直播, 推流]:），"
        "每个取值请单独写一行，请检查缩进和冒号 (YAML syntax error)",
        "data/playbooks/network.yml:25: YAML 格式错误：字段 on_no 在同一处写了两次，后一个会悄悄覆盖前一个，"
        "请删除多余的一行，请检查缩进和冒号 (YAML syntax error)",
    ]


def test_a_broken_file_never_stops_the_other_playbooks(project):
    from playbook.registry import PlaybookRegistry

    registry = PlaybookRegistry(
        project / "data/playbooks", priorities=["urgent", "general", "complex"], root=project
    )
    assert registry.get("feature").steps["choose_guide"].branch.cases["直播"] == "live_guide"
    edit(
        project / "data/playbooks/feature.yml",
        "        直播: live_guide\n",
        "        [直播, 推流]: live_guide\n",
    )
    playbook, trigger = registry.for_intent("network_problem")
    assert (playbook.id, trigger.start) == ("network", "check_network")
    assert registry.get("feature").steps["choose_guide"].branch.cases["直播"] == "live_guide"
    assert list(registry.errors) == [str(project / "data/playbooks/feature.yml")]
    (project / "data/playbooks/feature.yml").unlink()  # deleted: its errors go with it
    assert registry.get("feature") is None and registry.errors == {}


def test_the_edited_file_is_refused_on_a_clash_not_the_one_already_live(project):
    from playbook.registry import PlaybookRegistry

    registry = PlaybookRegistry(
        project / "data/playbooks", priorities=["urgent", "general", "complex"], root=project
    )
    assert registry.for_intent("network_problem")[0].id == "network"
    edit(
        project / "data/playbooks/login.yml",
        "triggers:\n",
        "triggers:\n  - intent: network_problem\n    start: check_credentials\n",
    )
    assert registry.for_intent("network_problem")[0].id == "network"  # still the network playbook
    assert registry.for_intent("login_problem")[0].id == "login"  # login's previous version serves
    assert registry.errors == {
        str(project / "data/playbooks/login.yml"): [
            "data/playbooks/login.yml:7: 触发意图 network_problem 已由 data/playbooks/network.yml 使用，"
            "一个意图只能启动一本手册 (intent already triggers another playbook)"
        ]
    }


def test_a_new_priority_level_is_accepted_without_a_restart(project):
    from playbook.registry import PlaybookRegistry
    from tickets.policy import load_policy

    policy_path = project / "data/policy/priority.yml"
    registry = PlaybookRegistry(
        project / "data/playbooks", root=project, priorities=lambda: load_policy(policy_path).levels
    )
    assert registry.get("network").escalation.priority == "general"
    edit(project / "data/playbooks/network.yml", "  priority: general", "  priority: vip")
    assert registry.get("network").escalation.priority == "general"  # vip is unknown: refused
    edit(
        policy_path,
        "levels:\n",
        "levels:\n  vip:\n    label: 贵宾\n    rank: 5\n    response_hours: 2\n",
    )
    assert registry.get("network").escalation.priority == "vip"


def test_a_live_playbook_is_never_pushed_out_by_a_clashing_edit(project):
    from playbook.registry import PlaybookRegistry

    playbooks = project / "data/playbooks"
    registry = PlaybookRegistry(
        playbooks, priorities=["urgent", "general", "complex"], root=project
    )
    registry.all()
    edit(
        playbooks / "login.yml",
        "triggers:\n",
        "triggers:\n  - intent: network_problem\n    start: check_credentials\n",
    )
    edit(
        playbooks / "network.yml", "title: 网络连接问题", "title: 网络连接问题（新）"
    )  # edited too
    (playbooks / "aaa_new.yml").write_text(
        (playbooks / "data_loss.yml")
        .read_text(encoding="utf-8")
        .replace("id: data_loss", "id: newcomer")
        .replace("intent: data_loss", "intent: login_problem"),
        encoding="utf-8",
    )
    network, _ = registry.for_intent("network_problem")
    assert (network.id, network.title) == ("network", "网络连接问题（新）")
    assert registry.for_intent("login_problem")[0].id == "login"
    assert registry.for_intent("forgot_password")[0].id == "login"
    assert sorted(registry.errors) == [str(playbooks / "aaa_new.yml"), str(playbooks / "login.yml")]


def test_an_intent_moved_between_files_in_one_update_goes_through(project):
    from playbook.registry import PlaybookRegistry

    playbooks = project / "data/playbooks"
    registry = PlaybookRegistry(
        playbooks, priorities=["urgent", "general", "complex"], root=project
    )
    registry.all()
    # forgot_password moves from login (the later file) to data_loss (the earlier one)
    edit(playbooks / "login.yml", "  - intent: forgot_password\n    start: reset_password\n", "")
    login = (playbooks / "login.yml").read_text(encoding="utf-8")
    intros = login[login.index("intros:\n") : login.index("steps:\n")]
    edit(playbooks / "login.yml", intros, "")  # its own intro for forgot_password goes too
    login = (playbooks / "login.yml").read_text(encoding="utf-8")
    edit(
        playbooks / "login.yml", login[login.index("  forgot_password:\n") :], ""
    )  # and its mentions
    edit(
        playbooks / "data_loss.yml",
        "triggers:\n",
        "triggers:\n  - intent: forgot_password\n    start: check_local_storage\n",
    )
    assert registry.for_intent("forgot_password")[0].id == "data_loss"
    assert registry.errors == {}


def test_a_same_size_edit_with_the_old_time_is_still_seen(project):
    import os

    from playbook.registry import PlaybookRegistry

    path = project / "data/playbooks/network.yml"
    registry = PlaybookRegistry(
        path.parent, priorities=["urgent", "general", "complex"], root=project
    )
    assert registry.get("network").title == "网络连接问题"
    before = path.stat()
    edit(path, "title: 网络连接问题", "title: 网络连接问答")  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert registry.get("network").title == "网络连接问答"


def test_merge_keys_may_be_overridden(project):
    edit(
        project / "domain.yml",
        "slots:\n",
        "x-text-slot: &text_slot\n  type: text\n  "
        "influence_conversation: false\n  mappings:\n    - type: custom\nslots:\n",
    )
    edit(
        project / "domain.yml",
        "  playbook:\n    type: text\n",
        "  playbook:\n    <<: *text_slot\n    type: text\n",
    )
    problems = problems_of(project)
    assert not any("(YAML syntax error)" in problem for problem in problems), problems


def test_intros_and_trigger_values_must_be_text(project):
    edit(
        project / "data/playbooks/login.yml",
        "intros:\n",
        "intros:\n  login_problm: 打错了意图名。\n",
    )
    edit(
        project / "data/playbooks/network.yml",
        "    start: check_network",
        "    start: [check_network]",
    )
    problems = problems_of(project)
    assert any(
        p.startswith("data/playbooks/login.yml:")
        and "intros 中的 login_problm 不是这本手册的触发意图" in p
        and p.endswith("(intro for an unknown trigger)")
        for p in problems
    ), problems
    assert (
        "data/playbooks/network.yml:8: 每个 trigger 需要 intent 和 start (trigger needs intent and "
        "start)" in problems
    )


def test_policy_of_the_wrong_shape_and_a_branch_on_an_unknown_slot(project):
    policy = project / "data/policy/priority.yml"
    text = policy.read_text(encoding="utf-8")
    start = text.index("categories:\n")
    end = text.index("\n\n", start) if "\n\n" in text[start:] else len(text)
    policy.write_text(
        text[:start] + "categories:\n  - network\n  - login\n" + text[end:], encoding="utf-8"
    )
    edit(project / "data/playbooks/feature.yml", "      slot: feature", "      slot: featrue")
    problems = problems_of(project)
    assert problems[0].startswith("data/policy/priority.yml:1: 优先级策略的格式不对：")
    assert problems[0].endswith("(priority policy invalid)")
    assert (
        "data/playbooks/feature.yml:11: 步骤 choose_guide 按槽位 featrue 分支，但 domain.yml 的 slots "
        "中没有它，所有用户都会走 default，是不是想写 feature？ (unknown branch slot)" in problems
    )


def test_a_policy_mistake_is_reported_at_its_line(project):
    policy = project / "data/policy/priority.yml"
    edit(policy, "    priority: complex\n", "    priority: complx\n")
    assert problems_of(project) == [
        f"data/policy/priority.yml:{line_of_text(policy, '    priority: complx')}: escalation_rules[4].priority 的取值 'complx' 不在 levels 中（可选：urgent, general, complex） (priority policy invalid)",
    ]


def test_a_spot_check_policy_mistake_is_reported_at_its_line(project):
    policy = project / "data/policy/quality.yml"
    edit(policy, "      weight: 0.2\n", "      weight: 0.25\n")
    assert problems_of(project) == [
        f"data/policy/quality.yml:{line_of_text(policy, '  criteria:')}: "
        "scorecard.criteria 的权重（weight）加起来是 1.05，必须正好等于 1 (spot-check policy invalid)",
    ]
    edit(policy, "      weight: 0.25\n", "      weight: 0.2\n")
    edit(policy, "  min: 2\n", "  minimum: 2\n")
    assert problems_of(project) == [
        f"data/policy/quality.yml:{line_of_text(policy, '  minimum: 2')}: "
        "tickets 中有未知字段 minimum（可用字段：share、min、max），请检查拼写 "
        "(spot-check policy invalid)",
    ]


def test_an_assignment_rule_mistake_is_reported_at_its_line(project):
    rules = project / "data/policy/assignment.yml"
    edit(rules, "    when: {priority: urgent}\n", "    when: {priority: urgnt}\n")
    edit(rules, "    skill: preferred\n", "    skill: prefered\n")
    assert problems_of(project) == [
        f"data/policy/assignment.yml:{line_of_text(rules, '    when: {priority: urgnt}')}: "
        "assignment_rules[0].when.priority 的取值 'urgnt' 不存在（可选：urgent, general, complex） "
        "(assignment rules invalid)",
    ]
