"""The console's session cookies and its operations dispatcher, without a server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scripts.servers import free_port
from tests.factories import NOW, new_ticket
from tickets import queries, staff, workflow
from web.console import operations, sessions
from web.console.operations import Outcome

PASSWORD = "correct horse battery"
UNKNOWN = "DY-20000101-0001"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    """Sessions are signed with a test secret (no file in var/); Rasa is not listening."""
    monkeypatch.setenv("CONSOLE_SECRET", "unit-test-secret")
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")


# --- sessions ---------------------------------------------------------------------------------


def test_a_made_session_reads_back_its_staff_id():
    assert sessions.read_session(sessions.make_session(42)) == 42


def test_a_tampered_session_reads_as_none(monkeypatch):
    staff_id, expires, signature = sessions.make_session(42).split(".")
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert sessions.read_session(f"{staff_id}.{expires}.{flipped}") is None
    assert sessions.read_session(f"43.{expires}.{signature}") is None
    assert sessions.read_session(f"{staff_id}.{int(expires) + 3600}.{signature}") is None
    monkeypatch.setenv("CONSOLE_SECRET", "another secret")
    assert sessions.read_session(f"{staff_id}.{expires}.{signature}") is None


@pytest.mark.parametrize("value", [None, "", "42", "42.123", "1.2.3.4", "a.b.c", "..."])
def test_a_malformed_session_reads_as_none(value):
    assert sessions.read_session(value) is None


def test_a_validly_signed_session_with_a_non_numeric_id_reads_as_none():
    body = "admin.9999999999"
    assert sessions.read_session(f"{body}.{sessions._sign(body)}") is None


def test_a_session_expires_after_its_lifetime(monkeypatch):
    made = sessions.time.time()
    value = sessions.make_session(7)
    monkeypatch.setattr(sessions.time, "time", lambda: made + sessions.SESSION_SECONDS - 5)
    assert sessions.read_session(value) == 7
    monkeypatch.setattr(sessions.time, "time", lambda: made + sessions.SESSION_SECONDS + 5)
    assert sessions.read_session(value) is None


def test_a_session_with_a_non_ascii_signature_reads_as_none():
    assert sessions.read_session("1.9999999999.é") is None


def test_each_session_has_its_own_csrf_token():
    one, two = sessions.make_session(1), sessions.make_session(2)
    token = sessions.csrf_token(one)
    assert token != sessions.csrf_token(two)
    assert token == sessions.csrf_token(one) and len(token) == 64
    assert sessions.same_token(token, token)
    assert not sessions.same_token(sessions.csrf_token(two), token)


@pytest.mark.parametrize("expected", ["", None])
def test_no_token_matches_a_missing_expected_token(expected):
    assert not sessions.same_token("", expected)
    assert not sessions.same_token("anything", expected)


def test_a_non_ascii_csrf_field_is_just_a_wrong_token():
    token = sessions.csrf_token(sessions.make_session(1))
    assert not sessions.same_token("é", token)


# --- operations -------------------------------------------------------------------------------


@pytest.fixture()
def people(database_url):
    accounts = {
        "agent": ("wang.agent", "agent", "小王"),
        "other": ("li.agent", "agent", "小李"),
        "boss": ("zhao.sup", "supervisor", "赵主管"),
    }
    return {
        key: staff.create_staff(name, PASSWORD, role, label, database_url=database_url)
        for key, (name, role, label) in accounts.items()
    }


@pytest.fixture()
def number(database_url):
    return new_ticket(database_url).number


def detail(number):
    return queries.ticket_detail(number)


async def test_claim_gives_the_ticket_to_the_agent(people, number):
    assert await operations.perform(number, people["agent"], "claim", {}) == Outcome()
    assert (detail(number).status, detail(number).assignee) == ("assigned", "wang.agent")


async def test_a_note_is_audited_stripped(people, number):
    await operations.perform(number, people["agent"], "note", {"text": "  小区网络不稳定 "})
    trail = queries.audit_trail(number)
    assert [(e.kind, e.actor, e.detail) for e in trail] == [
        ("note", "wang.agent", {"text": "小区网络不稳定"})
    ]


async def test_a_supervisor_assigns_the_ticket(people, number):
    outcome = await operations.perform(number, people["boss"], "assign", {"assignee": "li.agent"})
    assert outcome == Outcome()
    assert (detail(number).status, detail(number).assignee) == ("assigned", "li.agent")
    assert queries.audit_trail(number)[0].actor == "zhao.sup"


async def test_a_supervisor_changes_the_priority_and_an_agent_may_not(people, number):
    fields = {"priority": "urgent", "reason": "商家直播中断"}
    with pytest.raises(workflow.WorkflowError, match="只有主管"):
        await operations.perform(number, people["agent"], "priority", fields)
    assert await operations.perform(number, people["boss"], "priority", fields) == Outcome()
    assert detail(number).priority == "urgent"
    assert detail(number).sla_due_at == NOW + timedelta(hours=1)


async def test_status_moves_the_ticket_with_its_note(people, number):
    agent = people["agent"]
    await operations.perform(number, agent, "claim", {})
    fields = {"to": "in_progress", "note": "开始排查"}
    assert await operations.perform(number, agent, "status", fields) == Outcome()
    assert detail(number).status == "in_progress"
    assert queries.audit_trail(number)[-1].detail == {
        "old": "assigned",
        "new": "in_progress",
        "note": "开始排查",
    }


async def test_an_unknown_operation_is_refused_before_the_ticket_is_looked_up(people, number):
    for ticket in (number, UNKNOWN):
        with pytest.raises(operations.UnknownOperation):
            await operations.perform(ticket, people["boss"], "delete", {})
    assert queries.audit_trail(number) == []


async def test_every_operation_on_an_unknown_ticket_raises_ticket_not_found(people, number):
    fields = {
        "claim": {},
        "status": {"to": "assigned"},
        "note": {"text": "备注"},
        "assign": {"assignee": "li.agent"},
        "priority": {"priority": "urgent", "reason": "很急"},
        "reply": {"text": "您好"},
        "category": {"category": "login"},
    }
    assert set(fields) == set(operations.OPERATIONS)
    for name, values in fields.items():
        with pytest.raises(workflow.TicketNotFound):
            await operations.perform(UNKNOWN, people["boss"], name, values)


async def test_a_reply_rasa_cannot_take_is_still_recorded_with_a_warning(people, number):
    outcome = await operations.perform(number, people["agent"], "reply", {"text": " 正在处理 "})
    assert outcome == Outcome(delivered=False, warning=operations.REPLY_NOT_DELIVERED)
    ticket = detail(number)
    assert [(e.kind, e.actor, e.detail) for e in ticket.trail] == [
        ("reply", "wang.agent", {"text": "正在处理"})
    ]
    assert ticket.transcript[-1]["role"] == "staff"
    assert (ticket.transcript[-1]["text"], ticket.transcript[-1]["staff"]) == ("正在处理", "小王")
    assert ticket.first_response_at is not None


async def test_resolving_while_rasa_is_unreachable_resolves_and_warns(people, number):
    agent = people["agent"]
    await operations.perform(number, agent, "claim", {})
    await operations.perform(number, agent, "status", {"to": "in_progress"})
    outcome = await operations.perform(number, agent, "status", {"to": "resolved"})
    assert outcome == Outcome(warning=operations.FOLLOW_UP_NOT_SENT)
    assert detail(number).status == "resolved"
    assert detail(number).resolved_at is not None
