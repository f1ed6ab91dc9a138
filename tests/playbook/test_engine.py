"""Walk every shipped playbook step by step: yes resolves, no moves on, the end escalates."""

from __future__ import annotations

import pytest
import yaml

from playbook import engine
from playbook.engine import HUMAN, NO, YES
from playbook.registry import PlaybookRegistry
from tests.factories import ROOT
from tickets.policy import load_policy
from understanding.answers import BUTTON_VERDICTS

REGISTRY = PlaybookRegistry(priorities=list(load_policy().levels))
EXPECTED_PATHS = {
    "network_problem": ["check_network", "restart_device", "contact_isp"],
    "login_problem": ["check_credentials", "reset_password", "check_account_status"],
    "forgot_password": ["reset_password", "check_account_status"],
    "feature_problem": ["general_guide", "check_device"],
    "data_loss": ["check_local_storage", "restore_backup"],
}


def texts(outcome):
    return [r.text for r in outcome.replies if r.text]


@pytest.mark.parametrize("intent, path", EXPECTED_PATHS.items())
def test_saying_no_walks_every_documented_step_then_escalates(intent, path):
    playbook, trigger = REGISTRY.for_intent(intent)
    outcome = engine.start(playbook, trigger, {})
    assert texts(outcome)[0] == playbook.intro_for(intent)
    seen = [outcome.step]
    while True:
        assert outcome.replies[-1].response == "utter_check_step"
        outcome = engine.answer(playbook, outcome.step, NO, {}, outcome.steps_tried)
        if outcome.escalate:
            break
        assert outcome.replies[0].response == "utter_try_next"
        seen.append(outcome.step)
    assert seen == path
    assert outcome.steps_tried == path


@pytest.mark.parametrize("intent, path", EXPECTED_PATHS.items())
def test_saying_yes_at_any_step_resolves(intent, path):
    playbook, trigger = REGISTRY.for_intent(intent)
    for depth in range(len(path)):
        outcome = engine.start(playbook, trigger, {})
        for _ in range(depth):
            outcome = engine.answer(playbook, outcome.step, NO, {}, outcome.steps_tried)
        assert outcome.step == path[depth]
        done = engine.answer(playbook, outcome.step, YES, {}, outcome.steps_tried)
        assert done.resolved and not done.escalate and done.step == path[depth]


@pytest.mark.parametrize(
    "feature, guide",
    [
        ("播放", "playback_guide"),
        ("搜索", "search_guide"),
        ("上传", "upload_guide"),
        ("直播", "live_guide"),
        ("私信", "general_guide"),
        (None, "general_guide"),
    ],
)
def test_feature_branch_picks_the_guide_from_the_entity(feature, guide):
    playbook, trigger = REGISTRY.for_intent("feature_problem")
    outcome = engine.start(playbook, trigger, {"feature": feature} if feature else {})
    assert outcome.step == guide
    assert outcome.steps_tried == [guide]
    assert playbook.step(guide).message in texts(outcome)


def test_human_request_escalates_from_any_step():
    playbook, trigger = REGISTRY.for_intent("data_loss")
    outcome = engine.start(playbook, trigger, {})
    assert engine.answer(playbook, outcome.step, HUMAN, {}, outcome.steps_tried).escalate


def test_links_are_shown_with_the_step():
    playbook, trigger = REGISTRY.for_intent("network_problem")
    outcome = engine.start(playbook, trigger, {})
    link = [r for r in outcome.replies if r.response == "utter_step_link"]
    assert link and link[0].values["link_url"].startswith("https://")


def test_restating_the_problem_mid_flow_jumps_to_an_untried_entry_or_counts_as_no():
    playbook, login = REGISTRY.for_intent("login_problem")
    _, forgot = REGISTRY.for_intent("forgot_password")
    outcome = engine.start(playbook, login, {})
    jumped = engine.restate(playbook, forgot, outcome.step, {}, outcome.steps_tried)
    assert jumped.step == "reset_password"
    again = engine.restate(playbook, forgot, jumped.step, {}, jumped.steps_tried)
    assert again.step == "check_account_status"  # "still forgot it" = the reset did not help


def test_unknown_step_is_an_engine_error():
    playbook, _ = REGISTRY.for_intent("network_problem")
    with pytest.raises(engine.EngineError):
        engine.answer(playbook, "no_such_step", YES, {}, [])


def test_an_answer_leads_where_the_step_says():
    playbook, _ = REGISTRY.for_intent("network_problem")
    step = playbook.step("check_network")
    assert (
        [engine.target(step, a) for a in (YES, NO, HUMAN)]
        == [step.on_yes, step.on_no, step.on_human]
        == ["resolved", "restart_device", "escalate"]
    )


def test_the_check_buttons_give_the_answers_the_diagrams_name():
    """The buttons under every check question (domain.yml) read as the answers the flow
    diagrams and the coverage report label them with."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    buttons = domain["responses"]["utter_check_step"][0]["buttons"]
    given = {
        engine.answer_for(BUTTON_VERDICTS[b["payload"].lstrip("/")]): b["title"] for b in buttons
    }
    assert given == engine.ANSWER_TITLES
    assert set(given) == {YES, NO, HUMAN}
    assert engine.answer_for("unsure") is None and engine.answer_for(None) is None


def test_branches_are_walked_the_same_way_everywhere():
    playbook, trigger = REGISTRY.for_intent("feature_problem")
    choose = playbook.step(trigger.start)
    assert choose.branch is not None
    assert engine.branch_case(choose, {"feature": "直播"}) == "直播"
    assert engine.branch_case(choose, {"feature": "私信"}) is None  # not a case: the default
    assert engine.branch_case(choose, {"feature": ["直播"]}) is None
    assert engine.resolve_branches(playbook, trigger.start, {"feature": "直播"}).id == "live_guide"
    assert engine.resolve_branches(playbook, "check_device", {}).id == "check_device"
    assert engine.branch_path(playbook, trigger.start, "live_guide") == [
        (trigger.start, "live_guide")
    ]
    assert engine.branch_path(playbook, "check_device", "check_device") == []
    assert engine.entry_steps(playbook, trigger.start) == {
        "playback_guide",
        "search_guide",
        "upload_guide",
        "live_guide",
        "general_guide",
    }
    assert engine.entry_steps(playbook, "check_device") == {"check_device"}
