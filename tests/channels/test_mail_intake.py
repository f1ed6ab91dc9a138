"""The mail intake on the fixture suite and on mail built for one case: every fixture becomes
what tests/fixtures/mail/expected.yml says (a new e-mail ticket with its priority and due time
from the arrival, a reply on its ticket, a duplicate, an automatic mail left unanswered, an
unreadable one answered); threading by headers and by the subject's number; attachments and
their limits; the auto-reply's rate limit; a huge mail bounced with its raw copy kept; a
reading cut short finished once. The category comes from the expected file here (the real NLU
reads the same fixtures in tests/integration/test_mail.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
import yaml
from sqlalchemy import select

from channels.mail_intake import MailIntake, sender_id_of
from channels.mail_reading import read_mail
from channels.report_understanding import Understanding
from tests.factories import ROOT
from tickets import mail_store, store, workflow
from tickets.db import session_scope
from tickets.models import MailMessage, Ticket, TicketAttachment, TicketEvent
from tickets.policy import load_policy
from tickets.staff import create_staff

MAIL = ROOT / "tests" / "fixtures" / "mail"
EXPECTED = yaml.safe_load((MAIL / "expected.yml").read_text(encoding="utf-8"))
SUPPORT = "support@dy.example"
ARRIVED = datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc)


def by_subject() -> dict[str, dict]:
    """The expected category and urgency of each fixture, by its subject."""
    found = {}
    for name, expected in EXPECTED.items():
        if "category" in expected:
            found[read_mail((MAIL / name).read_bytes()).subject] = expected
    return found


def understanding_of(known: dict[str, dict]):
    def understand(subject: str, text: str, min_confidence: float) -> Understanding:
        expected = known.get(subject)
        if expected is None:
            return Understanding("other", unsure=True, urgent=False)
        return Understanding(expected["category"], unsure=False, urgent=expected["urgent"])

    return understand


@pytest.fixture()
def intake(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MAIL_STORE_DIR", str(tmp_path / "mail"))
    return MailIntake(SUPPORT, understand_report=understanding_of(by_subject()))


def ticket_of(number: str) -> Ticket:
    with session_scope() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        session.expunge(ticket)
        return ticket


def mails(**where) -> list[MailMessage]:
    with session_scope() as session:
        rows = session.execute(
            select(MailMessage).filter_by(**where).order_by(MailMessage.id)
        ).scalars()
        found = list(rows)
        for row in found:
            session.expunge(row)
        return found


def email_ticket_with_thread(message_id: str, contact: str) -> str:
    """An e-mail ticket whose auto-reply had ``message_id`` (what a reply answers)."""
    ticket = store.create_or_join(
        idempotency_key=f"setup-{message_id}",
        sender_id=sender_id_of(contact),
        category="network",
        reason="user_request",
        now=ARRIVED - timedelta(hours=1),
        join=False,
        channel="email",
        contact_email=contact,
    )
    with session_scope() as session:
        row = session.execute(select(Ticket).where(Ticket.number == ticket.number)).scalar_one()
        mail_store.queue_out_in(
            session,
            mailbox=SUPPORT,
            kind="auto_reply",
            address=contact,
            subject="s",
            body="b",
            ticket_id=row.id,
        ).message_id = message_id
    return ticket.number


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_becomes_what_it_should(intake, name):
    expected = EXPECTED[name]
    earlier = None
    if "after" in expected:
        earlier = intake.receive((MAIL / expected["after"]).read_bytes(), ARRIVED)
    elif str(expected.get("thread", "")).endswith("@dy.example"):
        sender = read_mail((MAIL / name).read_bytes()).sender
        contact = sender if name == "qq_reply.eml" else "someone.else@qq.com"
        earlier_number = email_ticket_with_thread(expected["thread"], contact)
    outcome = intake.receive((MAIL / name).read_bytes(), ARRIVED + timedelta(minutes=5))
    assert outcome is not None and outcome.kind == expected["kind"]
    answered = expected["answered"]
    assert outcome.answered == (None if answered == "none" else answered)
    queued = mails(direction="out", status="pending")
    if name == "gbk_plain_again.eml":
        assert len(queued) == 1  # the first delivery's auto-reply only
    elif answered == "none" and "after" not in expected:
        assert queued == [] or all(m.message_id == expected.get("thread") for m in queued)
    if expected["kind"] == "new":
        ticket = ticket_of(outcome.ticket_number)
        assert (ticket.channel, ticket.category) == ("email", expected["category"])
        assert ticket.contact_email == read_mail((MAIL / name).read_bytes()).sender
        decision = load_policy().decide(
            category=expected["category"],
            reason="user_request",
            urgent_signal=expected["urgent"],
            created_at=ARRIVED + timedelta(minutes=5),
        )
        assert ticket.priority == decision.priority
        assert ticket.sla_due_at == decision.due_at  # dated from the arrival
        reply = queued[-1]
        assert outcome.ticket_number in reply.subject and reply.address == ticket.contact_email
        assert load_policy().priority_promise(ticket.priority) in reply.body
        assert reply.in_reply_to == mail_store.bare(
            read_mail((MAIL / name).read_bytes()).message_id
        )
        images = [a for a in attachments_of(ticket.id) if a.inline_image]
        assert len(images) == expected.get("inline_images", 0)
    if expected["kind"] == "reply":
        thread_number = earlier.ticket_number if earlier else earlier_number
        assert outcome.ticket_number == thread_number
        text = read_mail((MAIL / name).read_bytes()).text
        written = ticket_of(thread_number).transcript[-1]["text"]
        if name == "outlook_reply.eml":  # not the ticket's contact: staff see who wrote it
            assert written == f"（发件人：w***@outlook.com）{text}"
        else:
            assert written == text
        assert ticket_of(thread_number).transcript[-1]["channel"] == "email"
    if expected["kind"] in ("automatic", "malformed", "duplicate"):
        assert outcome.ticket_number is None
        with session_scope() as session:
            count = session.execute(select(Ticket)).scalars().all()
        assert len(count) == (1 if "after" in expected else 0)
    # whatever became of it, the raw copy is kept where its row says, and the spool is empty
    rows = mails(direction="in")
    if expected["kind"] == "duplicate":
        assert len(rows) == 1  # the second delivery made no row ...
        first = (MAIL / expected["after"]).read_bytes()
        assert mail_store.raw_bytes(rows[0].raw_path) == first
        kept = sorted((mail_store.store_dir() / mail_store.RAW).rglob("*.eml"))
        assert sorted(p.read_bytes() for p in kept) == sorted([first, (MAIL / name).read_bytes()])
    else:
        assert mail_store.raw_bytes(rows[-1].raw_path) == (MAIL / name).read_bytes()
    assert mail_store.spooled() == []


def attachments_of(ticket_id: int) -> list[TicketAttachment]:
    with session_scope() as session:
        found = list(
            session.execute(
                select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id)
            ).scalars()
        )
        for row in found:
            session.expunge(row)
        return found


def mail(sender: str, subject: str, text: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, SUPPORT, subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


def test_a_reply_with_the_ticket_number_in_its_subject_threads_from_the_ticket_s_own_address(
    intake,
):
    first = intake.receive(
        mail("liu@foxmail.com", "视频上传一直失败", "上传失败", Message_ID="<n1@x>")
    )
    number = first.ticket_number
    again = intake.receive(
        mail("liu@foxmail.com", f"回复：[{number}] 还在失败", "还是不行", Message_ID="<n2@x>")
    )
    assert (again.kind, again.ticket_number) == ("reply", number)
    stranger = intake.receive(
        mail("other@qq.com", f"Re: [{number}] 我也是", "我也上传失败", Message_ID="<n3@x>")
    )
    assert stranger.kind == "new" and stranger.ticket_number != number


def test_a_reply_resumes_a_paused_clock_and_reopens_a_resolved_ticket(intake):
    first = intake.receive(
        mail("liu@foxmail.com", "视频上传一直失败", "上传失败", Message_ID="<p1@x>")
    )
    agent = create_staff("agent1", "correct horse battery", "agent", "王客服")
    workflow.claim(first.ticket_number, agent)
    workflow.transition(first.ticket_number, agent, "in_progress")
    workflow.transition(first.ticket_number, agent, "waiting_user", "请提供截图")
    assert ticket_of(first.ticket_number).paused_since is not None
    reply = mail(
        "liu@foxmail.com", "Re: 截图", "截图如下", Message_ID="<p2@x>", In_Reply_To="<p1@x>"
    )
    assert intake.receive(reply).kind == "reply"
    ticket = ticket_of(first.ticket_number)
    assert (ticket.status, ticket.paused_since) == ("in_progress", None)
    workflow.transition(first.ticket_number, agent, "resolved")
    later = mail(
        "liu@foxmail.com", "Re: 截图", "又不行了", Message_ID="<p3@x>", In_Reply_To="<p2@x>"
    )
    assert intake.receive(later).kind == "reply"
    assert ticket_of(first.ticket_number).status == "in_progress"


def test_a_reply_to_a_closed_ticket_is_a_new_ticket_that_names_the_old_one(intake):
    first = intake.receive(
        mail("liu@foxmail.com", "视频上传一直失败", "上传失败", Message_ID="<c1@x>")
    )
    with session_scope() as session:
        session.execute(select(Ticket)).scalar_one().status = "closed"
    later = intake.receive(
        mail("liu@foxmail.com", "Re: 上传", "又失败了", Message_ID="<c2@x>", In_Reply_To="<c1@x>")
    )
    assert later.kind == "new" and later.ticket_number != first.ticket_number
    assert first.ticket_number in ticket_of(later.ticket_number).transcript[0]["text"]


def test_a_mail_without_a_reference_is_a_new_ticket_even_from_the_same_sender(intake):
    one = intake.receive(mail("liu@foxmail.com", "视频上传一直失败", "一", Message_ID="<s1@x>"))
    two = intake.receive(mail("liu@foxmail.com", "视频上传一直失败", "二", Message_ID="<s2@x>"))
    assert one.ticket_number != two.ticket_number and two.kind == "new"


def test_auto_replies_stop_at_the_hourly_limit_per_sender(intake):
    outcomes = [
        intake.receive(
            mail("flood@qq.com", f"问题 {i}", "登录不上", Message_ID=f"<f{i}@x>"), ARRIVED
        )
        for i in range(5)
    ]
    assert [o.kind for o in outcomes] == ["new"] * 5  # every mail is a ticket ...
    assert sum(1 for o in outcomes if o.answered) == 3  # ... three are answered (mail.yml)
    later = intake.receive(
        mail("flood@qq.com", "问题 6", "登录不上", Message_ID="<f6@x>"),
        ARRIVED + timedelta(hours=2),
    )
    assert later.answered == "mail_ticket_created"


def test_mail_from_our_own_address_or_without_a_sender_is_never_answered(intake):
    own = intake.receive(mail(SUPPORT, "循环", "x", Message_ID="<o1@x>"))
    nobody = intake.receive(b"Subject: hi\r\nMessage-ID: <o2@x>\r\n\r\nhello\r\n")
    assert (own.kind, own.answered) == ("own", None)
    assert (nobody.kind, nobody.answered) == ("no_sender", None)
    assert mails(direction="out") == []


def test_a_huge_mail_is_bounced_clearly_and_its_raw_copy_kept(intake):
    video = b"\x00\x01" * (11 * 1024 * 1024)  # base64: a 30 MB mail, over the 25 MB limit
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "big@qq.com", SUPPORT, "录屏"
    message["Message-ID"] = "<big@x>"
    message.set_content("见附件录屏")
    message.add_attachment(video, maintype="video", subtype="mp4", filename="录屏.mp4")
    raw = message.as_bytes()
    assert 29 * 2**20 < len(raw) < 31 * 2**20
    outcome = intake.receive(raw)
    assert (outcome.kind, outcome.ticket_number) == ("too_large", None)
    bounce = mails(direction="out")[0]
    assert bounce.kind == "bounce" and bounce.address == "big@qq.com"
    assert "25 MB" in bounce.body and "MB" in bounce.body
    kept = mails(direction="in")[0]
    assert mail_store.raw_bytes(kept.raw_path) == raw and kept.size == len(raw)


def test_attachments_over_the_limits_are_listed_not_stored(intake, monkeypatch, tmp_path):
    policy_file = tmp_path / "mail.yml"
    text = (ROOT / "data" / "policy" / "mail.yml").read_text(encoding="utf-8")
    policy_file.write_text(text.replace("max_attachment_mb: 20", "max_attachment_mb: 0.5"))
    monkeypatch.setenv("DY_MAIL_POLICY", str(policy_file))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@qq.com", SUPPORT, "数据丢失"
    message["Message-ID"] = "<att@x>"
    message.set_content("截图和录屏")
    message.add_attachment(b"\x89PNG small", maintype="image", subtype="png", filename="截图.png")
    message.add_attachment(b"v" * 600_000, maintype="video", subtype="mp4", filename="录屏.mp4")
    outcome = intake.receive(message.as_bytes())
    found = {a.filename: a for a in attachments_of(ticket_of(outcome.ticket_number).id)}
    assert found["截图.png"].stored and found["截图.png"].inline_image
    assert mail_store.attachment_file(found["截图.png"].sha256).read_bytes() == b"\x89PNG small"
    assert not found["录屏.mp4"].stored and "0.5 MB" in found["录屏.mp4"].refused


def test_a_reading_cut_short_is_finished_once_from_the_spool(intake, monkeypatch):
    raw = mail("liu@foxmail.com", "视频上传一直失败", "上传失败", Message_ID="<cut@x>")
    original = mail_store.finish_incoming_in

    class Killed(BaseException):
        """The process dies here (nothing in the intake may catch it)."""

    def crash(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(mail_store, "finish_incoming_in", crash)
    with pytest.raises(Killed):
        intake.receive(raw)
    assert len(mail_store.spooled()) == 1  # kept, not done
    monkeypatch.setattr(mail_store, "finish_incoming_in", original)
    [outcome] = intake.process_spool()
    assert outcome.kind == "new" and mail_store.spooled() == []
    with session_scope() as session:
        assert len(session.execute(select(Ticket)).scalars().all()) == 1
    assert len(mails(direction="out")) == 1
    assert intake.receive(raw).kind == "duplicate"


def test_a_staff_member_sets_an_unsure_category(intake):
    outcome = intake.receive(mail("x@qq.com", "你好", "请联系我", Message_ID="<u@x>"))
    ticket = ticket_of(outcome.ticket_number)
    assert (ticket.category, ticket.category_unsure) == ("other", True)
    agent = create_staff("agent2", "correct horse battery", "agent", "李客服")
    workflow.change_category(outcome.ticket_number, agent, "feature")
    ticket = ticket_of(outcome.ticket_number)
    assert (ticket.category, ticket.category_unsure) == ("feature", False)
    with session_scope() as session:
        kinds = session.execute(select(TicketEvent.kind)).scalars().all()
    assert "category" in kinds


def test_an_unexpected_error_leaves_the_mail_kept_and_marked_for_staff(intake, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(mail_store, "thread_ticket_in", broken)
    outcome = intake.receive(mail("liu@foxmail.com", "上传失败", "上传失败", Message_ID="<bug@x>"))
    assert outcome.kind == "failed" and mail_store.spooled() == []
    [row] = mails(direction="in")
    assert (row.kind, row.status) == ("failed", "done") and "KeyError" in row.problem
    assert row.kind in mail_store.NEEDS_A_LOOK and mail_store.raw_bytes(row.raw_path)


EIGHT_BIT = (
    "From: 刘先生 <liu@foxmail.com>\r\nTo: support@dy.example\r\nSubject: 上传失败\r\n"
    "Message-ID: <8bit@x>\r\nPrecedence: 普通\r\nOrganization: 刘氏商贸\r\n"
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
    "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n视频上传失败，截图见附件\r\n"
    '--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="截图.png"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n"
)


@pytest.mark.parametrize("charset", ["utf-8", "gb18030"])
def test_raw_8_bit_headers_and_file_names_are_read_not_crashed_on(intake, charset):
    outcome = intake.receive(EIGHT_BIT.encode(charset))
    assert outcome.kind == "new" and outcome.answered == "mail_ticket_created"
    ticket = ticket_of(outcome.ticket_number)
    assert "视频上传失败" in ticket.transcript[0]["text"]
    [shot] = attachments_of(ticket.id)
    assert shot.filename == "截图.png" and shot.stored


def test_nul_bytes_and_an_overlong_address_are_no_trouble(intake):
    nul = mail("liu@foxmail.com", "=?utf-8?B?5LiKAOS8oA==?=", "上\x00传失败", Message_ID="<nul@x>")
    outcome = intake.receive(nul)
    assert outcome.kind == "new"
    assert "\x00" not in ticket_of(outcome.ticket_number).transcript[0]["text"]
    long_sender = "a" * 250 + "@qq.com"
    raw = f"From: {long_sender}\r\nSubject: x\r\nMessage-ID: <long@x>\r\n\r\nhello\r\n"
    assert intake.receive(raw.encode()).kind == "no_sender"


@pytest.mark.parametrize(
    "header",
    ["Precedence: bulk", "List-Id: <dy-users.qq.com>", "X-Auto-Response-Suppress: OOF, AutoReply"],
)
def test_bulk_list_and_do_not_answer_mail_makes_a_ticket_without_an_auto_reply(intake, header):
    name, value = header.split(": ", 1)
    raw = mail(
        "liu@foxmail.com",
        "上传失败",
        "视频上传失败",
        Message_ID="<q@x>",
        **{name.replace("-", "_"): value},
    )
    outcome = intake.receive(raw)
    assert (outcome.kind, outcome.answered) == ("new", None)
    assert mails(direction="out") == []


def test_a_new_mail_waits_for_the_understanding_then_goes_to_staff(
    database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("MAIL_STORE_DIR", str(tmp_path / "mail"))
    down = MailIntake(
        SUPPORT,
        understand_report=lambda s, t, c: Understanding(
            "other", unsure=True, urgent=False, answered=False
        ),
    )
    raw = mail("liu@foxmail.com", "登录不上", "很急", Message_ID="<w@x>")
    assert down.receive(raw).kind == "waiting"  # just arrived: read again by the next round
    assert len(mail_store.spooled()) == 1 and mails(direction="out") == []
    [path] = mail_store.spooled()
    later = path.with_name(path.name.replace(path.name[:8], "20261101"))
    path.rename(later)  # as if it had arrived a month ago
    [outcome] = down.process_spool()
    ticket = ticket_of(outcome.ticket_number)
    assert (ticket.category, ticket.category_unsure) == ("other", True)
    assert "待确认" in mails(direction="out")[0].body


def test_a_flood_of_senders_gets_no_more_auto_replies_than_the_hourly_total(
    intake, monkeypatch, tmp_path
):
    policy_file = tmp_path / "mail.yml"
    text = (ROOT / "data" / "policy" / "mail.yml").read_text(encoding="utf-8")
    policy_file.write_text(text.replace("per_hour_total: 300", "per_hour_total: 2"))
    monkeypatch.setenv("DY_MAIL_POLICY", str(policy_file))
    outcomes = [
        intake.receive(mail(f"forged{i}@qq.com", "登录不上", "x", Message_ID=f"<g{i}@x>"), ARRIVED)
        for i in range(4)
    ]
    assert [o.kind for o in outcomes] == ["new"] * 4
    assert [bool(o.answered) for o in outcomes] == [True, True, False, False]
