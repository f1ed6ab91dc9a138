"""Automatic assignment on a real database (SQLite, and PostgreSQL if up): the rules of
data/policy/assignment.yml (skills, fallback, load, ties), who is on duty, the audit trail of
every assignment, the policy file's errors, skills and the roster."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.factories import NOW, new_ticket
from tickets import assignment, duty, queries, staff, workflow
from tickets.assignment import Assigned
from tickets.assignment_policy import (
    AssignmentPolicyError,
    load_assignment_policy,
    parse_assignment_policy,
)
from tickets.db import session_scope
from tickets.models import StaffUser
from tickets.staff import StaffError

PASSWORD = "correct horse battery"
MINUTE = timedelta(minutes=1)
URGENT_RULE = "紧急问题只交给擅长该类别的技术客服"
OTHER_RULE = "其他问题优先交给擅长该类别的客服"


@pytest.fixture()
def people(any_database):
    accounts = {
        "wang": ("wang.agent", "agent", "小王"),
        "li": ("li.agent", "agent", "小李"),
        "zhang": ("zhang.agent", "agent", "小张"),
        "boss": ("zhao.sup", "supervisor", "赵主管"),
        "editor": ("chen.editor", "editor", "陈编辑"),
    }
    return {
        key: staff.create_staff(name, PASSWORD, role, label, database_url=any_database)
        for key, (name, role, label) in accounts.items()
    }


def policy_file(tmp_path: Path, monkeypatch, **changes: str) -> Path:
    """A copy of the shipped assignment rules with top-level lines replaced (``key: value``),
    made the one ``load_assignment_policy()`` reads."""
    shipped = Path(__file__).resolve().parents[2] / "data" / "policy" / "assignment.yml"
    lines = shipped.read_text(encoding="utf-8").splitlines()
    for key, value in changes.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
        lines[index] = f"{key}: {value}"
    path = tmp_path / "assignment.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("DY_ASSIGNMENT_POLICY", str(path))
    return path


def ticket(url, category="network", at=NOW, **overrides) -> str:
    """A new open ticket (login: urgent, network/other: general) created at ``at``."""
    return new_ticket(url, category=category, now=at, **overrides).number


def on_duty(url, *persons, at=NOW) -> None:
    for person in persons:
        duty.set_available(person, True, now=at, database_url=url)


def load(url, boss, username, count, at=NOW - timedelta(hours=1)) -> list[str]:
    """``count`` tickets the supervisor gave ``username`` at ``at`` (its unfinished load)."""
    numbers = [ticket(url, "network", at) for _ in range(count)]
    for number in numbers:
        workflow.assign(number, boss, username, "制造负载", now=at, database_url=url)
    return numbers


def owner(url, number) -> tuple[str, str | None]:
    found = queries.ticket_detail(number, database_url=url)
    return found.status, found.assignee


def run(url, at) -> list[Assigned]:
    return assignment.assign_waiting(now=at, database_url=url)


def last_assigned(url, username):
    with session_scope(url) as session:
        return session.execute(
            select(StaffUser.last_assigned_at).where(StaffUser.username == username)
        ).scalar()


def set_columns(url, username, **values) -> None:
    with session_scope(url) as session:
        session.execute(update(StaffUser).where(StaffUser.username == username).values(**values))


# --- who gets which ticket --------------------------------------------------------------------


def test_an_urgent_login_ticket_goes_to_the_skilled_agent_even_with_more_load(people, any_database):
    url, boss = any_database, people["boss"]
    duty.set_skills(boss, "wang.agent", ["login"], database_url=url)
    load(url, boss, "wang.agent", 2)
    on_duty(url, people["wang"], people["li"])
    urgent = ticket(url, "login", NOW)
    assert queries.ticket_detail(urgent, database_url=url).priority == "urgent"

    done = run(url, NOW + MINUTE)

    assert [(a.number, a.username) for a in done] == [(urgent, "wang.agent")]
    assert done[0].reason == f"{URGENT_RULE}：擅长「账号登录」，未完成工单最少（当时负责 2 个）"
    assert owner(url, urgent) == ("assigned", "wang.agent")


def test_an_urgent_ticket_waits_for_a_skilled_agent_then_falls_back_after_ten_minutes(
    people, any_database
):
    url, boss = any_database, people["boss"]
    duty.set_skills(boss, "zhang.agent", ["login"], database_url=url)  # skilled, but away
    load(url, boss, "wang.agent", 1)
    on_duty(url, people["wang"], people["li"])
    urgent = ticket(url, "login", NOW)

    assert run(url, NOW + 5 * MINUTE) == []
    assert run(url, NOW + 10 * MINUTE - timedelta(seconds=1)) == []
    assert owner(url, urgent) == ("open", None)

    done = run(url, NOW + 10 * MINUTE)
    assert [(a.number, a.username) for a in done] == [(urgent, "li.agent")]  # the least load
    assert done[0].reason == (
        f"{URGENT_RULE}：等待超过 10 分钟仍无擅长「账号登录」的客服在岗，"
        "交给未完成工单最少的在岗客服（当时负责 0 个）"
    )
    assert owner(url, urgent) == ("assigned", "li.agent")


def test_general_tickets_prefer_a_skilled_agent_else_the_least_loaded(people, any_database):
    url, boss = any_database, people["boss"]
    duty.set_skills(boss, "wang.agent", ["network"], database_url=url)
    load(url, boss, "wang.agent", 2)
    load(url, boss, "li.agent", 1)
    on_duty(url, people["wang"], people["li"], people["zhang"])
    network = ticket(url, "network", NOW)
    other = ticket(url, "other", NOW + MINUTE)

    done = run(url, NOW + 2 * MINUTE)

    assert [(a.number, a.username) for a in done] == [
        (network, "wang.agent"),  # skilled, though the most loaded
        (other, "zhang.agent"),  # nobody skilled: the least loaded
    ]
    assert done[0].reason == f"{OTHER_RULE}：擅长「网络连接」，未完成工单最少（当时负责 2 个）"
    assert done[1].reason == (
        f"{OTHER_RULE}：无擅长「其他」的客服在岗，交给未完成工单最少的在岗客服（当时负责 0 个）"
    )


def test_away_inactive_editor_and_supervisor_accounts_never_get_tickets(people, any_database):
    url = any_database
    on_duty(url, people["boss"], people["wang"])  # roles: [agent]: the supervisor takes none
    duty.set_available(people["wang"], False, now=NOW + MINUTE, database_url=url)
    with pytest.raises(StaffError, match="内容编辑"):
        duty.set_available(people["editor"], True, now=NOW, database_url=url)
    set_columns(url, "chen.editor", available=True)  # even if the column said so
    set_columns(url, "zhang.agent", available=True, active=False)  # a deactivated account
    general = ticket(url, "network", NOW)
    urgent = ticket(url, "login", NOW)

    assert run(url, NOW + timedelta(hours=1)) == []  # past the fallback: still nobody
    assert owner(url, general) == ("open", None) and owner(url, urgent) == ("open", None)
    assert duty.is_available(people["boss"], database_url=url)
    assert not duty.is_available(people["wang"], database_url=url)

    on_duty(url, people["li"], at=NOW + timedelta(hours=1))
    done = run(url, NOW + timedelta(hours=1))
    assert sorted((a.number, a.username) for a in done) == sorted(
        [(urgent, "li.agent"), (general, "li.agent")]
    )


def test_max_open_per_person_is_respected(people, any_database, tmp_path, monkeypatch):
    policy_file(tmp_path, monkeypatch, max_open_per_person="2")
    url, boss = any_database, people["boss"]
    load(url, boss, "wang.agent", 1)
    on_duty(url, people["wang"])
    waiting = [ticket(url, "network", NOW + i * MINUTE) for i in range(4)]

    done = run(url, NOW + 10 * MINUTE)
    assert [(a.number, a.username) for a in done] == [(waiting[0], "wang.agent")]
    assert run(url, NOW + 11 * MINUTE) == []  # at the limit: the others wait
    assert [owner(url, n) for n in waiting[1:]] == [("open", None)] * 3

    on_duty(url, people["li"], at=NOW + 12 * MINUTE)
    done = run(url, NOW + 12 * MINUTE)
    assert [(a.number, a.username) for a in done] == [
        (waiting[1], "li.agent"),
        (waiting[2], "li.agent"),
    ]
    assert owner(url, waiting[3]) == ("open", None)
    roster = {e.username: e.load for e in duty.roster(now=NOW + 12 * MINUTE, database_url=url)}
    assert roster["wang.agent"] == 2 and roster["li.agent"] == 2


def test_urgent_tickets_come_before_earlier_general_ones_when_one_slot_is_free(
    people, any_database, tmp_path, monkeypatch
):
    policy_file(tmp_path, monkeypatch, max_open_per_person="1")
    url, boss = any_database, people["boss"]
    duty.set_skills(boss, "wang.agent", ["login", "network"], database_url=url)
    on_duty(url, people["wang"])
    general = ticket(url, "network", NOW)
    later_general = ticket(url, "network", NOW + 5 * MINUTE)
    urgent = ticket(url, "login", NOW + 30 * MINUTE)

    done = run(url, NOW + 31 * MINUTE)

    assert [(a.number, a.username) for a in done] == [(urgent, "wang.agent")]
    assert owner(url, general) == ("open", None)
    assert owner(url, later_general) == ("open", None)


def test_general_tickets_are_assigned_by_due_time(people, any_database):
    url = any_database
    on_duty(url, people["wang"], people["li"], people["zhang"])
    third = ticket(url, "network", NOW + 2 * MINUTE)
    first = ticket(url, "network", NOW)
    second = ticket(url, "network", NOW + MINUTE)

    done = run(url, NOW + 5 * MINUTE)

    assert [a.number for a in done] == [first, second, third]


def test_ties_in_load_go_to_whoever_waited_longest_since_their_last_ticket(people, any_database):
    url, boss = any_database, people["boss"]
    for username, given in (
        ("wang.agent", NOW - timedelta(hours=1)),
        ("li.agent", NOW - timedelta(hours=2)),
    ):
        number = ticket(url, "network", NOW - timedelta(hours=3))
        workflow.assign(number, boss, username, now=given, database_url=url)
        for to in ("in_progress", "resolved"):  # finished: no load left
            workflow.transition(number, boss, to, now=given + MINUTE, database_url=url)
    assert last_assigned(url, "li.agent") == NOW - timedelta(hours=2)
    assert last_assigned(url, "zhang.agent") is None
    on_duty(url, people["wang"], people["li"], people["zhang"])
    one, two, three = (ticket(url, "network", NOW + i * MINUTE) for i in range(3))

    at = NOW + 10 * MINUTE
    done = run(url, at)

    assert [(a.number, a.username) for a in done] == [
        (one, "zhang.agent"),  # never given one
        (two, "li.agent"),  # last one two hours ago
        (three, "wang.agent"),  # last one an hour ago
    ]
    assert {last_assigned(url, u) for u in ("wang.agent", "li.agent", "zhang.agent")} == {at}


# --- the audit trail --------------------------------------------------------------------------


def test_every_automatic_assignment_is_in_the_audit_trail_with_its_reason(people, any_database):
    url, boss = any_database, people["boss"]
    duty.set_skills(boss, "wang.agent", ["login"], database_url=url)
    on_duty(url, people["wang"], people["li"])
    numbers = [ticket(url, "login", NOW), ticket(url, "network", NOW)]

    at = NOW + 3 * MINUTE
    done = run(url, at)

    assert len(done) == 2
    for given in done:
        trail = queries.audit_trail(given.number, database_url=url)
        assert [(e.kind, e.actor, e.detail, e.at) for e in trail] == [
            (
                "assign",
                None,
                {"assignee": given.username, "reason": given.reason, "auto": True},
                at,
            ),
            ("status", None, {"old": "open", "new": "assigned", "note": ""}, at),
        ]
    assert {a.number for a in done} == set(numbers)
    assert run(url, at + MINUTE) == []  # nothing is assigned twice


def test_claim_and_a_supervisors_assignment_audit_their_reasons(people, any_database):
    url, boss = any_database, people["boss"]
    claimed, given = ticket(url), ticket(url)

    workflow.claim(claimed, people["wang"], now=NOW + MINUTE, database_url=url)
    workflow.assign(given, boss, "LI.agent ", now=NOW + 2 * MINUTE, database_url=url)
    workflow.assign(given, boss, "wang.agent", now=NOW + 3 * MINUTE, database_url=url)
    workflow.assign(
        given, boss, "li.agent", "  擅长该问题 ", now=NOW + 4 * MINUTE, database_url=url
    )

    assert [
        (e.kind, e.actor, e.detail) for e in queries.audit_trail(claimed, database_url=url)
    ] == [
        ("assign", "wang.agent", {"assignee": "wang.agent", "reason": "本人认领"}),
        ("status", "wang.agent", {"old": "open", "new": "assigned", "note": ""}),
    ]
    assigns = [
        (e.actor, e.detail, e.at)
        for e in queries.audit_trail(given, database_url=url)
        if e.kind == "assign"
    ]
    assert assigns == [
        ("zhao.sup", {"assignee": "li.agent", "reason": "主管分配"}, NOW + 2 * MINUTE),
        ("zhao.sup", {"assignee": "wang.agent", "reason": "主管改派"}, NOW + 3 * MINUTE),
        ("zhao.sup", {"assignee": "li.agent", "reason": "擅长该问题"}, NOW + 4 * MINUTE),
    ]
    assert owner(url, given) == ("assigned", "li.agent")
    assert last_assigned(url, "wang.agent") == NOW + 3 * MINUTE
    assert last_assigned(url, "li.agent") == NOW + 4 * MINUTE


def test_a_ticket_put_back_in_the_queue_is_assigned_again(people, any_database):
    """An agent moves an assigned ticket back to 待处理 (open, which the ticket page offers):
    it is waiting again and is given to someone on duty."""
    url = any_database
    on_duty(url, people["wang"])
    number = ticket(url, "network", NOW)
    assert [a.username for a in run(url, NOW + MINUTE)] == ["wang.agent"]
    workflow.transition(
        number, people["wang"], "open", "我处理不了", now=NOW + 2 * MINUTE, database_url=url
    )
    duty.set_available(people["wang"], False, now=NOW + 2 * MINUTE, database_url=url)
    on_duty(url, people["li"], at=NOW + 2 * MINUTE)

    done = run(url, NOW + 3 * MINUTE)

    assert [(a.number, a.username) for a in done] == [(number, "li.agent")]
    assert owner(url, number) == ("assigned", "li.agent")


def test_a_disabled_policy_assigns_nothing(people, any_database, tmp_path, monkeypatch):
    policy_file(tmp_path, monkeypatch, enabled="false")
    url = any_database
    on_duty(url, people["wang"], people["li"])
    number = ticket(url, "network", NOW)

    assert run(url, NOW + timedelta(hours=1)) == []
    assert owner(url, number) == ("open", None)
    assert queries.audit_trail(number, database_url=url) == []


# --- the policy file --------------------------------------------------------------------------


def test_the_shipped_policy_and_the_environment_override(tmp_path, monkeypatch):
    monkeypatch.delenv("DY_ASSIGNMENT_POLICY", raising=False)
    shipped = load_assignment_policy()
    assert (shipped.enabled, shipped.roles, shipped.max_open_per_person) == (True, ("agent",), 10)
    urgent = shipped.rule_for("urgent", "login")
    assert (urgent.name, urgent.skill, urgent.fallback_minutes) == (URGENT_RULE, "required", 10.0)
    general = shipped.rule_for("general", "network")
    assert (general.name, general.skill, general.fallback_minutes) == (
        OTHER_RULE,
        "preferred",
        None,
    )
    assert (
        parse_assignment_policy({"assignment_rules": []}).rule_for("urgent", "login").skill
        == "preferred"
    )

    path = policy_file(tmp_path, monkeypatch, roles="[agent, supervisor]", enabled="false")
    override = load_assignment_policy()
    assert (override.enabled, override.roles) == (False, ("agent", "supervisor"))
    assert load_assignment_policy(path) is override  # cached until the file changes


GOOD_TOP = "enabled: true\nroles: [agent]\nmax_open_per_person: 10\nassignment_rules:\n"


@pytest.mark.parametrize(
    "text, line, says",
    [
        (  # a bad skill value: the line of its skill
            GOOD_TOP + "  - name: 紧急\n    when: {priority: urgent}\n    skill: sometimes\n",
            7,
            "assignment_rules[0].skill 只能是 required、preferred、ignored",
        ),
        (  # an unknown condition key: the line of its when
            GOOD_TOP
            + "  - name: 一\n    when: {}\n    skill: preferred\n"
            + "  - name: 二\n    when:\n      channel: chat\n    skill: ignored\n",
            9,
            "assignment_rules[1].when 只能用条件 priority、category",
        ),
        (
            "enabled: true\n# 参与的角色\nroles: [agent, editor]\n",
            3,
            "roles 只能列出 agent、supervisor",
        ),
        ("enabled: true\nroles: []\n", 2, "roles 只能列出"),
        ("enabled: true\nroles: agent\n", 2, "roles 只能列出"),
        ("roles: [agent]\n\nmax_open_per_person: 0\n", 3, "max_open_per_person 必须是正整数"),
        ("max_open_per_person: true\n", 1, "max_open_per_person 必须是正整数"),
        (
            GOOD_TOP
            + "  - when: {priority: urgent}\n    skill: required\n    fallback_minutes: ten\n",
            7,
            "assignment_rules[0].fallback_minutes 必须是分钟数",
        ),
        (
            GOOD_TOP + "  - skill: required\n  - just a string\n",
            4,
            "assignment_rules[1] 必须包含 when 和 skill",
        ),
        ("- enabled\n- rules\n", 1, "文件内容必须是一个映射"),
    ],
)
def test_a_policy_mistake_names_its_line(tmp_path, text, line, says):
    path = tmp_path / "assignment.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssignmentPolicyError) as raised:
        load_assignment_policy(path)
    assert raised.value.line == line
    assert raised.value.text.startswith(says)
    assert str(raised.value).startswith(f"{path}:{line}: ")


def test_a_mended_policy_file_is_read_again(tmp_path):
    path = tmp_path / "assignment.yml"
    path.write_text("roles: [agent]\nmax_open_per_person: 3\n", encoding="utf-8")
    assert load_assignment_policy(path).max_open_per_person == 3
    path.write_text("roles: [agent]\nmax_open_per_person: 4\n", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert load_assignment_policy(path).max_open_per_person == 4


# --- duty, skills and the roster --------------------------------------------------------------


def test_set_skills_keeps_known_categories_in_policy_order(people, any_database):
    url, boss = any_database, people["boss"]
    kept = duty.set_skills(
        boss, " Wang.Agent ", [" network", "login", "", "network"], database_url=url
    )
    assert kept == ("network", "login")  # the policy's order, once each
    assert {e.username: e.skills for e in duty.roster(database_url=url)}["wang.agent"] == kept
    assert duty.set_skills(boss, "wang.agent", [], database_url=url) == ()


def test_set_skills_refuses_unknown_categories_and_non_supervisors(people, any_database):
    url, boss = any_database, people["boss"]
    duty.set_skills(boss, "wang.agent", ["login"], database_url=url)
    with pytest.raises(StaffError, match="没有这些问题类别：bogus、网络"):
        duty.set_skills(boss, "wang.agent", ["network", "网络", "bogus"], database_url=url)
    for actor in (people["li"], people["editor"]):
        with pytest.raises(StaffError, match="只有主管"):
            duty.set_skills(actor, "wang.agent", ["network"], database_url=url)
    with pytest.raises(StaffError, match="找不到客服"):
        duty.set_skills(boss, "chen.editor", ["network"], database_url=url)
    with pytest.raises(StaffError, match="找不到客服"):
        duty.set_skills(boss, "nobody", ["network"], database_url=url)
    skills = {e.username: e.skills for e in duty.roster(database_url=url)}
    assert skills["wang.agent"] == ("login",)  # unchanged by the refused calls


def test_roster_counts_load_and_overdue_tickets(people, any_database):
    url, boss = any_database, people["boss"]
    urgent = ticket(url, "login", NOW)  # first response due NOW + 1 h
    general = ticket(url, "network", NOW)  # due NOW + 6 h
    paused = ticket(url, "login", NOW)  # due NOW + 1 h, but waiting for the user
    finished = ticket(url, "login", NOW)
    for number in (urgent, general, paused, finished):
        workflow.assign(number, boss, "wang.agent", now=NOW, database_url=url)
    workflow.transition(paused, boss, "waiting_user", now=NOW + MINUTE, database_url=url)
    for to in ("in_progress", "resolved"):
        workflow.transition(finished, boss, to, now=NOW + MINUTE, database_url=url)
    workflow.assign(ticket(url, "network", NOW), boss, "li.agent", now=NOW, database_url=url)
    on_duty(url, people["wang"], at=NOW - MINUTE)

    roster = duty.roster(now=NOW + 2 * timedelta(hours=1), database_url=url)

    assert [(e.username, e.role, e.available, e.load, e.overdue) for e in roster] == [
        ("wang.agent", "agent", True, 3, 1),  # on duty first
        ("li.agent", "agent", False, 1, 0),
        ("zhang.agent", "agent", False, 0, 0),
        ("zhao.sup", "supervisor", False, 0, 0),
    ]  # no editor
    assert roster[0].available_changed_at == NOW - MINUTE
    assert roster[0].role_label == "客服" and roster[3].role_label == "主管"
    later = {
        e.username: e.overdue
        for e in duty.roster(now=NOW + 7 * timedelta(hours=1), database_url=url)
    }
    assert later["wang.agent"] == 2 and later["li.agent"] == 1


def test_going_on_duty_and_away_is_stamped_once(people, any_database):
    url, wang = any_database, people["wang"]
    assert not duty.is_available(wang, database_url=url)  # new accounts are away
    duty.set_available(wang, True, now=NOW, database_url=url)
    duty.set_available(wang, True, now=NOW + MINUTE, database_url=url)  # no change: no stamp
    entry = next(e for e in duty.roster(database_url=url) if e.username == "wang.agent")
    assert (entry.available, entry.available_changed_at) == (True, NOW)
    duty.set_available(wang, False, now=NOW + 2 * MINUTE, database_url=url)
    entry = next(e for e in duty.roster(database_url=url) if e.username == "wang.agent")
    assert (entry.available, entry.available_changed_at) == (False, NOW + 2 * MINUTE)
