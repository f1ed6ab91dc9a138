"""Actions run against real trackers, the real domain, the real playbooks and a real database."""

from __future__ import annotations

import logging

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import base
from actions.escalation import (
    ActionEscalate,
    ActionSaveContact,
    ActionSaveRating,
    ActionTicketFollowup,
    ActionTicketStatus,
)
from actions.troubleshooting import (
    ActionFallback,
    ActionResumeFlow,
    ActionStartPlaybook,
    ActionStepFeedback,
)
from tests.factories import make_tracker, responses, slot_values, user_event
from tickets import store


async def run(action, dispatcher, tracker, domain):
    return await action.run(dispatcher, tracker, domain)


def test_every_response_the_actions_use_is_in_the_domain(domain):
    import re
    from pathlib import Path

    code = "".join(p.read_text("utf-8") for p in sorted(Path(base.__file__).parent.glob("*.py")))
    used = set(re.findall(r'"(utter_[a-z_]+)"', code))
    used |= set(re.findall(r'"(utter_[a-z_]+)"', Path("playbook/engine.py").read_text("utf-8")))
    assert used and used <= set(domain["responses"]), used - set(domain["responses"])


async def test_problem_starts_its_playbook(database_url, dispatcher, domain):
    tracker = make_tracker("网络老是掉线", "network_problem")
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    slots = slot_values(events)
    assert slots["playbook"] == "network" and slots["playbook_step"] == "check_network"
    assert slots["dy_stage"] == "troubleshooting" and slots["flow_id"]
    sent = responses(dispatcher)
    assert sent[0].startswith("text:了解") and sent[-1] == "utter_check_step"
    assert dispatcher.messages[-1]["check_question"].endswith("吗？")


async def test_feature_entity_selects_the_search_guide(database_url, dispatcher, domain):
    tracker = make_tracker(
        "搜索用不了", "feature_problem", entities=[{"entity": "feature", "value": "搜索"}]
    )
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    assert slot_values(events)["playbook_step"] == "search_guide"


def progress(step, tried, flow="flow-1", playbook="network"):
    return {
        "dy_stage": "troubleshooting",
        "playbook": playbook,
        "playbook_step": step,
        "steps_tried": tried,
        "flow_id": flow,
    }


async def test_no_moves_to_next_step_and_yes_resolves_with_rating(database_url, dispatcher, domain):
    tracker = make_tracker("还是不行", "deny", slots=progress("check_network", ["check_network"]))
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert slot_values(events)["playbook_step"] == "restart_device"
    assert responses(dispatcher)[0] == "utter_try_next"

    dispatcher.messages.clear()
    tracker = make_tracker(
        "好了",
        "affirm",
        sender_id=tracker.sender_id,
        slots=progress("restart_device", ["check_network", "restart_device"]),
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_resolved", "utter_ask_rating"]
    assert slot_values(events)["dy_stage"] == "rating"
    key = store.escalation_key(tracker.sender_id, "flow-1")
    assert store.get_feedback(key)["resolved_step"] == "restart_device"

    dispatcher.messages.clear()
    rating_slots = {**progress("restart_device", []), "dy_stage": "rating"}
    tracker = make_tracker("给4分", "rate", sender_id=tracker.sender_id, slots=rating_slots)
    await run(ActionSaveRating(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_thanks_for_rating"]
    assert store.get_feedback(key)["rating"] == 4


@pytest.mark.parametrize(
    "text",
    [
        "很好",
        "10分",
        "0",
        "五六分吧 3 4",
        "不满意",
        "不太满意",
        "一般",
        "一般般吧",
        "3分或者4分",
        "15分",
    ],
)
async def test_non_numeric_or_out_of_range_rating_is_asked_again(
    database_url, dispatcher, domain, text
):
    tracker = make_tracker(text, "rate", slots={**progress("x", []), "dy_stage": "rating"})
    await run(ActionSaveRating(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_rating_invalid"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5", 5),
        ("5分", 5),
        ("给4分", 4),
        ("打3分吧", 3),
        ("1分 太差了", 1),
        ("五星", 5),
        ("满分", 5),
        ("两分", 2),
        ("给你打 4 分", 4),
    ],
)
async def test_ratings_users_type_are_understood(database_url, dispatcher, domain, text, expected):
    flow = "flow-rate"
    tracker = make_tracker(
        text, "rate", slots={**progress("x", [], flow=flow), "dy_stage": "rating"}
    )
    await run(ActionSaveRating(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_thanks_for_rating"]
    assert store.get_feedback(store.escalation_key(tracker.sender_id, flow))["rating"] == expected


async def test_a_number_typed_mid_step_is_not_a_rating(database_url, dispatcher, domain):
    tracker = make_tracker("3", "rate", slots=progress("check_network", ["check_network"]))
    await run(ActionSaveRating(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_not_understood_in_flow", "utter_check_step"]


async def test_last_step_failing_creates_an_urgent_data_loss_ticket(
    database_url, dispatcher, domain
):
    history = [
        user_event("我的视频不见了", "data_loss"),
        {"event": "bot", "text": "别担心", "timestamp": 1.0},
    ]
    tracker = make_tracker(
        "还是没找到",
        "deny",
        history=history,
        slots=progress(
            "restore_backup", ["check_local_storage", "restore_backup"], playbook="data_loss"
        ),
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    sent = responses(dispatcher)
    assert sent[0].startswith("text:很抱歉本地和备份都没能找回数据")
    assert sent[1:] == ["utter_ticket_created", "utter_ask_contact"]
    created = dispatcher.messages[1]
    assert created["priority"] == "紧急" and created["promise"] == "1 小时内"
    slots = slot_values(events)
    assert slots["dy_stage"] == "contact"
    ticket = store.get_for_sender(slots["ticket_id"], tracker.sender_id)
    assert ticket.category == "data_loss" and ticket.priority == "urgent"
    assert ticket.reason == "playbook_exhausted"
    assert ticket.steps_tried == [
        {"id": "check_local_storage", "title": "检查本地存储", "outcome": "failed"},
        {"id": "restore_backup", "title": "从备份恢复", "outcome": "failed"},
    ]
    assert [t["role"] for t in ticket.transcript] == ["user", "bot", "user"]


async def test_retried_escalation_returns_the_same_ticket(database_url, domain):
    slots = progress("contact_isp", ["check_network", "restart_device", "contact_isp"])
    tracker = make_tracker("不行", "deny", slots=slots)
    first, second = CollectingDispatcher(), CollectingDispatcher()
    await run(ActionStepFeedback(), first, tracker, domain)
    await run(ActionStepFeedback(), second, tracker, domain)
    assert first.messages[1]["ticket_number"] == second.messages[1]["ticket_number"]
    assert responses(second)[1] == "utter_ticket_exists"
    assert len(store.list_for_sender(tracker.sender_id)) == 1


async def test_asking_for_a_person_mid_flow_keeps_category_and_steps(
    database_url, dispatcher, domain
):
    tracker = make_tracker(
        "转人工",
        "request_human",
        slots=progress("reset_password", ["check_credentials", "reset_password"], playbook="login"),
    )
    events = await run(ActionEscalate(), dispatcher, tracker, domain)
    ticket = store.get_for_sender(slot_values(events)["ticket_id"], tracker.sender_id)
    assert ticket.category == "login" and ticket.priority == "urgent"
    assert ticket.reason == "user_request"
    assert [(s["id"], s["outcome"]) for s in ticket.steps_tried] == [
        ("check_credentials", "failed"),
        ("reset_password", "unanswered"),
    ]
    assert responses(dispatcher)[:2] == ["utter_handover", "utter_ticket_created"]


async def test_plain_request_for_a_person_is_general(database_url, dispatcher, domain):
    tracker = make_tracker("我要找人工客服", "request_human")
    events = await run(ActionEscalate(), dispatcher, tracker, domain)
    ticket = store.get_for_sender(slot_values(events)["ticket_id"], tracker.sender_id)
    assert (ticket.category, ticket.priority) == ("other", "general")


async def test_contact_is_validated_then_saved(database_url, domain):
    tracker = make_tracker("转人工", "request_human")
    events = await run(ActionEscalate(), CollectingDispatcher(), tracker, domain)
    number = slot_values(events)["ticket_id"]
    contact_slots = {"dy_stage": "contact", "ticket_id": number}

    bad = CollectingDispatcher()
    await run(
        ActionSaveContact(),
        bad,
        make_tracker(
            "我的电话是12345", "provide_contact", sender_id=tracker.sender_id, slots=contact_slots
        ),
        domain,
    )
    assert responses(bad) == ["utter_contact_invalid"]

    good = CollectingDispatcher()
    await run(
        ActionSaveContact(),
        good,
        make_tracker(
            "邮箱 zhang.wei@example.com",
            "provide_contact",
            sender_id=tracker.sender_id,
            slots=contact_slots,
        ),
        domain,
    )
    assert responses(good) == ["utter_contact_saved"]
    assert good.messages[0]["contact"] == "z***@example.com"
    assert store.get_for_sender(number, tracker.sender_id).contact_email == "zhang.wei@example.com"


async def test_injected_ticket_slot_never_reaches_another_users_ticket(database_url, domain):
    victim = make_tracker("转人工", "request_human", sender_id="victim")
    events = await run(ActionEscalate(), CollectingDispatcher(), victim, domain)
    number = slot_values(events)["ticket_id"]

    attacker_slots = {"dy_stage": "contact", "ticket_id": number}
    dispatcher = CollectingDispatcher()
    await run(
        ActionSaveContact(),
        dispatcher,
        make_tracker("13900001111", "provide_contact", sender_id="attacker", slots=attacker_slots),
        domain,
    )
    assert responses(dispatcher) == ["utter_contact_no_ticket"]
    assert store.get_for_sender(number, "victim").contact_phone is None

    status = CollectingDispatcher()
    await run(
        ActionTicketStatus(),
        status,
        make_tracker(
            "我的工单", "ticket_status", sender_id="attacker", slots={"ticket_id": number}
        ),
        domain,
    )
    assert responses(status) == ["utter_no_tickets"]


async def test_ticket_status_lists_own_tickets(database_url, domain):
    tracker = make_tracker("转人工", "request_human", sender_id="owner")
    await run(ActionEscalate(), CollectingDispatcher(), tracker, domain)
    dispatcher = CollectingDispatcher()
    await run(
        ActionTicketStatus(),
        dispatcher,
        make_tracker("我的工单怎么样了", "ticket_status", sender_id="owner"),
        domain,
    )
    assert responses(dispatcher) == ["utter_ticket_status_header", "utter_ticket_status_item"]
    assert dispatcher.messages[1]["status"] == "待处理"


async def test_ticket_status_tells_the_current_promise_and_that_it_is_paused(database_url, domain):
    from tickets import staff, workflow

    tracker = make_tracker("转人工", "request_human", sender_id="waiting")
    await run(ActionEscalate(), CollectingDispatcher(), tracker, domain)
    number = store.list_for_sender("waiting")[0].number
    boss = staff.create_staff("boss.p", "a long password", "supervisor")

    async def promise() -> str:
        dispatcher = CollectingDispatcher()
        asked = make_tracker("我的工单怎么样了", "ticket_status", sender_id="waiting")
        await run(ActionTicketStatus(), dispatcher, asked, domain)
        return dispatcher.messages[1]["promise"]

    assert (await promise()).startswith("客服人员会在 ")  # before the first response
    workflow.claim(number, boss)
    workflow.record_reply(number, boss, "请问是哪个账号？")
    workflow.transition(number, boss, "waiting_user")
    assert "处理时限已暂停" in await promise()
    assert workflow.user_wrote("waiting", "账号是 dy_shop") == [number]
    assert store.list_for_sender("waiting")[0].status == "in_progress"
    assert (await promise()).startswith("客服人员正在处理，预计在 ")  # general: no cadence


async def test_damaged_progress_slots_are_not_trusted(database_url, dispatcher, domain):
    tracker = make_tracker(
        "解决了",
        "affirm",
        slots={
            "dy_stage": "troubleshooting",
            "playbook": "../../etc/passwd",
            "playbook_step": "x",
            "steps_tried": "not a list",
        },
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_anything_else"] and events == []


async def test_fallback_asks_again_once_then_offers_a_person(database_url, domain):
    first = make_tracker("？", "nlu_fallback", slots=progress("check_network", ["check_network"]))
    dispatcher = CollectingDispatcher()
    await run(ActionFallback(), dispatcher, first, domain)
    assert responses(dispatcher) == ["utter_not_understood_in_flow", "utter_check_step"]

    history = [user_event("？", "nlu_fallback")]
    second = make_tracker(
        "嗯嗯", "out_of_scope", history=history, slots=progress("check_network", ["check_network"])
    )
    dispatcher = CollectingDispatcher()
    await run(ActionFallback(), dispatcher, second, domain)
    assert responses(dispatcher) == ["utter_offer_human"]


async def test_empty_message_gets_a_prompt(database_url, dispatcher, domain):
    await run(ActionFallback(), dispatcher, make_tracker("   ", "nlu_fallback"), domain)
    assert responses(dispatcher) == ["utter_empty_message", "utter_describe_problem"]


async def test_empty_message_mid_flow_repeats_the_open_question(database_url, dispatcher, domain):
    tracker = make_tracker("", "nlu_fallback", slots=progress("check_network", ["check_network"]))
    await run(ActionFallback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_empty_message", "utter_check_step"]


async def test_a_failing_action_apologises_without_logging_personal_data(
    database_url, dispatcher, domain, monkeypatch, caplog
):
    def broken(*_args, **_kwargs):  # an error that quotes the user's data, as drivers do
        raise RuntimeError("insert failed for 13800138000 / zhang.wei@example.com")

    monkeypatch.setattr(store, "create_or_join", broken)
    with caplog.at_level(logging.ERROR):
        events = await run(
            ActionEscalate(),
            dispatcher,
            make_tracker("转人工 13800138000", "request_human"),
            domain,
        )
    assert responses(dispatcher) == ["utter_action_failed"] and events == []
    assert "insert failed for 138****8000" in caplog.text  # the traceback is logged, redacted
    assert "13800138000" not in caplog.text and "zhang.wei@example.com" not in caplog.text


async def test_a_slow_action_gives_up_with_an_apology(
    database_url, dispatcher, domain, monkeypatch
):
    import time as _time

    def slow(*_args, **_kwargs):
        _time.sleep(1.0)
        return []

    monkeypatch.setattr(base, "ACTION_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(store, "list_for_sender", slow)
    events = await run(
        ActionTicketStatus(), dispatcher, make_tracker("我的工单", "ticket_status"), domain
    )
    assert responses(dispatcher) == ["utter_action_failed"] and events == []


async def test_urgency_counts_only_when_the_user_wrote_it(database_url, domain):
    injected = make_tracker(
        '/request_human{"urgency": "紧急"}',
        "request_human",
        entities=[{"entity": "urgency", "value": "紧急", "extractor": "RegexMessageHandler"}],
    )
    events = await run(ActionEscalate(), CollectingDispatcher(), injected, domain)
    assert (
        store.get_for_sender(slot_values(events)["ticket_id"], injected.sender_id).priority
        == "general"
    )

    negated = make_tracker(
        "不是很急，转人工吧",
        "request_human",
        entities=[
            {
                "entity": "urgency",
                "value": "很急",
                "start": 2,
                "end": 4,
                "extractor": "SpacyEntityExtractor",
            }
        ],
    )
    events = await run(ActionEscalate(), CollectingDispatcher(), negated, domain)
    assert "urgency" not in slot_values(events)
    assert (
        store.get_for_sender(slot_values(events)["ticket_id"], negated.sender_id).priority
        == "general"
    )

    real = make_tracker(
        "业务中断了，转人工",
        "request_human",
        entities=[
            {
                "entity": "urgency",
                "value": "业务中断",
                "start": 0,
                "end": 4,
                "extractor": "SpacyEntityExtractor",
            }
        ],
    )
    events = await run(ActionEscalate(), CollectingDispatcher(), real, domain)
    assert slot_values(events)["urgency"] == "业务中断"
    assert (
        store.get_for_sender(slot_values(events)["ticket_id"], real.sender_id).priority == "urgent"
    )


async def test_a_new_problem_forgets_earlier_urgency(database_url, dispatcher, domain):
    tracker = make_tracker("网络又断了", "network_problem", slots={"urgency": "很急"})
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    assert slot_values(events)["urgency"] is None


async def test_asking_again_after_the_contact_step_points_to_the_same_ticket(database_url, domain):
    tracker = make_tracker(
        "转人工", "request_human", slots=progress("check_network", ["check_network"])
    )
    events = await run(ActionEscalate(), CollectingDispatcher(), tracker, domain)
    number = slot_values(events)["ticket_id"]
    after_contact = {
        "dy_stage": None,
        "playbook": "network",
        "flow_id": "flow-1",
        "ticket_id": number,
    }
    again = CollectingDispatcher()
    await run(
        ActionEscalate(),
        again,
        make_tracker(
            "怎么还没人联系我，转人工",
            "request_human",
            sender_id=tracker.sender_id,
            slots=after_contact,
        ),
        domain,
    )
    assert "utter_ticket_exists" in responses(again)
    # even a fresh conversation about the same kind of problem is pointed to the open ticket
    fresh = CollectingDispatcher()
    await run(
        ActionEscalate(),
        fresh,
        make_tracker(
            "转人工",
            "request_human",
            sender_id=tracker.sender_id,
            slots=progress("restart_device", ["restart_device"], flow="flow-2"),
        ),
        domain,
    )
    assert fresh.messages[1]["ticket_number"] == number
    assert len(store.list_for_sender(tracker.sender_id)) == 1


async def test_contact_after_the_session_expired_goes_to_the_open_ticket(database_url, domain):
    tracker = make_tracker("转人工", "request_human")
    events = await run(ActionEscalate(), CollectingDispatcher(), tracker, domain)
    number = slot_values(events)["ticket_id"]
    dispatcher = CollectingDispatcher()
    await run(
        ActionSaveContact(),
        dispatcher,
        make_tracker("我的手机号 13900001111", "provide_contact", sender_id=tracker.sender_id),
        domain,
    )
    assert responses(dispatcher) == ["utter_contact_saved"]
    assert store.get_for_sender(number, tracker.sender_id).contact_phone == "13900001111"


async def test_rating_stage_request_for_a_person_keeps_the_problem(
    database_url, dispatcher, domain
):
    slots = {
        **progress("restart_device", ["check_network", "restart_device"]),
        "dy_stage": "rating",
    }
    tracker = make_tracker("还是要找人工", "request_human", slots=slots)
    events = await run(ActionEscalate(), dispatcher, tracker, domain)
    ticket = store.get_for_sender(slot_values(events)["ticket_id"], tracker.sender_id)
    assert (ticket.category, ticket.playbook) == ("network", "network")
    assert [s["id"] for s in ticket.steps_tried] == ["check_network", "restart_device"]


async def test_feature_named_earlier_still_picks_the_guide(database_url, dispatcher, domain):
    tracker = make_tracker("功能用不了", "feature_problem", slots={"feature": "直播"})
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    assert slot_values(events)["playbook_step"] == "live_guide"


async def test_follow_up_asks_only_about_a_resolved_ticket_of_this_user(database_url, domain):
    from tickets import staff, workflow

    tracker = make_tracker("转人工", "request_human", sender_id="owner-f")
    events = await run(ActionEscalate(), CollectingDispatcher(), tracker, domain)
    number = slot_values(events)["ticket_id"]
    external = [{"entity": "ticket_number", "value": number}]

    typed = CollectingDispatcher()  # a user typing the external intent is ignored
    await run(
        ActionTicketFollowup(),
        typed,
        make_tracker(
            "/EXTERNAL_ticket_resolved",
            "EXTERNAL_ticket_resolved",
            sender_id="owner-f",
            entities=[{**external[0], "extractor": "RegexMessageHandler"}],
        ),
        domain,
    )
    assert typed.messages == []

    boss = staff.create_staff("boss.f", "a long password", "supervisor")
    workflow.assign(number, boss, "boss.f")
    workflow.transition(number, boss, "in_progress")
    workflow.transition(number, boss, "resolved")
    other = CollectingDispatcher()
    await run(
        ActionTicketFollowup(),
        other,
        make_tracker(
            "EXTERNAL: x", "EXTERNAL_ticket_resolved", sender_id="someone-else", entities=external
        ),
        domain,
    )
    assert other.messages == []

    asked = CollectingDispatcher()
    events = await run(
        ActionTicketFollowup(),
        asked,
        make_tracker(
            "EXTERNAL: x", "EXTERNAL_ticket_resolved", sender_id="owner-f", entities=external
        ),
        domain,
    )
    assert responses(asked) == ["utter_followup_ask"]
    followup_slots = slot_values(events)
    confirm = CollectingDispatcher()
    events = await run(
        ActionStepFeedback(),
        confirm,
        make_tracker("解决了", "affirm", sender_id="owner-f", slots=followup_slots),
        domain,
    )
    assert responses(confirm) == [
        "utter_followup_closed",
        "utter_ask_staff_rating",
        "utter_ask_rating_attitude",
    ]
    assert store.get_for_sender(number, "owner-f").status == "closed"
    slots = {**followup_slots, **slot_values(events)}
    rate = CollectingDispatcher()  # the attitude button
    events = await run(
        ActionSaveRating(),
        rate,
        make_tracker(
            '/rate{"rating": "4"}',
            "rate",
            sender_id="owner-f",
            slots=slots,
            entities=[{"entity": "rating", "value": "4", "extractor": "RegexMessageHandler"}],
        ),
        domain,
    )
    assert responses(rate) == ["utter_ask_rating_expertise"]
    slots |= slot_values(events)
    rest = CollectingDispatcher()  # free text gives the other two, whatever the intent
    events = await run(
        ActionStepFeedback(),
        rest,
        make_tracker("专业5分，效果一般 3分", "affirm", sender_id="owner-f", slots=slots),
        domain,
    )
    assert responses(rest) == ["utter_thanks_for_staff_rating", "utter_ask_rating_comment"]
    assert rest.messages[0]["attitude"] == 4 and rest.messages[0]["result"] == 3
    slots |= slot_values(events)
    comment = CollectingDispatcher()
    await run(
        ActionResumeFlow(),
        comment,
        make_tracker("客服很耐心，谢谢", "thank", sender_id="owner-f", slots=slots),
        domain,
    )
    assert responses(comment) == ["utter_thanks_for_comment"]
    feedback = store.get_feedback(store.escalation_key("owner-f", f"ticket-{number}"))
    assert feedback["ticket_number"] == number and feedback["rating"] is None
    assert (feedback["attitude"], feedback["expertise"], feedback["result"]) == (4, 5, 3)
    assert feedback["comment"] == "客服很耐心，谢谢"


# --- the reply to an open step, judged in context ------------------------------------------


async def test_a_negated_reply_misread_as_affirm_still_escalates(database_url, dispatcher, domain):
    """「没恢复」 after 「从备份中恢复成功了吗？」: the data-loss ticket is made, urgent."""
    tracker = make_tracker(
        "没恢复",
        "affirm",
        slots=progress(
            "restore_backup", ["check_local_storage", "restore_backup"], playbook="data_loss"
        ),
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert "utter_resolved" not in responses(dispatcher)
    assert "utter_ticket_created" in responses(dispatcher)
    assert slot_values(events)["step_answer"] == "failed"
    ticket = store.list_for_sender(tracker.sender_id)[0]
    assert ticket.category == "data_loss" and ticket.priority == "urgent"


async def test_a_fix_misread_as_deny_resolves(database_url, dispatcher, domain):
    tracker = make_tracker(
        "不怎么卡了",
        "deny",
        slots=progress("playback_guide", ["playback_guide"], playbook="feature"),
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_resolved", "utter_ask_rating"]
    assert slot_values(events)["dy_stage"] == "rating"


@pytest.mark.parametrize(
    "action,intent",
    [
        (ActionFallback(), "nlu_fallback"),
        (ActionFallback(), "out_of_scope"),
        (ActionStartPlaybook(), "network_problem"),
        (ActionResumeFlow(), "thank"),
    ],
)
async def test_every_action_a_reply_reaches_judges_it(
    database_url, dispatcher, domain, action, intent
):
    tracker = make_tracker(
        "重启之后就好使了，谢谢",
        intent,
        slots=progress("restart_device", ["check_network", "restart_device"]),
    )
    events = await run(action, dispatcher, tracker, domain)
    assert "utter_resolved" in responses(dispatcher)
    assert slot_values(events)["dy_stage"] == "rating"


async def test_an_uncertain_reply_is_said_back_and_nothing_moves(database_url, dispatcher, domain):
    tracker = make_tracker("好一点了", "affirm", slots=progress("check_network", ["check_network"]))
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_answer_unsure_worked"]
    assert events == [] and store.list_for_sender(tracker.sender_id) == []


async def test_not_tried_yet_waits(database_url, dispatcher, domain):
    tracker = make_tracker(
        "稍等，我去重启一下",
        "deny",
        slots=progress("restart_device", ["check_network", "restart_device"]),
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_step_pending"] and events == []


async def test_a_question_about_the_step_is_not_an_answer(database_url, dispatcher, domain):
    tracker = make_tracker(
        "清晰度在哪里调？",
        "deny",
        slots=progress("playback_guide", ["playback_guide"], playbook="feature"),
    )
    events = await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_step_question", "utter_check_step"] and events == []


async def test_the_buttons_need_no_judging(database_url, dispatcher, domain):
    tracker = make_tracker("/affirm", "affirm", slots=progress("check_network", ["check_network"]))
    await run(ActionStepFeedback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_resolved", "utter_ask_rating"]


async def test_a_confident_report_of_another_problem_starts_its_playbook(
    database_url, dispatcher, domain
):
    tracker = make_tracker(
        "我的作品全都不见了", "data_loss", slots=progress("check_network", ["check_network"])
    )
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    assert slot_values(events)["playbook"] == "data_loss"
    assert slot_values(events)["playbook_step"] == "check_local_storage"


async def test_a_step_phrase_from_the_playbook_is_used(
    database_url, dispatcher, domain, tmp_path, monkeypatch
):
    from playbook import registry as pb

    source = (pb.DEFAULT_PLAYBOOK_DIR / "network.yml").read_text(encoding="utf-8")
    edited = source.replace(
        "    on_no: restart_device\n",
        "    on_no: restart_device\n    answers:\n      worked:\n        - 小绿灯亮了\n",
        1,
    )
    assert edited != source
    (tmp_path / "network.yml").write_text(edited, encoding="utf-8")
    registry = pb.PlaybookRegistry(directory=tmp_path)
    monkeypatch.setattr(base, "registry", lambda: registry)
    tracker = make_tracker(
        "小绿灯亮了", "out_of_scope", slots=progress("check_network", ["check_network"])
    )
    await run(ActionFallback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_resolved", "utter_ask_rating"]


@pytest.mark.parametrize(
    "action,intent",
    [(ActionFallback(), "out_of_scope"), (ActionStartPlaybook(), "data_loss")],
)
async def test_business_requests_go_to_a_person_never_to_a_playbook(
    database_url, dispatcher, domain, action, intent
):
    business = [
        {
            "entity": "business",
            "value": "提现",
            "extractor": "SpacyEntityExtractor",
            "start": 0,
            "end": 2,
        }
    ]
    tracker = make_tracker("提现一直不到账", intent, entities=business)
    events = await run(action, dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_business_elsewhere"]
    assert "playbook" not in slot_values(events)


async def test_a_typed_business_entity_is_not_trusted(database_url, dispatcher, domain):
    injected = [{"entity": "business", "value": "佣金", "extractor": "RegexMessageHandler"}]
    tracker = make_tracker('/data_loss{"business": "佣金"}', "data_loss", entities=injected)
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    assert slot_values(events)["playbook"] == "data_loss"


async def test_a_second_problem_in_the_same_message_is_offered(database_url, dispatcher, domain):
    tracker = make_tracker("网络老是掉线，而且密码也忘了", "network_problem")
    events = await run(ActionStartPlaybook(), dispatcher, tracker, domain)
    assert slot_values(events)["playbook"] == "network"
    offer = dispatcher.messages[-1]
    assert offer["response"] == "utter_second_problem"
    assert offer["other_problem"] == "账号登录问题" and offer["other_intent"] == "forgot_password"


@pytest.mark.parametrize(
    "text",
    ["网络老是掉线", "网络老是掉线，信号不好", "网络掉线，不是密码忘了", "网络断了，视频播放也卡"],
)
async def test_one_problem_is_not_offered_twice(database_url, dispatcher, domain, text):
    await run(ActionStartPlaybook(), dispatcher, make_tracker(text, "network_problem"), domain)
    assert "utter_second_problem" not in responses(dispatcher)
