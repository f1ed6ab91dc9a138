"""The hotline in the console through the real web app: the form an agent fills in on the
phone, its 「识别问题类别」 suggestion (the real understanding of
``channels.report_understanding`` over a parse function the app is given, as Rasa's
``/model/parse`` answers; and Rasa not answering at all), the ticket it makes, the call
tasks with the caller's number masked until revealed (audited), and the follow-up call
recorded; editors, visitors and stale forms refused. No Rasa runs here (the browser test
drives the same pages against the real one)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from scripts.servers import free_port
from tests.factories import ROOT, csrf_of, login
from tickets import phone, queries, workflow
from tickets.db import session_scope
from tickets.models import Feedback, Ticket, TicketEvent, utcnow
from web.console.auth import EDITOR_REFUSAL
from web.console.call_pages import NOTHING_FOUND, NOTHING_SAID, UNAVAILABLE

STALE = "表单已过期，请刷新页面后重试"
SAID = "我的账号登录不上了，很急"


def _urgency_words() -> list[str]:
    """The urgency lookup of the training data (what Rasa's RegexEntityExtractor finds)."""
    data = yaml.safe_load((ROOT / "data" / "nlu" / "entities.yml").read_text(encoding="utf-8"))
    for item in data["nlu"]:
        if item.get("lookup") == "urgency":
            return [line.strip()[2:].strip() for line in item["examples"].splitlines() if line]
    raise AssertionError("no urgency lookup in data/nlu/entities.yml")


URGENCY = _urgency_words()


def parsed_as(intent: str, confidence: float):
    """A parse function answering as Rasa's ``/model/parse`` does: ``intent`` at
    ``confidence``, and the urgency words of the lookup table as entities."""
    seen: list[str] = []

    def parse(text: str) -> dict:
        seen.append(text)
        entities = [
            {
                "entity": "urgency",
                "value": word,
                "start": text.index(word),
                "end": text.index(word) + len(word),
                "extractor": "RegexEntityExtractor",
            }
            for word in URGENCY
            if word in text
        ]
        return {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities,
        }

    parse.seen = seen
    return parse


@pytest.fixture(autouse=True)
def quiet(console_site, monkeypatch):
    """No background rounds (the assignment would take the new tickets), and the parse
    function this module's app is given taken away after each test."""
    for variable in ("ASSIGN_SECONDS", "SLA_SWEEP_SECONDS", "NOTIFY_SECONDS", "QA_DRAW_SECONDS"):
        monkeypatch.setenv(variable, "0")
    monkeypatch.setattr(console_site.app.ctx, "report_parse", None, raising=False)
    return console_site


def given_parse(site, monkeypatch, parse) -> None:
    monkeypatch.setattr(site.app.ctx, "report_parse", parse, raising=False)


def form_page(session, site) -> str:
    page = session.get(site.url + "/console/calls/new", timeout=30)
    assert page.status_code == 200
    return page.text


def ticket_row(site, number: str) -> Ticket:
    with session_scope(site.database_url) as session:
        found = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        session.expunge(found)
        return found


def kinds(site, number: str) -> list[tuple[str, int | None]]:
    with session_scope(site.database_url) as session:
        return [
            (kind, actor)
            for kind, actor in session.execute(
                select(TicketEvent.kind, TicketEvent.actor_id)
                .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                .where(Ticket.number == number)
                .order_by(TicketEvent.id)
            )
        ]


# --- who may -------------------------------------------------------------------------------------


def test_agents_and_supervisors_have_the_hotline_in_their_nav(console_site):
    for role in ("agent", "supervisor"):
        page = login(console_site, role).get(console_site.url + "/console/", timeout=30).text
        assert '<a href="/console/calls/new">新建电话工单</a>' in page
        assert '<a href="/console/calls">回访任务</a>' in page
    flows = login(console_site, "editor").get(console_site.url + "/console/playbooks").text
    assert "/console/calls" not in flows


def test_editors_and_visitors_are_refused(console_site, monkeypatch):
    site = console_site
    given_parse(site, monkeypatch, parsed_as("login_problem", 0.95))
    editor = login(site, "editor")
    token = csrf_of(editor.get(site.url + "/console/playbooks", timeout=30).text)
    for path in ("/console/calls/new", "/console/calls"):
        reply = editor.get(site.url + path, timeout=30)
        assert reply.status_code == 403 and EDITOR_REFUSAL in reply.text
        anonymous = site.get(site.url + path, allow_redirects=False)
        assert (anonymous.status_code, anonymous.headers["location"]) == (302, "/console/login")
    for path, data in (
        ("/console/calls/new", {"caller": "13812345678", "said": SAID, "category": "login"}),
        ("/console/calls/suggest", {"said": SAID}),
        (f"/console/calls/{site.ticket}", {"reached": "0"}),
        (f"/console/calls/{site.ticket}/reveal", {}),
    ):
        reply = editor.post(site.url + path, data={**data, "csrf": token}, allow_redirects=False)
        assert reply.status_code == 403 and EDITOR_REFUSAL in reply.text, path
    assert not any(kind == "contact_view" for kind, _ in kinds(site, site.ticket))


def test_forms_without_this_sessions_token_are_refused(console_site, monkeypatch):
    site = console_site
    parse = parsed_as("login_problem", 0.95)
    given_parse(site, monkeypatch, parse)
    agent = login(site, "agent")
    for path, data in (
        ("/console/calls/new", {"caller": "13812345678", "said": SAID, "category": "login"}),
        ("/console/calls/suggest", {"said": SAID}),
    ):
        reply = agent.post(site.url + path, data=data, allow_redirects=False)
        assert reply.status_code == 403 and STALE in reply.text
    assert parse.seen == []


# --- the intake form -----------------------------------------------------------------------------


def test_the_form_starts_at_now_in_china_with_its_script_allowed_by_nonce(console_site):
    agent = login(console_site, "agent")
    reply = agent.get(console_site.url + "/console/calls/new", timeout=30)
    assert reply.status_code == 200
    shown = re.search(r'name="called_at" value="([^"]+)"', reply.text).group(1)
    moment = phone.read_local_input(shown)
    assert abs(moment - utcnow()) < timedelta(minutes=2)
    nonce = re.search(r"<script nonce=\"([^\"]+)\">", reply.text).group(1)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in reply.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == f"'self' 'nonce-{nonce}'"  # no inline script but this one
    for label in ("网络连接", "账号登录", "功能使用", "数据丢失", "其他"):
        assert f">{label}</option>" in reply.text
    assert "识别问题类别" in reply.text and 'id="call-priorities"' in reply.text


def test_the_suggestion_names_the_category_and_the_policys_priority(console_site, monkeypatch):
    site = console_site
    parse = parsed_as("login_problem", 0.95)
    given_parse(site, monkeypatch, parse)
    agent = login(site, "agent")
    token = csrf_of(form_page(agent, site))
    reply = agent.post(site.url + "/console/calls/suggest", data={"csrf": token, "said": SAID})
    assert reply.status_code == 200
    assert reply.json() == {
        "available": True,
        "category": "login",
        "category_label": "账号登录",
        "unsure": False,
        "urgent": True,
        "priority": "urgent",
        "priority_text": "紧急（1 小时内响应）",
        "text": "系统建议：账号登录 · 紧急（1 小时内响应）",
    }
    assert SAID in parse.seen  # the caller's words, as the mail intake's text is read

    given_parse(site, monkeypatch, parsed_as("network_problem", 0.9))
    calm = agent.post(
        site.url + "/console/calls/suggest", data={"csrf": token, "said": "家里的网络老是掉线"}
    ).json()
    assert (calm["category"], calm["urgent"], calm["priority"]) == ("network", False, "general")
    assert calm["text"] == "系统建议：网络连接 · 一般（3-6 小时内响应）"


def test_an_unsure_or_empty_understanding_leaves_the_choice_to_the_agent(console_site, monkeypatch):
    site = console_site
    agent = login(site, "agent")
    token = csrf_of(form_page(agent, site))
    given_parse(site, monkeypatch, parsed_as("login_problem", 0.3))
    unsure = agent.post(
        site.url + "/console/calls/suggest", data={"csrf": token, "said": "那个东西又不行了"}
    ).json()
    assert unsure["category"] == "login" and unsure["unsure"] and unsure["available"]
    assert (
        unsure["text"]
        == "系统不太确定，猜测是：账号登录 · 紧急（1 小时内响应）。请您确认或改选类别。"
    )
    back = agent.post(
        site.url + "/console/calls/new",
        data={"csrf": token, "caller": "13812340001", "said": "那个东西又不行了", "suggest": "1"},
    ).text
    assert '<option value="login" selected>账号登录</option>' in back
    assert 'name="unsure" value="1" checked' in back  # a guess: a colleague confirms it
    given_parse(site, monkeypatch, parsed_as("greet", 0.99))
    nothing = agent.post(
        site.url + "/console/calls/suggest", data={"csrf": token, "said": "你好，在吗"}
    ).json()
    assert nothing["category"] is None and nothing["text"] == NOTHING_FOUND
    empty = agent.post(site.url + "/console/calls/suggest", data={"csrf": token, "said": "  "})
    assert empty.status_code == 400 and empty.json() == {"error": NOTHING_SAID}


def test_when_rasa_does_not_answer_the_suggestion_says_so(console_site, monkeypatch):
    site = console_site
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    agent = login(site, "agent")
    token = csrf_of(form_page(agent, site))
    reply = agent.post(site.url + "/console/calls/suggest", data={"csrf": token, "said": SAID})
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["available"] is False and answer["category"] is None
    assert answer["text"] == UNAVAILABLE


def test_without_the_script_the_button_sends_the_form_back_with_the_suggestion(
    console_site, monkeypatch
):
    site = console_site
    given_parse(site, monkeypatch, parsed_as("login_problem", 0.95))
    agent = login(site, "agent")
    token = csrf_of(form_page(agent, site))
    called = phone.local_input(utcnow() - timedelta(minutes=3))
    reply = agent.post(
        site.url + "/console/calls/new",
        data={
            "csrf": token,
            "caller": "13812340000",
            "said": SAID,
            "called_at": called,
            "category": "",
            "suggest": "1",
        },
    )
    assert reply.status_code == 200
    assert '<option value="login" selected>账号登录</option>' in reply.text
    assert "系统建议：账号登录 · 紧急（1 小时内响应）" in reply.text
    assert re.search(r'name="urgent" value="1" checked', reply.text)
    assert 'value="13812340000"' in reply.text and f">{SAID}</textarea>" in reply.text
    assert "按当前选择，优先级为：紧急（1 小时内响应）" in reply.text
    with session_scope(site.database_url) as session:  # nothing made yet
        assert (
            session.execute(select(Ticket).where(Ticket.sender_id == "phone:13812340000")).first()
            is None
        )


def test_the_form_makes_the_phone_ticket_and_opens_it(console_site):
    site = console_site
    agent = login(site, "agent")
    token = csrf_of(form_page(agent, site))
    called_at = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=15)
    reply = agent.post(
        site.url + "/console/calls/new",
        data={
            "csrf": token,
            "caller": "139-0000-1234",
            "said": "登录的时候一直提示密码错误，影响业务",
            "called_at": phone.local_input(called_at),
            "category": "network",  # the agent's choice stands
            "urgent": "1",
        },
        allow_redirects=False,
    )
    assert reply.status_code == 302
    number = re.fullmatch(r"/console/tickets/(DY-\d{8}-\d{4,})", reply.headers["location"])
    assert number, reply.headers["location"]
    ticket = ticket_row(site, number.group(1))
    assert (ticket.channel, ticket.category, ticket.priority) == ("phone", "network", "urgent")
    assert ticket.sender_id == "phone:13900001234" and not ticket.category_unsure
    assert ticket.created_at == called_at
    assert ticket.sla_due_at == called_at + timedelta(hours=1)
    assert kinds(site, ticket.number) == [(phone.INTAKE, site.people["agent"].id)]
    page = agent.get(site.url + reply.headers["location"], timeout=30).text
    assert "登录的时候一直提示密码错误，影响业务" in page and "紧急" in page
    assert "13900001234" not in page  # the contact is masked on the ticket page


def test_a_refused_form_comes_back_as_filled_in(console_site):
    site = console_site
    agent = login(site, "agent")
    token = csrf_of(form_page(agent, site))
    fields = {
        "csrf": token,
        "caller": "1390000",
        "said": "数据不见了 <b>急</b>",
        "called_at": phone.local_input(utcnow()),
        "category": "data_loss",
    }
    reply = agent.post(site.url + "/console/calls/new", data=fields)
    assert reply.status_code == 400
    assert "来电号码格式不正确：请填写 11 位手机号" in reply.text
    assert "数据不见了 &lt;b&gt;急&lt;/b&gt;</textarea>" in reply.text  # kept, escaped
    assert '<option value="data_loss" selected>数据丢失</option>' in reply.text
    late = agent.post(
        site.url + "/console/calls/new",
        data={
            **fields,
            "caller": "13900005555",
            "called_at": phone.local_input(utcnow() + timedelta(hours=1)),
        },
    )
    assert late.status_code == 400 and "来电时间不能晚于现在" in late.text
    blank = agent.post(
        site.url + "/console/calls/new", data={**fields, "caller": "13900005555", "said": " "}
    )
    assert blank.status_code == 400 and "请填写用户在电话里反映的问题" in blank.text


# --- the call tasks ------------------------------------------------------------------------------


def resolved_phone_ticket(site, caller: str) -> str:
    agent = site.people["agent"]
    number = phone.create_phone_ticket(
        caller=caller,
        said="我的账号登录不上了",
        called_at=utcnow() - timedelta(hours=2),
        category="login",
        urgent=False,
        category_unsure=False,
        actor=agent,
        database_url=site.database_url,
    ).number
    for step in ("claim", "in_progress", "resolved"):
        if step == "claim":
            workflow.claim(number, agent, database_url=site.database_url)
        else:
            workflow.transition(number, agent, step, database_url=site.database_url)
    return number


def task_section(page: str, number: str) -> str:
    found = re.search(
        rf'<section class="card call-task" id="call-{number}".*?</section>', page, re.S
    )
    assert found, number
    return found.group(0)


def test_the_call_tasks_mask_the_number_until_it_is_asked_for(console_site):
    site = console_site
    number = resolved_phone_ticket(site, "13700001111")
    other = login(site, "supervisor")
    page = other.get(site.url + "/console/calls", timeout=30).text
    task = task_section(page, number)
    assert "137****1111" in task and "13700001111" not in page
    assert "我的账号登录不上了" in task and "尚未回访" in task and "账号登录" in task
    reveal = other.post(f"{site.url}/console/calls/{number}/reveal", data={"csrf": csrf_of(page)})
    assert reveal.status_code == 200
    assert '<a href="tel:13700001111">13700001111</a>' in task_section(reveal.text, number)
    views = [actor for kind, actor in kinds(site, number) if kind == "contact_view"]
    assert views == [site.people["supervisor"].id]
    trail = queries.audit_trail(number, database_url=site.database_url)
    assert "13700001111" not in str([entry.detail for entry in trail])


def test_a_follow_up_call_is_recorded_from_the_list(console_site):
    site = console_site
    number = resolved_phone_ticket(site, "13700002222")
    caller_back = login(site, "supervisor")
    page = caller_back.get(site.url + "/console/calls", timeout=30).text
    token = csrf_of(page)
    target = f"{site.url}/console/calls/{number}"
    missed = caller_back.post(target, data={"csrf": token, "reached": "0", "comment": "无人接听"})
    assert missed.status_code == 200
    assert f"已记录：工单 {number} 第 1 次回访未接通" in missed.text
    assert "已拨打 1 次未接通" in task_section(missed.text, number)

    incomplete = caller_back.post(
        target, data={"csrf": token, "reached": "1", "comment": "用户说好了"}
    )
    assert incomplete.status_code == 400
    assert (
        f"工单 {number} 的回访没有记录：电话已接通，请选择用户的问题是否已经解决" in incomplete.text
    )
    assert "用户说好了</textarea>" in task_section(incomplete.text, number)  # kept
    nothing = caller_back.post(target, data={"csrf": token})
    assert nothing.status_code == 400 and "请选择这次电话是否接通" in nothing.text

    done = caller_back.post(
        target,
        data={
            "csrf": token,
            "reached": "1",
            "solved": "1",
            "score_attitude": "5",
            "score_expertise": "4",
            "score_result": "5",
            "comment": "用户很满意",
        },
    )
    assert done.status_code == 200
    assert f"已记录回访：用户确认问题已经解决，工单 {number} 已关闭。" in done.text
    assert f'id="call-{number}"' not in done.text
    assert ticket_row(site, number).status == "closed"
    with session_scope(site.database_url) as session:
        feedback = session.execute(
            select(Feedback).where(Feedback.ticket_number == number)
        ).scalar_one()
        assert (feedback.attitude, feedback.expertise, feedback.result) == (5, 4, 5)
        assert feedback.staff_id == site.people["agent"].id and feedback.comment == "用户很满意"
    calls = [a for kind, a in kinds(site, number) if kind == phone.FOLLOW_UP]
    assert calls == [site.people["supervisor"].id] * 2


def test_a_user_still_stuck_sends_the_ticket_back(console_site):
    site = console_site
    number = resolved_phone_ticket(site, "13700003333")
    agent = login(site, "agent")
    token = csrf_of(agent.get(site.url + "/console/calls", timeout=30).text)
    bad = agent.post(
        f"{site.url}/console/calls/{number}",
        data={"csrf": token, "reached": "1", "solved": "0", "score_result": "9"},
    )
    assert bad.status_code == 400 and "问题解决效果的评分必须是 1 到 5 分" in bad.text
    reply = agent.post(
        f"{site.url}/console/calls/{number}",
        data={
            "csrf": token,
            "reached": "1",
            "solved": "0",
            "score_result": "2",
            "comment": "还是登录不上",
        },
    )
    assert "已退回「处理中」" in reply.text
    assert ticket_row(site, number).status == "in_progress"
    closed = agent.post(f"{site.url}/console/calls/{number}", data={"csrf": token, "reached": "0"})
    assert closed.status_code == 400 and "还不需要回访" in closed.text
