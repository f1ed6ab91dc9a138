"""The widget's history endpoint shapes a Rasa tracker into what the page shows; the staff
console's flow pages and who may see what, on a real web server."""

from __future__ import annotations

import io
import re
import sys

import pytest

from channels.widget_session import (
    SECRET_ENV,
    TOKEN_HEADER,
    SessionSecretMissing,
    WidgetSessions,
)
from tests.factories import PASSWORD, PHONE, csrf_of, login
from tests.web.conftest import WIDGET_SESSION_SECRET
from tickets import staff, store
from tickets.privacy import mask_phone
from web.app import MERMAID, create_app, history_from_events
from web.console.auth import EDITOR_REFUSAL


def test_history_shows_button_titles_and_hides_the_silent_opener():
    events = [
        {"event": "user", "text": "/greet", "timestamp": 1},
        {
            "event": "bot",
            "text": "您好",
            "timestamp": 2,
            "data": {"buttons": [{"title": "网络问题", "payload": "/network_problem"}]},
        },
        {"event": "user", "text": "/network_problem", "timestamp": 3},
        {"event": "action", "name": "action_start_playbook"},
        {"event": "bot", "text": "第一步", "timestamp": 4, "data": {"image": "https://x/y.png"}},
        {"event": "user", "text": "<script>x</script>", "timestamp": 5},
    ]
    turns = history_from_events(events)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("bot", "您好"),
        ("user", "网络问题"),
        ("bot", "第一步"),
        ("user", "<script>x</script>"),
    ]
    assert turns[0]["buttons"] == [{"title": "网络问题", "payload": "/network_problem"}]
    assert turns[2]["image"] == "https://x/y.png"


def test_only_widget_session_ids_are_accepted(console_site):
    issued = console_site.post(f"{console_site.url}/api/session", timeout=30).json()
    for bad in (
        "..%2F..%2Fetc%2Fpasswd",
        "ABC",
        "0123456789abcdef0123456789abcdeg",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcdef0",
        f"{issued['session_id']}%0A",
    ):
        reply = console_site.get(
            f"{console_site.url}/api/history/{bad}",
            headers={TOKEN_HEADER: issued["token"]},
            timeout=30,
        )
        assert reply.status_code == 400, bad
        assert reply.json() == {"error": "invalid session id"}


def test_the_web_server_issues_widget_sessions(console_site):
    reply = console_site.post(f"{console_site.url}/api/session", timeout=30)
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "no-store"
    issued = reply.json()
    assert set(issued) == {"session_id", "token"}
    assert WidgetSessions(WIDGET_SESSION_SECRET).verify(issued["session_id"], issued["token"])
    again = console_site.post(f"{console_site.url}/api/session", timeout=30).json()
    assert again["session_id"] != issued["session_id"]
    assert console_site.get(f"{console_site.url}/api/session", timeout=30).status_code == 405


def test_history_wants_the_sessions_token_in_its_header(console_site):
    issued = console_site.post(f"{console_site.url}/api/session", timeout=30).json()
    session, token = issued["session_id"], issued["token"]
    url = f"{console_site.url}/api/history/{session}"
    missing = console_site.get(url, timeout=30)
    assert missing.status_code == 403
    assert missing.json() == {"error": "session token required in the X-Dy-Session header"}
    other = console_site.post(f"{console_site.url}/api/session", timeout=30).json()["token"]
    stamp = token.split(".")[0]
    for forged in (
        other,  # another session's
        token[:-1],
        f"{stamp}.{'0' * 64}",
        WidgetSessions("a secret of somebody else").token_for(session, int(stamp)),
        "x" * 5000,
    ):
        reply = console_site.get(url, headers={TOKEN_HEADER: forged}, timeout=30)
        assert reply.status_code == 403, forged
        assert reply.json() == {"error": "session token invalid or expired"}
    # the token in the URL counts for nothing (URLs end up in access logs)
    assert console_site.get(f"{url}?token={token}", timeout=30).status_code == 403
    # the issued session is passed on to Rasa (not running here: the page says so, no 4xx)
    good = console_site.get(url, headers={TOKEN_HEADER: token}, timeout=30)
    assert good.status_code == 502 and good.json() == {"error": "assistant unavailable"}


def test_the_web_server_does_not_start_without_the_session_secret(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SessionSecretMissing, match=SECRET_ENV):
        create_app("dy_web_without_secret")


def test_transcripts_show_button_titles_to_staff():
    from tickets.transcript import build_transcript

    turns = build_transcript(
        [
            {
                "event": "bot",
                "text": "解决了吗？",
                "timestamp": 1,
                "data": {"buttons": [{"title": "还是不行", "payload": "/deny"}]},
            },
            {
                "event": "user",
                "text": "/deny",
                "timestamp": 2,
                "parse_data": {"intent": {"name": "deny"}},
            },
            {
                "event": "user",
                "text": "EXTERNAL: EXTERNAL_staff_message",
                "timestamp": 3,
                "metadata": {"is_external": True},
            },
        ]
    )
    assert [(t["role"], t["text"]) for t in turns] == [("bot", "解决了吗？"), ("user", "还是不行")]
    assert turns[1]["payload"] == "/deny"


# --- the console's flow pages and who may see what (a real web server on a free port) -------


def test_anonymous_visitors_are_sent_to_the_login(console_site):
    for path in ("/console/playbooks", "/console/playbooks/network"):
        reply = console_site.get(console_site.url + path, allow_redirects=False, timeout=30)
        assert reply.status_code == 302 and reply.headers["Location"] == "/console/login"


def test_editor_lands_on_the_flow_diagrams_with_real_counts(console_site):
    editor = login(console_site, "editor")
    assert editor.landing == "/console/playbooks"
    listing = editor.get(console_site.url + "/console/playbooks", timeout=30)
    assert listing.status_code == 200
    assert "script-src 'self'" in listing.headers["Content-Security-Policy"]
    row = re.search(r'<a href="/console/playbooks/network">.*?</tr>', listing.text, re.S).group(0)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row)] == [3, 1, 0, 0, 1]  # steps,
    # conversations, resolved, escalated, gave up
    assert "工单队列" not in listing.text and "统计看板" not in listing.text
    assert "内容编辑" in listing.text

    page = editor.get(console_site.url + "/console/playbooks/network", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Security-Policy"]
    diagram = re.search(r'<pre class="mermaid" id="flow"[^>]*>(.*?)</pre>', page.text, re.S).group(
        1
    )
    assert diagram.startswith("flowchart TD") and "还是不行 · 1" in diagram
    assert "离开 · 1" in diagram and "展示 1 次" in diagram
    assert '<script src="/vendor/mermaid.min.js"></script>' in page.text
    steps = re.search(r'<table id="steps">.*?</table>', page.text, re.S).group(0)
    first = re.search(r"<tr>\s*<td>1\..*?</tr>", steps, re.S).group(0)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", first)] == [1, 0, 1, 0, 0, 0]
    second = re.search(r"<tr>\s*<td>2\..*?</tr>", steps, re.S).group(0)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", second)] == [1, 0, 0, 0, 1, 0]


def test_a_broken_playbook_file_is_shown_as_not_live(console_site):
    listing = login(console_site, "editor").get(console_site.url + "/console/playbooks", timeout=30)
    broken = re.search(r'<section class="card" id="broken">.*?</section>', listing.text, re.S)
    assert broken and "zz_broken.yml" in broken.group(0) and "没有生效" in broken.group(0)
    assert "steps 必须是至少包含一个步骤的列表" in broken.group(0)
    assert "/console/playbooks/broken" not in listing.text


def test_editor_is_refused_tickets_transcripts_contacts_and_dashboards(console_site):
    editor = login(console_site, "editor")
    number = console_site.ticket
    for path, refusal in (
        ("/console/", EDITOR_REFUSAL),
        (f"/console/tickets/{number}", EDITOR_REFUSAL),
        ("/console/dashboard", "只有主管可以查看统计看板"),
        ("/console/export.csv", "只有主管可以导出数据"),
    ):
        reply = editor.get(console_site.url + path, allow_redirects=False, timeout=30)
        assert reply.status_code == 403, path
        assert PHONE not in reply.text and mask_phone(PHONE) not in reply.text
        assert number not in reply.text
        assert refusal in reply.text, path
    page = editor.get(console_site.url + "/console/playbooks", timeout=30).text
    claim = editor.post(
        f"{console_site.url}/console/tickets/{number}/claim",
        data={"csrf": csrf_of(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert claim.status_code == 403
    assert (
        store.get_for_sender(number, "web-test-user", database_url=console_site.database_url).status
        == "open"
    )
    token = staff.create_token("editor.web", database_url=console_site.database_url)
    for path in ("/console/api/tickets", f"/console/api/tickets/{number}"):
        reply = console_site.get(
            console_site.url + path, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status_code == 403 and PHONE not in reply.text


def test_agents_work_tickets_but_do_not_see_the_flow_pages(console_site):
    agent = login(console_site, "agent")
    assert agent.landing == "/console/"
    assert agent.get(console_site.url + "/console/", timeout=30).status_code == 200
    for path in ("/console/playbooks", "/console/playbooks/network"):
        reply = agent.get(console_site.url + path, timeout=30)
        assert reply.status_code == 403 and "只对主管和内容编辑开放" in reply.text


def test_supervisors_see_queue_dashboard_and_flows(console_site):
    boss = login(console_site, "supervisor")
    queue = boss.get(console_site.url + "/console/", timeout=30).text
    assert 'href="/console/playbooks"' in queue and 'href="/console/dashboard"' in queue
    assert boss.get(console_site.url + "/console/playbooks/login", timeout=30).status_code == 200
    missing = boss.get(console_site.url + "/console/playbooks/nope", timeout=30)
    assert missing.status_code == 404 and "找不到这本手册" in missing.text


def test_tickets_cannot_be_assigned_to_an_editor(console_site):
    boss = login(console_site, "supervisor")
    number = console_site.ticket
    page = boss.get(f"{console_site.url}/console/tickets/{number}", timeout=30).text
    reply = boss.post(
        f"{console_site.url}/console/tickets/{number}/assign",
        timeout=30,
        data={"csrf": csrf_of(page), "assignee": "editor.web"},
    )
    assert "工单只能分配给客服或主管" in reply.text
    assert (
        store.get_for_sender(number, "web-test-user", database_url=console_site.database_url).status
        == "open"
    )


def test_mermaid_is_served_locally(console_site):
    reply = console_site.get(console_site.url + "/vendor/mermaid.min.js", timeout=30)
    assert reply.status_code == 200 and "javascript" in reply.headers["Content-Type"]
    # the project's own copy (web/node_modules, from web/package-lock.json), byte for byte
    assert reply.content == MERMAID.read_bytes()


def test_staff_command_creates_editors(database_url, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert staff.main(["create", "li.editor", "--role", "editor", "--password-stdin"]) == 0
    assert "已创建内容编辑账号 li.editor" in capsys.readouterr().out
    person = staff.authenticate("li.editor", PASSWORD, database_url=database_url)
    assert person.role == "editor" and person.sees_flows and not person.works_tickets
    with pytest.raises(staff.StaffError, match="agent、supervisor、editor"):
        staff.create_staff("x.nobody", PASSWORD, "admin", database_url=database_url)


def test_a_non_ascii_form_token_is_refused_not_an_error(console_site):
    visitor = console_site.session()
    visitor.get("/console/login")
    refused = visitor.post(
        "/console/login",
        allow_redirects=False,
        data={"username": "agent.web", "password": PASSWORD, "csrf": "令牌é"},
    )
    assert refused.status_code == 403 and "登录页面已过期" in refused.text
    agent = login(console_site, "agent")
    page = agent.get(f"/console/tickets/{console_site.ticket}").text
    assert csrf_of(page)
    stale = agent.post(
        f"/console/tickets/{console_site.ticket}/note", data={"csrf": "令牌é", "text": "备注"}
    )
    assert stale.status_code == 403 and "表单已过期" in stale.text


def test_a_joined_report_shows_on_the_ticket_page_escaped(console_site):
    store.create_or_join(
        idempotency_key="web-test-again",
        sender_id="web-test-user",
        category="network",
        reason="user_request",
        transcript=[{"role": "user", "text": "<b>又断了</b>", "ts": "2026-11-24T11:00:00+00:00"}],
        database_url=console_site.database_url,
    )
    agent = login(console_site, "agent")
    page = agent.get(f"{console_site.url}/console/tickets/{console_site.ticket}", timeout=30).text
    assert "用户再次反馈同一问题，已并入本工单" in page
    assert "「&lt;b&gt;又断了&lt;/b&gt;」" in page and "<b>又断了</b>" not in page
