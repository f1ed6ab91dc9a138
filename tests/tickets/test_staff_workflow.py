"""Staff accounts and the ticket workflow on a real database (SQLite, and PostgreSQL if up)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import NOW, new_ticket
from tickets import queries, staff, store, workflow
from tickets.models import utcnow

PASSWORD = "correct horse battery"


@pytest.fixture()
def people(any_database):
    return {
        "agent": staff.create_staff(
            "wang.agent", PASSWORD, "agent", "小王", database_url=any_database
        ),
        "other": staff.create_staff(
            "li.agent", PASSWORD, "agent", "小李", database_url=any_database
        ),
        "boss": staff.create_staff(
            "zhao.sup", PASSWORD, "supervisor", "赵主管", database_url=any_database
        ),
    }


def test_passwords_are_slow_salted_hashes():
    one, two = staff.hash_password(PASSWORD), staff.hash_password(PASSWORD)
    assert one != two and one.startswith("scrypt$") and PASSWORD not in one
    assert staff.verify_password(PASSWORD, one) and not staff.verify_password("wrong", one)
    assert not staff.verify_password(PASSWORD, "garbage")


def test_accounts_are_validated(any_database):
    with pytest.raises(staff.StaffError, match="密码至少"):
        staff.create_staff("shorty", "123", "agent", database_url=any_database)
    with pytest.raises(staff.StaffError, match="角色"):
        staff.create_staff("someone", PASSWORD, "admin", database_url=any_database)
    with pytest.raises(staff.StaffError, match="用户名"):
        staff.create_staff("<b>x</b>", PASSWORD, "agent", database_url=any_database)
    staff.create_staff("dup.user", PASSWORD, "agent", database_url=any_database)
    with pytest.raises(staff.StaffError, match="已存在"):
        staff.create_staff("DUP.user", PASSWORD, "agent", database_url=any_database)


def test_login_and_slowing_down_after_failures(people, any_database):
    assert staff.authenticate("wang.agent", PASSWORD, database_url=any_database).role == "agent"
    for _ in range(staff.FREE_FAILURES):
        with pytest.raises(staff.StaffError, match="用户名或密码不正确"):
            staff.authenticate("wang.agent", "nope", now=NOW, database_url=any_database)
    with pytest.raises(staff.StaffError, match="秒后再试"):  # even the right password waits
        staff.authenticate("wang.agent", PASSWORD, now=NOW, database_url=any_database)
    later = NOW + timedelta(minutes=20)
    assert staff.authenticate("wang.agent", PASSWORD, now=later, database_url=any_database)
    with pytest.raises(staff.StaffError, match="用户名或密码不正确"):
        staff.authenticate("nobody", PASSWORD, database_url=any_database)


def test_lock_grows_and_is_capped():
    assert staff.lock_delay(1) == timedelta(0)
    assert staff.lock_delay(4) < staff.lock_delay(6) <= staff.MAX_LOCK
    assert staff.lock_delay(60) == staff.MAX_LOCK


def test_the_whole_workflow_is_audited(people, any_database):
    ticket = new_ticket(any_database)
    agent, boss = people["agent"], people["boss"]
    workflow.claim(ticket.number, agent, database_url=any_database)
    workflow.transition(ticket.number, agent, "in_progress", database_url=any_database)
    workflow.record_reply(
        ticket.number,
        agent,
        "您好，我们正在处理",
        now=NOW + timedelta(minutes=30),
        database_url=any_database,
    )
    workflow.add_note(ticket.number, agent, "用户网络在小区内普遍不稳定", database_url=any_database)
    workflow.transition(
        ticket.number, agent, "resolved", "已联系运营商修复", database_url=any_database
    )
    assert workflow.reopen_by_user(
        ticket.number, "alice", "用户说还是不行", database_url=any_database
    )
    workflow.transition(ticket.number, agent, "resolved", database_url=any_database)
    workflow.transition(ticket.number, boss, "closed", database_url=any_database)

    trail = queries.audit_trail(ticket.number, database_url=any_database)
    assert [(e.kind, e.actor) for e in trail] == [
        ("assign", "wang.agent"),
        ("status", "wang.agent"),
        ("status", "wang.agent"),
        ("reply", "wang.agent"),
        ("note", "wang.agent"),
        ("status", "wang.agent"),
        ("status", None),
        ("status", "wang.agent"),
        ("status", "zhao.sup"),
    ]
    assert [e.detail.get("new") for e in trail if e.kind == "status"] == [
        "assigned",
        "in_progress",
        "resolved",
        "in_progress",
        "resolved",
        "closed",
    ]
    stored = store.get_for_sender(ticket.number, "alice", database_url=any_database)
    assert stored.status == "closed"
    assert stored.transcript[-1]["role"] == "staff"


@pytest.mark.parametrize(
    "path, bad",
    [
        ([], "resolved"),
        ([], "closed"),
        (["assigned"], "closed"),
        (["assigned", "in_progress", "resolved", "closed"], "open"),
    ],
)
def test_illegal_transitions_are_refused(people, any_database, path, bad):
    ticket = new_ticket(any_database)
    boss = people["boss"]
    for status in path:
        if status == "assigned":
            workflow.assign(ticket.number, boss, "wang.agent", database_url=any_database)
        else:
            workflow.transition(ticket.number, boss, status, database_url=any_database)
    with pytest.raises(workflow.WorkflowError, match="不能从"):
        workflow.transition(ticket.number, boss, bad, database_url=any_database)


def test_agents_cannot_do_supervisor_work(people, any_database):
    ticket = new_ticket(any_database)
    agent, other = people["agent"], people["other"]
    with pytest.raises(workflow.WorkflowError, match="只有主管"):
        workflow.assign(ticket.number, agent, "li.agent", database_url=any_database)
    with pytest.raises(workflow.WorkflowError, match="只有主管"):
        workflow.change_priority(
            ticket.number, agent, "urgent", "用户很急", database_url=any_database
        )
    workflow.claim(ticket.number, agent, database_url=any_database)
    with pytest.raises(workflow.WorkflowError, match="只有负责"):
        workflow.transition(ticket.number, other, "in_progress", database_url=any_database)
    with pytest.raises(workflow.WorkflowError, match="只能认领"):
        workflow.claim(ticket.number, other, database_url=any_database)


def test_editors_never_work_tickets(people, any_database):
    ticket = new_ticket(any_database)
    editor = staff.create_staff(
        "chen.editor", PASSWORD, "editor", "陈编辑", database_url=any_database
    )
    assert not editor.works_tickets and people["agent"].works_tickets
    with pytest.raises(workflow.WorkflowError, match="内容编辑账号不能处理工单"):
        workflow.claim(ticket.number, editor, database_url=any_database)
    with pytest.raises(workflow.WorkflowError, match="chen.editor 是内容编辑账号"):
        workflow.assign(ticket.number, people["boss"], "chen.editor", database_url=any_database)
    workflow.assign(ticket.number, people["boss"], "wang.agent", database_url=any_database)
    with pytest.raises(workflow.WorkflowError, match="内容编辑账号不能处理工单"):
        workflow.transition(ticket.number, editor, "in_progress", database_url=any_database)
    for write in (workflow.add_note, workflow.record_reply):
        with pytest.raises(workflow.WorkflowError, match="内容编辑账号不能处理工单"):
            write(ticket.number, editor, "你好", database_url=any_database)
    assert (
        store.get_for_sender(ticket.number, "alice", database_url=any_database).status == "assigned"
    )


def test_supervisor_changes_priority_with_a_reason_and_the_due_time_follows(people, any_database):
    ticket = new_ticket(any_database)  # general: due 6 h after NOW
    with pytest.raises(workflow.WorkflowError, match="原因"):
        workflow.change_priority(
            ticket.number, people["boss"], "urgent", " ", database_url=any_database
        )
    workflow.change_priority(
        ticket.number, people["boss"], "urgent", "商家直播带货中断", database_url=any_database
    )
    stored = store.get_for_sender(ticket.number, "alice", database_url=any_database)
    assert stored.priority == "urgent" and stored.sla_due_at == NOW + timedelta(hours=1)
    trail = queries.audit_trail(ticket.number, database_url=any_database)
    assert trail[-1].detail == {"old": "general", "new": "urgent", "reason": "商家直播带货中断"}


def test_create_staff_command(any_database, monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setenv("DATABASE_URL", any_database)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert staff.main(["create", "first.boss", "--role", "supervisor", "--password-stdin"]) == 0
    assert "first.boss" in capsys.readouterr().out
    assert staff.authenticate(
        "first.boss", PASSWORD, now=utcnow(), database_url=any_database
    ).is_supervisor


def test_api_tokens_are_stored_hashed_and_identify_their_owner(people, any_database):
    from sqlalchemy import select

    from tickets.db import session_scope
    from tickets.models import StaffToken

    token = staff.create_token("wang.agent", "脚本", database_url=any_database)
    assert staff.staff_for_token(token, database_url=any_database).username == "wang.agent"
    assert staff.staff_for_token(token + "x", database_url=any_database) is None
    with session_scope(any_database) as session:
        stored = session.execute(select(StaffToken.token_hash)).scalars().all()
    assert token not in stored and len(stored[0]) == 64
    with pytest.raises(staff.StaffError):
        staff.create_token("nobody", database_url=any_database)
