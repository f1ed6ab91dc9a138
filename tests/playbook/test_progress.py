"""The progress slots are read once, the same way everywhere, and never trusted blindly."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from playbook.engine import STAGE_TROUBLESHOOTING
from playbook.parse import parse_playbook
from playbook.progress import STAGE_CONTACT, STAGE_FOLLOWUP, Progress

DEMO = parse_playbook(
    yaml.safe_load(
        textwrap.dedent("""\
    id: demo
    title: 演示问题
    category: network
    triggers:
      - intent: network_problem
        start: choose
    intro: 开场白。
    steps:
      - id: choose
        title: 选一个
        branch:
          slot: feature
          cases: {直播: one}
          default: two
      - id: one
        title: 第一步
        message: 请先试试这个。
        check: 好了吗？
        on_no: two
      - id: two
        title: 第二步
        message: 再试试那个。
        check: 现在好了吗？
    escalation:
      category: network
      priority: general
    """)
    ),
    "demo.yml",
)
PLAYBOOKS = {"demo": DEMO}


def slots(**values):
    base = {
        "dy_stage": STAGE_TROUBLESHOOTING,
        "playbook": "demo",
        "playbook_step": "one",
        "steps_tried": ["one"],
        "flow_id": "0123abcd",
    }
    base.update(values)
    return base


def test_a_valid_open_step_is_read_as_it_stands():
    progress = Progress.read(slots(steps_tried=["one", "two"]), PLAYBOOKS)
    assert progress.in_playbook
    assert progress.playbook is DEMO and progress.step_id == "one"
    assert progress.steps_tried == ("one", "two")
    assert progress.flow_id == "0123abcd"
    assert progress.step is DEMO.step("one")
    assert progress.open_step is DEMO.step("one")


def test_a_slot_getter_and_a_playbook_lookup_read_the_same():
    values = slots()
    assert Progress.read(
        values.get, lambda pid: PLAYBOOKS.get(pid) if isinstance(pid, str) else None
    ) == Progress.read(values, PLAYBOOKS)


def test_a_branch_step_is_never_open():
    progress = Progress.read(slots(playbook_step="choose"), PLAYBOOKS)
    assert progress.in_playbook and progress.step is DEMO.step("choose")
    assert progress.open_step is None


def test_an_unknown_step_drops_the_step_and_resets_the_stage():
    progress = Progress.read(
        slots(playbook_step="gone", steps_tried=["one", "gone", "two"]), PLAYBOOKS
    )
    assert progress.playbook is DEMO
    assert progress.step_id is None and progress.stage is None
    assert not progress.in_playbook and progress.step is None and progress.open_step is None
    assert progress.steps_tried == ("one", "two")  # steps the playbook no longer has are left out


def test_an_unknown_playbook_drops_everything_it_holds():
    progress = Progress.read(slots(playbook="removed"), PLAYBOOKS)
    assert progress.playbook is None and progress.step_id is None
    assert progress.steps_tried == () and progress.stage is None
    assert progress.flow_id == "0123abcd"  # the flow id is not the playbook's


@pytest.mark.parametrize(
    "damage",
    [
        {"dy_stage": "somewhere"},
        {"dy_stage": ["troubleshooting"]},
        {"dy_stage": 3},
        {"playbook": ["demo"]},
        {"playbook": None},
        {"playbook_step": 1},
        {"playbook_step": ""},
        {"playbook_step": None},
    ],
)
def test_damaged_slots_leave_no_open_step(damage):
    progress = Progress.read(slots(**damage), PLAYBOOKS)
    assert not progress.in_playbook and progress.open_step is None
    assert progress.stage is None


@pytest.mark.parametrize(
    "tried, kept",
    [
        ("one", ()),
        ({"one": 1}, ()),
        (["one", 2, None, ["two"], "two"], ("one", "two")),
        (None, ()),
    ],
)
def test_damaged_steps_tried_keep_only_known_step_ids(tried, kept):
    assert Progress.read(slots(steps_tried=tried), PLAYBOOKS).steps_tried == kept


@pytest.mark.parametrize("flow_id", ["", "has space", "x" * 81, "引号", 42, ["a"], "a/b"])
def test_a_malformed_flow_id_is_none(flow_id):
    progress = Progress.read(slots(flow_id=flow_id), PLAYBOOKS)
    assert progress.flow_id is None
    assert progress.in_playbook  # the rest of the progress still stands


def test_other_stages_stand_without_a_playbook():
    for stage in (STAGE_CONTACT, STAGE_FOLLOWUP):
        progress = Progress.read(
            {"dy_stage": stage, "flow_id": "ticket-DY-20261125-0001"}, PLAYBOOKS
        )
        assert progress.stage == stage and not progress.in_playbook
        assert progress.playbook is None and progress.open_step is None
        assert progress.flow_id == "ticket-DY-20261125-0001"


def test_no_slots_at_all_is_no_progress():
    assert Progress.read({}, PLAYBOOKS) == Progress()
    assert Progress.read(lambda _name: None, {}) == Progress()
