"""E-mail tickets in the console and the follow-up page: the ticket page shows the channel, the
attachments (an image inline only when its bytes are an image, under a sandboxing policy;
anything else a download) and the mail in and out; a reply and a resolution become queued
mails in the thread; the follow-up link shows a form and counts only a confirmed answer; the
mailbox page and the raw copies are for staff only."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from channels.mail_intake import MailIntake
from channels.report_understanding import Understanding
from tests.factories import ROOT, csrf_of, login
from tickets import mail_store
from tickets.db import session_scope
from tickets.models import Feedback, MailMessage, Ticket

SUPPORT = "support@dy.example"
MAIL = ROOT / "tests" / "fixtures" / "mail"


def _understand(subject: str, text: str, min_confidence: float) -> Understanding:
    return Understanding("data_loss", unsure=False, urgent=False)


@pytest.fixture(scope="module")
def mail_site(console_site, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAIL_STORE_DIR", str(tmp_path_factory.mktemp("mail")))
        env.setenv("DY_PUBLIC_URL", "https://help.dy.example")
        intake = MailIntake(SUPPORT, understand_report=_understand)
        shot = intake.receive((MAIL / "screenshot.eml").read_bytes())
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "fake@qq.com", SUPPORT, "数据丢失"
        message["Message-ID"] = "<fake-image@qq.com>"
        message.set_content("附件是截图")
        message.add_attachment(
            b"<script>alert(1)</script>", maintype="image", subtype="png", filename="截图.png"
        )
        fake = intake.receive(message.as_bytes())
        console_site.mail_ticket = shot.ticket_number
        console_site.fake_ticket = fake.ticket_number
        yield console_site


def attachments(site, number: str) -> list[str]:
    page = login(site, "agent").get(f"/console/tickets/{number}").text
    return re.findall(rf"/console/tickets/{number}/attachments/(\d+)", page)


def test_the_ticket_page_shows_the_channel_the_attachments_and_the_mail(mail_site):
    page = login(mail_site, "agent").get(f"/console/tickets/{mail_site.mail_ticket}").text
    assert "邮件" in page and 'class="channel channel-email"' in page
    assert 'class="attachment-image"' in page and "截图.png" in page
    assert "邮件往来" in page and "收到用户邮件「数据丢失，附截图」" in page
    assert "自动回复" in page and "等待发送" in page
    assert "发送邮件回复" in page


def test_an_image_is_shown_inline_only_when_its_bytes_are_an_image(mail_site):
    agent = login(mail_site, "agent")
    [shot] = set(attachments(mail_site, mail_site.mail_ticket))
    inline = agent.get(f"/console/tickets/{mail_site.mail_ticket}/attachments/{shot}")
    assert inline.status_code == 200 and inline.headers["content-type"] == "image/png"
    assert inline.content.startswith(b"\x89PNG")
    assert inline.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in inline.headers["content-security-policy"]
    [fake] = set(attachments(mail_site, mail_site.fake_ticket))
    served = agent.get(f"/console/tickets/{mail_site.fake_ticket}/attachments/{fake}")
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%88%AA%E5%9B%BE.png" in served.headers["content-disposition"]
    # another ticket's number does not open it
    other = agent.get(f"/console/tickets/{mail_site.ticket}/attachments/{fake}")
    assert other.status_code == 404


def test_editors_and_strangers_get_no_attachment_and_no_raw_mail(mail_site):
    [shot] = set(attachments(mail_site, mail_site.mail_ticket))
    path = f"/console/tickets/{mail_site.mail_ticket}/attachments/{shot}"
    assert mail_site.get(path, allow_redirects=False).status_code == 302
    assert login(mail_site, "editor").get(path).status_code == 403
    assert login(mail_site, "editor").get("/console/mail/1/raw").status_code == 403


def test_the_mailbox_page_lists_the_mail_and_gives_raw_copies_as_downloads(mail_site):
    agent = login(mail_site, "agent")
    page = agent.get("/console/mail").text
    assert "支持邮箱" in page and "新建工单" in page and "自动回复" in page
    raw_id = re.search(r"/console/mail/(\d+)/raw", page).group(1)
    raw = agent.get(f"/console/mail/{raw_id}/raw")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert b"Message-ID:" in raw.content


def move(session, number: str, action: str, **fields: str):
    page = session.get(f"/console/tickets/{number}").text
    return session.post(
        f"/console/tickets/{number}/{action}",
        data={"csrf": csrf_of(page), **fields},
        allow_redirects=False,
    )


def out_mail(number: str, kind: str) -> MailMessage:
    with session_scope() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        row = (
            session.execute(
                select(MailMessage)
                .where(MailMessage.ticket_id == ticket.id, MailMessage.kind == kind)
                .order_by(MailMessage.id.desc())
            )
            .scalars()
            .first()
        )
        session.expunge(row)
        return row


def test_a_reply_and_a_resolution_are_mails_in_the_ticket_s_thread(mail_site):
    number = mail_site.mail_ticket
    agent = login(mail_site, "agent")
    for action, fields in (("claim", {}), ("status", {"to": "in_progress"})):
        assert "error" not in move(agent, number, action, **fields).headers["location"]
    reply = move(agent, number, "reply", text="您好，请问丢失的是哪一天的数据？")
    assert "error" not in reply.headers["location"]
    sent = out_mail(number, "staff_reply")
    assert sent.status == "pending" and sent.address == "zhao@126.com"
    assert f"[{number}]" in sent.subject and "数据丢失，附截图" in sent.subject
    assert "请问丢失的是哪一天的数据？" in sent.body
    auto = out_mail(number, "auto_reply")
    assert sent.in_reply_to == auto.message_id
    assert sent.references.split()[-1] == auto.message_id
    move(agent, number, "status", to="resolved")
    follow = out_mail(number, "follow_up")
    assert follow.address == "zhao@126.com" and number in follow.subject
    assert re.search(r"https://help\.dy\.example/feedback/\S+", follow.body)


def test_the_follow_up_link_shows_a_form_and_counts_only_a_confirmed_answer(mail_site):
    number = mail_site.mail_ticket
    body = out_mail(number, "follow_up").body
    path = re.search(r"https://help\.dy\.example(/feedback/\S+)", body).group(1)
    form = mail_site.get(path)
    assert form.status_code == 200 and "确认提交" in form.text and number in form.text
    assert form.headers["referrer-policy"] == "no-referrer"
    for _scanner in range(2):  # a mail scanner opens it: nothing changes
        mail_site.get(path)
    with session_scope() as session:
        assert (
            session.execute(select(Ticket.status).where(Ticket.number == number)).scalar()
            == "resolved"
        )
    unconfirmed = mail_site.post(path, data={"attitude": "1"})
    assert unconfirmed.status_code == 400 and "请先选择" in unconfirmed.text
    answer = mail_site.post(
        path,
        data={
            "confirm": "1",
            "solved": "no",
            "attitude": "4",
            "expertise": "3",
            "result": "2",
            "comment": "还是找不回来",
        },
    )
    assert answer.status_code == 200 and "重新打开" in answer.text
    with session_scope() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        feedback = session.execute(
            select(Feedback).where(Feedback.ticket_number == number)
        ).scalar_one()
        assert ticket.status == "in_progress"
        assert (feedback.attitude, feedback.expertise, feedback.result) == (4, 3, 2)
        assert feedback.comment == "还是找不回来"
    again = mail_site.get(path)
    assert "已经确认过了" in again.text
    forged = mail_site.get(path[:-4] + "abcd")
    assert forged.status_code == 410 and "无效" in forged.text


def test_an_unsure_category_is_confirmed_on_the_ticket_page(mail_site):
    intake = MailIntake(
        SUPPORT,
        understand_report=lambda s, t, c: Understanding("other", unsure=True, urgent=False),
    )
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "who@qq.com", SUPPORT, "你好"
    message["Message-ID"] = "<unsure@qq.com>"
    message.set_content("麻烦看一下")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAIL_STORE_DIR", str(mail_store.store_dir()))
        number = intake.receive(message.as_bytes()).ticket_number
    agent = login(mail_site, "agent")
    page = agent.get(f"/console/tickets/{number}").text
    assert "待分类" in page and "确认类别" in page
    move(agent, number, "category", category="feature")
    page = agent.get(f"/console/tickets/{number}").text
    assert "待分类" not in page and "功能使用" in page


def test_the_mail_that_needs_a_look_is_one_click_away_and_a_raw_copy_is_audited(mail_site):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAIL_STORE_DIR", str(mail_store.store_dir()))
        MailIntake(SUPPORT, understand_report=_understand).receive(
            (MAIL / "unreadable.eml").read_bytes()
        )
    agent = login(mail_site, "agent")
    page = agent.get("/console/mail").text
    assert re.search(r"只看需要查看的邮件（[1-9]\d*）", page)
    only = agent.get("/console/mail?look=1").text
    assert "无法读取，已退信" in only and "新建工单" not in only
    ticket_page = agent.get(f"/console/tickets/{mail_site.mail_ticket}").text
    raw_id = re.search(r"/console/mail/(\d+)/raw", ticket_page).group(1)
    agent.get(f"/console/mail/{raw_id}/raw")
    after = agent.get(f"/console/tickets/{mail_site.mail_ticket}").text
    assert "下载了原始邮件（含用户的邮箱地址）" in after
