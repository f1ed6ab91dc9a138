"""The hotline on a real SQLite ticket store: a call registered by an agent is a phone ticket
whose priority and due time come from the policy, dated from the call; numbers, reports and
call times that cannot be right are refused with a message the agent understands; and the
follow-up call closes, reopens or counts an attempt, the user's three scores rating the
ticket's assignee."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import NOW, new_ticket
from tickets import phone, staff, store, workflow
from tickets.config import DISPLAY_TZ
from tickets.db import session_scope
from tickets.models import Feedback, Ticket, TicketEvent
from tickets.workflow import WorkflowError

PASSWORD = "phone test password"
CALLED = NOW - timedelta(minutes=20)
MOBILE = "13812345678"


@pytest.fixture()
def people(database_url):
    return {
        "agent": staff.create_staff(
            "wang.agent", PASSWORD, "agent", "小王", database_url=database_url
        ),
        "other": staff.create_staff(
            "li.agent", PASSWORD, "agent", "小李", database_url=database_url
        ),
        "editor": staff.create_staff(
            "chen.editor", PASSWORD, "editor", "陈编辑", database_url=database_url
        ),
    }


def call(people, **overrides):
    values = dict(
        caller="138 1234 5678",
        said="我的账号登录不上了，很急",
        called_at=CALLED,
        category="login",
        urgent=True,
        category_unsure=False,
        actor=people["agent"],
        now=NOW,
    )
    values.update(overrides)
    return phone.create_phone_ticket(**values)


def events(number: str, kind: str) -> list[TicketEvent]:
    with session_scope() as session:
        rows = session.execute(
            select(TicketEvent)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == number, TicketEvent.kind == kind)
            .order_by(TicketEvent.id)
        ).scalars()
        found = list(rows)
        for row in found:
            session.expunge(row)
        return found


def row_of(number: str) -> Ticket:
    with session_scope() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        session.expunge(ticket)
        return ticket


def feedback_of(number: str) -> Feedback | None:
    with session_scope() as session:
        found = session.execute(
            select(Feedback).where(Feedback.ticket_number == number)
        ).scalar_one_or_none()
        if found is not None:
            session.expunge(found)
        return found


# --- the call registered -----------------------------------------------------------------------


def test_a_call_is_a_phone_ticket_timed_from_the_call(people):
    ticket = call(people)
    assert ticket.created_now and ticket.channel == "phone"
    assert ticket.sender_id == "phone:13812345678" and ticket.contact_phone == MOBILE
    assert ticket.category == "login" and not ticket.category_unsure
    # login is urgent by the policy: the first response is due an hour after the call
    assert ticket.priority == "urgent"
    assert ticket.created_at == CALLED
    assert ticket.sla_due_at == CALLED + timedelta(hours=1)
    assert ticket.resolution_due_at == CALLED + timedelta(hours=24)
    assert ticket.transcript == [
        {
            "role": "user",
            "text": "我的账号登录不上了，很急",
            "ts": CALLED.isoformat(),
            "channel": "phone",
        }
    ]
    row = row_of(ticket.number)
    assert row.reason == "user_request" and row.urgent_signal and row.status == "open"
    (intake,) = events(ticket.number, phone.INTAKE)
    assert intake.actor_id == people["agent"].id
    assert intake.detail["called_at"] == CALLED.isoformat()
    assert intake.detail["priority"] == "urgent"
    assert MOBILE not in str(intake.detail)  # the audit trail never holds the number


def test_the_policy_decides_the_priority_of_what_the_caller_reports(people):
    general = call(people, caller="13900001111", category="network", urgent=False)
    assert general.priority == "general"
    assert general.sla_due_at == CALLED + timedelta(hours=6)
    urgent = call(people, caller="13900002222", category="network", urgent=True)
    assert urgent.priority == "urgent"
    assert urgent.sla_due_at == CALLED + timedelta(hours=1)
    unsure = call(
        people, caller="13900003333", category="other", urgent=False, category_unsure=True
    )
    assert unsure.category_unsure and unsure.priority == "general"


def test_the_same_call_sent_twice_makes_one_ticket(people):
    first = call(people)
    again = call(people, caller="+86 138-1234-5678")
    assert again.number == first.number and not again.created_now
    assert len(events(first.number, phone.INTAKE)) == 1
    later = call(people, called_at=CALLED + timedelta(minutes=5))
    assert later.number != first.number  # another call of the same caller


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0086-13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("010-62345678", "010-62345678"),
        ("(010) 6234 5678", "010-62345678"),
        ("+86 10 6234 5678", "010-62345678"),
        ("0755 8666 8888", "0755-86668888"),
        ("0311-6234567", "0311-6234567"),
    ],
)
def test_numbers_are_taken_as_people_write_them(typed, normalised):
    assert phone.normalise_number(typed) == normalised


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "12345", "1381234567", "138123456789", "23812345678", "010-0234567", "abc", "110"],
)
def test_what_is_no_phone_number_is_refused_clearly(people, typed):
    with pytest.raises(WorkflowError, match="来电号码格式不正确：请填写 11 位手机号"):
        call(people, caller=typed)


def test_numbers_are_masked_for_pages():
    assert phone.mask_caller("13812345678") == "138****5678"
    assert phone.mask_caller("010-62345678") == "010-****5678"
    assert phone.mask_caller(None) == ""


def test_the_report_must_say_something_and_is_clipped(people):
    with pytest.raises(WorkflowError, match="请填写用户在电话里反映的问题"):
        call(people, said="  \n ")
    long = call(people, said="登录" * 5000)
    assert len(long.transcript[0]["text"]) == phone.MAX_SAID


def test_call_times_in_the_future_or_long_ago_are_refused(people):
    with pytest.raises(WorkflowError, match="来电时间不能晚于现在"):
        call(people, called_at=NOW + timedelta(minutes=2))
    with pytest.raises(WorkflowError, match="来电时间早于 7 天前"):
        call(people, called_at=NOW - timedelta(days=7, minutes=1))
    # a clock a little ahead is fine, and so is a call six days ago
    assert call(people, called_at=NOW + timedelta(seconds=30)).created_now
    assert call(people, called_at=NOW - timedelta(days=6)).created_now


def test_a_time_without_zone_is_china_time(people):
    typed = CALLED.astimezone(DISPLAY_TZ).replace(tzinfo=None)  # as the form's input gives it
    ticket = call(people, called_at=typed)
    assert ticket.created_at == CALLED
    assert phone.read_local_input(phone.local_input(CALLED)) == CALLED.replace(second=0)
    with pytest.raises(WorkflowError, match="请填写来电时间"):
        phone.read_local_input("昨天下午")


def test_unknown_categories_and_editors_are_refused(people):
    with pytest.raises(WorkflowError, match="没有「billing」这个问题类别"):
        call(people, category="billing")
    with pytest.raises(WorkflowError, match="内容编辑账号不能登记电话工单"):
        call(people, actor=people["editor"])


# --- the follow-up call --------------------------------------------------------------------------


def resolved_call(people, database_url, **overrides) -> str:
    """A call ticket the agent claimed, worked and resolved through the workflow."""
    number = call(people, **overrides).number
    agent = people["agent"]
    workflow.claim(number, agent, now=NOW, database_url=database_url)
    workflow.transition(number, agent, "in_progress", now=NOW, database_url=database_url)
    workflow.transition(
        number, agent, "resolved", now=NOW + timedelta(minutes=30), database_url=database_url
    )
    return number


AFTER = NOW + timedelta(hours=2)
FULL = {"attitude": 5, "expertise": 4, "result": 5}


def test_resolved_phone_tickets_are_the_calls_due(people, database_url):
    number = resolved_call(people, database_url)
    call(people, caller="13900009999")  # open: nothing to follow up yet
    new_ticket(database_url)  # a chat ticket: the chat follows it up
    chat = new_ticket(database_url, sender_id="bob").number
    workflow.claim(chat, people["agent"], database_url=database_url)
    workflow.transition(chat, people["agent"], "in_progress", database_url=database_url)
    workflow.transition(chat, people["agent"], "resolved", database_url=database_url)
    (task,) = phone.calls_due()
    assert task.number == number and task.category == "login" and task.priority == "urgent"
    assert task.caller == "138****5678" and task.masked
    assert task.said == "我的账号登录不上了，很急"
    assert task.assignee == "wang.agent" and task.assignee_name == "小王"
    assert task.called_at == CALLED and task.resolved_at == NOW + timedelta(minutes=30)
    assert task.attempts == 0 and task.last_attempt_at is None
    (shown,) = phone.calls_due(reveal=number)
    assert shown.caller == MOBILE and not shown.masked


def test_a_call_that_does_not_get_through_is_an_attempt(people, database_url):
    number = resolved_call(people, database_url)
    first = phone.record_follow_up_call(
        number,
        people["other"],
        reached=False,
        solved=True,  # not read: nobody answered
        scores={"attitude": 5},
        comment="无人接听，明天上午再拨",
        now=AFTER,
    )
    assert first.outcome == "attempt" and first.attempts == 1 and first.scores == {}
    second = phone.record_follow_up_call(
        number, people["other"], reached=False, solved=None, scores={}, comment="", now=AFTER
    )
    assert second.attempts == 2
    assert row_of(number).status == "resolved"
    (task,) = phone.calls_due()
    assert task.attempts == 2 and task.last_attempt_at == AFTER
    trail = events(number, phone.FOLLOW_UP)
    assert [e.actor_id for e in trail] == [people["other"].id] * 2
    assert trail[0].detail == {
        "reached": False,
        "solved": None,
        "outcome": "attempt",
        "attempt": 1,
        "scores": {},
        "comment": "无人接听，明天上午再拨",
    }
    assert feedback_of(number) is None


def test_reached_and_solved_closes_and_rates_the_assignee(people, database_url):
    number = resolved_call(people, database_url)
    phone.record_follow_up_call(
        number, people["other"], reached=False, solved=None, scores={}, comment="", now=AFTER
    )
    done = phone.record_follow_up_call(
        number,
        people["other"],
        reached=True,
        solved=True,
        scores=FULL,
        comment="处理很及时，谢谢",
        now=AFTER + timedelta(hours=1),
    )
    assert done.outcome == "closed" and done.attempts == 2 and done.scores == FULL
    ticket = row_of(number)
    assert ticket.status == "closed" and ticket.closed_at == AFTER + timedelta(hours=1)
    feedback = feedback_of(number)
    assert (feedback.attitude, feedback.expertise, feedback.result) == (5, 4, 5)
    assert feedback.staff_id == people["agent"].id  # the assignee, not the caller-back
    assert feedback.comment == "处理很及时，谢谢"
    assert feedback.sender_id == "phone:13812345678"
    key = store.escalation_key("phone:13812345678", "ticket-" + number)
    assert store.staff_rating_so_far(key) == FULL
    last = events(number, phone.FOLLOW_UP)[-1]
    assert last.actor_id == people["other"].id
    assert last.detail["outcome"] == "closed" and last.detail["scores"] == FULL
    closing = events(number, "status")[-1].detail
    assert (closing["old"], closing["new"]) == ("resolved", "closed")
    assert phone.calls_due() == []


def test_reached_and_not_solved_goes_back_to_work(people, database_url):
    number = resolved_call(people, database_url)
    done = phone.record_follow_up_call(
        number,
        people["agent"],
        reached=True,
        solved=False,
        scores={"attitude": 4},
        comment="用户说还是登录不上",
        now=AFTER,
    )
    assert done.outcome == "reopened"
    ticket = row_of(number)
    assert ticket.status == "in_progress" and ticket.resolved_at is None
    reopening = events(number, "status")[-1].detail
    assert reopening["new"] == "in_progress" and "用户说还是登录不上" in reopening["note"]
    feedback = feedback_of(number)
    assert feedback.attitude == 4 and feedback.expertise is None
    assert feedback.staff_id == people["agent"].id
    assert phone.calls_due() == []
    # resolved again: due again, the earlier call not counted as an attempt of this round
    workflow.transition(number, people["agent"], "resolved", now=AFTER + timedelta(hours=1))
    (task,) = phone.calls_due()
    assert task.number == number and task.attempts == 0


def test_a_user_who_would_not_rate_still_closes_the_ticket(people, database_url):
    number = resolved_call(people, database_url)
    phone.record_follow_up_call(
        number, people["other"], reached=True, solved=True, scores={}, comment="", now=AFTER
    )
    assert row_of(number).status == "closed"
    feedback = feedback_of(number)  # no scores made up: at most the confirmation's row
    assert feedback is None or (feedback.attitude, feedback.expertise, feedback.result) == (
        None,
        None,
        None,
    )


def test_follow_up_calls_that_cannot_be_right_are_refused(people, database_url):
    number = resolved_call(people, database_url)
    other = people["other"]
    with pytest.raises(WorkflowError, match="请选择用户的问题是否已经解决"):
        phone.record_follow_up_call(number, other, reached=True, solved=None, scores={}, comment="")
    with pytest.raises(WorkflowError, match="问题解决效果的评分必须是 1 到 5 分"):
        phone.record_follow_up_call(
            number, other, reached=True, solved=True, scores={"result": 6}, comment=""
        )
    with pytest.raises(WorkflowError, match="内容编辑账号不能记录回访"):
        phone.record_follow_up_call(
            number, people["editor"], reached=False, solved=None, scores={}, comment=""
        )
    with pytest.raises(workflow.TicketNotFound):
        phone.record_follow_up_call(
            "DY-20000101-0001", other, reached=False, solved=None, scores={}, comment=""
        )
    chat = new_ticket(database_url).number
    with pytest.raises(WorkflowError, match="只有电话工单在这里回访"):
        phone.record_follow_up_call(chat, other, reached=False, solved=None, scores={}, comment="")
    still_open = call(people, caller="13900007777").number
    with pytest.raises(WorkflowError, match="还不需要回访"):
        phone.record_follow_up_call(
            still_open, other, reached=False, solved=None, scores={}, comment=""
        )
    # nothing of the refused ones was recorded
    assert row_of(number).status == "resolved" and events(number, phone.FOLLOW_UP) == []
    phone.record_follow_up_call(number, other, reached=True, solved=True, scores={}, comment="")
    with pytest.raises(WorkflowError, match="已经关闭，回访已完成"):
        phone.record_follow_up_call(number, other, reached=True, solved=True, scores={}, comment="")


def test_a_second_problem_told_in_the_same_call_is_a_second_ticket(database_url):
    agent = staff.create_staff("agent.second", "correct horse battery", "agent", "小电")
    called = NOW - timedelta(minutes=5)

    def report(said: str, category: str):
        return phone.create_phone_ticket(
            caller="13812345678",
            said=said,
            called_at=called,
            category=category,
            urgent=False,
            category_unsure=False,
            actor=agent,
            now=NOW,
        )

    first = report("登录不上", "login")
    again = report("登录不上", "login")
    other = report("视频也上传不了", "feature")
    assert again.number == first.number and not again.created_now
    assert other.number != first.number and other.created_now
