"""The support console over HTTP on the real servers: login, queue, ticket, workflow, reply."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.factories import texts
from tickets import staff, store

pytestmark = pytest.mark.integration
PASSWORD = "console test password"


@pytest.fixture(scope="module")
def accounts(servers):
    suffix = uuid.uuid4().hex[:6]
    agent = staff.create_staff(
        f"agent.{suffix}", PASSWORD, "agent", "小王", database_url=servers.database_url
    )
    boss = staff.create_staff(
        f"boss.{suffix}", PASSWORD, "supervisor", "赵主管", database_url=servers.database_url
    )
    return agent, boss


def login(servers, person) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{servers.web_url}/console/login", timeout=30).text
    reply = session.post(
        f"{servers.web_url}/console/login",
        data={"username": person.username, "password": PASSWORD, "csrf": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 302
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return session


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_logout_needs_the_forms_token(servers, accounts):
    session = login(servers, accounts[0])
    page = session.get(f"{servers.web_url}/console/", timeout=30).text
    assert session.post(f"{servers.web_url}/console/logout", timeout=30).status_code == 403
    out = session.post(
        f"{servers.web_url}/console/logout",
        data={"csrf": csrf_of(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert out.status_code == 302


def test_nothing_answers_without_login(servers):
    for path in ("/console/", "/console/tickets/DY-20261124-0001"):
        reply = requests.get(servers.web_url + path, allow_redirects=False, timeout=30)
        assert reply.status_code == 302 and reply.headers["Location"] == "/console/login"
    reply = requests.post(
        servers.web_url + "/console/tickets/DY-20261124-0001/claim",
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 302


def test_wrong_password_is_refused(servers, accounts):
    session = requests.Session()
    form = session.get(f"{servers.web_url}/console/login", timeout=30).text
    reply = session.post(
        f"{servers.web_url}/console/login",
        data={"username": accounts[0].username, "password": "nope", "csrf": csrf_of(form)},
        timeout=30,
    )
    assert reply.status_code == 401 and "用户名或密码不正确" in reply.text


def test_login_without_the_forms_token_is_refused(servers, accounts):
    reply = requests.post(
        f"{servers.web_url}/console/login",
        data={"username": accounts[0].username, "password": PASSWORD},
        timeout=30,
    )
    assert reply.status_code == 403 and "dy_console=" not in reply.headers.get("Set-Cookie", "")


def test_queue_puts_urgent_first_and_escapes_transcripts(servers, accounts):
    general = f"it-{uuid.uuid4().hex[:10]}"
    servers.say(general, "<script>alert('x')</script>")
    servers.say(general, "转人工")
    urgent = f"it-{uuid.uuid4().hex[:10]}"
    servers.say(urgent, "/data_loss")
    servers.say(urgent, "转人工")
    general_no = store.list_for_sender(general, database_url=servers.database_url)[0].number
    urgent_no = store.list_for_sender(urgent, database_url=servers.database_url)[0].number

    session = login(servers, accounts[0])
    page = session.get(f"{servers.web_url}/console/", timeout=30).text
    assert page.index(urgent_no) < page.index(general_no)
    ticket_page = session.get(f"{servers.web_url}/console/tickets/{general_no}", timeout=30).text
    assert "<script>alert" not in ticket_page and "&lt;script&gt;alert" in ticket_page
    harmless = session.get(
        f"{servers.web_url}/console/",
        params={"status": "open' OR 1=1 --", "assignee": "x' OR '1'='1"},
        timeout=30,
    )
    assert harmless.status_code == 200 and general_no not in harmless.text


def test_claim_reply_and_resolve_reach_the_user_and_the_audit_trail(servers, accounts):
    agent, boss = accounts
    sender = f"it-{uuid.uuid4().hex[:10]}"
    servers.say(sender, "网络老是掉线")
    servers.say(sender, "转人工")
    number = store.list_for_sender(sender, database_url=servers.database_url)[0].number
    session = login(servers, agent)
    base = f"{servers.web_url}/console/tickets/{number}"
    page = session.get(base, timeout=30).text
    forged = session.post(f"{base}/claim", data={"csrf": "0" * 64}, timeout=30)
    assert forged.status_code == 403
    session.post(f"{base}/claim", data={"csrf": csrf_of(page)}, timeout=30)
    page = session.get(base, timeout=30).text
    session.post(f"{base}/status", data={"csrf": csrf_of(page), "to": "in_progress"}, timeout=30)
    session.post(
        f"{base}/reply",
        data={"csrf": csrf_of(page), "text": "您好，我是客服小王，正在处理"},
        timeout=30,
    )
    denied = session.post(
        f"{base}/priority",
        data={"csrf": csrf_of(page), "priority": "urgent", "reason": "想加急"},
        timeout=30,
    )
    assert "只有主管" in denied.text
    session.post(f"{base}/status", data={"csrf": csrf_of(page), "to": "resolved"}, timeout=30)

    ticket = store.get_for_sender(number, sender, database_url=servers.database_url)
    assert ticket.status == "resolved"
    events = servers.tracker(sender)["events"]
    assert any(
        e.get("event") == "bot" and "您好，我是客服小王，正在处理" in (e.get("text") or "")
        for e in events
    )
    page = session.get(base, timeout=30).text
    assert page.count(agent.username) >= 4  # claim, statuses and reply are attributed

    # the follow-up visit: the user is asked, confirms, the ticket closes, the rating is kept
    events = servers.tracker(sender)["events"]
    assert any(
        e.get("event") == "bot"
        and number in (e.get("text") or "")
        and "解决了吗" in (e.get("text") or "")
        for e in events
    )
    closing = servers.say(sender, "解决了")
    assert number in texts(closing)
    assert (
        store.get_for_sender(number, sender, database_url=servers.database_url).status == "closed"
    )
    # the three-part rating in one free-text answer, then the optional comment
    thanked = texts(servers.say(sender, "态度很好，都给5分"))
    assert "服务态度 5 分，专业水平 5 分，问题解决效果 5 分" in thanked
    assert "意见或建议" in thanked
    assert "感谢您的评价" in texts(servers.say(sender, "没有了"))
    feedback = store.get_feedback(
        store.escalation_key(sender, f"ticket-{number}"), database_url=servers.database_url
    )
    assert feedback["ticket_number"] == number
    assert (feedback["attitude"], feedback["expertise"], feedback["result"]) == (5, 5, 5)


def test_still_broken_at_the_follow_up_reopens_the_ticket(servers, accounts):
    agent = accounts[0]
    sender = f"it-{uuid.uuid4().hex[:10]}"
    servers.say(sender, "登录不上")
    servers.say(sender, "转人工")
    number = store.list_for_sender(sender, database_url=servers.database_url)[0].number
    session = login(servers, agent)
    base = f"{servers.web_url}/console/tickets/{number}"
    for to in ("claim", "in_progress", "resolved"):
        page = session.get(base, timeout=30).text
        if to == "claim":
            session.post(f"{base}/claim", data={"csrf": csrf_of(page)}, timeout=30)
        else:
            session.post(f"{base}/status", data={"csrf": csrf_of(page), "to": to}, timeout=30)
    reply = servers.say(sender, "还是不行")
    assert number in texts(reply)
    assert (
        store.get_for_sender(number, sender, database_url=servers.database_url).status
        == "in_progress"
    )
    page = session.get(base, timeout=30).text
    assert "用户回访时表示问题仍未解决" in page


def test_contact_is_masked_until_a_logged_click(servers, accounts):
    sender = f"it-{uuid.uuid4().hex[:10]}"
    servers.say(sender, "转人工")
    servers.say(sender, "13812345678")
    number = store.list_for_sender(sender, database_url=servers.database_url)[0].number
    session = login(servers, accounts[1])
    base = f"{servers.web_url}/console/tickets/{number}"
    page = session.get(base, timeout=30).text
    assert "138****5678" in page and "13812345678" not in page
    revealed = session.post(f"{base}/reveal", data={"csrf": csrf_of(page)}, timeout=30).text
    assert "13812345678" in revealed and "查看了完整联系方式" in revealed  # the click is audited


def test_dashboard_and_csv_are_for_supervisors_only(servers, accounts):
    agent, boss = accounts
    servers.say(f"it-{uuid.uuid4().hex[:10]}", "转人工")  # at least one ticket to export
    agent_session = login(servers, agent)
    assert agent_session.get(f"{servers.web_url}/console/dashboard", timeout=30).status_code == 403
    assert agent_session.get(f"{servers.web_url}/console/export.csv", timeout=30).status_code == 403
    boss_session = login(servers, boss)
    page = boss_session.get(f"{servers.web_url}/console/dashboard", timeout=30)
    assert (
        page.status_code == 200 and "首次响应达标率" in page.text and "机器人独立解决" in page.text
    )
    export = boss_session.get(f"{servers.web_url}/console/export.csv", timeout=30)
    assert export.status_code == 200 and export.text.startswith("number,channel,category,priority")
    assert "DY-" in export.text


def test_json_api_with_tokens(servers, accounts):
    agent = accounts[0]
    token = staff.create_token(agent.username, "测试", database_url=servers.database_url)
    api = f"{servers.web_url}/console/api/tickets"
    assert requests.get(api, timeout=30).status_code == 401
    assert (
        requests.get(api, headers={"Authorization": "Bearer dy_wrong"}, timeout=30).status_code
        == 401
    )
    auth = {"Authorization": f"Bearer {token}"}

    sender = f"it-{uuid.uuid4().hex[:10]}"
    servers.say(sender, "/data_loss")
    servers.say(sender, "转人工")
    number = store.list_for_sender(sender, database_url=servers.database_url)[0].number
    listed = requests.get(api, headers=auth, params={"priority": "urgent"}, timeout=30).json()
    assert number in [t["number"] for t in listed["tickets"]]
    assert all(t["priority"] == "urgent" for t in listed["tickets"])
    one = requests.get(f"{api}/{number}", headers=auth, timeout=30).json()
    assert one["category"] == "data_loss" and one["transcript"][0]["role"] == "user"

    not_mine = requests.post(
        f"{api}/{number}/status", headers=auth, json={"to": "in_progress"}, timeout=30
    )
    assert not_mine.status_code == 409 and "只有负责" in not_mine.json()["error"]
    assert requests.post(f"{api}/{number}/claim", headers=auth, timeout=30).json() == {"ok": True}
    illegal = requests.post(
        f"{api}/{number}/status", headers=auth, json={"to": "closed"}, timeout=30
    )
    assert illegal.status_code == 409 and "不能从" in illegal.json()["error"]
    sent = requests.post(
        f"{api}/{number}/reply", headers=auth, json={"text": "您好，正在为您恢复数据"}, timeout=30
    ).json()
    assert sent == {"ok": True, "delivered": True}
    audit = requests.get(f"{api}/{number}", headers=auth, timeout=30).json()["audit"]
    assert [(a["kind"], a["actor"]) for a in audit][-1] == ("reply", agent.username)
