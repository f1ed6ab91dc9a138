"""The desk pages through the real web app: going on duty (which assigns the waiting tickets at
once), the duty state on the queue page, and the supervisors' staff page with its skills."""

from __future__ import annotations

import re

import pytest

from tests.factories import NOW, csrf_of, login, new_ticket
from tickets import duty, queries, workflow

AGENT, BOSS = "agent.web", "supervisor.web"
STAFF_REFUSAL = "只有主管可以查看和设置客服的在岗状态与擅长类别"
SKILLS_REFUSAL = "只有主管可以设置客服擅长的问题类别"
STALE = "表单已过期，请刷新页面后重试"


@pytest.fixture(autouse=True)
def desk(console_site, monkeypatch):
    """No background rounds (only the requests assign), and everyone away with no skills."""
    monkeypatch.setenv("ASSIGN_SECONDS", "0")
    monkeypatch.setenv("SLA_SWEEP_SECONDS", "0")
    url, people = console_site.database_url, console_site.people
    for role in ("agent", "supervisor"):
        duty.set_available(people[role], False, database_url=url)
    duty.set_skills(people["supervisor"], AGENT, [], database_url=url)
    return console_site


def owner(site, number):
    found = queries.ticket_detail(number, database_url=site.database_url)
    return found.status, found.assignee


def roster(site):
    return {e.username: e for e in duty.roster(database_url=site.database_url)}


def duty_form(page: str) -> str:
    return re.search(r'<form method="post" action="/console/duty".*?</form>', page, re.S).group(0)


def test_going_on_duty_assigns_the_waiting_tickets_at_once(console_site):
    site = console_site
    waiting = [new_ticket(site.database_url, category="network", now=NOW).number for _ in range(2)]
    agent = login(site, "agent")
    token = csrf_of(agent.get(site.url + "/console/", timeout=30).text)
    assert [owner(site, n) for n in waiting] == [("open", None)] * 2

    reply = agent.post(
        site.url + "/console/duty",
        data={"csrf": token, "available": "1", "back": "/console/?status=assigned"},
        allow_redirects=False,
    )

    assert reply.status_code == 302
    assert reply.headers["location"] == "/console/?status=assigned"
    assert roster(site)[AGENT].available
    assert [owner(site, n) for n in waiting] == [("assigned", AGENT)] * 2
    first = queries.audit_trail(waiting[0], database_url=site.database_url)[0]
    assert (first.kind, first.actor, first.detail["auto"]) == ("assign", None, True)
    assert "无擅长「网络连接」的客服在岗" in first.detail["reason"]

    reply = agent.post(  # away again: a new ticket stays in the queue
        site.url + "/console/duty",
        data={"csrf": token, "available": "0", "back": "https://evil.example/console/"},
        allow_redirects=False,
    )
    assert (reply.status_code, reply.headers["location"]) == (302, "/console/")
    later = new_ticket(site.database_url, category="network", now=NOW).number
    assert not roster(site)[AGENT].available
    assert owner(site, later) == ("open", None)


def test_a_supervisor_going_on_duty_takes_no_ticket(console_site):
    site = console_site
    number = new_ticket(site.database_url, category="network", now=NOW).number
    boss = login(site, "supervisor")
    token = csrf_of(boss.get(site.url + "/console/", timeout=30).text)
    reply = boss.post(
        site.url + "/console/duty", data={"csrf": token, "available": "1"}, allow_redirects=False
    )
    assert (reply.status_code, reply.headers["location"]) == (302, "/console/")
    assert roster(site)[BOSS].available
    assert owner(site, number) == ("open", None)  # the rules give tickets to agents only


def test_the_queue_page_shows_the_duty_state(console_site):
    site = console_site
    agent = login(site, "agent")
    page = agent.get(site.url + "/console/", timeout=30).text
    form = duty_form(page)
    assert "您现在<strong>离开</strong>" in form and "开始在岗" in form
    assert 'name="available" value="1"' in form

    agent.post(site.url + "/console/duty", data={"csrf": csrf_of(page), "available": "1"})
    form = duty_form(agent.get(site.url + "/console/", timeout=30).text)
    assert "您现在<strong>在岗</strong>" in form and "暂时离开" in form
    assert 'name="available" value="0"' in form


def test_the_staff_page_lists_the_roster_and_saves_skills(console_site):
    site = console_site
    number = new_ticket(site.database_url, category="login", now=NOW).number
    duty.set_available(site.people["agent"], True, database_url=site.database_url)
    workflow.assign(
        number, site.people["supervisor"], AGENT, now=NOW, database_url=site.database_url
    )
    boss = login(site, "supervisor")
    page = boss.get(site.url + "/console/staff", timeout=30)
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-username="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert set(rows) == {AGENT, BOSS}  # the editor works no tickets
    entries = roster(site)

    def cells(username):
        return [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[username], re.S)
        ]

    agent_cells = cells(AGENT)
    assert agent_cells[1] == "客服" and agent_cells[2].startswith("在岗")
    assert agent_cells[3:5] == [str(entries[AGENT].load), str(entries[AGENT].overdue)]
    assert entries[AGENT].load >= 1 and entries[AGENT].overdue >= 1  # urgent, due long ago
    assert cells(BOSS)[1] == "主管" and cells(BOSS)[2].startswith("离开")

    reply = boss.post(
        site.url + f"/console/staff/{AGENT}/skills",
        data={"csrf": csrf_of(page.text), "skill": ["login", "network"]},
        allow_redirects=False,
    )
    assert (reply.status_code, reply.headers["location"]) == (302, "/console/staff")
    assert roster(site)[AGENT].skills == ("network", "login")
    row = re.search(
        rf'<tr data-username="{AGENT}">.*?</tr>',
        boss.get(site.url + "/console/staff", timeout=30).text,
        re.S,
    ).group(0)
    assert re.findall(r'value="(\w+)" checked', row) == ["network", "login"]

    refused = boss.post(
        site.url + f"/console/staff/{AGENT}/skills",
        data={"csrf": csrf_of(page.text), "skill": ["login", "bogus"]},
        allow_redirects=False,
    )
    assert refused.status_code == 400 and "没有这些问题类别：bogus" in refused.text
    assert roster(site)[AGENT].skills == ("network", "login")


def test_agents_and_editors_are_refused_the_staff_page(console_site):
    site = console_site
    agent = login(site, "agent")
    page = agent.get(site.url + "/console/staff", timeout=30)
    assert page.status_code == 403 and STAFF_REFUSAL in page.text
    assert AGENT not in re.findall(r'data-username="([^"]+)"', page.text)
    token = csrf_of(agent.get(site.url + "/console/", timeout=30).text)
    posted = agent.post(
        site.url + f"/console/staff/{AGENT}/skills",
        data={"csrf": token, "skill": ["login"]},
        allow_redirects=False,
    )
    assert posted.status_code == 403 and SKILLS_REFUSAL in posted.text
    assert roster(site)[AGENT].skills == ()
    editor = login(site, "editor")
    assert editor.get(site.url + "/console/staff", timeout=30).status_code == 403
    anonymous = site.get(site.url + "/console/staff", allow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (302, "/console/login")


def test_a_post_without_the_csrf_token_is_refused(console_site):
    site = console_site
    number = new_ticket(site.database_url, category="network", now=NOW).number
    agent, boss = login(site, "agent"), login(site, "supervisor")
    for fields in ({"available": "1"}, {"available": "1", "csrf": "0" * 64}):
        reply = agent.post(site.url + "/console/duty", data=fields, allow_redirects=False)
        assert reply.status_code == 403 and STALE in reply.text
    assert not roster(site)[AGENT].available
    assert owner(site, number) == ("open", None)

    reply = boss.post(
        site.url + f"/console/staff/{AGENT}/skills",
        data={"skill": ["login"]},
        allow_redirects=False,
    )
    assert reply.status_code == 403 and STALE in reply.text
    assert roster(site)[AGENT].skills == ()
