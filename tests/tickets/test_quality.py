"""Spot checks (定期检查) on a real database (SQLite, and PostgreSQL when it runs here): the
weekly sample and its seed, the rate per agent, the bot-only conversations, drawing once per
period, the periodic draw of ended periods only, the scorecard (validation, the weighted total,
the audit trail, one review per sample, supervisors only), the dashboard's per-agent scores,
and the policy file's errors at their lines."""

from __future__ import annotations

import concurrent.futures
import os
import random
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from tests.tickets.builders import ticket_with
from tickets import quality, queries, staff, store
from tickets.db import session_scope
from tickets.models import Feedback, TicketEvent
from tickets.quality import QualityError, SampleNotFound
from tickets.quality_models import QaDraw, QaReview, QaSample
from tickets.quality_policy import (
    QualityPolicyError,
    load_quality_policy,
    parse_quality_policy,
)

PASSWORD = "correct horse battery"
CHINA = timezone(timedelta(hours=8))
#: The week of 2026-11-23 (a Monday) in China time, and moments inside and around it.
WEEK = date(2026, 11, 23)
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=CHINA)
NEXT_MONDAY = MONDAY + timedelta(days=7)
IN_WEEK = MONDAY + timedelta(days=2, hours=10)
AFTER_WEEK = NEXT_MONDAY + timedelta(hours=1)
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "policy" / "quality.yml"
TICKET_SCORES = {"accuracy": 4, "wording": 5, "timeliness": 3, "thoroughness": 4}


@pytest.fixture()
def people(any_database):
    accounts = {
        "wang": ("wang.agent", "agent", "小王"),
        "li": ("li.agent", "agent", "小李"),
        "zhang": ("zhang.agent", "agent", "小张"),
        "boss": ("zhao.sup", "supervisor", "赵主管"),
        "boss2": ("qian.sup", "supervisor", "钱主管"),
        "editor": ("chen.editor", "editor", "陈编辑"),
    }
    return {
        key: staff.create_staff(name, PASSWORD, role, label, database_url=any_database)
        for key, (name, role, label) in accounts.items()
    }


def policy_file(tmp_path: Path, monkeypatch, *edits: tuple[str, str]) -> Path:
    """A copy of the shipped policy with each ``(old line, new line)`` replaced, made the one
    ``load_quality_policy()`` reads."""
    text = SHIPPED.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old + "\n") == 1, old
        text = text.replace(old + "\n", new + "\n")
    path = tmp_path / f"quality-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("DY_QUALITY_POLICY", str(path))
    return path


def closed(url, person, at: datetime, category: str = "network") -> str:
    """A ticket ``person`` (a Staff, or None: nobody) closed at ``at``; its number."""
    return ticket_with(
        url,
        category,
        at - timedelta(hours=3),
        status="closed",
        assignee_id=person.id if person else None,
        resolved_at=at - timedelta(hours=1),
        closed_at=at,
    )


def bot_conversation(url, at: datetime, *, ticket_number: str | None = None, rating=5) -> int:
    """A conversation the bot resolved at ``at`` (with a ticket number: a ticket's follow-up
    rating instead); its feedback id."""
    key = uuid.uuid4().hex
    store.record_feedback(
        idempotency_key=key,
        sender_id=f"user-{key[:8]}",
        playbook="network",
        resolved_step="check_network",
        rating=rating,
        ticket_number=ticket_number,
        database_url=url,
    )
    with session_scope(url) as session:
        session.execute(
            update(Feedback).where(Feedback.idempotency_key == key).values(created_at=at)
        )
        return int(
            session.execute(select(Feedback.id).where(Feedback.idempotency_key == key)).scalar()
        )


def week_of_work(url, people, wang=25, li=12, bots=8) -> None:
    """``wang`` and ``li`` tickets closed by each during the week (an hour apart), and ``bots``
    conversations the bot resolved alone."""
    for index in range(wang):
        closed(url, people["wang"], MONDAY + timedelta(hours=1 + index))
    for index in range(li):
        closed(url, people["li"], MONDAY + timedelta(hours=2 + index))
    for index in range(bots):
        bot_conversation(url, MONDAY + timedelta(hours=5 + index))


def forget_draw(url, period_start: date) -> None:
    """Remove a period's draw (to draw the same data again)."""
    with session_scope(url) as session:
        session.execute(delete(QaSample).where(QaSample.period_start == period_start))
        session.execute(delete(QaDraw).where(QaDraw.period_start == period_start))


def per_agent(draw) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for sample in draw.samples:
        if sample.kind == "ticket":
            counts[sample.agent] = counts.get(sample.agent, 0) + 1
    return counts


def sample_of(url, number: str):
    found = quality.ticket_sample(number, database_url=url)
    assert found is not None
    return found


def first_ticket_sample(url, draw, agent: str = "wang.agent"):
    return next(s for s in draw.samples if s.kind == "ticket" and s.agent == agent)


# --- the sample of a period -------------------------------------------------------------------


def test_the_weekly_sample_is_reproducible_from_its_seed(people, any_database):
    url = any_database
    week_of_work(url, people, bots=12)

    first = quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)

    assert first.drawn_now and first.seed == "2026-11-23"
    assert (first.summary.period_start, first.summary.period_end) == (WEEK, date(2026, 11, 30))
    assert first.summary.period_label == "2026-11-23 至 2026-11-29"
    assert per_agent(first) == {"wang.agent": 3, "li.agent": 2}  # ceil(2.5), max(2, ceil(1.2))
    assert len(first.feedback_ids) == 5
    assert {s.seed for s in first.samples} == {"2026-11-23"}
    assert {s.status for s in first.samples} == {"pending"}

    forget_draw(url, WEEK)
    again = quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)
    assert again.drawn_now
    assert again.ticket_numbers == first.ticket_numbers
    assert again.feedback_ids == first.feedback_ids

    forget_draw(url, WEEK)
    other = quality.draw_sample(WEEK, seed="复核-1", now=AFTER_WEEK, database_url=url)
    assert other.seed == "复核-1" and {s.seed for s in other.samples} == {"复核-1"}
    assert per_agent(other) == per_agent(first)  # the same rate ...
    assert other.ticket_numbers != first.ticket_numbers  # ... other tickets
    assert other.feedback_ids != first.feedback_ids


def test_the_choice_is_random_over_rows_in_id_order_and_per_agent():
    policy = load_quality_policy()
    tickets = [(ticket_id, 1 if ticket_id % 3 else 2) for ticket_id in range(1, 61)]
    bots = list(range(100, 120))

    chosen, picked = quality.pick_sample(tickets, bots, policy, "2026-11-23")

    assert quality.pick_sample(list(reversed(tickets)), bots[::-1], policy, "2026-11-23") == (
        chosen,
        picked,
    )  # the rows' order as read does not matter: they are sorted by id first
    assert quality.pick_sample(tickets, bots, policy, "2026-11-30") != (chosen, picked)
    assert [t for t, agent in chosen if agent == 1] == sorted(
        random.Random("2026-11-23|ticket|1").sample([t for t, agent in tickets if agent == 1], 4)
    )
    # another agent closing one more ticket does not move agent 1's sample
    more = [*tickets, (61, 2)]
    again, _ = quality.pick_sample(more, bots, policy, "2026-11-23")
    assert [t for t, a in again if a == 1] == [t for t, a in chosen if a == 1]
    assert len(picked) == 5 and picked == sorted(picked)


@pytest.mark.parametrize(
    "closed_count, drawn",
    [(0, 0), (1, 1), (2, 2), (3, 2), (20, 2), (21, 3), (30, 3), (99, 10), (100, 10), (250, 10)],
)
def test_each_agent_gets_the_share_at_least_the_minimum_at_most_the_maximum(closed_count, drawn):
    policy = load_quality_policy()  # share 0.1, min 2, max 10
    assert policy.tickets_to_draw(closed_count) == drawn
    chosen, _ = quality.pick_sample([(i, 7) for i in range(closed_count)], [], policy, "s")
    assert len(chosen) == drawn and len(set(chosen)) == drawn


def test_the_rate_applies_per_agent_to_the_tickets_closed_in_the_period(
    people, any_database, tmp_path, monkeypatch
):
    policy_file(tmp_path, monkeypatch, ("  share: 0.1", "  share: 0.5"), ("  max: 10", "  max: 3"))
    url = any_database
    wang = [closed(url, people["wang"], MONDAY + timedelta(hours=h)) for h in range(1, 11)]
    li = [closed(url, people["li"], IN_WEEK)]
    nobody = [closed(url, None, IN_WEEK), closed(url, None, IN_WEEK)]
    # not in the sample: closed before the week, at its very end, or not closed at all
    closed(url, people["zhang"], MONDAY - timedelta(seconds=1))
    closed(url, people["zhang"], NEXT_MONDAY)
    ticket_with(url, "network", IN_WEEK, status="resolved", assignee_id=people["zhang"].id)
    ticket_with(url, "login", IN_WEEK, status="in_progress", assignee_id=people["zhang"].id)

    draw = quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)

    # wang: ceil(0.5 x 10) = 5, at most 3; li: only 1 closed; nobody's: both (min 2)
    assert per_agent(draw) == {"wang.agent": 3, "li.agent": 1, None: 2}
    numbers = set(draw.ticket_numbers)
    assert numbers <= set(wang + li + nobody)
    assert set(li + nobody) <= numbers
    lines = {s.ticket_number: s for s in draw.samples if s.kind == "ticket"}
    assert lines[li[0]].agent_name == "小李" and lines[li[0]].category == "network"
    assert lines[nobody[0]].agent is None


def test_the_bot_sample_takes_only_conversations_the_bot_resolved_alone(
    people, any_database, tmp_path, monkeypatch
):
    url = any_database
    alone = [bot_conversation(url, MONDAY + timedelta(hours=h)) for h in range(3)]
    number = closed(url, people["wang"], IN_WEEK)
    rated_ticket = bot_conversation(url, IN_WEEK, ticket_number=number)  # a ticket's follow-up
    outside = bot_conversation(url, NEXT_MONDAY)

    draw = quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)

    assert sorted(draw.feedback_ids) == alone  # fewer than 5: all of them
    assert rated_ticket not in draw.feedback_ids and outside not in draw.feedback_ids
    bot = next(s for s in draw.samples if s.kind == "bot")
    assert (bot.playbook, bot.resolved_step, bot.rating) == ("network", "check_network", 5)
    assert bot.ticket_number is None and bot.agent is None

    policy_file(tmp_path, monkeypatch, ("bot_conversations: 5", "bot_conversations: 0"))
    later = quality.draw_sample(
        WEEK + timedelta(days=7), now=AFTER_WEEK + timedelta(days=7), database_url=url
    )
    assert later.feedback_ids == [] and later.drawn_now


def test_drawing_a_period_twice_adds_nothing(people, any_database):
    url = any_database
    week_of_work(url, people, wang=6, li=3, bots=2)
    first = quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)
    closed(url, people["wang"], IN_WEEK)  # arrives late (e.g. a clock skew): not drawn again

    second = quality.draw_sample(WEEK, now=AFTER_WEEK + timedelta(days=1), database_url=url)
    same_seed = quality.draw_sample(WEEK, seed="2026-11-23", now=AFTER_WEEK, database_url=url)

    assert not second.drawn_now and not same_seed.drawn_now
    assert second.samples == first.samples == same_seed.samples
    assert second.summary.drawn_at == first.summary.drawn_at
    with session_scope(url) as session:
        assert session.execute(select(func.count()).select_from(QaSample)).scalar() == len(
            first.samples
        )
        assert session.execute(select(func.count()).select_from(QaDraw)).scalar() == 1
    with pytest.raises(QualityError, match="已经用种子「2026-11-23」抽过样，不能换用其他种子"):
        quality.draw_sample(WEEK, seed="another", now=AFTER_WEEK, database_url=url)


def test_a_ticket_is_sampled_once_even_when_the_periods_change(
    people, any_database, tmp_path, monkeypatch
):
    url = any_database
    numbers = [closed(url, people["wang"], IN_WEEK) for _ in range(2)]
    weekly = quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)
    assert sorted(weekly.ticket_numbers) == sorted(numbers)

    policy_file(tmp_path, monkeypatch, ("period_days: 7", "period_days: 1"))
    daily = quality.draw_sample(IN_WEEK.date(), now=AFTER_WEEK, database_url=url)
    assert daily.drawn_now and daily.ticket_numbers == []


def test_only_a_period_that_ended_and_starts_on_its_first_day_can_be_drawn(people, any_database):
    url = any_database
    with pytest.raises(QualityError, match="还没有结束，请在周期结束后再抽样"):
        quality.draw_sample(WEEK, now=NEXT_MONDAY - timedelta(seconds=1), database_url=url)
    with pytest.raises(QualityError, match="2026-11-24 不是抽查周期的第一天：周期每 7 天一个"):
        quality.draw_sample(date(2026, 11, 24), now=AFTER_WEEK, database_url=url)
    with pytest.raises(QualityError, match="随机种子不能为空"):
        quality.draw_sample(WEEK, seed="  ", now=AFTER_WEEK, database_url=url)
    assert quality.draw_sample(WEEK, now=NEXT_MONDAY, database_url=url).drawn_now  # just ended


def test_draw_due_draws_every_ended_period_without_a_draw_and_never_the_current_one(
    people, any_database
):
    url = any_database
    earlier = closed(url, people["wang"], MONDAY - timedelta(days=3))  # the week before
    this_week = closed(url, people["wang"], IN_WEEK)
    bot_conversation(url, IN_WEEK)

    made = quality.draw_due(now=IN_WEEK + timedelta(hours=1), database_url=url)

    # the four weeks before this one (catch_up_periods: 4), oldest first; not this week
    assert [d.summary.period_start for d in made] == [
        WEEK - timedelta(days=7 * n) for n in (4, 3, 2, 1)
    ]
    assert made[-1].ticket_numbers == [earlier] and made[-1].feedback_ids == []
    assert quality.ticket_sample(this_week, database_url=url) is None
    assert quality.draw_due(now=IN_WEEK + timedelta(hours=2), database_url=url) == []

    made = quality.draw_due(now=NEXT_MONDAY, database_url=url)  # the week just ended
    assert [d.summary.period_start for d in made] == [WEEK]
    assert made[0].ticket_numbers == [this_week] and len(made[0].feedback_ids) == 1
    assert quality.draw_due(now=AFTER_WEEK, database_url=url) == []
    assert [d.period_start for d in quality.latest_draws(2, database_url=url)] == [
        WEEK,
        WEEK - timedelta(days=7),
    ]


def test_periods_are_whole_weeks_from_monday_in_china_time():
    policy = load_quality_policy()
    sunday_night = datetime(2026, 11, 29, 15, 59, 59, tzinfo=timezone.utc)  # 23:59:59 in China
    monday = datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc)  # 00:00 on the 30th in China
    assert policy.period_of(sunday_night).start == WEEK
    assert policy.period_of(monday).start == date(2026, 11, 30)
    assert policy.period_of(monday).starts_at == monday
    assert policy.period_starting(date(2026, 11, 30)) is not None
    assert policy.period_starting(date(2026, 12, 1)) is None
    assert policy.period_of(datetime(2023, 12, 31, 12, tzinfo=CHINA)).start == date(2023, 12, 25)


# --- the review queue --------------------------------------------------------------------------


def test_the_queue_lists_pending_samples_oldest_period_first_tickets_first(people, any_database):
    url = any_database
    bot_conversation(url, IN_WEEK)
    newer = closed(url, people["li"], IN_WEEK, category="login")
    bot_conversation(url, IN_WEEK - timedelta(days=7))
    older = closed(url, people["wang"], IN_WEEK - timedelta(days=7))
    quality.draw_due(now=AFTER_WEEK, database_url=url)

    pending = quality.review_queue(database_url=url)

    assert pending.pending_count == 4
    assert [(s.period_start, s.kind, s.ticket_number) for s in pending.pending] == [
        (WEEK - timedelta(days=7), "ticket", older),
        (WEEK - timedelta(days=7), "bot", None),
        (WEEK, "ticket", newer),
        (WEEK, "bot", None),
    ]
    line = pending.pending[2]
    assert (line.agent, line.agent_name, line.category) == ("li.agent", "小李", "login")
    assert line.kind_label == "工单" and pending.pending[3].kind_label == "机器人独立解决的对话"

    quality.submit_review(pending.pending[0].id, people["boss"], TICKET_SCORES, database_url=url)
    after = quality.review_queue(database_url=url)
    assert after.pending_count == 3 and pending.pending[0].id not in [s.id for s in after.pending]
    recent = quality.recent_reviews(database_url=url)
    assert [(s.ticket_number, s.review.total, s.review.reviewer) for s in recent] == [
        (older, 80.0, "zhao.sup")
    ]


# --- reviews -----------------------------------------------------------------------------------


@pytest.fixture()
def drawn(people, any_database):
    """The week drawn: three of wang's tickets, two of li's, two bot conversations."""
    week_of_work(any_database, people, wang=3, li=2, bots=2)
    return quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=any_database)


def test_the_weighted_total_is_exact(people, any_database, drawn):
    url, boss = any_database, people["boss"]
    tickets = [s for s in drawn.samples if s.kind == "ticket"]
    bot = next(s for s in drawn.samples if s.kind == "bot")

    # (0.35 x 4 + 0.2 x 5 + 0.2 x 3 + 0.25 x 4) / 5 x 100
    assert (
        quality.submit_review(tickets[0].id, boss, TICKET_SCORES, database_url=url).review.total
        == 80.0
    )
    low = {"accuracy": 5, "wording": 4, "timeliness": 2, "thoroughness": 3}
    reviewed = quality.submit_review(tickets[1].id, boss, low, "首次响应超时", database_url=url)
    assert reviewed.review.total == 74.0  # (1.75 + 0.8 + 0.4 + 0.75) / 5 x 100
    ones = dict.fromkeys(TICKET_SCORES, 1)
    assert (
        quality.submit_review(tickets[2].id, boss, ones, "都不合格", database_url=url).review.total
        == 20.0
    )
    # the bot is not scored on timeliness: the others' weights (0.8 in all) make 100
    bot_scores = {"accuracy": 4, "wording": 3, "thoroughness": 5}
    assert quality.submit_review(bot.id, boss, bot_scores, database_url=url).review.total == 81.25
    with session_scope(url) as session:
        stored = session.execute(select(QaReview.total).order_by(QaReview.id)).scalars().all()
    assert stored == [80.0, 74.0, 20.0, 81.25]


def test_a_review_is_audited_on_the_ticket_and_marks_the_sample_reviewed(
    people, any_database, drawn
):
    url = any_database
    sample = first_ticket_sample(url, drawn)

    done = quality.submit_review(
        sample.id,
        people["boss"],
        {"accuracy": "4", "wording": "5", "timeliness": "3", "thoroughness": "4"},  # as posted
        "  处理规范，回复及时  ",
        now=AFTER_WEEK,
        database_url=url,
    )

    assert done.status == "reviewed"
    assert done.review.scores == TICKET_SCORES and done.review.comment == "处理规范，回复及时"
    assert (done.review.reviewer, done.review.reviewer_name) == ("zhao.sup", "赵主管")
    assert done.review.created_at == AFTER_WEEK
    entry = queries.audit_trail(sample.ticket_number, database_url=url)[-1]
    assert (entry.kind, entry.actor, entry.at) == ("qa_review", "zhao.sup", AFTER_WEEK)
    assert entry.detail == {
        "scores": TICKET_SCORES,
        "total": 80.0,
        "comment": "处理规范，回复及时",
        "sample_id": sample.id,
        "period_start": "2026-11-23",
    }
    assert sample_of(url, sample.ticket_number).review == done.review


def test_a_bot_review_writes_no_ticket_event(people, any_database, drawn):
    url = any_database
    bot = next(s for s in drawn.samples if s.kind == "bot")
    with session_scope(url) as session:
        before = session.execute(select(func.count()).select_from(TicketEvent)).scalar()
    quality.submit_review(
        bot.id, people["boss"], {"accuracy": 5, "wording": 5, "thoroughness": 5}, database_url=url
    )
    with session_scope(url) as session:
        assert session.execute(select(func.count()).select_from(TicketEvent)).scalar() == before
    assert quality.sample_detail(bot.id, database_url=url).review.total == 100.0


@pytest.mark.parametrize(
    "scores, comment, refusal",
    [
        ({"accuracy": 4, "wording": 5}, "", "请为以下各项评分：响应及时、解决彻底"),
        ({**TICKET_SCORES, "thoroughness": ""}, "", "请为以下各项评分：解决彻底"),
        ({**TICKET_SCORES, "accuracy": 0}, "", "「准确性」的评分必须是 1 到 5 之间的整数"),
        ({**TICKET_SCORES, "accuracy": 6}, "", "「准确性」的评分必须是 1 到 5 之间的整数"),
        ({**TICKET_SCORES, "wording": "很好"}, "", "「规范用语」的评分必须是 1 到 5 之间的整数"),
        ({**TICKET_SCORES, "wording": 4.5}, "", "「规范用语」的评分必须是 1 到 5 之间的整数"),
        ({**TICKET_SCORES, "wording": True}, "", "「规范用语」的评分必须是 1 到 5 之间的整数"),
        ({**TICKET_SCORES, "empathy": 5}, "", "评分表中没有「empathy」这一项"),
        ({**TICKET_SCORES, "timeliness": 2}, "", "「响应及时」低于 3 分，请在评语中写明具体问题"),
        pytest.param(TICKET_SCORES, "长" * 2001, "评语最多 2000 字", id="comment-too-long"),
    ],
)
def test_a_scorecard_must_score_every_criterion_from_1_to_5(
    people, any_database, drawn, scores, comment, refusal
):
    url = any_database
    sample = first_ticket_sample(url, drawn)
    with pytest.raises(QualityError, match=refusal):
        quality.submit_review(sample.id, people["boss"], scores, comment, database_url=url)
    assert sample_of(url, sample.ticket_number).status == "pending"
    trail = queries.audit_trail(sample.ticket_number, database_url=url)
    assert "qa_review" not in [entry.kind for entry in trail]


def test_a_bot_sample_is_not_scored_on_ticket_only_criteria(people, any_database, drawn):
    bot = next(s for s in drawn.samples if s.kind == "bot")
    with pytest.raises(QualityError, match="「响应及时」不适用于机器人独立解决的对话"):
        quality.submit_review(bot.id, people["boss"], TICKET_SCORES, database_url=any_database)


def test_a_sample_is_reviewed_once(people, any_database, drawn):
    url = any_database
    sample = first_ticket_sample(url, drawn)
    at = datetime(2026, 12, 1, 2, 5, tzinfo=timezone.utc)  # 10:05 in China
    quality.submit_review(sample.id, people["boss"], TICKET_SCORES, now=at, database_url=url)

    for reviewer in (people["boss"], people["boss2"]):
        with pytest.raises(
            QualityError, match="这条抽查样本已由赵主管于 12-01 10:05 评分，不能重复提交"
        ):
            quality.submit_review(
                sample.id, reviewer, dict.fromkeys(TICKET_SCORES, 5), database_url=url
            )
    with session_scope(url) as session:
        assert session.execute(select(func.count()).select_from(QaReview)).scalar() == 1
    kinds = [e.kind for e in queries.audit_trail(sample.ticket_number, database_url=url)]
    assert kinds.count("qa_review") == 1
    assert sample_of(url, sample.ticket_number).review.total == 80.0


def test_only_supervisors_review_and_never_their_own_ticket(people, any_database, drawn):
    url = any_database
    sample = first_ticket_sample(url, drawn)
    for person in (people["wang"], people["li"], people["editor"]):
        with pytest.raises(QualityError, match="只有主管可以提交抽查评分"):
            quality.submit_review(sample.id, person, TICKET_SCORES, database_url=url)
    assert sample_of(url, sample.ticket_number).status == "pending"
    with pytest.raises(SampleNotFound, match="找不到这条抽查样本"):
        quality.submit_review(999_999, people["boss"], TICKET_SCORES, database_url=url)

    own = closed(url, people["boss"], IN_WEEK + timedelta(days=7))  # a supervisor works tickets
    quality.draw_sample(
        WEEK + timedelta(days=7), now=AFTER_WEEK + timedelta(days=7), database_url=url
    )
    mine = sample_of(url, own)
    with pytest.raises(
        QualityError, match="这张工单由您本人负责，为保证抽查公正，请交给其他主管评分"
    ):
        quality.submit_review(mine.id, people["boss"], TICKET_SCORES, database_url=url)
    assert quality.submit_review(mine.id, people["boss2"], TICKET_SCORES, database_url=url).review


def test_simultaneous_reviews_of_one_sample_record_one(people, any_database, drawn):
    url = any_database
    sample = first_ticket_sample(url, drawn)
    barrier = threading.Barrier(4)

    def submit(reviewer):
        barrier.wait()
        try:
            return quality.submit_review(sample.id, reviewer, TICKET_SCORES, database_url=url)
        except QualityError as exc:
            return str(exc)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(submit, [people["boss"], people["boss2"]] * 2))

    done = [o for o in outcomes if not isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(done) == 1 and len(refused) == 3
    assert all("不能重复提交" in text for text in refused)
    kinds = [e.kind for e in queries.audit_trail(sample.ticket_number, database_url=url)]
    assert kinds.count("qa_review") == 1


def test_simultaneous_draws_of_one_period_make_one(people, any_database):
    url = any_database
    week_of_work(url, people, wang=4, li=2, bots=3)
    barrier = threading.Barrier(4)

    def draw(_):
        barrier.wait()
        return quality.draw_sample(WEEK, now=AFTER_WEEK, database_url=url)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        draws = list(pool.map(draw, range(4)))

    assert sum(d.drawn_now for d in draws) == 1
    assert len({d.samples for d in draws}) == 1
    with session_scope(url) as session:
        assert session.execute(select(func.count()).select_from(QaSample)).scalar() == 7
        assert session.execute(select(func.count()).select_from(QaDraw)).scalar() == 1


# --- the dashboard -----------------------------------------------------------------------------


def test_agent_scores_are_the_mean_total_per_agent_over_the_tickets_closed_then(
    people, any_database
):
    url, boss = any_database, people["boss"]
    week_of_work(url, people, wang=2, li=2, bots=1)
    closed(url, people["wang"], IN_WEEK + timedelta(days=7))
    quality.draw_due(now=AFTER_WEEK + timedelta(days=7), database_url=url)
    samples = quality.review_queue(database_url=url).pending
    wang = [s for s in samples if s.agent == "wang.agent"]
    li = [s for s in samples if s.agent == "li.agent"]
    bot = next(s for s in samples if s.kind == "bot")
    assert [s.period_start for s in wang] == [WEEK, WEEK, WEEK + timedelta(days=7)]
    quality.submit_review(wang[0].id, boss, TICKET_SCORES, database_url=url)  # 80
    low = {"accuracy": 5, "wording": 4, "timeliness": 2, "thoroughness": 3}
    quality.submit_review(wang[1].id, boss, low, "慢了", database_url=url)  # 74
    quality.submit_review(
        wang[2].id, boss, dict.fromkeys(TICKET_SCORES, 5), database_url=url
    )  # 100
    quality.submit_review(li[0].id, boss, dict.fromkeys(TICKET_SCORES, 4), database_url=url)  # 80
    quality.submit_review(
        bot.id, boss, {"accuracy": 4, "wording": 3, "thoroughness": 5}, database_url=url
    )

    assert quality.agent_scores(database_url=url) == {
        "wang.agent": {"reviews": 3, "score": 84.67},  # (80 + 74 + 100) / 3
        "li.agent": {"reviews": 1, "score": 80.0},  # li's other sample is not reviewed yet
    }
    assert quality.agent_scores(MONDAY, NEXT_MONDAY, database_url=url) == {
        "wang.agent": {"reviews": 2, "score": 77.0},
        "li.agent": {"reviews": 1, "score": 80.0},
    }
    assert quality.agent_scores(since=NEXT_MONDAY, database_url=url) == {
        "wang.agent": {"reviews": 1, "score": 100.0}
    }
    assert quality.agent_scores(until=MONDAY, database_url=url) == {}
    assert quality.bot_scores(database_url=url) == {"reviews": 1, "score": 81.25}
    assert quality.bot_scores(since=NEXT_MONDAY, database_url=url) is None


def test_agent_scores_are_one_grouped_query(people, any_database, drawn):
    from tests.tickets.builders import statements_during

    url = any_database
    seen = statements_during(url, lambda: quality.agent_scores(database_url=url))
    queries_sent = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(queries_sent) == 1
    assert "GROUP BY" in queries_sent[0] and "avg(" in queries_sent[0].lower()


# --- the policy file ---------------------------------------------------------------------------


def line_of_text(path: Path, text: str) -> int:
    """The line of ``text`` (its last one, for a line made a copy of an earlier one)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return len(lines) - lines[::-1].index(text)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("period_days: 7", "period_days: 0", "period_days 必须是 1 到 366 之间的整数"),
        ("period_days: 7", "period_days: 七", "period_days 必须是 1 到 366 之间的整数"),
        (
            "period_anchor: 2024-01-01  # 星期一",
            "period_anchor: 2024-02-30",
            "period_anchor 的取值 '2024-02-30' 不是日期",
        ),
        ('utc_offset: "+08:00"', "utc_offset: +8:00", "utc_offset 是时区与 UTC 的时差，请加上引号"),
        (
            "  share: 0.1",
            "  share: 1.5",
            "tickets.share 是每位客服抽查的工单比例，必须大于 0 且不超过 1",
        ),
        ("  min: 2", "  min: 20", "tickets.min（20）不能大于 tickets.max（10）"),
        (
            "  max: 10",
            "  maxi: 10",
            "tickets 中有未知字段 maxi（可用字段：share、min、max），请检查拼写",
        ),
        (
            "bot_conversations: 5",
            "bot_conversations: -1",
            "bot_conversations 必须是 0 到 1000 之间的整数",
        ),
        (
            "      weight: 0.35",
            "      weight: 0",
            "scorecard.criteria[0].weight 是这一项在总分中的比重，必须是大于 0 的数",
        ),
        (
            "      weight: 0.35",
            "      weight: -0.35",
            "scorecard.criteria[0].weight 是这一项在总分中的比重",
        ),
        (
            "    - id: wording",
            "    - id: Wording",
            "scorecard.criteria[1].id 必须以小写英文字母开头",
        ),
        (
            "    - id: wording",
            "    - id: accuracy",
            "scorecard.criteria[1].id「accuracy」与前面的评分项重复",
        ),
        (
            "      name: 规范用语",
            "      name: 准确性",
            "scorecard.criteria[1].name「准确性」与前面的评分项重复",
        ),
        ("      name: 规范用语", "      name: ''", "scorecard.criteria[1].name 请填写评分项的名称"),
        (
            "      applies_to: [ticket]",
            "      applies_to: [phone]",
            "scorecard.criteria[2].applies_to 只能列出 ticket（工单）和 bot（机器人对话）",
        ),
        (
            "      applies_to: [ticket]",
            "      applys_to: [ticket]",
            "scorecard.criteria[2] 中有未知字段 applys_to",
        ),
        (
            "  comment_required_below: 3",
            "  comment_required_below: 6",
            "scorecard.comment_required_below 必须是 0 到 5 之间的整数",
        ),
        ("catch_up_periods: 4", "catch_up: 4", "中有未知字段 catch_up"),
    ],
)
def test_a_policy_mistake_is_reported_at_its_line(tmp_path, monkeypatch, old, new, message):
    path = policy_file(tmp_path, monkeypatch, (old, new))
    with pytest.raises(QualityPolicyError) as raised:
        load_quality_policy()
    line = line_of_text(path, new)
    assert raised.value.line == line
    assert message in raised.value.text
    assert raised.value.problems == [f"{path}:{line}: {raised.value.text}"]


def test_the_weights_must_sum_to_one(tmp_path, monkeypatch):
    path = policy_file(tmp_path, monkeypatch, ("      weight: 0.35", "      weight: 0.3"))
    with pytest.raises(QualityPolicyError) as raised:
        load_quality_policy()
    assert raised.value.line == line_of_text(path, "  criteria:")
    assert raised.value.text == "scorecard.criteria 的权重（weight）加起来是 0.95，必须正好等于 1"


def test_every_kind_needs_a_criterion():
    only_tickets = {
        "scorecard": {
            "criteria": [
                {
                    "id": "a",
                    "name": "准确性",
                    "weight": 1,
                    "description": "d",
                    "applies_to": "ticket",
                }
            ]
        }
    }
    with pytest.raises(QualityPolicyError, match="没有适用于机器人独立解决的对话（bot）的评分项"):
        parse_quality_policy(only_tickets)
    with pytest.raises(QualityPolicyError, match="缺少 scorecard"):
        parse_quality_policy({"period_days": 7})
    with pytest.raises(QualityPolicyError, match="文件内容必须是一个映射"):
        parse_quality_policy(["period_days"])


def test_a_yaml_mistake_names_its_line(tmp_path, monkeypatch):
    from playbook.sourcefile import SourceError

    path = policy_file(tmp_path, monkeypatch, ("  min: 2", "  min: [2"))
    with pytest.raises(SourceError) as raised:
        load_quality_policy()
    assert raised.value.problems[0].startswith(f"{path}:")
    assert "YAML 格式错误" in raised.value.problems[0]


def test_the_shipped_policy_and_its_cache(tmp_path, monkeypatch):
    shipped = load_quality_policy()
    assert (shipped.period_days, shipped.anchor.weekday(), shipped.offset.utcoffset(None)) == (
        7,
        0,  # Monday
        timedelta(hours=8),
    )
    assert (float(shipped.share), shipped.minimum, shipped.maximum) == (0.1, 2, 10)
    assert shipped.bot_conversations == 5
    assert [(c.name, c.percent) for c in shipped.criteria] == [
        ("准确性", "35%"),
        ("规范用语", "20%"),
        ("响应及时", "20%"),
        ("解决彻底", "25%"),
    ]
    assert [c.id for c in shipped.criteria_for("bot")] == ["accuracy", "wording", "thoroughness"]
    assert all(c.description for c in shipped.criteria)

    path = policy_file(tmp_path, monkeypatch, ("bot_conversations: 5", "bot_conversations: 3"))
    override = load_quality_policy()
    assert override.bot_conversations == 3
    assert load_quality_policy(path) is override  # cached until the file changes
    text = path.read_text(encoding="utf-8").replace("bot_conversations: 3", "bot_conversations: 4")
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_quality_policy().bot_conversations == 4


def test_the_command_line_draws_a_period(people, any_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", any_database)
    closed(any_database, people["wang"], datetime(2024, 1, 3, 12, tzinfo=CHINA))
    assert quality.main(["draw", "2024-01-01", "--seed", "cli"]) == 0
    assert capsys.readouterr().out == (
        "2024-01-01 至 2024-01-07：已抽样，工单 1 个，机器人对话 0 条（随机种子「cli」）\n"
    )
    assert quality.main(["draw", "2024-01-01"]) == 0
    assert "此前已抽样" in capsys.readouterr().out
    assert quality.main(["draw", "2024-01-02"]) == 1
    assert "不是抽查周期的第一天" in capsys.readouterr().err
    assert quality.main(["draw", "1/1/2024"]) == 2
    assert quality.main(["due"]) == 0  # the weeks before today: nothing closed in them
    assert "已抽样，工单 0 个" in capsys.readouterr().out
