"""What the browser tests do on the pages: open the widget, tap a quick reply, log an editor in
at the console; and where screenshots go."""

from __future__ import annotations

import uuid
from pathlib import Path

from tickets import staff

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT = 20_000


def open_widget(page, site):
    page.goto(site.web_url + "/")
    page.wait_for_selector(".msg.bot", timeout=TIMEOUT)
    return page.evaluate("document.body.dataset.session")


def click_reply(page, title):
    button = page.locator(".replies button:not([disabled])", has_text=title).last
    button.wait_for(timeout=TIMEOUT)
    count = page.locator(".msg.bot").count()
    button.click()
    page.wait_for_function(
        f"document.querySelectorAll('.msg.bot').length > {count}", timeout=TIMEOUT
    )


def editor_at_console(browser, site, display_name: str, password: str):
    """A new editor logged in at 1280 px: (context, page, page errors seen so far)."""
    editor = staff.create_staff(
        f"editor.{uuid.uuid4().hex[:6]}",
        password,
        "editor",
        display_name,
        database_url=site.database_url,
    )
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto(site.web_url + "/console/login")
    page.fill("input[name=username]", editor.username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/playbooks")
    return editor, desk, page, problems
