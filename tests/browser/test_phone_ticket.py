"""The hotline in a real browser against the real servers (Rasa's NLU included): an agent
registers a call, the form's 「识别问题类别」 asks the running model and picks 账号登录 · 紧急,
the ticket opens as a phone ticket of urgent priority; the agent works it to resolved, opens
回访任务, calls the user back (the number shown once asked for) and records that the problem
is solved with the user's three scores: the ticket is closed and the feedback holds them."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from sqlalchemy import select

from tests.browser.pages import ARTIFACTS, TIMEOUT
from tickets import staff
from tickets.db import session_scope
from tickets.models import Feedback, Ticket, TicketEvent

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"
SAID = "我的账号登录不上了，很急"


def test_a_call_is_registered_worked_and_followed_up(browser, site):
    agent = staff.create_staff(
        f"hotline.{uuid.uuid4().hex[:6]}",
        PASSWORD,
        "agent",
        "孙客服",
        database_url=site.database_url,
    )
    digits = f"{random.randrange(10_000_000):08d}"
    typed, caller = f"139 {digits[:4]} {digits[4:]}", f"139{digits}"
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(site.web_url + "/console/login")
    page.fill("input[name=username]", agent.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")

    # the call: the agent types what the caller says and asks for the category
    page.get_by_role("link", name="新建电话工单").click()
    page.wait_for_url("**/console/calls/new")
    page.fill("input[name=caller]", typed)
    page.fill("textarea[name=said]", SAID)
    assert page.input_value("input[name=called_at]")  # now, China time, as the form starts
    page.get_by_role("button", name="识别问题类别").click()
    suggestion = page.locator("#suggestion[data-state=done]")
    suggestion.wait_for(timeout=TIMEOUT)
    assert suggestion.inner_text() == "系统建议：账号登录 · 紧急（1 小时内响应）"
    assert page.input_value("select[name=category]") == "login"
    assert page.is_checked("input[name=urgent]") and not page.is_checked("input[name=unsure]")
    assert "紧急（1 小时内响应）" in page.locator("#priority-preview").inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-call-new-1280.png"), full_page=True)
    page.get_by_role("button", name="创建电话工单").click()
    page.wait_for_url(re.compile(r".*/console/tickets/DY-\d{8}-\d{4,}$"), timeout=TIMEOUT)
    number = page.url.rsplit("/", 1)[1]

    facts = page.locator(".facts").inner_text()
    assert "电话热线" in facts and "紧急" in facts and "账号登录" in facts
    assert SAID in page.locator(".transcript").inner_text()
    assert caller not in page.content()  # masked until someone asks to see it
    with session_scope(site.database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        assert (ticket.channel, ticket.priority, ticket.category) == ("phone", "urgent", "login")
        assert ticket.sender_id == f"phone:{caller}" and not ticket.category_unsure

    # worked on its page: claimed, in progress, resolved
    page.get_by_role("button", name="认领").click()
    page.get_by_role("button", name="改为「处理中」").wait_for(timeout=TIMEOUT)
    page.get_by_role("button", name="改为「处理中」").click()
    page.get_by_role("button", name="改为「已解决」").wait_for(timeout=TIMEOUT)
    page.get_by_role("button", name="改为「已解决」").click()
    page.get_by_role("button", name="改为「已关闭」").wait_for(timeout=TIMEOUT)
    assert "已解决" in page.locator(".facts").inner_text()
    assert page.locator("p.error").count() == 0  # no chat follow-up tried for a phone ticket

    # the follow-up call
    page.get_by_role("link", name="回访任务").click()
    page.wait_for_url("**/console/calls")
    task = page.locator(f"#call-{number}")
    assert f"{caller[:3]}****{caller[-4:]}" in task.locator(".caller").inner_text()
    task.get_by_role("button", name="查看完整号码（会被记录）").click()
    task = page.locator(f"#call-{number}")
    task.locator(f"a[href='tel:{caller}']").wait_for(timeout=TIMEOUT)
    task.get_by_label("接通了").check()
    task.get_by_label("已解决（关闭工单）").check()
    task.locator("select[name=score_attitude]").select_option("5")
    task.locator("select[name=score_expertise]").select_option("4")
    task.locator("select[name=score_result]").select_option("5")
    task.locator("textarea[name=comment]").fill("用户说已经能登录了，很满意")
    page.screenshot(path=str(ARTIFACTS / "console-calls-1280.png"), full_page=True)
    task.get_by_role("button", name="记录回访结果").click()
    notice = page.locator("p.result.ok[role=status]")
    notice.wait_for(timeout=TIMEOUT)
    assert f"工单 {number} 已关闭" in notice.inner_text()
    assert page.locator(f"#call-{number}").count() == 0
    assert problems == [], problems

    with session_scope(site.database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        assert ticket.status == "closed" and ticket.closed_at is not None
        feedback = session.execute(
            select(Feedback).where(Feedback.ticket_number == number)
        ).scalar_one()
        assert (feedback.attitude, feedback.expertise, feedback.result) == (5, 4, 5)
        assert feedback.staff_id == agent.id and feedback.comment == "用户说已经能登录了，很满意"
        audited = session.execute(
            select(TicketEvent.kind, TicketEvent.actor_id)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
        ).all()
        kinds = [kind for kind, _ in audited]
        assert kinds[0] == "phone_intake" and kinds[-1] == "follow_up_call"
        assert ("contact_view", agent.id) in audited
        assert all(actor == agent.id for kind, actor in audited if kind != "status")
    desk.close()
