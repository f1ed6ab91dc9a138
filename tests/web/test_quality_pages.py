"""Spot checks in the console through the real web app: the supervisors' queue page, the
scorecard on the ticket page, a submitted review (with the CSRF token) back on the ticket with
its notice and in its audit trail, the forms refused without the token, for agents and
editors, or when incomplete, the page of a bot-only conversation (no contact details), and a
draw on demand."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from tests.factories import PHONE, csrf_of, login
from tests.tickets.builders import ticket_with
from tickets import quality, queries, store
from tickets.db import session_scope
from tickets.models import Feedback

CHINA = timezone(timedelta(hours=8))
#: A Monday long before the periods the draw on demand catches up on (the last four weeks).
WEEK = date(2025, 6, 2)
PAGE_REFUSAL = "抱歉，服务质量抽查只对主管开放。"
SUBMIT_REFUSAL = "抱歉，只有主管可以提交抽查评分。"
STALE = "表单已过期，请刷新页面后重试"
SCORES = {
    "score_accuracy": "4",
    "score_wording": "5",
    "score_timeliness": "3",
    "score_thoroughness": "4",
}
#: The first day of a week no other test of this module samples.
_weeks = itertools.count(1)


@pytest.fixture(autouse=True)
def quiet(console_site, monkeypatch):
    """No background rounds: only the requests (and the tests) draw and assign."""
    for variable in ("ASSIGN_SECONDS", "SLA_SWEEP_SECONDS", "NOTIFY_SECONDS", "QA_DRAW_SECONDS"):
        monkeypatch.setenv(variable, "0")
    return console_site


def sampled_ticket(site, category: str = "network") -> tuple[quality.SampleDetail, str]:
    """A ticket the agent closed in a week of its own, that week drawn: its sample and number."""
    start = WEEK - timedelta(days=7 * next(_weeks))
    closed_at = datetime.combine(start, datetime.min.time(), CHINA) + timedelta(days=2, hours=10)
    number = ticket_with(
        site.database_url,
        category,
        closed_at - timedelta(hours=4),
        status="closed",
        assignee_id=site.people["agent"].id,
        resolved_at=closed_at - timedelta(hours=1),
        closed_at=closed_at,
    )
    quality.draw_sample(start, now=closed_at + timedelta(days=7), database_url=site.database_url)
    found = quality.ticket_sample(number, database_url=site.database_url)
    assert found is not None and found.status == "pending"
    return found, number


def sampled_conversation(site, comment: str | None = None) -> quality.SampleDetail:
    """The recorded network conversation (``web-test-user``, solved by its first step), drawn
    as a bot-only conversation of its week."""
    resolved = datetime.fromtimestamp(1_700_000_000 + 30, tz=timezone.utc)
    key = uuid.uuid4().hex
    store.record_feedback(
        idempotency_key=key,
        sender_id="web-test-user",
        playbook="network",
        resolved_step="check_network",
        rating=4,
        database_url=site.database_url,
    )
    with session_scope(site.database_url) as session:
        session.execute(
            update(Feedback)
            .where(Feedback.idempotency_key == key)
            .values(created_at=resolved, comment=comment)
        )
    policy = quality.load_quality_policy()
    period = policy.period_of(resolved)
    draw = quality.draw_sample(
        period.start, now=period.ends_at + timedelta(hours=1), database_url=site.database_url
    )
    found = quality.sample_detail(draw.samples[-1].id, database_url=site.database_url)
    assert found is not None and found.kind == "bot"
    return found


def scorecard_form(page: str) -> str:
    return re.search(
        r'<form method="post" action="/console/reviews/\d+" class="scorecard">.*?</form>',
        page,
        re.S,
    ).group(0)


# --- the queue page ----------------------------------------------------------------------------


def test_the_queue_page_lists_the_pending_samples_for_supervisors(console_site):
    site = console_site
    sample, number = sampled_ticket(site, category="login")
    boss = login(site, "supervisor")

    page = boss.get(site.url + "/console/reviews", timeout=30)

    assert page.status_code == 200
    assert '<a href="/console/reviews">抽查</a>' in page.text  # the nav link
    row = re.search(rf'<tr data-sample="{sample.id}">(.*?)</tr>', page.text, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[:5] == [sample.period_label, "工单", number, "agent.web", "账号登录"]
    assert f'<a href="/console/reviews/{sample.id}">去评分</a>' in row
    pending = quality.review_queue(database_url=site.database_url).pending_count
    assert f"待评分（{pending}）" in page.text
    assert "每位客服抽取约 10%（每人最少 2 个、最多 10 个）" in page.text
    assert "<code>" in page.text and sample.seed in page.text  # the draws with their seeds


def test_agents_editors_and_visitors_are_refused_the_queue(console_site):
    site = console_site
    for role in ("agent", "editor"):
        person = login(site, role)
        page = person.get(site.url + "/console/reviews", timeout=30)
        assert page.status_code == 403 and PAGE_REFUSAL in page.text
        assert "待评分" not in page.text
    agent_page = login(site, "agent").get(site.url + "/console/", timeout=30).text
    assert "/console/reviews" not in agent_page  # no nav link either
    anonymous = site.get(site.url + "/console/reviews", allow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (302, "/console/login")


def test_a_draw_on_demand_draws_the_ended_periods_once(console_site):
    site = console_site
    boss = login(site, "supervisor")
    token = csrf_of(boss.get(site.url + "/console/reviews", timeout=30).text)

    first = boss.post(
        site.url + "/console/reviews/draw", data={"csrf": token}, allow_redirects=False
    )
    assert first.status_code == 302
    assert re.fullmatch(r"/console/reviews\?drawn=\d+", first.headers["location"])
    again = boss.post(site.url + "/console/reviews/draw", data={"csrf": token})
    assert "已结束的周期都已经抽过样了，没有新的样本。" in again.text
    latest = quality.latest_draws(1, database_url=site.database_url)[0]
    assert latest.drawn_by in (None, "supervisor.web")

    refused = boss.post(site.url + "/console/reviews/draw", data={}, allow_redirects=False)
    assert refused.status_code == 403 and STALE in refused.text
    agent = login(site, "agent")
    agent_token = csrf_of(agent.get(site.url + "/console/", timeout=30).text)
    refused = agent.post(site.url + "/console/reviews/draw", data={"csrf": agent_token})
    assert refused.status_code == 403 and "只有主管可以抽取抽查样本" in refused.text


# --- the scorecard on the ticket page ----------------------------------------------------------


def test_the_ticket_page_shows_supervisors_the_scorecard_of_a_pending_sample(console_site):
    site = console_site
    sample, number = sampled_ticket(site)
    boss = login(site, "supervisor")

    page = boss.get(site.url + f"/console/tickets/{number}", timeout=30).text

    assert 'id="qa"' in page and "服务质量抽查" in page
    assert f"本工单在 {sample.period_label} 的服务质量抽查中被抽中" in page
    form = scorecard_form(page)
    assert f'action="/console/reviews/{sample.id}"' in form
    assert f'name="csrf" value="{csrf_of(page)}"' in form
    assert re.findall(r'<select id="score-\w+" name="(score_\w+)" required>', form) == list(SCORES)
    for name, weight in (("准确性", "35%"), ("规范用语", "20%"), ("响应及时", "20%")):
        assert re.search(rf">{name}</label></td>\s*<td>{weight}</td>", form)
    assert "5 分 · 优秀" in form and "1 分 · 很差" in form
    assert 'name="comment"' in form

    # the agent reads the same ticket without the scorecard
    agent_page = login(site, "agent").get(site.url + f"/console/tickets/{number}", timeout=30)
    assert agent_page.status_code == 200
    assert 'id="qa"' not in agent_page.text and "/console/reviews/" not in agent_page.text
    # a ticket never drawn has no scorecard
    other = ticket_with(site.database_url, "network", datetime(2025, 6, 3, tzinfo=CHINA))
    assert 'id="qa"' not in boss.get(site.url + f"/console/tickets/{other}", timeout=30).text


def test_a_review_submitted_with_the_csrf_token_goes_back_to_the_ticket(console_site):
    site = console_site
    sample, number = sampled_ticket(site)
    boss = login(site, "supervisor")
    token = csrf_of(boss.get(site.url + f"/console/tickets/{number}", timeout=30).text)

    reply = boss.post(
        site.url + f"/console/reviews/{sample.id}",
        data={"csrf": token, **SCORES, "comment": "排查步骤清楚，回复礼貌"},
        allow_redirects=False,
    )

    assert reply.status_code == 302
    assert reply.headers["location"] == f"/console/tickets/{number}?reviewed=1"
    page = boss.get(site.url + reply.headers["location"], timeout=30).text
    assert "抽查评分已提交，总分 80 分，已记入本工单的变更记录。谢谢！" in page
    assert (
        "服务质量抽查评分：总分 80 分（准确性 4 分、规范用语 5 分、响应及时 3 分、解决彻底 4 分），"
        "评语：排查步骤清楚，回复礼貌" in page
    )
    assert "scorecard" not in page  # no form once reviewed: its result instead
    assert re.search(r'class="qa-total">80</strong>', page)
    trail = queries.audit_trail(number, database_url=site.database_url)
    assert (trail[-1].kind, trail[-1].actor, trail[-1].detail["total"]) == (
        "qa_review",
        "supervisor.web",
        80.0,
    )
    # the agent sees the review in the ticket's trail
    agent_page = login(site, "agent").get(site.url + f"/console/tickets/{number}", timeout=30)
    assert "服务质量抽查评分：总分 80 分" in agent_page.text
    # on the queue page: among the recent reviews, no longer pending
    queue = boss.get(site.url + "/console/reviews", timeout=30).text
    recent = queue.split('id="recent"', 1)[1]
    assert number in recent and "排查步骤清楚，回复礼貌" in recent
    assert f'<tr data-sample="{sample.id}">' not in queue.split('id="recent"', 1)[0]

    twice = boss.post(site.url + f"/console/reviews/{sample.id}", data={"csrf": token, **SCORES})
    assert twice.status_code == 400
    assert "抽查评分没有提交：这条抽查样本已由" in twice.text and "不能重复提交" in twice.text


def test_an_incomplete_scorecard_comes_back_as_filled_in(console_site):
    site = console_site
    sample, number = sampled_ticket(site)
    boss = login(site, "supervisor")
    token = csrf_of(boss.get(site.url + f"/console/tickets/{number}", timeout=30).text)
    partial = {k: v for k, v in SCORES.items() if k != "score_thoroughness"}

    reply = boss.post(
        site.url + f"/console/reviews/{sample.id}",
        data={"csrf": token, **partial, "comment": "还没写完"},
    )

    assert reply.status_code == 400
    assert "抽查评分没有提交：请为以下各项评分：解决彻底" in reply.text
    form = scorecard_form(reply.text)
    assert re.findall(r'<option value="(\d)" selected>', form) == ["4", "5", "3"]
    assert ">还没写完</textarea>" in form

    low = {**SCORES, "score_timeliness": "1"}
    reply = boss.post(site.url + f"/console/reviews/{sample.id}", data={"csrf": token, **low})
    assert reply.status_code == 400
    assert "「响应及时」低于 3 分，请在评语中写明具体问题，方便客服改进" in reply.text
    assert quality.ticket_sample(number, database_url=site.database_url).status == "pending"


def test_a_review_is_refused_without_the_csrf_token_and_for_agents(console_site):
    site = console_site
    sample, number = sampled_ticket(site)
    boss = login(site, "supervisor")
    for fields in (dict(SCORES), {**SCORES, "csrf": "0" * 64}):
        reply = boss.post(
            site.url + f"/console/reviews/{sample.id}", data=fields, allow_redirects=False
        )
        assert reply.status_code == 403 and STALE in reply.text

    for role in ("agent", "editor"):
        person = login(site, role)
        landing = "/console/" if role == "agent" else "/console/playbooks"
        token = csrf_of(person.get(site.url + landing, timeout=30).text)
        reply = person.post(
            site.url + f"/console/reviews/{sample.id}",
            data={"csrf": token, **SCORES},
            allow_redirects=False,
        )
        assert reply.status_code == 403 and SUBMIT_REFUSAL in reply.text
    assert quality.ticket_sample(number, database_url=site.database_url).status == "pending"
    kinds = [e.kind for e in queries.audit_trail(number, database_url=site.database_url)]
    assert "qa_review" not in kinds


def test_a_ticket_sample_link_opens_its_ticket_and_an_unknown_one_is_404(console_site):
    site = console_site
    sample, number = sampled_ticket(site)
    boss = login(site, "supervisor")
    reply = boss.get(site.url + f"/console/reviews/{sample.id}", allow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (
        302,
        f"/console/tickets/{number}#qa",
    )
    missing = boss.get(site.url + "/console/reviews/987654", timeout=30)
    assert missing.status_code == 404 and "找不到这条抽查样本" in missing.text
    token = csrf_of(boss.get(site.url + "/console/reviews", timeout=30).text)
    missing = boss.post(site.url + "/console/reviews/987654", data={"csrf": token, **SCORES})
    assert missing.status_code == 404


# --- a conversation the bot resolved alone ------------------------------------------------------


def test_a_bot_conversation_has_its_own_page_without_contact_details(console_site):
    site = console_site
    sample = sampled_conversation(site, comment=f"很好用，有问题打 {PHONE}")
    boss = login(site, "supervisor")

    page = boss.get(site.url + f"/console/reviews/{sample.id}", timeout=30)

    assert page.status_code == 200
    text = page.text
    assert f"抽查：机器人独立解决的对话 #{sample.feedback_id}" in text
    facts = dict(
        re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text.split('<dl class="facts">')[1], re.S)
    )
    assert (facts["排查手册"], facts["解决问题的步骤"]) == ("网络连接问题", "检查网络环境")
    assert facts["用户评分"] == "4 分（满分 5 分）"
    assert facts["用户留言"] == "很好用，有问题打 138****8000"
    assert PHONE not in text and "web-test-user" not in text  # no contact, no conversation id
    assert text.count('<li class="user">') == 2  # the recorded session's two user turns
    form = scorecard_form(text)
    assert re.findall(r'name="(score_\w+)"', form) == [
        "score_accuracy",
        "score_wording",
        "score_thoroughness",
    ]  # timeliness is for tickets only
    assert re.search(r">准确性</label></td>\s*<td>43.8%</td>", form)

    token = csrf_of(text)
    reply = boss.post(
        site.url + f"/console/reviews/{sample.id}",
        data={
            "csrf": token,
            "score_accuracy": "4",
            "score_wording": "3",
            "score_thoroughness": "5",
        },
        allow_redirects=False,
    )
    assert (reply.status_code, reply.headers["location"]) == (
        302,
        f"/console/reviews/{sample.id}?reviewed=1",
    )
    done = boss.get(site.url + reply.headers["location"], timeout=30).text
    assert "抽查评分已提交，总分 81.25 分，谢谢！" in done
    assert "scorecard" not in done
    review = quality.sample_detail(sample.id, database_url=site.database_url).review
    assert (review.total, review.reviewer) == (81.25, "supervisor.web")

    agent = login(site, "agent")
    refused = agent.get(site.url + f"/console/reviews/{sample.id}", timeout=30)
    assert refused.status_code == 403 and "很好用" not in refused.text
