"""The live parts of the console through the real web app: the bell's notifications (JSON for
the script, marked read with the form's CSRF token), the notifications page, and the
supervisor's live view of tickets past and near a due time, the queue and the people."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.factories import NOW, csrf_of, login, new_ticket
from tickets import duty, notifications
from tickets.models import utcnow

LIVE_REFUSAL = "只有主管可以查看实时监控"


def section(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}".*?</table>', page, re.S).group(0)


def test_the_bell_lists_new_notifications_and_marks_them_read(console_site):
    site = console_site
    boss = site.people["supervisor"]
    notifications.collect(database_url=site.database_url)  # the cursors start here
    number = new_ticket(site.database_url, category="data_loss", playbook_priority=None).number
    notifications.collect(database_url=site.database_url)
    session = login(site, "supervisor")
    page = session.get(site.url + "/console/", timeout=30).text
    assert 'id="bell"' in page and '<meta name="csrf"' in page
    answer = session.get(site.url + "/console/notifications.json", timeout=30).json()
    mine = [i for i in answer["items"] if i["ticket"] == number and i["kind"] == "new_urgent"]
    assert len(mine) == 1 and mine[0]["kind"] == "new_urgent" and mine[0]["label"] == "新的紧急工单"
    assert mine[0]["text"] == f"新的紧急工单 {number}（数据丢失）"
    assert answer["unread"] == notifications.unread(boss.id, database_url=site.database_url) >= 1
    later = session.get(
        site.url + f"/console/notifications.json?after={mine[0]['id']}", timeout=30
    ).json()
    assert all(i["id"] > mine[0]["id"] for i in later["items"])
    assert (
        session.get(site.url + "/console/notifications.json?after=x", timeout=30).status_code == 200
    )

    refused = session.post(site.url + "/console/notifications/read", data={}, timeout=30)
    assert refused.status_code == 403 and notifications.unread(
        boss.id, database_url=site.database_url
    )
    token = csrf_of(page)
    read = session.post(
        site.url + "/console/notifications/read",
        data={"csrf": token, "id": str(mine[0]["id"])},
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()
    assert read["ok"] and read["unread"] == answer["unread"] - 1
    listed = session.get(site.url + "/console/notifications", timeout=30).text
    assert number in listed and "通知" in listed
    session.post(site.url + "/console/notifications/read", data={"csrf": token}, timeout=30)
    assert notifications.unread(boss.id, database_url=site.database_url) == 0


def test_editors_have_no_bell(console_site):
    site = console_site
    editor = login(site, "editor")
    page = editor.get(site.url + editor.landing, timeout=30).text
    assert 'id="bell"' not in page
    assert editor.get(site.url + "/console/notifications.json", timeout=30).status_code == 403


def test_the_live_view_shows_breached_and_near_tickets_the_queue_and_the_people(console_site):
    site = console_site
    url = site.database_url
    late = new_ticket(url, category="login", playbook_priority=None, now=NOW).number  # long due
    soon = new_ticket(
        url, category="login", playbook_priority=None, now=utcnow() - timedelta(minutes=55)
    ).number  # urgent: 5 minutes left of its hour
    calm = new_ticket(url, now=utcnow()).number  # general: six hours left
    duty.set_available(site.people["agent"], True, database_url=url)
    boss = login(site, "supervisor")
    page = boss.get(site.url + "/console/live", timeout=30).text
    assert 'data-live id="live-breached"' in page and 'src="/static/console.js"' in page
    breached, near = section(page, "breached"), section(page, "near")
    assert late in breached and late not in near
    assert soon in near and soon not in breached
    assert calm not in breached and calm not in near
    assert re.search(
        rf"{soon}</a></td><td>紧急</td><td>账号登录</td>\s*<td>[^<]+</td><td>首次响应", near
    )
    queue = section(page, "queue-age")
    assert "紧急" in queue and "一般" in queue
    people = section(page, "people")
    assert re.search(r'data-username="agent.web"><td>[^<]*</td><td>在岗</td>', people)
    agent = login(site, "agent")
    refused = agent.get(site.url + "/console/live", timeout=30)
    assert refused.status_code == 403 and LIVE_REFUSAL in refused.text
    duty.set_available(site.people["agent"], False, database_url=url)
