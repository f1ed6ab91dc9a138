"""A supervisor at 1280 px against the real servers: a breach notification appears by itself
(the web server's own SLA sweep and notification rounds, the bell's polling), the dashboard's
compliance figure drills down to the breached ticket, and a spot-checked ticket's scorecard is
filled in on its page and lands in the audit trail."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.browser.pages import ARTIFACTS, TIMEOUT
from tests.factories import PASSWORD, new_ticket
from tickets import quality, queries, staff, workflow
from tickets.models import utcnow
from tickets.quality_policy import load_quality_policy

pytestmark = pytest.mark.browser


def test_a_supervisor_sees_a_breach_drills_down_to_it_and_fills_in_a_scorecard(browser, site):
    url = site.database_url
    tag = uuid.uuid4().hex[:6]
    boss = staff.create_staff(f"boss.{tag}", PASSWORD, "supervisor", "钱主管", database_url=url)
    agent = staff.create_staff(f"agent.{tag}", PASSWORD, "agent", "孙客服", database_url=url)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(site.web_url + "/console/login")
    page.fill("input[name=username]", boss.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.wait_for_function("document.body.dataset.notified", timeout=TIMEOUT)  # the first poll

    # reported two hours ago, urgent (cannot log in), nobody answered: an hour past its due time
    late = new_ticket(
        url,
        category="login",
        playbook_priority=None,
        sender_id=f"late-{tag}",
        now=utcnow() - timedelta(hours=2),
    ).number
    toast = page.locator("#toasts .toast.breach", has_text=late)
    toast.wait_for(timeout=60_000)  # the sweep (2 s) and the notification round (1 s) run
    assert f"工单 {late} 的首次响应已超时" in toast.inner_text()
    assert int(page.locator("#bell .count").inner_text()) >= 1
    page.screenshot(path=str(ARTIFACTS / "console-breach-toast-1280.png"))

    # the dashboard: the urgent first responses missed, down to the ticket behind the figure
    page.goto(site.web_url + "/console/dashboard")
    missed = page.locator('#sla-priority tr[data-priority="urgent"] td').nth(4).locator("a")
    assert int(missed.inner_text()) >= 1
    page.screenshot(path=str(ARTIFACTS / "console-dashboard-sla-1280.png"), full_page=True)
    missed.click()
    listed = page.locator("main a", has_text=late).first
    listed.wait_for(timeout=TIMEOUT)
    listed.click()
    page.wait_for_url(f"**/console/tickets/{late}")
    assert "已超时" in page.locator("#sla").inner_text()

    # a ticket the agent closed six weeks ago is in its period's spot check
    then = utcnow() - timedelta(days=42)
    done = new_ticket(url, sender_id=f"done-{tag}", now=then).number
    workflow.claim(done, agent, now=then + timedelta(minutes=5), database_url=url)
    workflow.record_reply(
        done, agent, "已为您处理好", now=then + timedelta(minutes=20), database_url=url
    )
    for step, minutes in (("in_progress", 21), ("resolved", 30)):
        workflow.transition(
            done, agent, step, now=then + timedelta(minutes=minutes), database_url=url
        )
    workflow.transition(done, boss, "closed", now=then + timedelta(hours=1), database_url=url)
    period = load_quality_policy().period_of(then + timedelta(hours=1))
    quality.draw_sample(period.start, database_url=url)
    page.goto(site.web_url + "/console/reviews")
    page.locator("main a", has_text=done).first.click()
    page.wait_for_url(f"**/console/tickets/{done}")
    form = page.locator("#qa form.scorecard")
    for criterion, score in (
        ("accuracy", "5"),
        ("wording", "4"),
        ("timeliness", "5"),
        ("thoroughness", "4"),
    ):
        form.locator(f"select[name=score_{criterion}]").select_option(score)
    form.locator("textarea[name=comment]").fill("处理及时，用语规范。")
    page.screenshot(path=str(ARTIFACTS / "console-scorecard-1280.png"), full_page=True)
    form.locator("button[type=submit]").click()
    page.locator("#qa .qa-total").wait_for(timeout=TIMEOUT)
    total = float(page.locator("#qa .qa-total").inner_text())
    assert total == 91.0  # (0.35 * 5 + 0.2 * 4 + 0.2 * 5 + 0.25 * 4) / 5 * 100
    trail = queries.audit_trail(done, database_url=url)
    review = [e for e in trail if e.kind == "qa_review"]
    assert len(review) == 1 and review[0].actor == boss.username
    assert float(review[0].detail["total"]) == 91.0
    assert review[0].detail["comment"] == "处理及时，用语规范。"
    assert not problems, problems
    # the breached ticket is worked to the end: the other tests' queues start without it
    workflow.assign(late, boss, boss.username, "测试结束，收尾", database_url=url)
    for step in ("in_progress", "resolved", "closed"):
        workflow.transition(late, boss, step, database_url=url)
    desk.close()
