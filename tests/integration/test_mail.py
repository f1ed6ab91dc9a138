"""The mail channel end to end on the real servers: mail in over SMTP on loopback -> a ticket in
the database (categorised by the real NLU, priority and due time from the arrival) -> the
auto-reply caught by a local SMTP sink -> a staff reply from the console out through the relay,
in the thread -> the user's reply (with a changed subject) back on the same ticket -> the
follow-up mail's signed link -> the ratings on the confirm page. And what must never happen:
mail to another address taken, a huge or unreadable mail without a clear bounce, a second
ticket for the same Message-ID. The fixture suite's categories and urgency with the real NLU."""

from __future__ import annotations

import re
import smtplib
import time
import uuid
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from email.utils import make_msgid
from typing import Any

import pytest
import requests
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from channels.mail_reading import read_mail
from channels.report_understanding import understand
from scripts.servers import free_port
from tests.factories import ROOT
from tests.integration.test_console import PASSWORD, csrf_of, login
from tickets import staff
from tickets.mail_policy import load_mail_policy
from tickets.models import Feedback, MailMessage, Ticket, TicketEvent
from tickets.policy import load_policy

pytestmark = pytest.mark.integration
MAIL = ROOT / "tests" / "fixtures" / "mail"
EXPECTED = yaml.safe_load((MAIL / "expected.yml").read_text(encoding="utf-8"))
SUPPORT = "support@dy.example"


class Sink:
    """aiosmtpd's handler that keeps every mail it receives (the relay the desk sends to)."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content, policy=default),
            )
        )
        return "250 OK"

    def wait_for(self, predicate, timeout: float = 60) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _from, _to, mail in self.mails:
                if predicate(mail):
                    return mail
            time.sleep(0.3)
        raise AssertionError(f"no such mail in the sink: {[m['Subject'] for *_, m in self.mails]}")


@pytest.fixture(scope="module")
def mail(servers):
    sink = Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    process, port = servers.start_mail(relay.port)
    yield sink, port
    process.terminate()
    process.wait(timeout=30)
    relay.stop()


def send(port: int, raw: bytes, sender: str, to: str = SUPPORT) -> None:
    """Send ``raw`` as a mail client does: lines end in CRLF on the wire (smtplib sends bytes
    as they are)."""
    wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        smtp.sendmail(sender, [to], wire)


def db(servers) -> Session:
    return Session(create_engine(servers.database_url, future=True), future=True)


def wait_for_ticket(servers, contact: str, timeout: float = 60, count: int = 1) -> list[Ticket]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db(servers) as session:
            found = (
                session.execute(
                    select(Ticket).where(Ticket.contact_email == contact).order_by(Ticket.id)
                )
                .scalars()
                .all()
            )
            if len(found) >= count:
                for ticket in found:
                    session.expunge(ticket)
                return list(found)
        time.sleep(0.3)
    raise AssertionError(f"no ticket for the mail within {timeout}s")


def user_mail(sender: str, subject: str, text: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, SUPPORT, subject
    message["Message-ID"] = make_msgid(domain="qq.com")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["kind"] == "new"))
def test_the_real_nlu_reads_each_fixture_mail_as_expected(servers, name):
    read = read_mail((MAIL / name).read_bytes())
    found = understand(
        read.subject,
        read.text,
        min_confidence=load_mail_policy().min_confidence,
        parse=servers.parse,
    )
    assert (found.category, found.urgent) == (EXPECTED[name]["category"], EXPECTED[name]["urgent"])
    assert not found.unsure, found


def test_a_mail_goes_round_the_whole_desk(servers, mail):
    sink, port = mail
    contact = f"user.{uuid.uuid4().hex[:8]}@163.com"
    raw = (MAIL / "gbk_plain.eml").read_bytes().replace(b"zhangsan@163.com", contact.encode())
    raw = raw.replace(b"<a1@163.com>", f"<{uuid.uuid4().hex}@163.com>".encode())
    sent_at = time.time()
    send(port, raw, contact)
    [ticket] = wait_for_ticket(servers, contact)
    assert (ticket.channel, ticket.category, ticket.priority) == ("email", "login", "urgent")
    assert abs(ticket.created_at.timestamp() - sent_at) < 30
    assert ticket.sender_id == f"email:{contact}"
    # the auto-reply: to the sender, in the thread, with the number, priority and promise
    auto = sink.wait_for(lambda m: ticket.number in str(m["Subject"]) and m["To"] == contact)
    original = read_mail(raw).message_id
    assert auto["In-Reply-To"] == original and original in auto["References"]
    assert auto["Auto-Submitted"] == "auto-replied"
    body = auto.get_content()
    assert load_policy().priority_promise("urgent") in body and "紧急" in body
    # a staff reply from the console goes out in the thread, the number in its subject
    agent = staff.create_staff(
        f"mail.{uuid.uuid4().hex[:6]}", PASSWORD, "agent", "小邮", database_url=servers.database_url
    )
    session = login(servers, agent)
    page = session.get(f"{servers.web_url}/console/tickets/{ticket.number}", timeout=30).text
    assert "邮件" in page and "发送邮件回复" in page
    for action, fields in (
        ("claim", {}),
        ("status", {"to": "in_progress"}),
        ("reply", {"text": "您好，请问是提示密码错误还是账号被锁定？"}),
    ):
        reply = session.post(
            f"{servers.web_url}/console/tickets/{ticket.number}/{action}",
            data={"csrf": csrf_of(page), **fields},
            allow_redirects=False,
            timeout=30,
        )
        assert reply.status_code == 302 and "error" not in reply.headers["Location"], reply.headers
    staff_reply = sink.wait_for(lambda m: "密码错误还是" in m.get_content())
    assert staff_reply["To"] == contact and f"[{ticket.number}]" in str(staff_reply["Subject"])
    assert staff_reply["In-Reply-To"] == auto["Message-ID"]
    assert "Auto-Submitted" not in staff_reply
    # the user's answer, with a subject of their own, threads back by its headers
    answer = user_mail(
        contact,
        "换个标题：还是登录不上",
        "提示密码错误，我确定密码是对的。",
        In_Reply_To=staff_reply["Message-ID"],
        References=f"{original} {staff_reply['Message-ID']}",
    )
    send(port, answer, contact)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db(servers) as s:
            row = s.execute(select(Ticket).where(Ticket.number == ticket.number)).scalar_one()
            if row.transcript[-1]["text"] == "提示密码错误，我确定密码是对的。":
                break
        time.sleep(0.3)
    else:
        raise AssertionError("the user's reply did not reach the ticket")
    assert len(wait_for_ticket(servers, contact)) == 1  # no second ticket
    # resolved: the follow-up mail's signed link; opening it changes nothing, confirming does
    page = session.get(f"{servers.web_url}/console/tickets/{ticket.number}", timeout=30).text
    session.post(
        f"{servers.web_url}/console/tickets/{ticket.number}/status",
        data={"csrf": csrf_of(page), "to": "resolved"},
        allow_redirects=False,
        timeout=30,
    )
    follow = sink.wait_for(lambda m: "/feedback/" in m.get_content())
    link = re.search(r"(http://\S+/feedback/\S+)", follow.get_content()).group(1)
    assert link.startswith(servers.web_url)
    form = requests.get(link, timeout=30)
    assert form.status_code == 200 and "确认提交" in form.text
    with db(servers) as s:
        assert (
            s.execute(select(Ticket.status).where(Ticket.number == ticket.number)).scalar()
            == "resolved"
        )
    tampered = requests.get(link[:-3] + "000", timeout=30)
    assert tampered.status_code == 410 and "无效" in tampered.text
    done = requests.post(
        link,
        data={"confirm": "1", "solved": "yes", "attitude": "5", "expertise": "4", "result": "5"},
        timeout=30,
    )
    assert done.status_code == 200 and "已确认解决" in done.text
    with db(servers) as s:
        closed = s.execute(select(Ticket).where(Ticket.number == ticket.number)).scalar_one()
        feedback = s.execute(
            select(Feedback).where(Feedback.ticket_number == ticket.number)
        ).scalar_one()
        assert closed.status == "closed"
        assert (feedback.attitude, feedback.expertise, feedback.result) == (5, 4, 5)
        assert feedback.staff_id == agent.id
        kinds = (
            s.execute(select(TicketEvent.kind).where(TicketEvent.ticket_id == closed.id))
            .scalars()
            .all()
        )
        assert "user_reply" in kinds
    # no log of any server holds the user's address
    for log in ("mail-server.log", "web.log", "action-server.log", "rasa.log"):
        assert contact not in (servers.workdir / log).read_text(errors="replace"), log


def test_the_same_message_id_twice_is_one_ticket(servers, mail):
    sink, port = mail
    contact = f"twice.{uuid.uuid4().hex[:8]}@qq.com"
    raw = user_mail(contact, "作品全没了", "我的视频作品全部不见了")
    send(port, raw, contact)
    send(port, raw, contact)
    wait_for_ticket(servers, contact)
    time.sleep(3)
    assert len(wait_for_ticket(servers, contact)) == 1
    with db(servers) as s:
        rows = (
            s.execute(
                select(MailMessage).where(
                    MailMessage.address == contact, MailMessage.direction == "in"
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == 1


def test_mail_for_another_address_is_refused_at_the_door(mail):
    _sink, port = mail
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("someone@qq.com")
        code, _ = smtp.rcpt("ceo@dy.example")
        assert code == 550


def test_a_huge_mail_and_an_unreadable_one_get_clear_bounces_and_are_kept(servers, mail):
    sink, port = mail
    big = EmailMessage()
    contact = f"big.{uuid.uuid4().hex[:8]}@126.com"
    big["From"], big["To"], big["Subject"] = contact, SUPPORT, "录屏发给你们"
    big["Message-ID"] = make_msgid(domain="126.com")
    big.set_content("见附件")
    big.add_attachment(
        b"\x00\x01" * (11 * 1024 * 1024), maintype="video", subtype="mp4", filename="录屏.mp4"
    )
    raw = big.as_bytes()
    assert len(raw) > 29 * 2**20
    send(port, raw, contact)
    bounce = sink.wait_for(lambda m: m["To"] == contact, timeout=120)
    assert "过大" in str(bounce["Subject"]) and "25 MB" in bounce.get_content()
    broken = (
        (MAIL / "unreadable.eml").read_bytes().replace(b"someone@126.com", b"x" + contact.encode())
    )
    send(port, broken, "x" + contact)
    unreadable = sink.wait_for(lambda m: m["To"] == "x" + contact)
    assert "无法读取" in str(unreadable["Subject"])
    with db(servers) as s:
        kept = (
            s.execute(
                select(MailMessage).where(
                    MailMessage.address.in_([contact, "x" + contact]), MailMessage.direction == "in"
                )
            )
            .scalars()
            .all()
        )
        assert sorted(k.kind for k in kept) == ["malformed", "too_large"]
        assert (
            all(k.raw_path for k in kept)
            and not s.execute(select(Ticket).where(Ticket.contact_email == contact)).first()
        )
    raw_copy = servers.workdir / "mail" / next(k.raw_path for k in kept if k.kind == "too_large")
    assert raw_copy.read_bytes().endswith(raw.replace(b"\n", b"\r\n"))
