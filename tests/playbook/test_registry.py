"""The registry serves every playbook of a folder, keeps the last valid version of a file
and refuses a second file that takes a live id or intent."""

from __future__ import annotations

import os

from playbook.registry import PlaybookRegistry
from tests.factories import GOOD, PRIORITIES, write


def test_every_problem_intent_has_a_playbook():
    registry = PlaybookRegistry(priorities=PRIORITIES)
    for intent in (
        "network_problem",
        "login_problem",
        "forgot_password",
        "feature_problem",
        "data_loss",
    ):
        assert registry.for_intent(intent) is not None, intent


def test_forgot_password_starts_at_reset_step():
    playbook, trigger = PlaybookRegistry(priorities=PRIORITIES).for_intent("forgot_password")
    assert playbook.id == "login" and trigger.start == "reset_password"


def test_registry_keeps_last_valid_version_and_reloads_edits(tmp_path):
    path = write(tmp_path, GOOD)
    registry = PlaybookRegistry(tmp_path, priorities=PRIORITIES)
    assert registry.get("demo").step("one").message == "请先试试这个。"

    path.write_text(GOOD.replace("请先试试这个。", "改过的说明。"), encoding="utf-8")
    os.utime(path, ns=(1, 10**18))
    assert registry.get("demo").step("one").message == "改过的说明。"

    path.write_text(GOOD.replace("on_no: two", "on_no: nowhere"), encoding="utf-8")
    os.utime(path, ns=(1, 2 * 10**18))
    assert registry.get("demo").step("one").message == "改过的说明。"  # still serving
    assert registry.errors[str(path)]


def test_a_second_file_reusing_an_id_or_intent_is_refused(tmp_path):
    write(tmp_path, GOOD, "a.yml")
    write(tmp_path, GOOD.replace("id: demo", "id: other"), "b.yml")
    registry = PlaybookRegistry(tmp_path, priorities=PRIORITIES)
    assert [p.id for p in registry.all()] == ["demo"]
    assert any("network_problem" in e for e in registry.errors[str(tmp_path / "b.yml")])
