"""The service clocks of real tickets on a real database (SQLite, and PostgreSQL when it runs
here): the workflow keeps the clock columns up to date in each change, a wait for the user
pauses them, and the sweeper records every warning and breach once, at the moment it happened
(not when it was noticed), after a restart and after the policy changed.

Every call is given its moment (``now=``): nothing here reads the real clock or sleeps. The
tickets are urgent (response 1 h, an update every 2 h, resolution 24 h, warned at 80 %) unless
a test says otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import NOW, ROOT, new_ticket
from tickets import config, db, queries, staff, workflow
from tickets.models import SlaEvent, Ticket, TicketMeta
from tickets.policy import load_policy
from tickets.sla_store import POLICY_KEY, fingerprint
from tickets.sla_sweeper import SweepReport, sweep

PASSWORD = "correct horse battery"
T = NOW  # the report of every ticket here


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return T + timedelta(hours=hours, minutes=minutes)


@pytest.fixture()
def people(any_database):
    return {
        "agent": staff.create_staff(
            "wang.agent", PASSWORD, "agent", "小王", database_url=any_database
        ),
        "boss": staff.create_staff(
            "zhao.sup", PASSWORD, "supervisor", "赵主管", database_url=any_database
        ),
    }


def urgent_ticket(url, sender="alice", created=T) -> str:
    """A login problem the user asked staff about: urgent."""
    return new_ticket(
        url,
        sender_id=sender,
        category="login",
        reason="user_request",
        playbook="login",
        playbook_priority=None,
        now=created,
    ).number


def general_ticket(url, sender="bob", created=T) -> str:
    return new_ticket(url, sender_id=sender, now=created).number


def columns(url, number) -> dict:
    """The ticket's status and clock columns as stored."""
    with db.session_scope(url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        return {
            name: getattr(ticket, name)
            for name in (
                "status",
                "priority",
                "first_response_at",
                "sla_due_at",
                "update_due_at",
                "resolution_due_at",
                "paused_since",
                "paused_seconds",
                "sla_check_at",
            )
        }


def sla_events(url, number) -> list[tuple]:
    """The ticket's stored warnings and breaches: (clock, kind, cycle, at, due_at, recorded_at)."""
    with db.session_scope(url) as session:
        ticket_id = session.execute(select(Ticket.id).where(Ticket.number == number)).scalar_one()
        rows = session.execute(
            select(SlaEvent).where(SlaEvent.ticket_id == ticket_id).order_by(SlaEvent.at)
        ).scalars()
        return [(e.clock, e.kind, e.cycle, e.at, e.due_at, e.recorded_at) for e in rows]


def force_next_check(url, number, moment) -> None:
    """Make the sweeper look at the ticket again (as a second sweeper racing the first would)."""
    with db.session_scope(url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.sla_check_at = moment


def sweep_in_a_new_process(url, now, **env) -> dict:
    """One sweep by a freshly started interpreter (a restarted server): its report."""
    code = (
        "import json, sys; from datetime import datetime; from tickets.sla_sweeper import sweep; "
        "r = sweep(now=datetime.fromisoformat(sys.argv[1]), database_url=sys.argv[2]); "
        "print(json.dumps(r.__dict__))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, now.isoformat(), url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def answered_then_waited(url, agent, sender="alice") -> str:
    """An urgent ticket reported at T, claimed at T+10m, answered at T+20m; staff wait for the
    user from T+30m, the user writes at T+3h30m (a 3 h pause)."""
    number = urgent_ticket(url, sender)
    workflow.claim(number, agent, now=at(minutes=10), database_url=url)
    workflow.transition(number, agent, "in_progress", now=at(minutes=15), database_url=url)
    workflow.record_reply(
        number, agent, "请问您用的是哪个版本？", now=at(minutes=20), database_url=url
    )
    workflow.transition(number, agent, "waiting_user", now=at(minutes=30), database_url=url)
    assert workflow.user_wrote(
        sender, "版本是 3.2", now=at(hours=3, minutes=30), database_url=url
    ) == [number]
    return number


# --- the workflow keeps the clocks ----------------------------------------------------------------


def test_a_wait_for_the_user_pauses_the_clocks_until_the_user_writes(people, any_database):
    url, agent = any_database, people["agent"]
    number = urgent_ticket(url)
    assert columns(url, number) == {
        "status": "open",
        "priority": "urgent",
        "first_response_at": None,
        "sla_due_at": at(1),
        "update_due_at": None,
        "resolution_due_at": at(24),
        "paused_since": None,
        "paused_seconds": 0,
        "sla_check_at": at(minutes=48),
    }

    workflow.claim(number, agent, now=at(minutes=10), database_url=url)
    workflow.transition(number, agent, "in_progress", now=at(minutes=15), database_url=url)
    workflow.record_reply(
        number, agent, "请问您用的是哪个版本？", now=at(minutes=20), database_url=url
    )
    answered = columns(url, number)
    assert answered["first_response_at"] == at(minutes=20)
    assert answered["update_due_at"] == at(hours=2, minutes=20)  # the update cadence starts
    assert answered["sla_check_at"] == at(hours=1, minutes=56)  # its warning, 96 min on

    workflow.transition(number, agent, "waiting_user", now=at(minutes=30), database_url=url)
    waiting = columns(url, number)
    assert (waiting["status"], waiting["paused_since"], waiting["paused_seconds"]) == (
        "waiting_user",
        at(minutes=30),
        0,
    )
    # while the clocks stand still nothing is due and the sweeper has nothing to check
    assert (waiting["update_due_at"], waiting["resolution_due_at"], waiting["sla_check_at"]) == (
        None,
        None,
        None,
    )
    assert waiting["sla_due_at"] == at(1)  # the first response was met before the wait

    joined = workflow.user_wrote(
        "alice", "版本是 3.2", now=at(hours=3, minutes=30), database_url=url
    )
    assert joined == [number]
    resumed = columns(url, number)
    assert resumed["status"] == "in_progress"
    assert (resumed["paused_since"], resumed["paused_seconds"]) == (None, 3 * 3600)
    # both running clocks moved by exactly the 3 h waited
    assert resumed["update_due_at"] == at(hours=2 + 3, minutes=20)
    assert resumed["resolution_due_at"] == at(24 + 3)
    assert resumed["sla_check_at"] == at(hours=4, minutes=56)
    assert resumed["sla_due_at"] == at(1)

    trail = queries.audit_trail(number, database_url=url)
    assert [(e.kind, e.actor, e.at) for e in trail[-2:]] == [
        ("user_reply", None, at(hours=3, minutes=30)),
        ("status", None, at(hours=3, minutes=30)),
    ]
    assert trail[-2].detail == {"text": "版本是 3.2", "channel": "chat", "resumed": True}
    assert (trail[-1].detail["old"], trail[-1].detail["new"]) == ("waiting_user", "in_progress")
    assert sla_events(url, number) == []


def test_the_user_writing_to_a_ticket_not_waiting_changes_no_clock(people, any_database):
    url, agent = any_database, people["agent"]
    number = urgent_ticket(url)
    workflow.claim(number, agent, now=at(minutes=10), database_url=url)
    workflow.record_reply(number, agent, "在处理了", now=at(minutes=20), database_url=url)
    before = columns(url, number)
    assert workflow.user_wrote("alice", "好的", now=at(1), database_url=url) == [number]
    assert columns(url, number) == before
    assert queries.audit_trail(number, database_url=url)[-1].detail["resumed"] is False


# --- the sweeper ----------------------------------------------------------------------------------


def test_sweeps_record_each_warning_and_breach_once_at_its_own_moment(people, any_database):
    url, agent = any_database, people["agent"]
    number = answered_then_waited(url, agent)
    # the update cycle that started with the reply at T+20m, moved by the 3 h wait:
    warn, due = at(hours=4, minutes=56), at(hours=5, minutes=20)

    first = sweep(now=at(hours=4, minutes=50), database_url=url)
    assert first == SweepReport(refreshed=1, recorded=0, policy_changed=True)  # a fresh database
    assert sweep(now=at(hours=4, minutes=50), database_url=url) == SweepReport()

    assert sweep(now=at(5), database_url=url) == SweepReport(refreshed=1, recorded=1)
    assert sweep(now=at(5), database_url=url) == SweepReport()
    assert columns(url, number)["sla_check_at"] == due

    assert sweep(now=at(6), database_url=url) == SweepReport(refreshed=1, recorded=1)
    assert sweep(now=at(6), database_url=url) == SweepReport()
    expected = [
        ("update", "warning", 0, warn, due, at(5)),
        ("update", "breach", 0, due, due, at(6)),
    ]
    assert sla_events(url, number) == expected
    assert columns(url, number)["sla_check_at"] == at(hours=22, minutes=12)  # resolution warns

    # a second look at the same moments stores nothing twice
    force_next_check(url, number, at(5))
    assert sweep(now=at(hours=6, minutes=5), database_url=url) == SweepReport(refreshed=1)
    # nor does the next reply, which ends the missed cycle (its refresh sees both crossings)
    workflow.record_reply(number, agent, "还在查", now=at(hours=6, minutes=10), database_url=url)
    assert sla_events(url, number) == expected

    with db.session_scope(url) as session:
        stored = session.execute(select(SlaEvent)).scalars().all()
        assert {(e.priority, e.assignee_id) for e in stored} == {("urgent", agent.id)}


def test_after_a_restart_the_first_sweep_records_what_came_due_at_its_own_moments(
    people, any_database
):
    url = any_database
    number = urgent_ticket(url)
    assert sweep(now=at(minutes=10), database_url=url).policy_changed
    db.dispose_all()  # the server stops; nothing runs for 30 hours

    report = sweep_in_a_new_process(url, at(30))
    assert report == {"refreshed": 1, "recorded": 4, "policy_changed": False, "skipped": False}
    assert sla_events(url, number) == [
        ("first_response", "warning", 0, at(minutes=48), at(1), at(30)),
        ("first_response", "breach", 0, at(1), at(1), at(30)),
        ("resolution", "warning", 0, at(hours=19, minutes=12), at(24), at(30)),
        ("resolution", "breach", 0, at(24), at(24), at(30)),
    ]
    assert columns(url, number)["sla_check_at"] is None  # nothing more can come due
    assert sweep(now=at(31), database_url=url) == SweepReport()


def test_the_first_sweep_of_a_fresh_database_counts_as_a_policy_change(any_database):
    url = any_database
    assert sweep(now=T, database_url=url) == SweepReport(policy_changed=True)
    with db.session_scope(url) as session:
        meta = session.get(TicketMeta, POLICY_KEY)
        assert (meta.value, meta.updated_at) == (fingerprint(load_policy()), T)
    assert sweep(now=at(1), database_url=url) == SweepReport()


@pytest.fixture()
def live_policy(tmp_path, monkeypatch):
    """A copy of the real policy that the code reads instead (DY_PRIORITY_POLICY)."""
    path = tmp_path / "priority.yml"
    shutil.copy(config.DEFAULT_POLICY_PATH, path)
    monkeypatch.setenv("DY_PRIORITY_POLICY", str(path))
    return path


def edit(path, old, new) -> None:
    """Change the policy file as an editor would (its mtime moves on, so it is read again)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    stat = path.stat()
    path.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_a_policy_edited_live_moves_the_open_tickets_clocks_not_the_closed_ones(
    people, any_database, live_policy
):
    url, agent = any_database, people["agent"]
    open_one = urgent_ticket(url, "alice")
    closed = urgent_ticket(url, "carol")
    workflow.claim(closed, agent, now=at(minutes=5), database_url=url)
    workflow.transition(closed, agent, "in_progress", now=at(minutes=6), database_url=url)
    workflow.transition(closed, agent, "resolved", now=at(minutes=20), database_url=url)
    workflow.transition(closed, agent, "closed", now=at(minutes=25), database_url=url)
    assert sweep(now=at(minutes=30), database_url=url) == SweepReport(
        refreshed=1, policy_changed=True
    )
    assert columns(url, open_one)["sla_due_at"] == at(1)

    urgent_block = "  urgent:\n    label: 紧急\n    rank: 1\n    response_hours: 1\n"
    edit(live_policy, urgent_block, urgent_block.replace("response_hours: 1", "response_hours: 2"))
    assert load_policy().levels["urgent"].response_hours == 2.0

    report = sweep(now=at(minutes=40), database_url=url)
    assert report == SweepReport(refreshed=1, recorded=0, policy_changed=True)
    moved = columns(url, open_one)
    assert (moved["sla_due_at"], moved["sla_check_at"]) == (at(2), at(hours=1, minutes=36))
    assert columns(url, closed)["sla_due_at"] == at(1)  # done under the old promise
    assert sweep(now=at(minutes=41), database_url=url) == SweepReport()
    # a new report gets the new target too
    later = urgent_ticket(url, "dave", created=at(minutes=45))
    assert columns(url, later)["sla_due_at"] == at(hours=2, minutes=45)


def test_a_change_of_the_warning_share_alone_is_a_policy_change(any_database, live_policy):
    url = any_database
    number = urgent_ticket(url)
    sweep(now=at(minutes=1), database_url=url)
    edit(live_policy, "warning_share: 0.8", "warning_share: 0.5")
    assert sweep(now=at(minutes=2), database_url=url) == SweepReport(
        refreshed=1, policy_changed=True
    )
    assert columns(url, number)["sla_check_at"] == at(minutes=30)


# --- priority changes -----------------------------------------------------------------------------


def test_a_priority_change_recomputes_every_clock_from_the_report(people, any_database):
    url, boss = any_database, people["boss"]
    number = general_ticket(url)
    assert (columns(url, number)["sla_due_at"], columns(url, number)["resolution_due_at"]) == (
        at(6),
        at(24),
    )

    workflow.change_priority(
        number, boss, "complex", "需要技术部门排查", now=at(1), database_url=url
    )
    complex_ = columns(url, number)
    assert (complex_["priority"], complex_["sla_due_at"], complex_["resolution_due_at"]) == (
        "complex",
        at(24),
        at(72),
    )
    assert complex_["sla_check_at"] == at(hours=19, minutes=12)
    assert sla_events(url, number) == []

    # urgent from the report on: already 1 h past its response target at T+2h
    workflow.change_priority(number, boss, "urgent", "用户业务中断", now=at(2), database_url=url)
    urgent = columns(url, number)
    assert (urgent["priority"], urgent["sla_due_at"], urgent["resolution_due_at"]) == (
        "urgent",
        at(1),
        at(24),
    )
    assert urgent["sla_check_at"] == at(hours=19, minutes=12)
    assert sla_events(url, number) == [
        ("first_response", "warning", 0, at(minutes=48), at(1), at(2)),
        ("first_response", "breach", 0, at(1), at(1), at(2)),
    ]
    assert [e.detail["new"] for e in queries.audit_trail(number, database_url=url)] == [
        "complex",
        "urgent",
    ]


# --- bugs seen through the store ------------------------------------------------------------------


def test_resolving_a_ticket_that_waited_for_the_user_records_no_breach(people, any_database):
    """Staff asked the user something and waited; three days later they resolved the ticket
    (waiting_user -> resolved). The update and resolution clocks were paused the whole time:
    no warning or breach may be stored against the agent."""
    url, agent = any_database, people["agent"]
    number = urgent_ticket(url)
    workflow.claim(number, agent, now=at(minutes=5), database_url=url)
    workflow.transition(number, agent, "in_progress", now=at(minutes=6), database_url=url)
    workflow.record_reply(number, agent, "请发一张截图", now=at(minutes=10), database_url=url)
    workflow.transition(number, agent, "waiting_user", now=at(minutes=20), database_url=url)
    workflow.transition(number, agent, "resolved", "用户未回复", now=at(72), database_url=url)
    assert sla_events(url, number) == []


def test_a_restart_is_no_policy_change_for_a_calendar_with_holidays(any_database, live_policy):
    """The fingerprint of the SLA settings must be the same in every process: otherwise each
    restart (and, with several web servers, each sweep by another one) recomputes every open
    ticket as if the policy had changed."""
    edit(
        live_policy,
        "  calendar: 7x24\n",
        "  calendar:\n"
        '    utc_offset: "+08:00"\n'
        "    hours: {mon: 09:00-18:00, tue: 09:00-18:00, wed: 09:00-18:00,"
        " thu: 09:00-18:00, fri: 09:00-18:00}\n"
        "    holidays: [2026-10-01, 2026-10-02, 2026-10-03, 2026-10-04, 2026-10-05,"
        " 2026-10-06, 2026-10-07]\n",
    )
    url = any_database
    urgent_ticket(url)
    first = sweep_in_a_new_process(url, at(minutes=1), PYTHONHASHSEED="1")
    assert first["policy_changed"] is True  # a fresh database
    again = sweep_in_a_new_process(url, at(minutes=2), PYTHONHASHSEED="2")
    assert again == {"refreshed": 0, "recorded": 0, "policy_changed": False, "skipped": False}
