"""The staff side in a real browser: a user escalates in the widget, an agent works the ticket
in the console, the user confirms and rates, and the dashboard moves."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.pages import ARTIFACTS, TIMEOUT, click_reply, editor_at_console, open_widget
from tests.factories import nasty_playbook
from tests.tickets.builders import ticket_with
from tickets import staff, store
from tickets.models import utcnow
from web import flow_diagram

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"


def staff_ratings(page, site) -> int:
    page.goto(site.web_url + "/console/dashboard")
    text = page.locator("#staff-ratings").inner_text()
    return int(re.search(r"（(\d+) 份三项评价）", text).group(1))


def test_escalation_is_worked_to_a_rated_close(browser, phone, site):
    boss = staff.create_staff(
        f"boss.{uuid.uuid4().hex[:6]}",
        PASSWORD,
        "supervisor",
        "赵主管",
        database_url=site.database_url,
    )
    # the user escalates a data loss in the widget
    session = open_widget(phone, site)
    click_reply(phone, "数据丢失")
    click_reply(phone, "还是不行")
    click_reply(phone, "还是不行")
    number = phone.locator(".ticket-no").inner_text()
    assert (
        store.get_for_sender(number, session, database_url=site.database_url).priority == "urgent"
    )

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    console = desk.new_page()
    console.goto(site.web_url + "/console/")
    assert console.url.endswith("/console/login")
    console.fill("input[name=username]", boss.username)
    console.fill("input[name=password]", PASSWORD)
    console.click("button[type=submit]")
    console.wait_for_url("**/console/")
    assert console.locator("#queue tbody tr").first.locator("a").inner_text() == number
    staff_ratings_before = None

    # another user escalates: the open queue shows it without a reload
    other = f"it-{uuid.uuid4().hex[:10]}"
    site.say(other, "转人工")
    other_number = store.list_for_sender(other, database_url=site.database_url)[0].number
    console.locator("#queue", has_text=other_number).wait_for(timeout=TIMEOUT)
    console.screenshot(path=str(ARTIFACTS / "console-queue-1280.png"))

    staff_ratings_before = staff_ratings(console, site)
    console.goto(f"{site.web_url}/console/tickets/{number}")
    assert "数据丢失" in console.locator(".facts").inner_text()
    assert console.locator(".transcript li.user").count() >= 1
    console.click("text=认领")
    console.fill(
        "form[action$='/reply'] textarea", "您好，我是客服赵主管，正在为您从服务器恢复数据。"
    )
    console.click("text=发送回复")
    phone.locator(".msg.staff", has_text="正在为您从服务器恢复数据").wait_for(timeout=TIMEOUT)
    console.click("text=改为「处理中」")
    console.click("text=改为「已解决」")
    console.screenshot(path=str(ARTIFACTS / "console-ticket-1280.png"), full_page=True)

    # the follow-up visit reaches the open widget; the user confirms and rates
    phone.locator(".msg.bot", has_text="问题解决了吗").wait_for(timeout=TIMEOUT)
    click_reply(phone, "解决了")
    assert store.get_for_sender(number, session, database_url=site.database_url).status == "closed"
    for _aspect in ("服务态度", "专业水平", "解决效果"):  # one question and its buttons each
        click_reply(phone, "5 分")
    click_reply(phone, "没有了")
    assert staff_ratings(console, site) == staff_ratings_before + 1
    console.screenshot(path=str(ARTIFACTS / "console-dashboard-1280.png"), full_page=True)
    trail = store.get_for_sender(number, session, database_url=site.database_url)
    assert trail.status == "closed"
    desk.close()


def shown_count(page, step_id: str) -> int:
    row = page.locator("#steps tbody tr", has_text=step_id)
    return int(row.locator("td").nth(1).inner_text())


def test_editor_sees_the_playbook_drawn_with_real_counts(browser, phone, site):
    from playbook.registry import PlaybookRegistry

    editor, desk, page, problems = editor_at_console(browser, site, "李编辑", PASSWORD)
    assert "工单队列" not in page.locator("header").inner_text()
    assert page.locator("#playbooks tbody tr").count() == len(PlaybookRegistry().all())
    page.screenshot(path=str(ARTIFACTS / "console-playbooks-1280.png"), full_page=True)

    page.goto(site.web_url + "/console/playbooks/network")
    before = shown_count(page, "restart_device")
    # a user tries the first step of the network playbook, says it did not help, and leaves
    open_widget(phone, site)
    click_reply(phone, "网络问题")
    click_reply(phone, "还是不行")
    page.reload()
    assert shown_count(page, "restart_device") == before + 1

    svg = page.locator("#flow svg")
    svg.wait_for(timeout=TIMEOUT)
    assert page.locator("#flow").get_attribute("data-state") == "drawn"
    drawn = svg.evaluate("node => node.textContent")
    network = PlaybookRegistry().get("network")
    for step in network.steps.values():
        assert step.title in drawn
    assert "已解决" in drawn and "转人工" in drawn and "优先级：一般" in drawn
    assert re.search(r"还是不行 · \d+", drawn)
    assert page.locator("#flow-error").is_hidden() and not problems, problems
    page.screenshot(path=str(ARTIFACTS / "console-flow-1280.png"), full_page=True)

    # an editor's title full of HTML and Mermaid syntax is drawn as plain text
    drawn = page.evaluate(
        """async source => {
        const box = document.createElement("div");
        box.innerHTML = (await window.mermaid.render("nasty", source)).svg;
        document.body.append(box);
        return {text: box.textContent, tags: box.querySelectorAll("script, img, a").length};
    }""",
        flow_diagram.mermaid(nasty_playbook()),
    )
    assert "<script>alert(1)</script>" in drawn["text"] and 'He said "hi" [x] {y}' in drawn["text"]
    assert drawn["tags"] == 0 and not problems, problems
    # the queue and the tickets stay closed to editors
    page.goto(site.web_url + "/console/")
    assert "内容编辑账号只能查看手册流程图" in page.locator("main").inner_text()
    desk.close()


def test_the_dashboard_draws_its_trends_and_a_bar_opens_that_days_tickets(browser, site):
    """ECharts (from /vendor) draws the four trends from the page's data block, under the
    page's CSP (no error in the console); a click on today's bar of first responses in time
    opens the list of exactly those tickets."""
    boss = staff.create_staff(
        f"boss.{uuid.uuid4().hex[:6]}",
        PASSWORD,
        "supervisor",
        "钱主管",
        database_url=site.database_url,
    )
    now = utcnow()
    ticket_with(  # answered in time today: at least one bar to click
        site.database_url,
        "network",
        now - timedelta(hours=1),
        status="in_progress",
        assignee_id=boss.id,
        first_response_at=now - timedelta(minutes=30),
    )
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(site.web_url + "/console/login")
    page.fill("input[name=username]", boss.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.goto(site.web_url + "/console/dashboard")
    for chart in ("tickets", "first-response", "resolution", "ratings"):
        page.locator(f"#chart-{chart}[data-state=drawn] canvas").first.wait_for(timeout=TIMEOUT)
    chart = page.locator("#chart-first-response")
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "console-dashboard-charts-1280.png"), full_page=True)
    point = page.evaluate(
        """() => {
          const chart = window.DY_CHARTS.firstResponse, option = chart.getOption();
          const last = option.xAxis[0].data.length - 1, met = option.series[0].data[last];
          const [x, y] = chart.convertToPixel({seriesIndex: 0}, [last, met / 2]);
          const box = document.getElementById("chart-first-response").getBoundingClientRect();
          return {x: box.left + x, y: box.top + y, day: option.xAxis[0].data[last], met: met};
        }"""
    )
    assert point["met"] >= 1
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/console/dashboard/tickets?**", timeout=TIMEOUT)
    query = parse_qs(urlsplit(page.url).query)
    assert query["day"] == [point["day"]] and query["outcome"] == ["met"]
    assert query["clock"] == ["first_response"]
    assert page.locator("#drill tbody tr[data-number]").count() == point["met"]
    assert problems == []
    desk.close()
