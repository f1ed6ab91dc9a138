"""The ticket store API. Every function is synchronous; async callers use ``asyncio.to_thread``.

Tickets are created through :func:`create_or_join` only (what the assistant and the outbox
call), which is idempotent on its key and first joins an escalation to the sender's
unfinished ticket of the same category; :func:`create_ticket` is the same without joining.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from tickets import config
from tickets.db import session_scope
from tickets.models import OPEN_STATUSES, Feedback, Ticket, TicketEvent, utcnow
from tickets.policy import Decision, PriorityPolicy, load_policy
from tickets.privacy import EMAIL_RE, PHONE_RE
from tickets.sla import History, evaluate
from tickets.sla_store import refresh
from understanding.ratings import ASPECTS

#: The database did not answer (down, restarting, no connection left): the ticket waits in
#: the outbox (tickets.outbox) rather than being lost.
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)
NUMBER_RE = re.compile(r"^DY-\d{8}-\d{4,}$")
MAX_TURN_CHARS = 4000
MAX_TRANSCRIPT_TURNS = 500
#: The audit kind of an escalation joined to the sender's unfinished ticket.
REPEAT = "repeat"
#: The turns of a joined escalation kept in its audit entry (its newest ones).
MAX_REPEAT_TURNS = 40


@dataclass(frozen=True)
class TicketView:
    """A detached, read-only view of a ticket for actions and APIs."""

    number: str
    sender_id: str
    category: str
    playbook: str | None
    reason: str
    steps_tried: list[dict[str, Any]]
    priority: str
    sla_due_at: datetime
    status: str
    contact_phone: str | None
    contact_email: str | None
    transcript: list[dict[str, Any]]
    created_at: datetime
    created_now: bool = False
    first_response_at: datetime | None = None
    resolution_due_at: datetime | None = None
    update_due_at: datetime | None = None
    #: Since when the ticket waits for the user (its clocks paused); None when they run.
    paused_since: datetime | None = None
    #: How it came in (``tickets.models.CHANNELS``).
    channel: str = "chat"
    #: The category is the understanding's guess: a person should confirm or change it.
    category_unsure: bool = False


def _view(ticket: Ticket, created_now: bool = False) -> TicketView:
    return TicketView(
        number=ticket.number,
        sender_id=ticket.sender_id,
        category=ticket.category,
        playbook=ticket.playbook,
        reason=ticket.reason,
        steps_tried=list(ticket.steps_tried or []),
        priority=ticket.priority,
        sla_due_at=ticket.sla_due_at,
        status=ticket.status,
        contact_phone=ticket.contact_phone,
        contact_email=ticket.contact_email,
        transcript=list(ticket.transcript or []),
        created_at=ticket.created_at,
        created_now=created_now,
        first_response_at=ticket.first_response_at,
        resolution_due_at=ticket.resolution_due_at,
        update_due_at=ticket.update_due_at,
        paused_since=ticket.paused_since,
        channel=ticket.channel,
        category_unsure=bool(ticket.category_unsure),
    )


def escalation_key(sender_id: str, flow_id: str) -> str:
    """The idempotency key of one escalation of one conversation."""
    return hashlib.sha256(f"{sender_id}\x1f{flow_id}".encode()).hexdigest()


def _clip_transcript(transcript: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    turns = list(transcript)[-MAX_TRANSCRIPT_TURNS:]
    clipped = []
    for turn in turns:
        turn = dict(turn)
        text = turn.get("text") or ""
        if len(text) > MAX_TURN_CHARS:
            turn["text"] = text[:MAX_TURN_CHARS]
            turn["truncated_chars"] = len(text) - MAX_TURN_CHARS
        clipped.append(turn)
    return clipped


#: The tickets table, for the statements of the assistant's own hot path (SQLAlchemy Core).
_TICKETS = Ticket.__table__


def _next_number(session: Session, created_at: datetime) -> str:
    day = created_at.astimezone(config.DISPLAY_TZ).strftime("%Y%m%d")
    prefix = f"DY-{day}-"
    # longest, then greatest: DY-...-10000 sorts after DY-...-9999
    number = _TICKETS.c.number
    last = session.execute(
        select(number)
        .where(number.like(prefix + "%"))
        .order_by(func.length(number).desc(), number.desc())
        .limit(1)
    ).scalar()
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def create_ticket(**escalation: Any) -> TicketView:
    """Create the ticket for one escalation, or return the one that key already made (never
    joining another ticket): :func:`create_or_join`'s arguments."""
    return create_or_join(**escalation, join=False)


#: Tries at a free ticket number before giving up (each lost race takes the next one).
NUMBER_ATTEMPTS = 8


def _new_ticket(
    session: Session,
    decision: Decision,
    policy: PriorityPolicy,
    *,
    idempotency_key: str,
    sender_id: str,
    category: str,
    reason: str,
    playbook: str | None,
    steps_tried: Sequence[dict[str, Any]],
    urgent_signal: bool,
    transcript: Sequence[dict[str, Any]],
    created_at: datetime,
    channel: str = "chat",
    category_unsure: bool = False,
    contact_phone: str | None = None,
    contact_email: str | None = None,
) -> TicketView:
    """A new ticket with the next free number of its day, written in ``session`` (one
    ``INSERT``, no ORM object: the view is made from what was written)."""
    view = TicketView(
        number=_next_number(session, created_at),
        sender_id=sender_id,
        category=category,
        playbook=playbook,
        reason=reason,
        steps_tried=list(steps_tried),
        priority=decision.priority,
        sla_due_at=decision.due_at,
        status="open",
        contact_phone=contact_phone,
        contact_email=contact_email,
        transcript=_clip_transcript(transcript),
        created_at=created_at,
        created_now=True,
        channel=channel,
        category_unsure=category_unsure,
    )
    clocks = evaluate(
        History(created_at=created_at, priority=decision.priority), policy, created_at
    )
    resolution = clocks.clock("resolution")
    view = replace(view, resolution_due_at=resolution.due_at if resolution else None)
    session.execute(
        _TICKETS.insert().values(
            number=view.number,
            idempotency_key=idempotency_key,
            sender_id=sender_id,
            category=category,
            playbook=playbook,
            reason=reason,
            steps_tried=view.steps_tried,
            urgent_signal=bool(urgent_signal),
            priority=view.priority,
            sla_due_at=view.sla_due_at,
            resolution_due_at=resolution.due_at if resolution else None,
            sla_check_at=clocks.check_at,
            paused_seconds=0,
            status=view.status,
            transcript=view.transcript,
            channel=channel,
            category_unsure=category_unsure,
            contact_phone=contact_phone,
            contact_email=contact_email,
            created_at=created_at,
            updated_at=created_at,
        )
    )
    return view


def create_or_join(
    *,
    idempotency_key: str,
    sender_id: str,
    category: str,
    reason: str,
    playbook: str | None = None,
    playbook_priority: str | None = None,
    steps_tried: Sequence[dict[str, Any]] = (),
    urgent_signal: bool = False,
    transcript: Sequence[dict[str, Any]] = (),
    policy: PriorityPolicy | None = None,
    now: datetime | None = None,
    database_url: str | None = None,
    join: bool = True,
    channel: str = "chat",
    category_unsure: bool = False,
    contact_phone: str | None = None,
    contact_email: str | None = None,
) -> TicketView:
    """The ticket of one escalation: the one its key made or joined before; else the sender's
    newest unfinished ticket of ``category``, which the escalation joins (an audit entry
    ``repeat`` with its reason, steps and newest turns; the priority rises when this one is
    more urgent, never falls); else a new ticket (of ``channel``, with the contact details
    the channel gave, e.g. a mail's sender). So a user who asks again, or whose
    escalations waited in the outbox while the database was down, has one ticket per
    problem, and staff see every report on it. With ``join=False`` only the key's own ticket
    is found, never another one joined.

    One transaction: one query finds the key's ticket and the sender's tickets (a sender
    with none, the common case, needs no other read before the new ticket is written)."""
    policy = policy or load_policy()
    at = (now or utcnow()).astimezone(timezone.utc)
    decision = policy.decide(
        category=category,
        reason=reason,
        urgent_signal=urgent_signal,
        created_at=at,
        playbook_priority=playbook_priority,
    )
    for _attempt in range(NUMBER_ATTEMPTS):
        try:
            with session_scope(database_url) as session:
                columns = _TICKETS.c
                known = session.execute(
                    select(
                        columns.id,
                        columns.idempotency_key,
                        columns.sender_id,
                        columns.category,
                        columns.status,
                        columns.created_at,
                    ).where(
                        or_(
                            columns.idempotency_key == idempotency_key,
                            columns.sender_id == sender_id,
                        )
                    )
                ).all()
                made = next((row for row in known if row.idempotency_key == idempotency_key), None)
                if made is not None:
                    return _view(session.get(Ticket, made.id))
                if join and known:
                    joined = _joined_by(session, sender_id, idempotency_key)
                    if joined is not None:
                        return _view(joined)
                    open_one = _newest_of(known, sender_id, category, OPEN_STATUSES)
                    if open_one is not None:
                        ticket = session.get(Ticket, open_one)
                        _join(session, ticket, idempotency_key, reason, steps_tried, transcript, at)
                        _raise_priority(session, ticket, policy, decision.priority, at)
                        return _view(ticket)
                return _new_ticket(
                    session,
                    decision,
                    policy,
                    idempotency_key=idempotency_key,
                    sender_id=sender_id,
                    category=category,
                    reason=reason,
                    playbook=playbook,
                    steps_tried=steps_tried,
                    urgent_signal=urgent_signal,
                    transcript=transcript,
                    created_at=at,
                    channel=channel,
                    category_unsure=category_unsure,
                    contact_phone=contact_phone,
                    contact_email=contact_email,
                )
        except IntegrityError:
            # the same escalation raced us (the next loop finds its ticket) or another
            # ticket took this number (the next loop takes the next one)
            continue
    raise RuntimeError(f"could not allocate a ticket number after {NUMBER_ATTEMPTS} attempts")


def _newest_of(
    rows: Sequence[Any], sender_id: str, category: str, statuses: Sequence[str]
) -> int | None:
    """The id of the newest of ``rows`` (id, sender, category, status, created_at) that is
    the sender's, of ``category`` and in ``statuses``: what :func:`_newest_unfinished` finds."""
    matching = [
        row
        for row in rows
        if row.sender_id == sender_id and row.category == category and row.status in statuses
    ]
    if not matching:
        return None
    newest = max(matching, key=lambda row: (row.created_at, row.id))
    found: int = newest.id
    return found


def _joined_by(session: Session, sender_id: str, idempotency_key: str) -> Ticket | None:
    """The sender's ticket that the escalation of ``idempotency_key`` joined, if any."""
    joins = session.execute(
        select(Ticket, TicketEvent.detail)
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .where(Ticket.sender_id == sender_id, TicketEvent.kind == REPEAT)
    ).all()
    return next((ticket for ticket, detail in joins if detail.get("key") == idempotency_key), None)


def _join(
    session: Session,
    ticket: Ticket,
    idempotency_key: str,
    reason: str,
    steps_tried: Sequence[dict[str, Any]],
    transcript: Sequence[dict[str, Any]],
    at: datetime,
) -> None:
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor_id=None,
            kind=REPEAT,
            detail={
                "key": idempotency_key,
                "reason": reason,
                "at": at.isoformat(),
                "steps_tried": list(steps_tried),
                "transcript": _clip_transcript(transcript)[-MAX_REPEAT_TURNS:],
            },
            created_at=utcnow(),
        )
    )
    ticket.updated_at = utcnow()


def _raise_priority(
    session: Session, ticket: Ticket, policy: PriorityPolicy, priority: str, at: datetime
) -> None:
    """The ticket takes ``priority`` when it is more urgent than its own (audited as a priority
    change by the assistant); its clocks follow the new level from the report on, as when a
    supervisor changes it."""
    new, old = policy.levels.get(priority), policy.levels.get(ticket.priority)
    if new is None or (old is not None and new.rank >= old.rank):
        return
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor_id=None,
            kind="priority",
            detail={"old": ticket.priority, "new": priority, "reason": "用户再次反馈，情况更紧急"},
            created_at=at,
        )
    )
    ticket.priority = priority
    refresh(session, ticket, at, policy)


def get_by_key(idempotency_key: str, *, database_url: str | None = None) -> TicketView | None:
    with session_scope(database_url) as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        return _view(ticket) if ticket else None


def get_for_sender(
    number: str, sender_id: str, *, database_url: str | None = None
) -> TicketView | None:
    """The ticket ``number`` if and only if it belongs to ``sender_id``."""
    if not isinstance(number, str) or not NUMBER_RE.match(number):
        return None
    with session_scope(database_url) as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.number == number, Ticket.sender_id == sender_id)
        ).scalar_one_or_none()
        return _view(ticket) if ticket else None


def find_unfinished(
    sender_id: str,
    category: str,
    *,
    statuses: Sequence[str] = OPEN_STATUSES,
    database_url: str | None = None,
) -> TicketView | None:
    """The sender's newest ticket of ``category`` that staff have not finished yet."""
    with session_scope(database_url) as session:
        ticket = _newest_unfinished(session, sender_id, category, statuses)
        return _view(ticket) if ticket else None


def _newest_unfinished(
    session: Session, sender_id: str, category: str, statuses: Sequence[str]
) -> Ticket | None:
    ticket: Ticket | None = session.execute(
        select(Ticket)
        .where(
            Ticket.sender_id == sender_id,
            Ticket.category == category,
            Ticket.status.in_(list(statuses)),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return ticket


def list_for_sender(
    sender_id: str, *, limit: int = 5, database_url: str | None = None
) -> list[TicketView]:
    """The sender's own most recent tickets, newest first."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Ticket)
            .where(Ticket.sender_id == sender_id)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        ).scalars()
        return [_view(row) for row in rows]


def set_contact(
    number: str,
    sender_id: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    database_url: str | None = None,
) -> bool:
    """Attach validated contact details to the sender's own ticket."""
    if phone is not None and not PHONE_RE.match(phone):
        raise ValueError("invalid phone")
    if email is not None and not EMAIL_RE.match(email):
        raise ValueError("invalid email")
    with session_scope(database_url) as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.number == number, Ticket.sender_id == sender_id)
        ).scalar_one_or_none()
        if ticket is None:
            return False
        if phone:
            ticket.contact_phone = phone
        if email:
            ticket.contact_email = email
        return True


def record_feedback(
    *,
    idempotency_key: str,
    sender_id: str,
    playbook: str | None,
    resolved_step: str | None,
    rating: int | None = None,
    ticket_number: str | None = None,
    database_url: str | None = None,
) -> None:
    """Record a resolution (by the bot, or a ticket the user confirmed) and later its 1-5
    rating (upsert)."""
    if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
        raise ValueError("rating must be an integer from 1 to 5")
    for _attempt in range(3):
        try:
            with session_scope(database_url) as session:
                row = session.execute(
                    select(Feedback).where(Feedback.idempotency_key == idempotency_key)
                ).scalar_one_or_none()
                if row is None:
                    row = Feedback(
                        idempotency_key=idempotency_key,
                        sender_id=sender_id,
                        playbook=playbook,
                        resolved_step=resolved_step,
                        ticket_number=ticket_number,
                    )
                    session.add(row)
                if rating is not None:
                    row.rating = rating
                return
        except IntegrityError:
            continue


def get_feedback(idempotency_key: str, *, database_url: str | None = None) -> dict[str, Any] | None:
    with session_scope(database_url) as session:
        row = session.execute(
            select(Feedback).where(Feedback.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if row is None:
            return None
        return {
            "sender_id": row.sender_id,
            "playbook": row.playbook,
            "resolved_step": row.resolved_step,
            "rating": row.rating,
            **({"ticket_number": row.ticket_number} if row.ticket_number else {}),
            **{
                aspect: getattr(row, aspect)
                for aspect in ASPECTS
                if getattr(row, aspect) is not None
            },
            **({"comment": row.comment} if row.comment else {}),
        }


#: The longest comment kept with a rating.
MAX_COMMENT = 2000


def record_staff_rating(
    *,
    idempotency_key: str,
    sender_id: str,
    ticket_number: str,
    scores: Mapping[str, int],
    database_url: str | None = None,
) -> dict[str, int]:
    """Add the user's scores (1-5, by aspect) to the feedback of a ticket of theirs that staff
    resolved, rating its assignee; every score given so far is returned (an aspect rated
    twice keeps the later score). Raises ValueError for a score out of range, LookupError
    when the ticket is not the sender's."""
    for aspect, score in scores.items():
        if aspect not in ASPECTS or not (isinstance(score, int) and 1 <= score <= 5):
            raise ValueError(f"invalid score {aspect}={score!r}")
    with session_scope(database_url) as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.number == ticket_number, Ticket.sender_id == sender_id)
        ).scalar_one_or_none()
        if ticket is None:
            raise LookupError(ticket_number)
        row = session.execute(
            select(Feedback).where(Feedback.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if row is None:
            row = Feedback(
                idempotency_key=idempotency_key,
                sender_id=sender_id,
                ticket_number=ticket_number,
            )
            session.add(row)
        row.staff_id = ticket.assignee_id
        for aspect, score in scores.items():
            setattr(row, aspect, score)
        return {a: getattr(row, a) for a in ASPECTS if getattr(row, a) is not None}


def staff_rating_so_far(idempotency_key: str, *, database_url: str | None = None) -> dict[str, int]:
    """The aspects already scored in this feedback (none: an empty mapping)."""
    with session_scope(database_url) as session:
        row = session.execute(
            select(Feedback).where(Feedback.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if row is None:
            return {}
        return {a: getattr(row, a) for a in ASPECTS if getattr(row, a) is not None}


def record_comment(
    idempotency_key: str, sender_id: str, text: str, *, database_url: str | None = None
) -> bool:
    """Keep the user's comment with their rating (cut at ``MAX_COMMENT``); False when there is
    no such feedback of theirs."""
    with session_scope(database_url) as session:
        row = session.execute(
            select(Feedback).where(
                Feedback.idempotency_key == idempotency_key, Feedback.sender_id == sender_id
            )
        ).scalar_one_or_none()
        if row is None:
            return False
        row.comment = text.strip()[:MAX_COMMENT]
        return True


def channel_of(number: str, *, database_url: str | None = None) -> str | None:
    """How ticket ``number`` came in (None: no such ticket)."""
    with session_scope(database_url) as session:
        channel: str | None = session.execute(
            select(_TICKETS.c.channel).where(_TICKETS.c.number == number)
        ).scalar()
        return channel
