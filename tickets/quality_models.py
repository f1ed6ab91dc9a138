"""SQLAlchemy models of the spot checks (定期检查): each period's draw, the samples it took
(closed tickets, bot-only conversations) and the supervisors' reviews of them.

The tables share ``tickets.models.Base`` (and so its metadata: Alembic's environment and the
schema test import this module); migration 0010 creates them.
"""

# The models subclass SQLAlchemy 1.4's untyped declarative base (see ``tickets.models.Base``).
# mypy: disallow-subclassing-any=False

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)

from tickets.models import Base, UTCDateTime, utcnow

SAMPLE_STATUSES = ("pending", "reviewed")


class QaDraw(Base):
    """One period's draw: made once (the unique period), with the seed its sample came from.
    A period with nothing to sample has its draw too, so it is not drawn again."""

    __tablename__ = "qa_draws"

    id = Column(Integer, primary_key=True)
    #: The period's first day and the day after its last (local dates of the policy's zone).
    period_start = Column(Date, nullable=False)
    period_end = Column(Date, nullable=False)
    seed = Column(String(64), nullable=False)
    #: The closed tickets and bot-only conversations the sample took.
    tickets = Column(Integer, nullable=False, default=0)
    conversations = Column(Integer, nullable=False, default=0)
    #: The supervisor who drew it from the console; None: the periodic draw.
    drawn_by_id = Column(Integer, ForeignKey("staff_users.id"))
    drawn_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("period_start", name="uq_qa_draws_period"),)


class QaSample(Base):
    """A closed ticket (``kind`` ticket, counted against ``staff_id``, its assignee) or a
    conversation the bot resolved alone (``kind`` bot: a ``feedback`` row with no ticket)
    drawn for review in the period starting ``period_start``."""

    __tablename__ = "qa_samples"

    id = Column(Integer, primary_key=True)
    period_start = Column(Date, nullable=False)
    kind = Column(String(8), nullable=False)  # ticket | bot
    ticket_id = Column(Integer, ForeignKey("tickets.id"))
    feedback_id = Column(Integer, ForeignKey("feedback.id"))
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    seed = Column(String(64), nullable=False)
    drawn_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    status = Column(String(16), nullable=False, default="pending")  # one of SAMPLE_STATUSES

    __table_args__ = (
        # (two keys: a NULL never equals another, so one key over both columns would let
        # the same ticket in twice)
        UniqueConstraint("period_start", "kind", "ticket_id", name="uq_qa_samples_ticket"),
        UniqueConstraint("period_start", "kind", "feedback_id", name="uq_qa_samples_feedback"),
        CheckConstraint(
            "(kind = 'ticket' AND ticket_id IS NOT NULL AND feedback_id IS NULL)"
            " OR (kind = 'bot' AND feedback_id IS NOT NULL AND ticket_id IS NULL)",
            name="ck_qa_samples_target",
        ),
        # the review queue: the pending ones, oldest period first
        Index("ix_qa_samples_queue", "status", "period_start", "id"),
        # the ticket page: is this ticket sampled?
        Index("ix_qa_samples_ticket_id", "ticket_id"),
    )


class QaReview(Base):
    """A supervisor's scorecard of one sample: a score per criterion, their weighted total
    (0-100) and a comment. One per sample (the unique key)."""

    __tablename__ = "qa_reviews"

    id = Column(Integer, primary_key=True)
    sample_id = Column(Integer, ForeignKey("qa_samples.id"), nullable=False)
    reviewer_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    #: {criterion id: score 1-5}, as ``data/policy/quality.yml`` named them then.
    scores = Column(JSON, nullable=False, default=dict)
    total = Column(Float, nullable=False)
    comment = Column(Text, nullable=False, default="")
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("sample_id", name="uq_qa_reviews_sample"),)
