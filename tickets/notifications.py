"""Console notifications: a new ticket of the most urgent level (to supervisors and to staff on
duty), a ticket assigned to you (unless you took it yourself), a user's reply on your ticket,
an SLA warning on your ticket, and a breach (to the ticket's owner and every supervisor).

They are made from what the ticket store already records (new tickets, the audit trail, the
SLA events), one round at a time after a cursor kept in ``ticket_meta``: nothing on the
assistant's hot path, nothing missed while no web server ran, and once per person and source
(``notifications``' unique key), however many web servers collect. A breach may also go out
by e-mail to staff who gave an address, through the SMTP server of ``NOTIFY_SMTP_HOST``.
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tickets.db import round_lock, session_scope
from tickets.models import (
    Notification,
    SlaEvent,
    StaffUser,
    Ticket,
    TicketEvent,
    TicketMeta,
    utcnow,
)
from tickets.policy import PriorityPolicy, load_policy

logger = logging.getLogger(__name__)

KIND_LABELS = {
    "new_urgent": "新的紧急工单",
    "assigned": "分配给您",
    "user_reply": "用户回复",
    "warning": "即将超时",
    "breach": "已超时",
}
CLOCK_LABELS = {"first_response": "首次响应", "update": "进度通报", "resolution": "解决"}
#: The cursors of the sources, in ``ticket_meta``.
CURSORS = {
    "tickets": "notify_after_ticket",
    "events": "notify_after_event",
    "sla": "notify_after_sla",
}
#: Rows of each source read per round.
ROUND_ROWS = 500
#: Ids before the cursor read again each round (see ``_window``).
LOOKBACK = 200
#: A person's inbox: the newest this many.
INBOX_SIZE = 50


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    text: str
    ticket_number: str | None
    created_at: datetime
    read: bool

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


# --- making them -------------------------------------------------------------------------------


def _cursor(session: Session, name: str) -> int | None:
    value = session.execute(select(TicketMeta.value).where(TicketMeta.key == name)).scalar()
    return int(value) if value is not None else None


def _set_cursor(session: Session, name: str, value: int, now: datetime) -> None:
    row = session.get(TicketMeta, name)
    if row is None:
        session.add(TicketMeta(key=name, value=str(value), updated_at=now))
    else:
        row.value = str(value)
        row.updated_at = now


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Notification.__table__).values(rows).on_conflict_do_nothing()
    return int(session.execute(statement).rowcount or 0)


def _row(
    staff_id: int, kind: str, source: str, ticket: Any, words: str, now: datetime
) -> dict[str, Any]:
    return {
        "staff_id": staff_id,
        "kind": kind,
        "source": source,
        "ticket_id": ticket.id,
        "ticket_number": ticket.number,
        "text": words[:200],
        "created_at": now,
    }


def _supervisors(session: Session) -> list[int]:
    return list(
        session.execute(
            select(StaffUser.id).where(StaffUser.active.is_(True), StaffUser.role == "supervisor")
        ).scalars()
    )


def _on_duty(session: Session) -> list[int]:
    return list(
        session.execute(
            select(StaffUser.id).where(
                StaffUser.active.is_(True),
                StaffUser.available.is_(True),
                StaffUser.role.in_(("agent", "supervisor")),
            )
        ).scalars()
    )


def _most_urgent(policy: PriorityPolicy) -> str:
    return min(policy.levels, key=lambda name: policy.levels[name].rank)


def _window(session: Session, table: Any, after: int) -> tuple[int, int]:
    """The id range of a round: from ``LOOKBACK`` ids before the cursor (a transaction that
    took an id earlier and committed after the last round is still seen; the unique key
    keeps it from notifying twice) to the newest id now."""
    top = int(session.execute(select(func.coalesce(func.max(table.id), 0))).scalar() or 0)
    return max(0, after - LOOKBACK), top


def _next_cursor(rows: Sequence[Any], top: int) -> int:
    """Up to the newest id seen; when a round was cut at ``ROUND_ROWS``, up to its last row."""
    return rows[-1].id if len(rows) >= ROUND_ROWS else top


def _new_tickets(
    session: Session, after: int, policy: PriorityPolicy, now: datetime
) -> tuple[list[dict[str, Any]], int]:
    low, top = _window(session, Ticket, after)
    tickets = session.execute(
        select(Ticket.id, Ticket.number, Ticket.priority, Ticket.category)
        .where(Ticket.id > low, Ticket.id <= top, Ticket.priority == _most_urgent(policy))
        .order_by(Ticket.id)
        .limit(ROUND_ROWS)
    ).all()
    people = sorted(set(_supervisors(session)) | set(_on_duty(session))) if tickets else []
    rows = [
        _row(
            person,
            "new_urgent",
            f"ticket:{t.id}",
            t,
            f"新的{policy.priority_label(t.priority)}工单 {t.number}"
            f"（{policy.category_label(t.category)}）",
            now,
        )
        for t in tickets
        for person in people
    ]
    return rows, _next_cursor(tickets, top)


def _audit_events(session: Session, after: int, now: datetime) -> tuple[list[dict[str, Any]], int]:
    low, top = _window(session, TicketEvent, after)
    events = session.execute(
        select(
            TicketEvent.id,
            TicketEvent.kind,
            TicketEvent.actor_id,
            TicketEvent.detail,
            Ticket.id.label("ticket_id"),
            Ticket.number,
            Ticket.assignee_id,
        )
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.id > low,
            TicketEvent.id <= top,
            TicketEvent.kind.in_(("assign", "user_reply")),
        )
        .order_by(TicketEvent.id)
        .limit(ROUND_ROWS)
    ).all()
    names = {
        username: staff_id
        for staff_id, username in session.execute(select(StaffUser.id, StaffUser.username))
    }
    rows = []
    for e in events:
        ticket = _TicketRef(e.ticket_id, e.number)
        detail = e.detail if isinstance(e.detail, dict) else {}
        if e.kind == "assign":
            person = names.get(str(detail.get("assignee")))
            if person is not None and person != e.actor_id:
                why = f"：{detail['reason']}" if detail.get("reason") else ""
                rows.append(
                    _row(
                        person,
                        "assigned",
                        f"event:{e.id}",
                        ticket,
                        f"工单 {e.number} 已分配给您{why}",
                        now,
                    )
                )
        elif e.kind == "user_reply" and e.assignee_id is not None:
            said = str(detail.get("text") or "").strip()
            words = f"用户回复了工单 {e.number}" + (f"：{said[:60]}" if said else "")
            rows.append(_row(e.assignee_id, "user_reply", f"event:{e.id}", ticket, words, now))
    return rows, _next_cursor(events, top)


@dataclass(frozen=True)
class _TicketRef:
    id: int
    number: str


def _sla_events(session: Session, after: int, now: datetime) -> tuple[list[dict[str, Any]], int]:
    low, top = _window(session, SlaEvent, after)
    events = session.execute(
        select(
            SlaEvent.id,
            SlaEvent.clock,
            SlaEvent.kind,
            SlaEvent.cycle,
            Ticket.id.label("ticket_id"),
            Ticket.number,
            Ticket.assignee_id,
        )
        .join(Ticket, Ticket.id == SlaEvent.ticket_id)
        .where(SlaEvent.id > low, SlaEvent.id <= top)
        .order_by(SlaEvent.id)
        .limit(ROUND_ROWS)
    ).all()
    supervisors = _supervisors(session) if any(e.kind == "breach" for e in events) else []
    rows = []
    for e in events:
        ticket = _TicketRef(e.ticket_id, e.number)
        clock = CLOCK_LABELS.get(e.clock, e.clock)
        if e.kind == "warning":
            people = [e.assignee_id] if e.assignee_id is not None else _supervisors(session)
            words = f"工单 {e.number} 的{clock}时限即将到期"
        else:
            people = sorted({*supervisors, *([e.assignee_id] if e.assignee_id else [])})
            words = f"工单 {e.number} 的{clock}已超时"
        rows += [_row(p, e.kind, f"sla:{e.id}", ticket, words, now) for p in people]
    return rows, _next_cursor(events, top)


#: One source of a round: the notifications after a cursor, and the cursor's next value.
Reader = Callable[[int], tuple[list[dict[str, Any]], int]]


def collect(*, now: datetime | None = None, database_url: str | None = None) -> int:
    """One round: the notifications of everything recorded since the last round (the number
    made); breach mails go out after it when SMTP is configured."""
    now = now or utcnow()
    policy = load_policy()
    made = 0
    with session_scope(database_url) as session:
        if not round_lock(session, "notifications"):
            return 0
        sources: list[tuple[str, Any, Reader]] = [
            ("tickets", Ticket, lambda after: _new_tickets(session, after, policy, now)),
            ("events", TicketEvent, lambda after: _audit_events(session, after, now)),
            ("sla", SlaEvent, lambda after: _sla_events(session, after, now)),
        ]
        for source, table, read in sources:
            after = _cursor(session, CURSORS[source])
            if after is None:  # the first round starts after what exists: no flood of the past
                top = session.execute(select(func.coalesce(func.max(table.id), 0))).scalar()
                _set_cursor(session, CURSORS[source], int(top or 0), now)
                continue
            rows, last = read(after)
            made += _insert(session, rows)
            _set_cursor(session, CURSORS[source], last, now)
    if smtp_settings() is not None:
        send_breach_mails(now=now, database_url=database_url)
    return made


# --- reading them ------------------------------------------------------------------------------


def unread(staff_id: int, *, database_url: str | None = None) -> int:
    """How many of the person's notifications are unread."""
    with session_scope(database_url) as session:
        return _unread(session, staff_id)


def _unread(session: Session, staff_id: int) -> int:
    return int(
        session.execute(
            select(func.count()).where(
                Notification.staff_id == staff_id, Notification.read_at.is_(None)
            )
        ).scalar()
        or 0
    )


def inbox(
    staff_id: int, *, after: int = 0, database_url: str | None = None
) -> tuple[int, list[Item]]:
    """The person's unread count and their newest notifications (only those after ``after``
    when given), newest first."""
    with session_scope(database_url) as session:
        count = _unread(session, staff_id)
        rows = session.execute(
            select(Notification)
            .where(Notification.staff_id == staff_id, Notification.id > after)
            .order_by(Notification.id.desc())
            .limit(INBOX_SIZE)
        ).scalars()
        return count, [
            Item(
                id=n.id,
                kind=n.kind,
                text=n.text,
                ticket_number=n.ticket_number,
                created_at=n.created_at,
                read=n.read_at is not None,
            )
            for n in rows
        ]


def mark_read(
    staff_id: int,
    ids: Iterable[int] | None = None,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> int:
    """Mark the person's notifications read (the given ones, or all); the number marked."""
    statement = (
        update(Notification)
        .where(Notification.staff_id == staff_id, Notification.read_at.is_(None))
        .values(read_at=now or utcnow())
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    with session_scope(database_url) as session:
        return int(session.execute(statement).rowcount or 0)


# --- breach mails ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    console_url: str


def smtp_settings() -> SmtpSettings | None:
    """The SMTP server breach mails go through (``NOTIFY_SMTP_HOST``, ``NOTIFY_SMTP_PORT``,
    ``NOTIFY_MAIL_FROM``, ``CONSOLE_PUBLIC_URL``); None when no host is set (no mail)."""
    host = os.environ.get("NOTIFY_SMTP_HOST", "").strip()
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=int(os.environ.get("NOTIFY_SMTP_PORT", "25")),
        sender=os.environ.get("NOTIFY_MAIL_FROM", "dy-support@localhost"),
        console_url=os.environ.get("CONSOLE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
    )


def _message(settings: SmtpSettings, to: str, items: Sequence[Notification]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = f"【Dy 客服】{len(items)} 个工单已超时"
    message["Auto-Submitted"] = "auto-generated"
    lines = ["您好，以下工单已超过服务时限，请尽快处理：", ""]
    lines += [
        f"· {n.text}  {settings.console_url}/console/tickets/{n.ticket_number}" for n in items
    ]
    lines += ["", "—— Dy 客服工作台（自动发送，请勿回复）"]
    message.set_content("\n".join(lines))
    return message


def send_breach_mails(*, now: datetime | None = None, database_url: str | None = None) -> int:
    """Mail every breach notification not mailed yet to its recipient's address (one mail per
    person per round); the number of notifications mailed. A server that refuses is logged
    (never the address) and tried again next round."""
    settings = smtp_settings()
    if settings is None:
        return 0
    now = now or utcnow()
    with session_scope(database_url) as session:
        pending = session.execute(
            select(Notification, StaffUser.email)
            .join(StaffUser, StaffUser.id == Notification.staff_id)
            .where(
                Notification.kind == "breach",
                Notification.emailed_at.is_(None),
                StaffUser.email.is_not(None),
                StaffUser.active.is_(True),
            )
            .order_by(Notification.id)
            .limit(ROUND_ROWS)
        ).all()
        by_address: dict[str, list[Notification]] = {}
        for note, address in pending:
            by_address.setdefault(str(address), []).append(note)
        mailed = 0
        if not by_address:
            return 0
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
                for address, items in by_address.items():
                    smtp.send_message(_message(settings, address, items))
                    for note in items:
                        note.emailed_at = now
                    mailed += len(items)
        except (OSError, smtplib.SMTPException) as exc:
            logger.error("breach mail not sent (%s); will try again", type(exc).__name__)
        return mailed
