"""Spot checks (定期检查, service guide section 四): every period a reproducible sample of the
closed tickets of each agent and of the conversations the bot resolved alone, reviewed by a
supervisor on a weighted scorecard (``data/policy/quality.yml``, read by
``tickets.quality_policy``).

* :func:`draw_sample` draws one ended period: the tickets closed in it (``status`` closed,
  ``closed_at`` within the period), grouped by assignee (the agent each one counts against),
  ``ceil(share × n)`` of each agent's clamped to the policy's min and max; and
  ``bot_conversations`` of the period's ``feedback`` rows without a ticket number. The choice
  is ``random.Random`` over the rows in id order, seeded with the period's seed (by default its
  first day, ``2026-11-23``; stored with the draw and every sample) and the group
  (``<seed>|ticket|<staff id>``, ``<seed>|bot``): the same seed over the same rows is the same
  sample, and one agent's sample does not move when another agent closes one more ticket.
  A period is drawn once (``qa_draws``' unique period, under an advisory lock on PostgreSQL):
  drawing it again returns what was drawn, adding nothing. A ticket sampled in one period is
  never sampled again (which only matters after the policy's periods were changed).
* :func:`draw_due` draws every ended period of the last ``catch_up_periods`` that has no draw
  yet: the web server runs it every ``QA_DRAW_SECONDS`` (an hour by default), and
  ``python -m tickets.quality due`` does it once.
* :func:`review_queue` and :func:`recent_reviews` are what the console's 抽查 page lists,
  :func:`ticket_sample` / :func:`sample_detail` what a review page shows.
* :func:`submit_review` records a supervisor's scorecard once per sample, with its weighted
  total, in the ticket's audit trail too (``TicketEvent`` kind ``qa_review``).
* :func:`agent_scores` is each agent's number of reviews and mean total for the dashboard,
  aggregated in SQL; :func:`bot_scores` the same for the bot's conversations.

Messages of :class:`QualityError` are for supervisors at the console (Chinese).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from tickets.config import DISPLAY_TZ
from tickets.db import round_lock, session_scope
from tickets.models import Feedback, StaffUser, Ticket, TicketEvent, utcnow
from tickets.quality_models import QaDraw, QaReview, QaSample
from tickets.quality_policy import (
    KIND_LABELS,
    MAX_SEED,
    SCORES,
    QualityPolicy,
    SamplePeriod,
    load_quality_policy,
)
from tickets.staff import Staff

logger = logging.getLogger(__name__)

#: The most pending samples and recent reviews one page lists.
QUEUE_LIMIT = 300
RECENT_LIMIT = 30
MAX_COMMENT = 2000
REVIEW_EVENT = "qa_review"


class QualityError(ValueError):
    """A spot-check action that was refused; the message says why (Chinese, for the console)."""


class SampleNotFound(QualityError):
    """There is no sample with that id."""


class AgentScore(TypedDict):
    """One agent's spot checks: how many reviews, and their mean total (0-100)."""

    reviews: int
    score: float


@dataclass(frozen=True)
class SampleLine:
    """A drawn sample as the review queue lists it."""

    id: int
    kind: str  # ticket | bot
    status: str  # pending | reviewed
    period_start: date
    #: The day after the period's last (None only for a draw the database lost).
    period_end: date | None
    seed: str
    drawn_at: datetime
    #: A ticket sample: the ticket, its category, when it was closed, and its agent.
    ticket_number: str | None
    category: str | None
    closed_at: datetime | None
    agent: str | None
    agent_name: str | None
    #: A bot sample: the conversation's outcome (no contact details here).
    feedback_id: int | None
    playbook: str | None
    resolved_step: str | None
    rating: int | None
    resolved_at: datetime | None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def period_label(self) -> str:
        if self.period_end is None:
            return f"{self.period_start.isoformat()} 起"
        return SamplePeriod(self.period_start, self.period_end, DISPLAY_TZ).label


@dataclass(frozen=True)
class Review:
    """A supervisor's scorecard of one sample."""

    reviewer: str
    reviewer_name: str
    scores: dict[str, int]
    total: float
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class SampleDetail(SampleLine):
    """One sample as its review page shows it."""

    review: Review | None = None
    #: A bot sample: the user's comment with the rating (masked by the page), and the
    #: conversation id the page reads the turns with (never shown).
    feedback_comment: str | None = None
    sender_id: str | None = None


@dataclass(frozen=True)
class DrawSummary:
    """One period's draw: its seed and how much it took."""

    period_start: date
    period_end: date
    seed: str
    tickets: int
    conversations: int
    drawn_at: datetime
    #: The supervisor who drew it from the console (None: the periodic draw).
    drawn_by: str | None

    @property
    def period_label(self) -> str:
        return SamplePeriod(self.period_start, self.period_end, DISPLAY_TZ).label


@dataclass(frozen=True)
class Draw:
    """The sample of one period."""

    summary: DrawSummary
    samples: tuple[SampleLine, ...]
    #: This call drew it (False: it had been drawn before and is returned as it was).
    drawn_now: bool

    @property
    def seed(self) -> str:
        return self.summary.seed

    @property
    def ticket_numbers(self) -> list[str]:
        return [s.ticket_number for s in self.samples if s.ticket_number is not None]

    @property
    def feedback_ids(self) -> list[int]:
        return [s.feedback_id for s in self.samples if s.feedback_id is not None]


@dataclass(frozen=True)
class ReviewQueue:
    """The pending samples, oldest period first (at most ``QUEUE_LIMIT``), and how many there
    are in all."""

    pending: list[SampleLine]
    pending_count: int


# --- drawing -----------------------------------------------------------------------------------


def default_seed(period: SamplePeriod) -> str:
    """The seed of a period drawn without one: its first day (``2026-11-23``)."""
    return f"{period.start:%Y-%m-%d}"


def pick_sample(
    tickets: Sequence[tuple[int, int | None]],
    conversations: Sequence[int],
    policy: QualityPolicy,
    seed: str,
) -> tuple[list[tuple[int, int | None]], list[int]]:
    """The draw itself, on data only: of ``tickets`` ((ticket id, agent id) of the tickets
    closed in the period) each agent's share, and of ``conversations`` (feedback ids of the
    bot-only conversations) the policy's number; each group with its own ``random.Random``
    seeded from ``seed`` over its ids in order. Returns (ticket id, agent id) and feedback ids,
    each in id order."""
    by_agent: dict[int | None, list[int]] = defaultdict(list)
    for ticket_id, staff_id in sorted(tickets, key=lambda row: row[0]):
        by_agent[staff_id].append(ticket_id)
    chosen: list[tuple[int, int | None]] = []
    for staff_id in sorted(by_agent, key=lambda s: (s is None, s or 0)):
        ids = by_agent[staff_id]
        group = random.Random(f"{seed}|ticket|{'-' if staff_id is None else staff_id}")
        picked = group.sample(ids, policy.tickets_to_draw(len(ids)))
        chosen += [(ticket_id, staff_id) for ticket_id in sorted(picked)]
    bots = sorted(conversations)
    picked_bots = random.Random(f"{seed}|bot").sample(
        bots, min(len(bots), policy.bot_conversations)
    )
    return sorted(chosen), sorted(picked_bots)


def _period_to_draw(policy: QualityPolicy, period_start: date, now: datetime) -> SamplePeriod:
    if isinstance(period_start, datetime):
        period_start = period_start.astimezone(policy.offset).date()
    period = policy.period_starting(period_start)
    if period is None:
        example = policy.previous(policy.period_of(now)).start
        raise QualityError(
            f"{period_start.isoformat()} 不是抽查周期的第一天：周期每 {policy.period_days} 天一个，"
            f"例如从 {example.isoformat()} 开始"
        )
    if period.ends_at > now:
        raise QualityError(f"抽查周期 {period.label} 还没有结束，请在周期结束后再抽样")
    return period


def draw_sample(
    period_start: date,
    *,
    seed: str | None = None,
    now: datetime | None = None,
    drawn_by: Staff | None = None,
    database_url: str | None = None,
) -> Draw:
    """The sample of the period starting on ``period_start`` (a local date; it must start a
    period of the policy, and the period must have ended by ``now``), drawn now with ``seed``
    (default: :func:`default_seed`) unless it was drawn before: then the stored draw is
    returned as it is (a different ``seed`` for it is refused). ``drawn_by``: the supervisor
    who asked for it."""
    policy = load_quality_policy()
    now = now or utcnow()
    period = _period_to_draw(policy, period_start, now)
    wanted = default_seed(period) if seed is None else seed.strip()
    if not wanted or len(wanted) > MAX_SEED:
        raise QualityError(f"随机种子不能为空，最多 {MAX_SEED} 个字符")
    try:
        with session_scope(database_url) as session:
            round_lock(session, "spot_check_draw", wait=True)
            existing = _draw_row(session, period.start)
            if existing is not None:
                if seed is not None and existing.seed != wanted:
                    raise QualityError(
                        f"抽查周期 {period.label} 已经用种子「{existing.seed}」抽过样，"
                        "不能换用其他种子重新抽取"
                    )
                return _draw_view(session, existing, drawn_now=False)
            return _draw_new(session, policy, period, wanted, now, drawn_by)
    except IntegrityError:
        # another server drew the same period at the same moment: its draw stands
        with session_scope(database_url) as session:
            existing = _draw_row(session, period.start)
            if existing is None:
                raise
            return _draw_view(session, existing, drawn_now=False)


def _draw_new(
    session: Session,
    policy: QualityPolicy,
    period: SamplePeriod,
    seed: str,
    now: datetime,
    drawn_by: Staff | None,
) -> Draw:
    sampled_tickets = select(QaSample.ticket_id).where(QaSample.ticket_id.isnot(None))
    closed = session.execute(
        select(Ticket.id, Ticket.assignee_id)
        .where(
            Ticket.status == "closed",
            Ticket.closed_at >= period.starts_at,
            Ticket.closed_at < period.ends_at,
            Ticket.created_at < period.ends_at,
            Ticket.id.not_in(sampled_tickets),
        )
        .order_by(Ticket.id)
    ).all()
    sampled_feedback = select(QaSample.feedback_id).where(QaSample.feedback_id.isnot(None))
    conversations = (
        session.execute(
            select(Feedback.id)
            .where(
                Feedback.ticket_number.is_(None),
                Feedback.created_at >= period.starts_at,
                Feedback.created_at < period.ends_at,
                Feedback.id.not_in(sampled_feedback),
            )
            .order_by(Feedback.id)
        )
        .scalars()
        .all()
    )
    tickets, bots = pick_sample(
        [(int(t), None if s is None else int(s)) for t, s in closed],
        [int(f) for f in conversations],
        policy,
        seed,
    )
    draw = QaDraw(
        period_start=period.start,
        period_end=period.end,
        seed=seed,
        tickets=len(tickets),
        conversations=len(bots),
        drawn_by_id=drawn_by.id if drawn_by else None,
        drawn_at=now,
    )
    session.add(draw)
    for ticket_id, staff_id in tickets:
        session.add(
            QaSample(
                period_start=period.start,
                kind="ticket",
                ticket_id=ticket_id,
                staff_id=staff_id,
                seed=seed,
                drawn_at=now,
                status="pending",
            )
        )
    for feedback_id in bots:
        session.add(
            QaSample(
                period_start=period.start,
                kind="bot",
                feedback_id=feedback_id,
                seed=seed,
                drawn_at=now,
                status="pending",
            )
        )
    session.flush()
    logger.info(
        "spot-check draw %s: %d tickets of %d closed, %d of %d bot-only conversations",
        period.start.isoformat(),
        len(tickets),
        len(closed),
        len(bots),
        len(conversations),
    )
    return _draw_view(session, draw, drawn_now=True)


def _draw_row(session: Session, period_start: date) -> QaDraw | None:
    row: QaDraw | None = session.execute(
        select(QaDraw).where(QaDraw.period_start == period_start)
    ).scalar()
    return row


def _draw_view(session: Session, draw: QaDraw, *, drawn_now: bool) -> Draw:
    drawn_by = None
    if draw.drawn_by_id is not None:
        drawn_by = session.execute(
            select(StaffUser.username).where(StaffUser.id == draw.drawn_by_id)
        ).scalar()
    rows = session.execute(
        _samples().where(QaSample.period_start == draw.period_start).order_by(QaSample.id)
    ).all()
    return Draw(
        summary=DrawSummary(
            period_start=draw.period_start,
            period_end=draw.period_end,
            seed=draw.seed,
            tickets=draw.tickets,
            conversations=draw.conversations,
            drawn_at=draw.drawn_at,
            drawn_by=drawn_by,
        ),
        samples=tuple(_line(row) for row in rows),
        drawn_now=drawn_now,
    )


def ended_periods(policy: QualityPolicy, now: datetime) -> list[SamplePeriod]:
    """The last ``catch_up_periods`` periods that ended by ``now``, oldest first."""
    period = policy.period_of(now)
    ended: list[SamplePeriod] = []
    for _ in range(policy.catch_up_periods):
        period = policy.previous(period)
        ended.append(period)
    return ended[::-1]


def draw_due(
    now: datetime | None = None,
    database_url: str | None = None,
    *,
    drawn_by: Staff | None = None,
) -> list[Draw]:
    """Draw every period that ended (of the last ``catch_up_periods``) and has no draw yet;
    the draws made now, oldest first. The web server's background round (no arguments)."""
    policy = load_quality_policy()
    now = now or utcnow()
    periods = ended_periods(policy, now)
    with session_scope(database_url) as session:
        drawn = set(
            session.execute(
                select(QaDraw.period_start).where(
                    QaDraw.period_start.in_([p.start for p in periods])
                )
            ).scalars()
        )
    made = []
    for period in periods:
        if period.start in drawn:
            continue
        draw = draw_sample(period.start, now=now, drawn_by=drawn_by, database_url=database_url)
        if draw.drawn_now:
            made.append(draw)
    return made


def latest_draws(limit: int = 5, *, database_url: str | None = None) -> list[DrawSummary]:
    """The newest draws, newest period first."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(QaDraw, StaffUser.username)
            .join(StaffUser, QaDraw.drawn_by_id == StaffUser.id, isouter=True)
            .order_by(QaDraw.period_start.desc())
            .limit(limit)
        ).all()
        return [
            DrawSummary(
                period_start=draw.period_start,
                period_end=draw.period_end,
                seed=draw.seed,
                tickets=draw.tickets,
                conversations=draw.conversations,
                drawn_at=draw.drawn_at,
                drawn_by=username,
            )
            for draw, username in rows
        ]


# --- what reviewers read -------------------------------------------------------------------

_Agent = aliased(StaffUser)
_Reviewer = aliased(StaffUser)
#: The columns of a sample line, in the order of ``SampleLine``'s fields.
_LINE_COLUMNS = (
    QaSample.id,
    QaSample.kind,
    QaSample.status,
    QaSample.period_start,
    QaDraw.period_end,
    QaSample.seed,
    QaSample.drawn_at,
    Ticket.number.label("ticket_number"),
    Ticket.category,
    Ticket.closed_at,
    _Agent.username.label("agent"),
    _Agent.display_name.label("agent_name"),
    QaSample.feedback_id,
    Feedback.playbook,
    Feedback.resolved_step,
    Feedback.rating,
    Feedback.created_at.label("resolved_at"),
)
_LINE_KEYS = tuple(column.key for column in _LINE_COLUMNS)


def _samples(*extra: Any) -> Select:
    """Sample lines (and ``extra`` columns) with their ticket or conversation and agent."""
    return (
        select(*_LINE_COLUMNS, *extra)
        .select_from(QaSample)
        .join(QaDraw, QaDraw.period_start == QaSample.period_start, isouter=True)
        .join(Ticket, QaSample.ticket_id == Ticket.id, isouter=True)
        .join(Feedback, QaSample.feedback_id == Feedback.id, isouter=True)
        .join(_Agent, QaSample.staff_id == _Agent.id, isouter=True)
    )


def _line(row: Sequence[Any]) -> SampleLine:
    return SampleLine(**dict(zip(_LINE_KEYS, row[: len(_LINE_KEYS)], strict=True)))


def review_queue(*, limit: int = QUEUE_LIMIT, database_url: str | None = None) -> ReviewQueue:
    """The samples waiting for a review: oldest period first, its tickets before its
    conversations, then in the order drawn."""
    tickets_first = case((QaSample.kind == "ticket", 0), else_=1)
    with session_scope(database_url) as session:
        rows = session.execute(
            _samples()
            .where(QaSample.status == "pending")
            .order_by(QaSample.period_start, tickets_first, QaSample.id)
            .limit(limit)
        ).all()
        count = session.execute(
            select(func.count()).select_from(QaSample).where(QaSample.status == "pending")
        ).scalar()
    return ReviewQueue(pending=[_line(row) for row in rows], pending_count=int(count or 0))


_REVIEW_COLUMNS = (
    _Reviewer.username,
    _Reviewer.display_name,
    QaReview.scores,
    QaReview.total,
    QaReview.comment,
    QaReview.created_at,
)


def _review(values: Sequence[Any]) -> Review:
    username, name, scores, total, comment, created_at = values
    return Review(
        reviewer=username,
        reviewer_name=name,
        scores={str(k): int(v) for k, v in dict(scores or {}).items()},
        total=float(total),
        comment=comment or "",
        created_at=created_at,
    )


def _reviewed(query: Select) -> Select:
    return query.join(QaReview, QaReview.sample_id == QaSample.id).join(
        _Reviewer, QaReview.reviewer_id == _Reviewer.id
    )


def recent_reviews(
    *, limit: int = RECENT_LIMIT, database_url: str | None = None
) -> list[SampleDetail]:
    """The latest reviews, newest first, each with its sample."""
    with session_scope(database_url) as session:
        rows = session.execute(
            _reviewed(_samples(*_REVIEW_COLUMNS))
            .order_by(QaReview.created_at.desc(), QaReview.id.desc())
            .limit(limit)
        ).all()
    width = len(_LINE_KEYS)
    return [
        SampleDetail(**vars(_line(row)), review=_review(row[width : width + 6])) for row in rows
    ]


def _detail(session: Session, query: Select) -> SampleDetail | None:
    row = session.execute(query.add_columns(Feedback.comment, Feedback.sender_id)).first()
    if row is None:
        return None
    line = _line(row)
    width = len(_LINE_KEYS)
    comment, sender = row[width], row[width + 1]
    found = session.execute(
        select(*_REVIEW_COLUMNS)
        .select_from(QaReview)
        .join(_Reviewer, QaReview.reviewer_id == _Reviewer.id)
        .where(QaReview.sample_id == line.id)
    ).first()
    return SampleDetail(
        **vars(line),
        review=_review(found) if found is not None else None,
        feedback_comment=comment if line.kind == "bot" else None,
        sender_id=sender if line.kind == "bot" else None,
    )


def sample_detail(sample_id: int, *, database_url: str | None = None) -> SampleDetail | None:
    """One sample with its review (if any); None when there is no such sample."""
    with session_scope(database_url) as session:
        return _detail(session, _samples().where(QaSample.id == sample_id))


def ticket_sample(number: str, *, database_url: str | None = None) -> SampleDetail | None:
    """The ticket's spot-check sample with its review, if the ticket was ever drawn."""
    with session_scope(database_url) as session:
        return _detail(
            session,
            _samples().where(Ticket.number == number).order_by(QaSample.id.desc()).limit(1),
        )


# --- reviewing ---------------------------------------------------------------------------------


def check_scores(policy: QualityPolicy, kind: str, scores: Mapping[str, Any]) -> dict[str, int]:
    """``scores`` as whole numbers, every criterion of ``kind`` scored from 1 to 5 and nothing
    else; raises :class:`QualityError` naming what is wrong."""
    criteria = policy.criteria_for(kind)
    known = {c.id: c for c in policy.criteria}
    for key in scores:
        if key not in known:
            raise QualityError(
                f"评分表中没有「{key}」这一项（评分表可能刚刚更新过），请刷新页面后重新评分"
            )
        if known[key] not in criteria:
            raise QualityError(
                f"「{known[key].name}」不适用于{KIND_LABELS.get(kind, kind)}，请不要为它评分"
            )
    missing = [c.name for c in criteria if scores.get(c.id) in (None, "")]
    if missing:
        raise QualityError(f"请为以下各项评分：{'、'.join(missing)}")
    checked: dict[str, int] = {}
    for criterion in criteria:
        value = scores[criterion.id]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value not in SCORES:
            raise QualityError(
                f"「{criterion.name}」的评分必须是 {min(SCORES)} 到 {max(SCORES)} 之间的整数"
            )
        checked[criterion.id] = value
    return checked


def submit_review(
    sample_id: int,
    reviewer: Staff,
    scores: Mapping[str, Any],
    comment: str = "",
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> SampleDetail:
    """Record ``reviewer``'s scorecard of the sample: every criterion of its kind scored 1-5
    (:func:`check_scores`), the weighted total computed by the policy, the comment (required
    when a score is below ``comment_required_below``), the sample marked reviewed, and for a
    ticket a ``qa_review`` event in its audit trail. Only supervisors review, never a sample
    of their own work, and a sample only once. Returns the reviewed sample."""
    if not reviewer.is_supervisor:
        raise QualityError("只有主管可以提交抽查评分")
    policy = load_quality_policy()
    now = now or utcnow()
    note = (comment or "").strip()
    if len(note) > MAX_COMMENT:
        raise QualityError(f"评语最多 {MAX_COMMENT} 字，请精简后再提交")
    try:
        with session_scope(database_url) as session:
            sample: QaSample | None = session.execute(
                select(QaSample).where(QaSample.id == sample_id).with_for_update()
            ).scalar()
            if sample is None:
                raise SampleNotFound("找不到这条抽查样本，请返回抽查列表重新选择")
            if sample.status == "reviewed":
                raise QualityError(_already_reviewed(session, sample.id))
            if sample.staff_id is not None and sample.staff_id == reviewer.id:
                raise QualityError("这张工单由您本人负责，为保证抽查公正，请交给其他主管评分")
            checked = check_scores(policy, sample.kind, scores)
            low = [
                c.name
                for c in policy.criteria_for(sample.kind)
                if checked[c.id] < policy.comment_required_below
            ]
            if low and not note:
                raise QualityError(
                    f"「{'、'.join(low)}」低于 {policy.comment_required_below} 分，"
                    "请在评语中写明具体问题，方便客服改进"
                )
            total = policy.total(sample.kind, checked)
            session.add(
                QaReview(
                    sample_id=sample.id,
                    reviewer_id=reviewer.id,
                    scores=checked,
                    total=total,
                    comment=note,
                    created_at=now,
                )
            )
            sample.status = "reviewed"
            if sample.kind == "ticket":
                session.add(
                    TicketEvent(
                        ticket_id=sample.ticket_id,
                        actor_id=reviewer.id,
                        kind=REVIEW_EVENT,
                        detail={
                            "scores": checked,
                            "total": total,
                            "comment": note,
                            "sample_id": sample.id,
                            "period_start": sample.period_start.isoformat(),
                        },
                        created_at=now,
                    )
                )
            session.flush()
    except IntegrityError:
        # another supervisor's review of the same sample committed first (the unique key)
        raise QualityError("这条抽查样本刚刚已由其他主管评分，不能重复提交") from None
    reviewed = sample_detail(sample_id, database_url=database_url)
    assert reviewed is not None  # samples are never deleted
    return reviewed


def _already_reviewed(session: Session, sample_id: int) -> str:
    row = session.execute(
        select(StaffUser.display_name, QaReview.created_at)
        .join(StaffUser, QaReview.reviewer_id == StaffUser.id)
        .where(QaReview.sample_id == sample_id)
    ).first()
    if row is None:
        return "这条抽查样本已经评过分，不能重复提交"
    name, at = row
    return f"这条抽查样本已由{name}于 {at.astimezone(DISPLAY_TZ):%m-%d %H:%M} 评分，不能重复提交"


# --- for the dashboard -------------------------------------------------------------------------


def agent_scores(
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    database_url: str | None = None,
) -> dict[str, AgentScore]:
    """Each agent's reviewed ticket samples of the tickets closed from ``since`` (included) to
    ``until`` (excluded; None: unbounded): ``{username: {"reviews": n, "score": mean total}}``
    (mean rounded to two decimals), counted and averaged by the database. Agents without a
    review in the period are absent."""
    query = (
        select(StaffUser.username, func.count(QaReview.id), func.avg(QaReview.total))
        .select_from(QaReview)
        .join(QaSample, QaReview.sample_id == QaSample.id)
        .join(StaffUser, QaSample.staff_id == StaffUser.id)
        .join(Ticket, QaSample.ticket_id == Ticket.id)
        .where(QaSample.kind == "ticket")
        .group_by(StaffUser.username)
    )
    if since is not None:
        query = query.where(Ticket.closed_at >= since)
    if until is not None:
        query = query.where(Ticket.closed_at < until)
    with session_scope(database_url) as session:
        rows = session.execute(query).all()
    return {
        str(username): AgentScore(reviews=int(count), score=round(float(mean), 2))
        for username, count, mean in rows
    }


def bot_scores(
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    database_url: str | None = None,
) -> AgentScore | None:
    """The reviews of the bot's own conversations resolved from ``since`` to ``until``: how
    many and their mean total; None when there is none."""
    query = (
        select(func.count(QaReview.id), func.avg(QaReview.total))
        .select_from(QaReview)
        .join(QaSample, QaReview.sample_id == QaSample.id)
        .join(Feedback, QaSample.feedback_id == Feedback.id)
        .where(QaSample.kind == "bot")
    )
    if since is not None:
        query = query.where(Feedback.created_at >= since)
    if until is not None:
        query = query.where(Feedback.created_at < until)
    with session_scope(database_url) as session:
        count, mean = session.execute(query).one()
    if not count:
        return None
    return AgentScore(reviews=int(count), score=round(float(mean), 2))


# --- the command line ----------------------------------------------------------------------


def _say(draw: Draw) -> str:
    summary = draw.summary
    done = "已抽样" if draw.drawn_now else "此前已抽样"
    return (
        f"{summary.period_label}：{done}，工单 {summary.tickets} 个，"
        f"机器人对话 {summary.conversations} 条（随机种子「{summary.seed}」）"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tickets.quality due`` draws what the web server would; ``draw YYYY-MM-DD
    [--seed S]`` draws (or shows) one period, e.g. one older than ``catch_up_periods``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description="服务质量抽查：抽取样本 (spot-check draws)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("due", help="抽取所有已结束、还没抽样的周期 (draw the ended periods)")
    one = commands.add_parser("draw", help="抽取某一个周期 (draw one period)")
    one.add_argument("period_start", help="周期的第一天，YYYY-MM-DD")
    one.add_argument("--seed", default=None, help="随机种子（默认是周期的第一天）")
    args = parser.parse_args(argv)
    try:
        if args.command == "due":
            draws = draw_due()
            print("\n".join(_say(d) for d in draws) or "没有需要抽样的周期。")
            return 0
        try:
            day = date.fromisoformat(args.period_start)
        except ValueError:
            print(f"「{args.period_start}」不是日期，请写成 YYYY-MM-DD", file=sys.stderr)
            return 2
        print(_say(draw_sample(day, seed=args.seed)))
        return 0
    except QualityError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
