"""The SMTP intake's door (aiosmtpd on loopback, in this process): only the support address
takes mail; a mail is answered 250 only once it is kept, with the envelope sender written down
as Return-Path (an empty one marks a bounce, never answered); a mail that cannot be kept is
answered 451 so the sending server tries again; a mail over the hard limit is refused 552."""

from __future__ import annotations

import smtplib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from channels.mail_intake import MailIntake
from channels.mail_server import HARD_LIMIT_FACTOR, IntakeHandler, smtp_session
from channels.report_understanding import Understanding
from scripts.servers import free_port
from tests.factories import ROOT
from tickets import mail_store
from tickets.db import session_scope
from tickets.models import MailMessage, Ticket

SUPPORT = "support@dy.example"
MAIL = (
    b"From: liu@foxmail.com\r\nTo: support@dy.example\r\nSubject: x\r\n"
    b"Message-ID: <d1@x>\r\n\r\nlogin fails\r\n"
)


class IntakeController(Controller):
    """The intake's SMTP sessions (channels.mail_server.smtp_session) in a thread."""

    def factory(self):
        return smtp_session(self.handler)


@pytest.fixture()
def door(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MAIL_STORE_DIR", str(tmp_path / "mail"))
    intake = MailIntake(
        SUPPORT, understand_report=lambda s, t, c: Understanding("login", False, False)
    )
    reader = ThreadPoolExecutor(max_workers=1)
    controller = IntakeController(
        IntakeHandler(intake, reader), hostname="127.0.0.1", port=free_port()
    )
    controller.start()
    yield controller.port
    controller.stop()
    reader.shutdown(wait=True)


def wait_for_tickets(count: int) -> list[Ticket]:
    for _try in range(100):
        with session_scope() as session:
            found = session.execute(select(Ticket)).scalars().all()
            if len(found) >= count:
                return found
        time.sleep(0.05)
    raise AssertionError("no ticket")


def test_mail_to_the_support_address_is_kept_then_read(door):
    with smtplib.SMTP("127.0.0.1", door) as smtp:
        smtp.sendmail("liu@foxmail.com", [SUPPORT], MAIL)
    [ticket] = wait_for_tickets(1)
    assert ticket.channel == "email" and ticket.contact_email == "liu@foxmail.com"
    with session_scope() as session:
        row = session.execute(select(MailMessage).where(MailMessage.direction == "in")).scalar_one()
        assert mail_store.raw_bytes(row.raw_path).startswith(b"Return-Path: <liu@foxmail.com>\r\n")


def test_a_bounce_with_an_empty_envelope_sender_is_never_answered(door):
    with smtplib.SMTP("127.0.0.1", door) as smtp:
        smtp.sendmail("<>", [SUPPORT], MAIL.replace(b"d1@x", b"d2@x"))
    for _try in range(100):
        with session_scope() as session:
            row = session.execute(select(MailMessage).where(MailMessage.direction == "in")).scalar()
            if row is not None and row.status == "done":
                break
        time.sleep(0.05)
    assert row.kind == "automatic"
    with session_scope() as session:
        assert (
            session.execute(select(MailMessage).where(MailMessage.direction == "out")).first()
            is None
        )


def test_other_addresses_are_refused_and_a_mail_that_cannot_be_kept_is_retried_later(
    door, tmp_path, monkeypatch
):
    with smtplib.SMTP("127.0.0.1", door) as smtp:
        smtp.ehlo()
        smtp.mail("liu@foxmail.com")
        assert smtp.rcpt("boss@dy.example")[0] == 550
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store should be")
    monkeypatch.setenv("MAIL_STORE_DIR", str(blocked))
    with smtplib.SMTP("127.0.0.1", door) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("liu@foxmail.com", [SUPPORT], MAIL)
    assert refused.value.smtp_code == 451


def test_a_mail_over_the_hard_limit_is_refused_at_the_door(database_url, tmp_path, monkeypatch):
    policy = tmp_path / "mail.yml"
    shipped = (ROOT / "data" / "policy" / "mail.yml").read_text(encoding="utf-8")
    policy.write_text(shipped.replace("max_mail_mb: 25", "max_mail_mb: 1"), encoding="utf-8")
    monkeypatch.setenv("DY_MAIL_POLICY", str(policy))
    monkeypatch.setenv("MAIL_STORE_DIR", str(tmp_path / "mail"))
    intake = MailIntake(
        SUPPORT, understand_report=lambda s, t, c: Understanding("login", False, False)
    )
    with ThreadPoolExecutor(max_workers=1) as reader:
        controller = IntakeController(
            IntakeHandler(intake, reader), hostname="127.0.0.1", port=free_port()
        )
        controller.start()
        try:
            huge = MAIL + (b"y" * 76 + b"\r\n") * (HARD_LIMIT_FACTOR * 1024 * 1024 // 78 + 10)
            with smtplib.SMTP("127.0.0.1", controller.port) as smtp:
                # refused at MAIL FROM by its declared SIZE, or at the end of DATA
                with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
                    smtp.sendmail("liu@foxmail.com", [SUPPORT], huge)
            assert refused.value.smtp_code == 552
            assert mail_store.spooled() == []
        finally:
            controller.stop()
