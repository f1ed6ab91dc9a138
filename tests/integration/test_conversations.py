"""Whole conversations over the REST channel against the real servers, then the database."""

from __future__ import annotations

import uuid

import pytest
import requests
import yaml

from playbook.registry import PlaybookRegistry
from tests.factories import ROOT, buttons, texts
from tickets import store

pytestmark = pytest.mark.integration

PLAYBOOKS = PlaybookRegistry()
RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def step_text(playbook: str, step: str) -> str:
    return PLAYBOOKS.get(playbook).step(step).message


def response_start(key: str) -> str:
    """The fixed opening of a domain response (up to its first variable)."""
    return RESPONSES[key][0]["text"].split("{", 1)[0]


def new_sender() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


def ticket_of(servers, sender):
    tickets = store.list_for_sender(sender, database_url=servers.database_url)
    assert len(tickets) == 1, tickets
    return tickets[0]


def test_network_problem_walks_every_step_then_makes_a_general_ticket(servers):
    sender = new_sender()
    greeting = servers.say(sender, "你好")
    assert "网络问题" in buttons(greeting)

    first = servers.say(sender, "网络老是掉线，刷个视频都卡")
    assert step_text("network", "check_network") in texts(first)
    assert buttons(first)[-3:] == ["解决了", "还是不行", "转人工"]
    second = servers.say(sender, "还是不行")
    assert step_text("network", "restart_device") in texts(second)
    third = servers.say(sender, "没用")
    assert step_text("network", "contact_isp") in texts(third)
    final = servers.say(sender, "/deny")  # the 还是不行 button
    reply = texts(final)
    assert PLAYBOOKS.get("network").escalation.message in reply
    ticket = ticket_of(servers, sender)
    assert ticket.number in reply and "优先级：一般" in reply and "3-6 小时内" in reply
    assert ticket.category == "network" and ticket.priority == "general" and ticket.status == "open"
    assert [s["id"] for s in ticket.steps_tried] == [
        "check_network",
        "restart_device",
        "contact_isp",
    ]
    user_turns = [t["text"] for t in ticket.transcript if t["role"] == "user"]
    # the last answer was the 还是不行 button: staff read its title, the payload is kept
    assert user_turns == ["你好", "网络老是掉线，刷个视频都卡", "还是不行", "没用", "还是不行"]
    assert [t.get("payload") for t in ticket.transcript if t["role"] == "user"][-1] == "/deny"
    assert any(
        t["role"] == "bot" and step_text("network", "contact_isp") in t["text"]
        for t in ticket.transcript
    )
    assert all(t["ts"] for t in ticket.transcript)

    saved = servers.say(sender, "我的手机号是13912345678")
    assert "139****5678" in texts(saved)
    assert ticket_of(servers, sender).contact_phone == "13912345678"

    status = texts(servers.say(sender, "我的工单怎么样了"))
    assert ticket.number in status and "待处理" in status


def test_data_loss_with_buttons_is_urgent_and_contact_can_be_skipped(servers):
    sender = new_sender()
    servers.say(sender, "/data_loss")
    servers.say(sender, "/deny")
    reply = servers.say(sender, "/deny")
    assert "优先级：紧急" in texts(reply) and "1 小时内" in texts(reply)
    assert "跳过" in buttons(reply)
    skipped = servers.say(sender, "/deny")
    assert texts(skipped) == RESPONSES["utter_contact_skipped"][0]["text"]
    ticket = ticket_of(servers, sender)
    assert (ticket.category, ticket.priority) == ("data_loss", "urgent")
    assert ticket.contact_phone is None and ticket.contact_email is None


def test_login_fixed_at_second_step_then_rated_without_a_ticket(servers):
    sender = new_sender()
    assert step_text("login", "check_credentials") in texts(
        servers.say(sender, "登录不上，密码明明是对的")
    )
    assert step_text("login", "reset_password") in texts(servers.say(sender, "还是登不上"))
    resolved = servers.say(sender, "可以了，谢谢")
    assert RESPONSES["utter_resolved"][0]["text"] in texts(resolved)
    assert "5 分" in buttons(resolved)
    thanks = servers.say(sender, "5分")
    assert "5 分" in texts(thanks)
    assert store.list_for_sender(sender, database_url=servers.database_url) == []
    flow = servers.slot(sender, "flow_id")
    feedback = store.get_feedback(
        store.escalation_key(sender, flow), database_url=servers.database_url
    )
    assert feedback == {
        "sender_id": sender,
        "playbook": "login",
        "resolved_step": "reset_password",
        "rating": 5,
    }


def test_forgot_password_starts_at_reset(servers):
    sender = new_sender()
    reply = servers.say(sender, "忘记密码了怎么办")
    assert step_text("login", "reset_password") in texts(reply)
    assert step_text("login", "check_credentials") not in texts(reply)


@pytest.mark.parametrize(
    "message, playbook, step",
    [
        ("wang ji mi ma le", "login", "reset_password"),
        ("wang luo lian bu shang", "network", "check_network"),
        ("shipin bujian le", "data_loss", "check_local_storage"),
    ],
)
def test_a_problem_typed_in_pinyin_starts_its_playbook(servers, message, playbook, step):
    assert step_text(playbook, step) in texts(servers.say(new_sender(), message))


def test_feature_problem_picks_the_guide_for_the_feature(servers):
    sender = new_sender()
    assert step_text("feature", "search_guide") in texts(
        servers.say(sender, "搜索功能用不了，搜什么都没结果")
    )
    assert step_text("feature", "check_device") in texts(servers.say(sender, "还是不行"))
    final = servers.say(sender, "还是不行")
    assert "优先级：复杂" in texts(final)
    assert ticket_of(servers, sender).priority == "complex"


@pytest.mark.parametrize(
    "message, guide",
    [
        ("视频播放一直卡顿", "playback_guide"),
        ("上传视频总是失败", "upload_guide"),
        ("直播间的连麦功能用不了", "live_guide"),
        ("橱窗功能不会用", "general_guide"),
    ],
)
def test_each_feature_guide_is_reached_and_can_resolve(servers, message, guide):
    sender = new_sender()
    assert step_text("feature", guide) in texts(servers.say(sender, message))
    assert RESPONSES["utter_resolved"][0]["text"] in texts(servers.say(sender, "解决了"))


def test_urgent_words_raise_the_priority(servers):
    sender = new_sender()
    servers.say(sender, "直播间一直掉线，业务中断了，很急")
    assert servers.slot(sender, "urgency")
    reply = servers.say(sender, "转人工")
    assert "优先级：紧急" in texts(reply)
    assert ticket_of(servers, sender).priority == "urgent"


def test_digressions_keep_the_flow(servers):
    sender = new_sender()
    servers.say(sender, "数据丢了，上传的视频找不到了")
    check = PLAYBOOKS.get("data_loss").step("check_local_storage").check
    bot = servers.say(sender, "你是机器人吗")
    assert "机器人" in texts(bot) and check in texts(bot)
    thanks = servers.say(sender, "谢谢")
    assert check in texts(thanks)
    off_topic = servers.say(sender, "今天天气怎么样")
    assert check in texts(off_topic)
    switched = servers.say(sender, "算了，我先问问登录的事，登陆不上了")
    assert step_text("login", "check_credentials") in texts(switched)
    assert servers.slot(sender, "playbook") == "login"
    human = servers.say(sender, "转人工")
    ticket = ticket_of(servers, sender)
    assert ticket.category == "login" and ticket.number in texts(human)
    again = servers.say(sender, "快点给我转人工")
    assert ticket.number in texts(again)
    assert len(store.list_for_sender(sender, database_url=servers.database_url)) == 1


def test_not_understood_twice_offers_a_person(servers):
    sender = new_sender()
    first = servers.say(sender, "asdfgh qwerty")
    assert "转人工" not in buttons(first)
    second = servers.say(sender, "zxcvb 123 ???")
    assert texts(second) == RESPONSES["utter_offer_human"][0]["text"]
    assert "转人工" in buttons(second)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "嗯",
        "?",
        "😂😂😂",
        "<script>alert('x')</script>",
        "'; DROP TABLE tickets; --",
        "网络" * 5000,
        "SELECT * FROM tickets WHERE 1=1",
    ],
    ids=lambda m: repr(m[:20]) + (f"...({len(m)} chars)" if len(m) > 20 else ""),
)
def test_bad_input_gets_a_polite_chinese_answer(servers, message):
    sender = new_sender()
    replies = servers.say(sender, message)
    reply = texts(replies)
    assert reply.strip(), f"no answer to {message[:30]!r}"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reply)
    assert "Traceback" not in reply and "<script>" not in reply
    assert servers.alive()


def test_injected_slots_never_reveal_another_users_ticket(servers):
    victim = new_sender()
    servers.say(victim, "转人工")
    number = ticket_of(servers, victim).number

    attacker = new_sender()
    servers.say(attacker, "你好")
    # set the slots directly through Rasa's API: the strongest injection a client can do
    injected = requests.post(
        f"{servers.url}/conversations/{attacker}/tracker/events",
        json=[
            {"event": "slot", "name": "ticket_id", "value": number},
            {"event": "slot", "name": "dy_stage", "value": "contact"},
            {"event": "slot", "name": "flow_id", "value": "anything"},
        ],
        timeout=30,
    )
    assert injected.ok and servers.slot(attacker, "ticket_id") == number
    leaked = servers.say(attacker, "我的工单怎么样了")
    assert number not in texts(leaked)
    servers.say(attacker, "13800000000")
    assert ticket_of(servers, victim).contact_phone is None
    assert store.list_for_sender(attacker, database_url=servers.database_url) == []


def test_typed_urgency_entity_does_not_raise_the_priority(servers):
    sender = new_sender()
    reply = servers.say(sender, '/request_human{"urgency": "紧急"}')
    assert "优先级：一般" in texts(reply)
    assert ticket_of(servers, sender).priority == "general"


def test_unknown_sender_and_no_tickets(servers):
    reply = texts(servers.say(f"never-seen-{uuid.uuid4().hex}", "我的工单怎么样了"))
    assert reply == RESPONSES["utter_no_tickets"][0]["text"]


def test_conversation_continues_after_a_server_restart(servers):
    sender = new_sender()
    servers.say(sender, "网络一直断断续续的")
    servers.say(sender, "还是不行")
    servers.restart()
    reply = servers.say(sender, "还是不行")
    assert step_text("network", "contact_isp") in texts(reply)


@pytest.mark.parametrize(
    "body, status",
    [
        ({"message": "你好"}, 400),  # no sender: never a shared conversation
        ({"sender": "", "message": "你好"}, 400),
        ({"sender": "a\x00b", "message": "你好"}, 400),
        ({"sender": "x" * 500, "message": "你好"}, 400),
        ({"sender": "ok-sender", "message": 12345}, 400),
        (["not", "an", "object"], 400),
    ],
    ids=["no-sender", "empty-sender", "control-char", "long-sender", "number-message", "list-body"],
)
def test_malformed_requests_are_refused_at_the_channel(servers, body, status):
    response = servers.post(body)
    assert response.status_code == status
    assert servers.alive()


def test_a_30000_character_message_gets_a_polite_answer(servers):
    response = servers.post({"sender": new_sender(), "message": "网" * 30000})
    assert response.status_code == 200
    assert texts(response.json()) == RESPONSES["utter_message_too_long"][0]["text"]


def test_missing_message_is_treated_as_empty(servers):
    response = servers.post({"sender": new_sender()})
    assert response.status_code == 200
    assert texts(response.json()).startswith(RESPONSES["utter_empty_message"][0]["text"])


def test_action_server_down_gives_an_apology_not_silence(servers):
    sender = new_sender()
    action_server = servers.processes[0]
    action_server.terminate()
    action_server.wait(timeout=30)
    try:
        reply = servers.say(sender, "网络老是掉线")
        assert texts(reply) == RESPONSES["utter_action_failed"][0]["text"]
    finally:
        servers.restart()
    assert step_text("network", "check_network") in texts(servers.say(sender, "网络老是掉线"))
