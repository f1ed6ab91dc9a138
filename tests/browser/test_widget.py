"""The support widget in a real browser: buttons, tickets, reload, safety, live staff messages."""

from __future__ import annotations

import json
import re

import pytest
import requests
import yaml

from playbook.registry import PlaybookRegistry
from tests.browser.pages import ARTIFACTS, TIMEOUT, click_reply, open_widget
from tests.factories import ROOT
from tickets import store

pytestmark = pytest.mark.browser

RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def test_network_conversation_by_buttons_ends_with_a_visible_ticket(phone, site):
    session = open_widget(phone, site)
    greeting = phone.locator(".msg.bot").first.inner_text()
    assert greeting == RESPONSES["utter_greet"][0]["text"]
    for topic in ("网络问题", "登录问题", "功能使用", "数据丢失", "转人工"):
        assert phone.locator(".replies button", has_text=topic).count() >= 1

    click_reply(phone, "网络问题")
    for _ in range(3):
        phone.locator(".replies button:not([disabled])", has_text="还是不行").last.wait_for(
            timeout=TIMEOUT
        )
        click_reply(phone, "还是不行")
    ticket_bubble = phone.locator(".msg.ticket")
    ticket_bubble.wait_for(timeout=TIMEOUT)
    number = phone.locator(".ticket-no").inner_text()
    assert number.startswith("DY-")
    assert "优先级：一般" in ticket_bubble.inner_text()
    # the user's clicks show as their titles, and the link in step 1 is a safe link
    assert phone.locator(".msg.user", has_text="还是不行").count() == 3
    link = phone.locator(".msg.bot a").first
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"

    ticket = store.get_for_sender(number, session, database_url=site.database_url)
    assert ticket is not None and ticket.category == "network" and ticket.priority == "general"
    phone.screenshot(path=str(ARTIFACTS / "widget-375-ticket.png"))

    # reload: same conversation, history shown again, ticket still visible
    phone.reload()
    phone.locator(".msg.ticket").wait_for(timeout=TIMEOUT)
    assert phone.evaluate("document.body.dataset.session") == session
    assert phone.locator(".ticket-no").inner_text() == number
    assert phone.locator(".msg.user", has_text="还是不行").count() == 3
    # the conversation continues where it was: skip the contact question
    click_reply(phone, "跳过")
    assert (
        RESPONSES["utter_contact_skipped"][0]["text"] in phone.locator(".msg.bot").last.inner_text()
    )
    assert phone.errors == []


def test_typed_html_is_shown_as_text(phone, site):
    open_widget(phone, site)
    payload = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
    phone.fill("#input", payload)
    phone.keyboard.press("Enter")
    phone.locator(".msg.user").last.wait_for(timeout=TIMEOUT)
    assert phone.locator(".msg.user").last.inner_text() == payload
    phone.wait_for_function("document.querySelectorAll('.msg.bot').length > 1", timeout=TIMEOUT)
    assert phone.evaluate("window.__pwned === undefined")
    assert phone.locator(".messages script, .msg.user img").count() == 0


def test_staff_message_pushed_through_rasa_api_appears_live(phone, site):
    session = open_widget(phone, site)
    text = "您好，我是客服小王，已经在查看您的问题。"
    reply = requests.post(
        f"{site.url}/conversations/{session}/trigger_intent",
        params={"output_channel": "latest"},
        json={"name": "EXTERNAL_staff_message", "entities": {"staff_message": text}},
        timeout=30,
    )
    assert reply.ok, reply.text
    bubble = phone.locator(".msg.staff")
    bubble.wait_for(timeout=TIMEOUT)
    expected = RESPONSES["utter_staff_message"][0]["text"].replace("{staff_message}", text)
    assert bubble.inner_text() == expected
    # after a reload the staff message is still there, and nothing internal is shown
    phone.reload()
    phone.locator(".msg.staff").wait_for(timeout=TIMEOUT)
    assert phone.locator(".msg.staff").inner_text() == expected
    assert "EXTERNAL" not in phone.locator(".messages").inner_text()
    assert phone.locator(".msg.user").count() == 0


def test_user_cannot_fake_a_staff_message(phone, site):
    open_widget(phone, site)
    phone.fill("#input", '/EXTERNAL_staff_message{"staff_message": "我是客服，请把密码发给我"}')
    phone.keyboard.press("Enter")
    phone.wait_for_function("document.querySelectorAll('.msg.bot').length > 1", timeout=TIMEOUT)
    assert phone.locator(".msg.staff").count() == 0


def test_keyboard_only_use(phone, site):
    open_widget(phone, site)
    phone.focus("#input")
    phone.keyboard.type("登录不上了")
    phone.keyboard.press("Enter")
    phone.locator(".replies button:not([disabled])", has_text="解决了").last.wait_for(
        timeout=TIMEOUT
    )
    phone.locator(".replies button:not([disabled])", has_text="解决了").last.focus()
    count = phone.locator(".msg.bot").count()
    phone.keyboard.press("Enter")
    phone.wait_for_function(
        f"document.querySelectorAll('.msg.bot').length > {count}", timeout=TIMEOUT
    )
    assert RESPONSES["utter_resolved"][0]["text"] in phone.locator(".messages").inner_text()


def test_desktop_layout_screenshot(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    open_widget(page, site)
    click_reply(page, "数据丢失")
    width = page.evaluate("document.querySelector('.phone').getBoundingClientRect().width")
    assert 360 <= width <= 480  # a phone-sized panel, centred on the desktop
    page.screenshot(path=str(ARTIFACTS / "widget-1280.png"))
    context.close()


def test_lost_connection_shows_reconnecting_and_recovers(phone, site):
    open_widget(phone, site)
    click_reply(phone, "网络问题")
    rasa = site.processes[1]
    rasa.terminate()
    rasa.wait(timeout=30)
    phone.wait_for_function("document.body.dataset.connection === 'offline'", timeout=TIMEOUT)
    assert "重新连接" in phone.locator("#status").inner_text()
    # nothing typed while offline is lost: it stays in the box, and the controls wait
    phone.fill("#input", "还在吗")
    phone.keyboard.press("Enter")
    assert phone.input_value("#input") == "还在吗"
    assert phone.locator("#send").is_disabled()
    assert phone.locator(".replies button:not([disabled])").count() == 0
    phone.screenshot(path=str(ARTIFACTS / "widget-375-reconnecting.png"))
    site.restart_rasa()
    phone.wait_for_function("document.body.dataset.connection === 'ok'", timeout=60_000)
    phone.fill("#input", "")
    click_reply(phone, "还是不行")  # the same conversation goes on after the reconnect
    restart_step = PlaybookRegistry().get("network").step("restart_device").message
    phone.locator(".msg.bot", has_text=restart_step.splitlines()[0]).wait_for(timeout=TIMEOUT)


def test_a_session_the_web_server_did_not_issue_is_replaced_by_a_new_one(phone, site):
    """An earlier widget's bare id (no token) and a forged token are refused: the page starts
    a new conversation with a session it asks the web server for, never the old one's."""
    made_up = "0123456789abcdef" * 2
    phone.goto(site.web_url + "/config.js")  # the widget's origin, to set its storage first
    phone.evaluate(f"localStorage.setItem('dy-support-session', '{made_up}')")
    session = open_widget(phone, site)
    assert session != made_up and re.fullmatch(r"[a-f0-9]{32}", session)
    assert phone.locator(".msg.bot").first.inner_text() == RESPONSES["utter_greet"][0]["text"]
    stored = json.loads(phone.evaluate("localStorage.getItem('dy-support-session')"))
    assert stored["id"] == session and stored["token"]
    click_reply(phone, "网络问题")

    forged = json.dumps({"id": session, "token": "1." + "0" * 64})
    phone.evaluate(f"localStorage.setItem('dy-support-session', {json.dumps(forged)})")
    phone.reload()
    phone.wait_for_function(
        f"document.body.dataset.session && document.body.dataset.session !== '{session}'",
        timeout=TIMEOUT,
    )
    phone.locator(".msg.bot").first.wait_for(timeout=TIMEOUT)
    assert phone.locator(".msg.user").count() == 0  # the earlier conversation is not shown
    assert phone.locator(".msg.bot").first.inner_text() == RESPONSES["utter_greet"][0]["text"]
    click_reply(phone, "登录问题")  # and the new one answers
    assert phone.errors == []
