"""Console notifications from what the store records: a new urgent ticket reaches supervisors
and staff on duty, an assignment its assignee (not someone who took it themselves), a user's
reply the ticket's owner, a warning the owner and a breach the owner and every supervisor;
each once, however often the round runs; a breach is mailed through a real SMTP server."""

from __future__ import annotations

import email
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from tests.factories import NOW, new_ticket
from tickets import db, duty, notifications, sla_sweeper, staff, workflow
from tickets.models import StaffUser

H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture
def people(any_database):
    made = {
        key: staff.create_staff(name, "a long password", role, database_url=any_database)
        for key, (name, role) in {
            "wang": ("wang.agent", "agent"),
            "li": ("li.agent", "agent"),
            "boss": ("zhao.sup", "supervisor"),
            "editor": ("chen.ed", "editor"),
        }.items()
    }
    duty.set_available(made["wang"], True, database_url=any_database)
    return made


def kinds(url, person):
    _unread, items = notifications.inbox(person.id, database_url=url)
    return sorted((item.kind, item.ticket_number) for item in items)


def test_each_kind_reaches_its_people_once(any_database, people):
    url = any_database
    notifications.collect(now=NOW, database_url=url)  # the first round: nothing from before
    urgent = new_ticket(url, category="login", playbook_priority=None, now=NOW).number
    general = new_ticket(url, now=NOW).number
    notifications.collect(now=NOW + M, database_url=url)
    assert kinds(url, people["wang"]) == [("new_urgent", urgent)]  # on duty
    assert kinds(url, people["boss"]) == [("new_urgent", urgent)]  # a supervisor
    assert kinds(url, people["li"]) == [] and kinds(url, people["editor"]) == []  # away; editor

    workflow.assign(
        urgent, people["boss"], "li.agent", "擅长登录问题", now=NOW + 2 * M, database_url=url
    )
    workflow.claim(general, people["wang"], now=NOW + 2 * M, database_url=url)  # took it himself
    workflow.record_reply(
        urgent, people["li"], "请问是哪个账号？", now=NOW + 3 * M, database_url=url
    )
    workflow.transition(urgent, people["li"], "waiting_user", now=NOW + 3 * M, database_url=url)
    workflow.user_wrote("alice", "账号 dy_shop", now=NOW + 4 * M, database_url=url)
    notifications.collect(now=NOW + 5 * M, database_url=url)
    notifications.collect(now=NOW + 6 * M, database_url=url)  # again: nothing twice
    li = kinds(url, people["li"])
    assert ("assigned", urgent) in li and ("user_reply", urgent) in li
    assert ("assigned", general) not in kinds(url, people["wang"])
    _, items = notifications.inbox(people["li"].id, database_url=url)
    assigned = next(i for i in items if i.kind == "assigned")
    assert assigned.text == f"工单 {urgent} 已分配给您：擅长登录问题"
    replied = next(i for i in items if i.kind == "user_reply")
    assert replied.text == f"用户回复了工单 {urgent}：账号 dy_shop"
    # alice's general ticket (claimed by wang, unanswered) got the reply too: it was not
    # answered by staff, so it is not joined
    assert ("user_reply", general) not in kinds(url, people["wang"])

    # the first response of the general ticket is due at NOW+6h: warning at 4.8h, breach at 6h
    sla_sweeper.sweep(now=NOW + 7 * H, database_url=url)
    notifications.collect(now=NOW + 7 * H, database_url=url)
    wang = [k for k in kinds(url, people["wang"]) if k[1] == general]
    assert wang == [("breach", general), ("warning", general)]
    boss = [k for k in kinds(url, people["boss"]) if k[1] == general]
    assert boss == [("breach", general)]  # supervisors hear of breaches, not warnings
    # and li's urgent ticket missed its 2-hour progress update (the user's reply at +4 min
    # resumed the clock): the owner and the supervisor hear of it
    assert ("breach", urgent) in kinds(url, people["li"])
    assert [k for k in kinds(url, people["boss"]) if k[1] == urgent] == [
        ("breach", urgent),
        ("new_urgent", urgent),
    ]
    _, items = notifications.inbox(people["boss"].id, database_url=url)
    assert f"工单 {urgent} 的进度通报已超时" in [i.text for i in items]
    assert notifications.unread(people["boss"].id, database_url=url) == 3


def test_read_marks_one_or_all_and_only_ones_own(any_database, people):
    url = any_database
    notifications.collect(now=NOW, database_url=url)
    for _ in range(3):
        new_ticket(url, category="data_loss", playbook_priority=None, now=NOW)
    notifications.collect(now=NOW + M, database_url=url)
    unread, items = notifications.inbox(people["boss"].id, database_url=url)
    assert unread == 3
    assert notifications.mark_read(people["wang"].id, [items[0].id], database_url=url) == 0
    assert notifications.mark_read(people["boss"].id, [items[0].id], database_url=url) == 1
    assert notifications.unread(people["boss"].id, database_url=url) == 2
    assert notifications.mark_read(people["boss"].id, database_url=url) == 2
    assert notifications.unread(people["boss"].id, database_url=url) == 0
    assert notifications.unread(people["wang"].id, database_url=url) == 3


def test_the_first_round_does_not_notify_the_past(any_database, people):
    url = any_database
    new_ticket(url, category="login", playbook_priority=None, now=NOW)
    assert notifications.collect(now=NOW + M, database_url=url) == 0
    assert kinds(url, people["boss"]) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """Keeps every message the SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def test_a_breach_is_mailed_once_to_staff_with_an_address(any_database, people, monkeypatch):
    url = any_database
    sink = Sink()
    port = free_port()
    server = Controller(sink, hostname="127.0.0.1", port=port)
    server.start()
    try:
        monkeypatch.setenv("NOTIFY_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("NOTIFY_SMTP_PORT", str(port))
        monkeypatch.setenv("NOTIFY_MAIL_FROM", "desk@dy.example")
        with db.session_scope(url) as session:
            session.get(StaffUser, people["boss"].id).email = "boss@dy.example"
        notifications.collect(now=NOW, database_url=url)
        number = new_ticket(url, now=NOW).number
        workflow.claim(number, people["wang"], now=NOW, database_url=url)
        sla_sweeper.sweep(now=NOW + 7 * H, database_url=url)
        notifications.collect(now=NOW + 7 * H, database_url=url)
        notifications.collect(now=NOW + 7 * H + M, database_url=url)
    finally:
        server.stop()
    assert len(sink.messages) == 1  # the supervisor; wang gave no address
    mail = sink.messages[0]
    assert mail["To"] == "boss@dy.example" and mail["Auto-Submitted"] == "auto-generated"
    assert "已超时" in str(email.header.make_header(email.header.decode_header(mail["Subject"])))
    body = mail.get_payload(decode=True).decode(mail.get_content_charset() or "utf-8")
    assert f"/console/tickets/{number}" in body and "首次响应已超时" in body


def test_an_smtp_server_that_is_down_leaves_the_breach_for_the_next_round(
    any_database, people, monkeypatch
):
    url = any_database
    monkeypatch.setenv("NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFY_SMTP_PORT", str(free_port()))  # nobody listens
    with db.session_scope(url) as session:
        session.get(StaffUser, people["boss"].id).email = "boss@dy.example"
    notifications.collect(now=NOW, database_url=url)
    new_ticket(url, now=NOW)
    sla_sweeper.sweep(now=NOW + 7 * H, database_url=url)
    notifications.collect(now=NOW + 7 * H, database_url=url)  # refused: logged, kept
    assert notifications.send_breach_mails(now=NOW + 7 * H, database_url=url) == 0
    _unread, items = notifications.inbox(people["boss"].id, database_url=url)
    assert any(i.kind == "breach" for i in items)
