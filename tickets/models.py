"""SQLAlchemy models of the ticket store."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Text
from sqlalchemy.orm import declarative_base

Base = declarative_base()

TICKET_STATUSES = ("open", "assigned", "in_progress", "resolved", "closed")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ticket(Base):
    """A conversation escalated to human support."""

    __tablename__ = "tickets"

    id = Column(Integer, primary_key=True)
    number = Column(String(32), unique=True, nullable=False, index=True)
    #: One escalation makes at most one ticket: retried actions find this key.
    idempotency_key = Column(String(64), unique=True, nullable=False)
    sender_id = Column(String(255), nullable=False, index=True)
    category = Column(String(32), nullable=False)
    playbook = Column(String(64))
    reason = Column(String(32), nullable=False)  # playbook_exhausted | user_request
    steps_tried = Column(JSON, nullable=False, default=list)
    urgent_signal = Column(Boolean, nullable=False, default=False)
    priority = Column(String(16), nullable=False, index=True)
    sla_due_at = Column(DateTime(timezone=True), nullable=False, index=True)
    status = Column(String(16), nullable=False, default="open", index=True)
    contact_phone = Column(String(32))
    contact_email = Column(String(254))
    transcript = Column(JSON, nullable=False, default=list)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class Feedback(Base):
    """The outcome of a conversation the bot resolved by itself, with the user's rating."""

    __tablename__ = "feedback"

    id = Column(Integer, primary_key=True)
    idempotency_key = Column(String(64), unique=True, nullable=False)
    sender_id = Column(String(255), nullable=False, index=True)
    playbook = Column(String(64))
    resolved_step = Column(String(64))
    ticket_number = Column(String(32))
    rating = Column(Integer)
    comment = Column(Text)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
