"""The IMAP poller (channels/mail_imap.py) against a real IMAP server on loopback: a private
Dovecot (tests/integration/dovecot.py) whose INBOX gets the fixture mails by IMAP APPEND with
a chosen INTERNALDATE. Unread mail becomes e-mail tickets dated from that INTERNALDATE and is
flagged \\Seen on the server; a second round fetches nothing; the same mail appended again
and a reply make no second ticket; a wrong password fails clearly and takes nothing; mail
fetched while the ticket database is down waits in the spool and is finished later; a folder
with a Chinese name and a space is found.

The understanding is a stand-in (the category the fixture's expected.yml names, as in
tests/channels/test_mail_intake.py): this needs Dovecot, not the Rasa servers."""

from __future__ import annotations

import imaplib
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from channels.mail_imap import poll_once
from channels.mail_intake import MailIntake
from channels.mail_reading import read_mail
from tests.channels.test_mail_intake import MAIL, SUPPORT, by_subject, mails, understanding_of
from tests.integration.dovecot import DovecotServer
from tickets import mail_store
from tickets.db import session_scope
from tickets.models import Ticket
from tickets.policy import load_policy

pytestmark = pytest.mark.integration

#: INTERNALDATEs in the customers' zone (+08:00): the ticket's clocks must start at the
#: moment they name, whatever the zone of the server or of this machine.
CST = timezone(timedelta(hours=8))
ARRIVED = datetime(2026, 12, 3, 10, 0, tzinfo=CST)
#: Nothing down to the mailbox's own address may reach a log line.
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
#: A PostgreSQL nobody listens on: every connection is refused at once.
UNREACHABLE = "postgresql://u@127.0.0.1:1/x"


@pytest.fixture()
def dovecot() -> Iterator[DovecotServer]:
    server = DovecotServer()
    try:
        yield server.start()
    finally:
        server.remove()


@pytest.fixture()
def intake(database_url, tmp_path, monkeypatch) -> MailIntake:
    monkeypatch.setenv("MAIL_STORE_DIR", str(tmp_path / "mail"))
    return MailIntake(SUPPORT, understand_report=understanding_of(by_subject()))


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def tickets() -> list[Ticket]:
    with session_scope() as session:
        found = list(session.execute(select(Ticket).order_by(Ticket.id)).scalars())
        for ticket in found:
            session.expunge(ticket)
        return found


def unread(server: DovecotServer) -> list[bool]:
    """For each mail in the server's INBOX, whether it is still unread (no \\Seen flag)."""
    return ["\\Seen" not in flags for flags in server.flags()]


def assert_no_address_logged(caplog: pytest.LogCaptureFixture) -> None:
    leaked = [r.getMessage() for r in caplog.records if ADDRESS.search(r.getMessage())]
    assert leaked == []


def test_unread_mail_becomes_email_tickets_dated_from_its_internaldate_and_is_flagged_seen(
    dovecot, intake, caplog
):
    caplog.set_level(logging.INFO)
    names = ["gbk_plain.eml", "screenshot.eml", "foxmail_new.eml"]
    arrivals = [ARRIVED + timedelta(minutes=7 * i, seconds=13) for i in range(len(names))]
    for name, arrived in zip(names, arrivals, strict=True):
        dovecot.deliver(fixture(name), arrived)
    assert unread(dovecot) == [True] * 3

    assert poll_once(dovecot.settings(), intake) == 3

    made = tickets()
    assert len(made) == 3
    expected = by_subject()
    for ticket, name, arrived in zip(made, names, arrivals, strict=True):
        read = read_mail(fixture(name))
        assert ticket.channel == "email" and ticket.contact_email == read.sender
        assert ticket.category == expected[read.subject]["category"]
        assert ticket.created_at == arrived  # the INTERNALDATE, not the moment of the poll
        decision = load_policy().decide(
            category=ticket.category,
            reason="user_request",
            urgent_signal=expected[read.subject]["urgent"],
            created_at=arrived,
        )
        assert (ticket.priority, ticket.sla_due_at) == (decision.priority, decision.due_at)
    came_in = mails(direction="in")
    assert [(m.kind, m.status) for m in came_in] == [("new", "done")] * 3
    assert [m.created_at for m in came_in] == arrivals
    # the raw copy kept is the mail the server held (APPEND made its line ends CRLF)
    body = fixture("screenshot.eml").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert mail_store.raw_bytes(came_in[1].raw_path) == body
    assert len(mails(direction="out", status="pending")) == 3  # one auto-reply each
    assert unread(dovecot) == [False] * 3
    assert mail_store.spooled() == []

    assert poll_once(dovecot.settings(), intake) == 0  # nothing unread any more
    assert len(tickets()) == 3 and len(mails(direction="in")) == 3
    assert_no_address_logged(caplog)


def test_the_same_mail_appended_again_makes_no_second_ticket(dovecot, intake):
    dovecot.deliver(fixture("gbk_plain.eml"), ARRIVED)
    assert poll_once(dovecot.settings(), intake) == 1
    # the very mail again (a client's retry, a copy moved back), and the relayed copy with an
    # extra Received: header: both the same Message-ID
    dovecot.deliver(fixture("gbk_plain.eml"), ARRIVED + timedelta(minutes=1))
    dovecot.deliver(fixture("gbk_plain_again.eml"), ARRIVED + timedelta(minutes=2))

    assert poll_once(dovecot.settings(), intake) == 2  # fetched and read ...
    assert len(tickets()) == 1  # ... one ticket
    assert len(mails(direction="in")) == 1
    assert len(mails(direction="out")) == 1  # one auto-reply
    assert unread(dovecot) == [False] * 3
    assert mail_store.spooled() == []


@pytest.mark.parametrize("rounds", ["one round", "two rounds"])
def test_a_reply_lands_on_the_ticket_of_the_first_mail(dovecot, intake, rounds):
    dovecot.deliver(fixture("foxmail_new.eml"), ARRIVED)
    if rounds == "two rounds":
        assert poll_once(dovecot.settings(), intake) == 1
    # the reply keeps the first mail in References but changed the subject
    dovecot.deliver(fixture("foxmail_changed_subject.eml"), ARRIVED + timedelta(hours=1))
    poll_once(dovecot.settings(), intake)  # (one round: both mails, in the order they came)

    [ticket] = tickets()
    assert ticket.created_at == ARRIVED
    assert ticket.transcript[-1]["text"] == read_mail(fixture("foxmail_changed_subject.eml")).text
    assert ticket.transcript[-1]["channel"] == "email"
    assert [m.kind for m in mails(direction="in")] == ["new", "reply"]
    assert {m.ticket_id for m in mails(direction="in")} == {ticket.id}
    assert len(mails(direction="out")) == 1  # the reply gets no second auto-reply


def test_a_wrong_password_fails_clearly_and_takes_nothing(dovecot, intake, caplog):
    caplog.set_level(logging.INFO)
    dovecot.deliver(fixture("gbk_plain.eml"), ARRIVED)

    with pytest.raises(imaplib.IMAP4.error, match="(?i)authentication failed"):
        poll_once(dovecot.settings(password="not-the-password"), intake)

    assert tickets() == [] and mails() == [] and mail_store.spooled() == []
    assert unread(dovecot) == [True]  # still unread on the server
    assert "not-the-password" not in caplog.text
    # with the right password the next round takes it
    assert poll_once(dovecot.settings(), intake) == 1
    assert len(tickets()) == 1


def test_mail_fetched_while_the_database_is_down_waits_in_the_spool_and_is_finished_later(
    dovecot, intake, caplog
):
    caplog.set_level(logging.INFO)
    names = ["foxmail_new.eml", "foxmail_changed_subject.eml", "mail163_new.eml"]
    arrivals = [ARRIVED + timedelta(minutes=10 * i) for i in range(len(names))]
    for name, arrived in zip(names, arrivals, strict=True):
        dovecot.deliver(fixture(name), arrived)
    down = MailIntake(
        SUPPORT, understand_report=understanding_of(by_subject()), database_url=UNREACHABLE
    )

    assert poll_once(dovecot.settings(), down) == 3  # fetched and kept ...
    assert len(mail_store.spooled()) == 3  # ... in the spool, not lost
    assert unread(dovecot) == [False] * 3  # the server is done with them
    assert tickets() == [] and mails() == []
    assert "unavailable" in caplog.text  # the operator sees why nothing was made

    assert poll_once(dovecot.settings(), intake) == 0  # not fetched a second time
    done = intake.process_spool()  # the database is back

    assert [o.kind for o in done] == ["new", "reply", "new"]
    first, second = tickets()
    assert (first.created_at, second.created_at) == (arrivals[0], arrivals[2])
    assert done[1].ticket_number == first.number  # the reply found its ticket
    assert mail_store.spooled() == []
    assert len(mails(direction="out")) == 2  # one auto-reply per new ticket, no more
    assert_no_address_logged(caplog)


def test_a_folder_named_in_chinese_with_a_space_is_the_one_polled(dovecot, intake):
    # "客服 邮件" as IMAP names it (modified UTF-7, quoted), as `doveadm mailbox mutf7` says
    wire_name = '"&W6JnDQ- &kK5O9g-"'
    dovecot.create(wire_name)
    dovecot.deliver(fixture("screenshot.eml"), ARRIVED, folder=wire_name)
    dovecot.deliver(fixture("gbk_plain.eml"), ARRIVED)  # in INBOX: not this poller's

    assert poll_once(dovecot.settings(folder="客服 邮件"), intake) == 1

    [ticket] = tickets()
    assert ticket.contact_email == read_mail(fixture("screenshot.eml")).sender
    assert ["\\Seen" in flags for flags in dovecot.flags(wire_name)] == [True]
    assert unread(dovecot) == [True]  # INBOX untouched


def test_a_folder_that_does_not_exist_fails_clearly(dovecot, intake):
    with pytest.raises(imaplib.IMAP4.error, match="cannot open folder 工单"):
        poll_once(dovecot.settings(folder="工单"), intake)
    assert tickets() == [] and mail_store.spooled() == []


def test_mail_someone_read_first_in_a_mail_program_is_still_fetched(dovecot, intake):
    dovecot.deliver(fixture("gbk_plain.eml"), ARRIVED)
    assert poll_once(dovecot.settings(), intake) == 1  # the first round: the unread mail
    dovecot.deliver(fixture("screenshot.eml"), ARRIVED + timedelta(minutes=5))
    reader = dovecot.client()  # a colleague opens the mailbox in Foxmail and reads it
    try:
        reader.select("INBOX")
        reader.store("2", "+FLAGS", "(\\Seen)")
    finally:
        reader.logout()
    assert unread(dovecot) == [False, False]
    assert poll_once(dovecot.settings(), intake) == 1  # past the last one kept: fetched
    assert len(tickets()) == 2
    assert poll_once(dovecot.settings(), intake) == 0  # and only once
