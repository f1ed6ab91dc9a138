"""Every step of every playbook answered as people really write, on the real servers.

Each conversation is brought to the step with the buttons, then answered with one reply of a
family (negated, restated, completed, hedged, emoji, traditional, English, …); the test asserts
where the conversation went: the rating question, the next step, a ticket in the database
with the playbook's priority, or the same question asked again.
"""

from __future__ import annotations

import uuid

import pytest
import yaml

from playbook.model import ESCALATE, RESOLVED
from playbook.registry import PlaybookRegistry
from tests.factories import ROOT, texts
from tickets import store
from tickets.policy import load_policy

pytestmark = pytest.mark.integration

PLAYBOOKS = PlaybookRegistry()
RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
POLICY = load_policy()

#: How to reach each step with the buttons: the start payload, then 还是不行 presses.
FEATURE = '/feature_problem{{"feature": "{}"}}'
PATHS: dict[tuple[str, str], list[str]] = {
    ("network", "check_network"): ["/network_problem"],
    ("network", "restart_device"): ["/network_problem", "/deny"],
    ("network", "contact_isp"): ["/network_problem", "/deny", "/deny"],
    ("login", "check_credentials"): ["/login_problem"],
    ("login", "reset_password"): ["/forgot_password"],
    ("login", "check_account_status"): ["/forgot_password", "/deny"],
    ("data_loss", "check_local_storage"): ["/data_loss"],
    ("data_loss", "restore_backup"): ["/data_loss", "/deny"],
    ("feature", "playback_guide"): [FEATURE.format("播放")],
    ("feature", "search_guide"): [FEATURE.format("搜索")],
    ("feature", "upload_guide"): [FEATURE.format("上传")],
    ("feature", "live_guide"): [FEATURE.format("直播")],
    ("feature", "general_guide"): ["/feature_problem"],
    ("feature", "check_device"): [FEATURE.format("播放"), "/deny"],
}

WORKED = {
    "completed": "好了，现在可以了",
    "hedged": "好像好了",
    "emoji": "👌",
    "traditional": "可以了，謝謝",
    "english": "it works now",
    "double negative": "没问题了",
}
FAILED = {
    "negated": "并没有好",
    "restated": "还是老样子",
    "emoji": "❌",
    "traditional": "還是不行",
    "english": "still not working",
    "cannot": "弄不好",
}
UNSURE = {"a little better": "好一点了"}


def say_all(servers, sender: str, messages: list[str]):
    replies = []
    for message in messages:
        replies = servers.say(sender, message)
    return replies


def opening(key: str) -> str:
    return RESPONSES[key][0]["text"].split("{", 1)[0]


def test_every_step_has_a_path():
    steps = {(p.id, s.id) for p in PLAYBOOKS.all() for s in p.steps.values() if not s.branch}
    assert steps == set(PATHS)


def at_step(servers, playbook: str, step: str) -> str:
    sender = f"ans-{uuid.uuid4().hex[:12]}"
    replies = say_all(servers, sender, PATHS[(playbook, step)])
    assert PLAYBOOKS.get(playbook).step(step).check in texts(replies), (playbook, step)
    assert servers.slot(sender, "playbook_step") == step
    return sender


@pytest.mark.parametrize("family", sorted(WORKED))
@pytest.mark.parametrize("playbook,step", sorted(PATHS))
def test_a_fix_in_any_wording_resolves_or_moves_on(servers, playbook, step, family):
    sender = at_step(servers, playbook, step)
    reply = texts(servers.say(sender, WORKED[family]))
    target = PLAYBOOKS.get(playbook).step(step).on_yes
    assert target == RESOLVED
    assert opening("utter_resolved") in reply and opening("utter_ask_rating") in reply
    assert servers.slot(sender, "dy_stage") == "rating"
    assert store.list_for_sender(sender, database_url=servers.database_url) == []


@pytest.mark.parametrize("family", sorted(FAILED))
@pytest.mark.parametrize("playbook,step", sorted(PATHS))
def test_a_failure_in_any_wording_moves_on_or_makes_the_ticket(servers, playbook, step, family):
    sender = at_step(servers, playbook, step)
    reply = texts(servers.say(sender, FAILED[family]))
    definition = PLAYBOOKS.get(playbook)
    target = definition.step(step).on_no
    assert opening("utter_resolved") not in reply
    if target == ESCALATE:
        tickets = store.list_for_sender(sender, database_url=servers.database_url)
        assert len(tickets) == 1 and tickets[0].category == definition.escalation.category
        assert tickets[0].number in reply and tickets[0].reason == "playbook_exhausted"
        expected = POLICY.decide(
            category=definition.escalation.category,
            reason="playbook_exhausted",
            urgent_signal=False,
            created_at=tickets[0].created_at,
            playbook_priority=definition.escalation.priority,
        )
        assert tickets[0].priority == expected.priority
    else:
        assert definition.step(target).message in reply
        assert servers.slot(sender, "playbook_step") == target


@pytest.mark.parametrize("playbook,step", sorted(PATHS))
def test_an_uncertain_reply_is_asked_about_and_nothing_moves(servers, playbook, step):
    sender = at_step(servers, playbook, step)
    reply = servers.say(sender, UNSURE["a little better"])
    assert opening("utter_answer_unsure_worked") in texts(reply)
    assert [b["title"] for r in reply for b in r.get("buttons") or []] == [
        "解决了",
        "还是不行",
        "转人工",
    ]
    assert servers.slot(sender, "playbook_step") == step
    assert servers.slot(sender, "dy_stage") == "troubleshooting"
    assert store.list_for_sender(sender, database_url=servers.database_url) == []


@pytest.mark.parametrize("playbook,step", sorted(PATHS))
def test_a_person_asked_for_in_any_wording_makes_the_ticket(servers, playbook, step):
    sender = at_step(servers, playbook, step)
    reply = texts(servers.say(sender, "不行，给我找个真人客服"))
    tickets = store.list_for_sender(sender, database_url=servers.database_url)
    assert len(tickets) == 1 and tickets[0].number in reply
    assert tickets[0].reason == "user_request"


def test_the_data_loss_reply_from_the_issue_makes_an_urgent_ticket(servers):
    sender = at_step(servers, "data_loss", "restore_backup")
    reply = texts(servers.say(sender, "没恢复"))
    tickets = store.list_for_sender(sender, database_url=servers.database_url)
    assert len(tickets) == 1 and tickets[0].priority == "urgent" and tickets[0].number in reply
    assert opening("utter_resolved") not in reply


def test_not_tried_yet_waits_and_the_answer_then_counts(servers):
    sender = at_step(servers, "network", "restart_device")
    assert opening("utter_step_pending") in texts(servers.say(sender, "稍等，我去重启一下路由器"))
    assert servers.slot(sender, "playbook_step") == "restart_device"
    reply = texts(servers.say(sender, "重启完就好了"))
    assert opening("utter_resolved") in reply


@pytest.mark.parametrize("report", ["视频卡得不行", "刷视频特别卡", "播放卡", "search is broken"])
def test_colloquial_reports_with_no_conversation_open_start_the_feature_playbook(servers, report):
    sender = f"rep-{uuid.uuid4().hex[:12]}"
    servers.say(sender, report)
    assert servers.slot(sender, "playbook") == "feature"
