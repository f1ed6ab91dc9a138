"""The desk's mail out, through a real SMTP server on loopback (aiosmtpd): the threading
headers, the automatic mail's empty envelope sender and Auto-Submitted header, a staff reply
sent as from the support address; a relay that does not answer is tried again later, then
given up and shown as failed; without a relay nothing leaves and nothing is lost."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from channels import mail_sending
from scripts.servers import free_port
from tickets import mail_store
from tickets.db import session_scope
from tickets.models import MailMessage, utcnow

SUPPORT = "support@dy.example"


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):
        self.got.append(
            (
                envelope.mail_from,
                envelope.rcpt_tos,
                message_from_bytes(envelope.content, policy=default),
            )
        )
        return "250 OK"


@pytest.fixture()
def relay(database_url, monkeypatch):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("MAIL_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("MAIL_RELAY_PORT", str(controller.port))
    yield sink
    controller.stop()


def queue(kind: str, **extra) -> int:
    with session_scope() as session:
        row = mail_store.queue_out_in(
            session,
            mailbox=SUPPORT,
            kind=kind,
            address="liu@foxmail.com",
            subject="[DY-20261204-0001] 我们已收到您的问题：上传失败",
            body="您好：\n已收到。",
            in_reply_to="tencent_5B8A9C4D2E@qq.com",
            references=["earlier@qq.com", "tencent_5B8A9C4D2E@qq.com"],
            **extra,
        )
        return row.id


def row(mail_id: int) -> MailMessage:
    with session_scope() as session:
        found = session.execute(select(MailMessage).where(MailMessage.id == mail_id)).scalar_one()
        session.expunge(found)
        return found


def test_an_auto_reply_goes_out_in_the_thread_and_says_it_is_automatic(relay):
    mail_id = queue("auto_reply")
    assert mail_sending.send_due() == 1
    [(envelope_from, to, mail)] = relay.got
    assert envelope_from == "<>" and to == ["liu@foxmail.com"]  # a bounce of it loops nowhere
    assert mail["Subject"] == "[DY-20261204-0001] 我们已收到您的问题：上传失败"
    assert mail["From"].addresses[0].addr_spec == SUPPORT
    assert mail["In-Reply-To"] == "<tencent_5B8A9C4D2E@qq.com>"
    assert mail["References"] == "<earlier@qq.com> <tencent_5B8A9C4D2E@qq.com>"
    assert mail["Message-ID"] == f"<{row(mail_id).message_id}>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    assert mail.get_content().startswith("您好：")
    assert row(mail_id).status == "sent" and mail_sending.send_due() == 0  # sent once


def test_a_staff_reply_is_a_person_s_mail_from_the_support_address(relay):
    queue("staff_reply")
    mail_sending.send_due()
    [(envelope_from, _to, mail)] = relay.got
    assert envelope_from == SUPPORT and "Auto-Submitted" not in mail


def test_a_relay_that_does_not_answer_is_tried_again_then_given_up(database_url, monkeypatch):
    monkeypatch.setenv("MAIL_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("MAIL_RELAY_PORT", str(free_port()))  # nobody listens
    mail_id = queue("auto_reply")
    assert mail_sending.send_due() == 0
    first = row(mail_id)
    assert (first.status, first.attempts) == ("pending", 1) and first.problem
    assert first.next_attempt_at > utcnow()
    assert mail_sending.send_due() == 0 and row(mail_id).attempts == 1  # not before its time
    moment = utcnow()
    for _attempt in range(mail_store.MAX_SEND_ATTEMPTS):
        moment += timedelta(hours=3)
        mail_sending.send_due(moment)
    assert row(mail_id).status == "failed"
    assert row(mail_id).attempts == mail_store.MAX_SEND_ATTEMPTS


def test_without_a_relay_the_mail_waits(database_url, monkeypatch):
    monkeypatch.delenv("MAIL_RELAY_HOST", raising=False)
    mail_id = queue("auto_reply")
    assert mail_sending.send_due() == 0
    assert (row(mail_id).status, row(mail_id).attempts) == ("pending", 0)
