"""SQLAlchemy models of the ticket store."""

# The models subclass SQLAlchemy 1.4's untyped declarative base (see ``Base``).
# mypy: disallow-subclassing-any=False

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

#: SQLAlchemy 1.4 has no type information without its mypy plugin: the models are untyped.
Base: Any = declarative_base()

TICKET_STATUSES = ("open", "assigned", "in_progress", "waiting_user", "resolved", "closed")
#: How a ticket came in: the chat widget, a support mail, a call to the hotline.
CHANNELS = ("chat", "email", "phone")
#: Staff asked the user something and wait for the answer: the service clock is paused until
#: the user writes again (in chat or any channel).
WAITING_USER = "waiting_user"
#: The statuses of a ticket still being worked on (the rest are done).
OPEN_STATUSES = ("open", "assigned", "in_progress", WAITING_USER)
DONE_STATUSES = ("resolved", "closed")
#: The service clocks of a ticket (see ``tickets.sla``).
SLA_CLOCKS = ("first_response", "update", "resolution")
#: agent: works tickets; supervisor: also assigns, re-prioritises, sees the dashboard and the
#: flow diagrams; editor: writes playbooks, sees only the flow diagrams (no tickets, no users).
STAFF_ROLES = ("agent", "supervisor", "editor")
#: Roles that work tickets (see transcripts and contact details); editors only see playbooks.
TICKET_ROLES = ("agent", "supervisor")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A moment, stored in UTC and always read back timezone-aware. SQLite keeps no zone, so
    what it returns is UTC by construction; a naive value written is taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Ticket(Base):
    """A conversation escalated to human support."""

    __tablename__ = "tickets"

    id = Column(Integer, primary_key=True)
    number = Column(String(32), unique=True, nullable=False, index=True)
    #: One escalation makes at most one ticket: retried actions find this key.
    idempotency_key = Column(String(64), unique=True, nullable=False)
    sender_id = Column(String(255), nullable=False, index=True)
    #: one of CHANNELS
    channel = Column(String(8), nullable=False, default="chat", server_default="chat")
    category = Column(String(32), nullable=False)
    #: The understanding was not sure of the category (a mail or a call it could not place): a
    #: person should set it (the queue shows it as 待分类 until someone does).
    category_unsure = Column(Boolean, nullable=False, default=False, server_default=false())
    playbook = Column(String(64))
    reason = Column(String(32), nullable=False)  # playbook_exhausted | user_request
    steps_tried = Column(JSON, nullable=False, default=list)
    urgent_signal = Column(Boolean, nullable=False, default=False)
    priority = Column(String(16), nullable=False)
    sla_due_at = Column(UTCDateTime(), nullable=False, index=True)
    status = Column(String(16), nullable=False, default="open")
    contact_phone = Column(String(32))
    contact_email = Column(String(254))
    transcript = Column(JSON, nullable=False, default=list)
    assignee_id = Column(Integer, ForeignKey("staff_users.id"), index=True)
    first_response_at = Column(UTCDateTime())
    #: The service clocks as ``tickets.sla`` last computed them from the ticket's history
    #: (kept so the queue, the dashboard and the sweeper read them without replaying it):
    #: ``sla_due_at`` is the first response's due time, later by any pause before it.
    resolution_due_at = Column(UTCDateTime())
    #: The due time of the running progress-update cycle (None: no cadence, or none running).
    update_due_at = Column(UTCDateTime())
    #: Since when the clocks are paused (waiting for the user); None when they run.
    paused_since = Column(UTCDateTime())
    #: Wall-clock seconds spent waiting for the user, over every pause that ended.
    paused_seconds = Column(Integer, nullable=False, default=0)
    #: The next moment one of the clocks crosses its warning or its due time (the sweeper's
    #: work list); None when no clock runs.
    sla_check_at = Column(UTCDateTime(), index=True)
    resolved_at = Column(UTCDateTime())
    closed_at = Column(UTCDateTime())
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # The queue: one status and one priority, earliest due first (an index range read in
        # order, stopped at the page's length); also the count of every status.
        Index("ix_tickets_queue", "status", "priority", "sla_due_at"),
        # The dashboard reads only these two, never the rows with their transcripts (SQLite:
        # covering indexes; PostgreSQL: index-only scans; ``id`` is there for PostgreSQL's
        # sake): every ticket counted in the order of its groups, without a sort, ...
        Index(
            "ix_tickets_dashboard",
            "channel",
            "priority",
            "status",
            "category",
            "assignee_id",
            "created_at",
            "sla_due_at",
            "first_response_at",
            "resolved_at",
            "resolution_due_at",
            "id",
        ),
        # ... and a period's tickets (its figures, daily trends and drill-down lists)
        Index(
            "ix_tickets_period",
            "created_at",
            "channel",
            "priority",
            "status",
            "category",
            "assignee_id",
            "sla_due_at",
            "first_response_at",
            "resolved_at",
            "resolution_due_at",
            "paused_seconds",
            "paused_since",
            "number",
            "id",
        ),
    )


class SlaEvent(Base):
    """A warning (a share of a target's time used) or a breach (the target missed) of one cycle
    of one service clock, at the moment it happened: at most one of each (the unique key), so
    a sweeper that runs twice or late records it once, with its exact time."""

    __tablename__ = "sla_events"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False)
    clock = Column(String(16), nullable=False)  # one of SLA_CLOCKS
    kind = Column(String(8), nullable=False)  # warning | breach
    #: The cycle of the clock: 0, except for progress updates (n: after the n-th reply + 1).
    cycle = Column(Integer, nullable=False, default=0)
    priority = Column(String(16), nullable=False)
    #: The ticket's assignee when it happened (the agent it counts against), if any.
    assignee_id = Column(Integer, ForeignKey("staff_users.id"))
    #: None for a warning of a clock paused before its due time was known.
    due_at = Column(UTCDateTime())
    #: When the threshold was crossed (not when it was noticed).
    at = Column(UTCDateTime(), nullable=False)
    recorded_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("ticket_id", "clock", "kind", "cycle", name="uq_sla_events_once"),
        Index("ix_sla_events_at", "at", "kind"),
        # the dashboard's progress-update breaches per priority and agent read only this
        Index(
            "ix_sla_events_breaches", "kind", "clock", "at", "ticket_id", "priority", "assignee_id"
        ),
    )


class Notification(Base):
    """A console notification for one member of staff: a new urgent ticket, a ticket assigned
    to them, a user's reply, an SLA warning or breach. Made once per source (the unique key),
    read when the person opens it or marks all read; a breach may also go out by e-mail."""

    __tablename__ = "notifications"

    id = Column(Integer, primary_key=True)
    staff_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    #: new_urgent | assigned | user_reply | warning | breach
    kind = Column(String(16), nullable=False)
    #: What it came from (e.g. ``ticket:17``, ``event:204``, ``sla:31``): one per person.
    source = Column(String(48), nullable=False)
    ticket_id = Column(Integer, ForeignKey("tickets.id"))
    ticket_number = Column(String(32))
    text = Column(String(200), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    read_at = Column(UTCDateTime())
    emailed_at = Column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("staff_id", "source", name="uq_notifications_once"),
        # a person's unread ones, newest first
        Index("ix_notifications_inbox", "staff_id", "read_at", "id"),
    )


class TicketMeta(Base):
    """Facts about the ticket store as a whole (e.g. the policy the clocks were computed with)."""

    __tablename__ = "ticket_meta"

    key = Column(String(64), primary_key=True)
    value = Column(Text, nullable=False)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


class StaffUser(Base):
    """A member of staff: a support agent or supervisor who works tickets, or a content editor."""

    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), unique=True, nullable=False)
    display_name = Column(String(64), nullable=False)
    role = Column(String(16), nullable=False)  # one of STAFF_ROLES (no database constraint)
    password_hash = Column(String(255), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(UTCDateTime())
    #: On duty (takes automatically assigned tickets) or away; set by the person themselves.
    available = Column(Boolean, nullable=False, default=False)
    available_changed_at = Column(UTCDateTime())
    #: The problem categories this person is good at (``data/policy/priority.yml``'s
    #: categories), set by a supervisor; the assignment rules read them.
    skills = Column(JSON, nullable=False, default=list)
    #: When a ticket was last given to this person (automatically or not): ties in load go to
    #: whoever waited longest.
    last_assigned_at = Column(UTCDateTime())
    #: Where breach notifications are mailed (optional; never shown to users, never logged).
    email = Column(String(254))
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class StaffToken(Base):
    """An API token of a staff member (only its SHA-256 is stored)."""

    __tablename__ = "staff_tokens"

    id = Column(Integer, primary_key=True)
    staff_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    token_hash = Column(String(64), unique=True, nullable=False)
    label = Column(String(64), nullable=False, default="")
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class TicketEvent(Base):
    """The audit trail: every change to a ticket, by whom and when."""

    __tablename__ = "ticket_events"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False, index=True)
    actor_id = Column(Integer, ForeignKey("staff_users.id"))  # None: the assistant or the user
    kind = Column(String(32), nullable=False)  # status, assign, priority, note, reply, contact_view
    detail = Column(JSON, nullable=False, default=dict)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


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
    #: A ticket staff resolved: the user's three scores (1-5) of the service guide's aspects
    #: (``understanding.ratings.ASPECTS``), and the member of staff rated (the assignee).
    attitude = Column(Integer)
    expertise = Column(Integer)
    result = Column(Integer)
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    comment = Column(Text)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # a ticket's feedback (the dashboard's lists, the export)
        Index("ix_feedback_dashboard", "ticket_number", "rating"),
        # The dashboard's feedback of a period reads only this: the conversations solved by
        # the bot (no ticket) with their ratings, and the tickets' three-part ratings.
        Index(
            "ix_feedback_period",
            "created_at",
            "ticket_number",
            "rating",
            "attitude",
            "expertise",
            "result",
            "staff_id",
        ),
        # the per-agent means of the three aspects read only this
        Index("ix_feedback_staff_ratings", "staff_id", "attitude", "expertise", "result"),
    )


class TrainingLabel(Base):
    """The audit of the misunderstanding inbox: a message an editor filed as training data
    (an intent's example or a playbook step's answer phrase), written or refused."""

    __tablename__ = "training_labels"

    id = Column(Integer, primary_key=True)
    actor_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # intent | answer
    target = Column(String(160), nullable=False)  # intent name, or playbook/step:label
    text = Column(Text, nullable=False)  # the phrase as filed (masked; cut when overlong)
    file = Column(String(255))  # the training file, relative to the project
    line = Column(Integer)  # the line written (or that would have been written)
    outcome = Column(String(16), nullable=False)  # written | refused
    message = Column(Text, nullable=False, default="")  # the validator's (or the input check's)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


#: A mail that came in, or one the desk sends.
MAIL_DIRECTIONS = ("in", "out")


class MailMessage(Base):
    """One mail of the support mailbox: every one that came in (its raw copy kept on disk
    before it was read, see ``tickets.mail_store``) with what became of it, and every one the
    desk sends (auto-replies, staff replies, follow-ups, bounces), queued until it is sent.
    The same Message-ID of one mailbox and direction is kept once: a mail delivered twice
    makes no second ticket."""

    __tablename__ = "mail_messages"

    id = Column(Integer, primary_key=True)
    #: The support address (SMTP intake) or IMAP mailbox the mail came in to / goes out from.
    mailbox = Column(String(254), nullable=False)
    direction = Column(String(3), nullable=False)  # one of MAIL_DIRECTIONS
    #: The Message-ID without angle brackets (one made from the raw bytes' digest when the
    #: mail had none).
    message_id = Column(String(255), nullable=False)
    #: in: new | reply | automatic | own | too_large | malformed | no_sender | refused;
    #: out: auto_reply | staff_reply | follow_up | bounce
    kind = Column(String(16), nullable=False)
    #: in: received (kept, not yet read) | done | failed (read, kept, someone must look);
    #: out: pending | sent | failed (gave up after its retries)
    status = Column(String(8), nullable=False)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), index=True)
    #: The other side: the sender of a mail that came in, the recipient of one sent.
    address = Column(String(254))
    subject = Column(Text, nullable=False, default="")
    #: in: the new text read from it; out: the text to send.
    body = Column(Text, nullable=False, default="")
    in_reply_to = Column(String(255))
    #: The message ids it answers (space-separated, as the header has them).
    references = Column(Text, nullable=False, default="")
    #: The raw copy of a mail that came in, relative to the mail store (``tickets.mail_store``).
    raw_path = Column(String(255))
    size = Column(Integer, nullable=False, default=0)
    #: What could not be read, or why it was not sent (shown to staff; no addresses).
    problem = Column(Text, nullable=False, default="")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime())
    #: The member of staff who wrote a staff reply.
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    #: When the mail arrived (in) or was queued (out); the ticket's clocks start here.
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    done_at = Column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("mailbox", "direction", "message_id", name="uq_mail_messages_once"),
        # the sender's work list: pending mail, oldest first
        Index("ix_mail_messages_work", "direction", "status", "next_attempt_at"),
        # a sender's auto-replies of the last hour (the rate limit)
        Index("ix_mail_messages_address", "address", "kind", "created_at"),
    )


class TicketAttachment(Base):
    """A file that came with a ticket's mail (a screenshot, a video): stored once by content
    (``tickets.mail_store``) unless it was over the size limits, which the row then says."""

    __tablename__ = "ticket_attachments"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False, index=True)
    mail_id = Column(Integer, ForeignKey("mail_messages.id"))
    filename = Column(String(255), nullable=False)
    #: What the sender said it is (shown as text only; never served as such, see web/).
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    #: Stored: shown inline when it is an image, else offered as a download. False: over the
    #: limits, not stored (``refused`` says why).
    stored = Column(Boolean, nullable=False, default=True)
    inline_image = Column(Boolean, nullable=False, default=False)
    refused = Column(String(100), nullable=False, default="")
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
