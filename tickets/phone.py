"""The hotline (客服热线): an agent on the phone registers what the caller reports as a ticket of
channel ``phone``, and, once staff have resolved it, calls the user back (回访确认) and records
how the call went: reached and solved (the ticket is closed), reached and not solved (back to
in_progress), or not reached (an attempt; the call stays due). The user's three scores of the
service guide (服务态度、专业水平、问题解决效果) given on the call rate the ticket's assignee, as
the chat's follow-up does (``store.record_staff_rating``).

Every registration and every follow-up call is audited with the agent as its actor. The
caller's number is the conversation id of their tickets (``phone:<number>``) and their
contact; it is never written to the audit trail or a log, and pages show it masked
(:func:`mask_caller`) unless a member of staff asked to see it (audited).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tickets import follow_up, store, workflow
from tickets.config import DISPLAY_TZ
from tickets.db import session_scope
from tickets.models import StaffUser, Ticket, TicketEvent, utcnow
from tickets.policy import PriorityPolicy, load_policy
from tickets.staff import Staff
from tickets.store import TicketView
from tickets.workflow import WorkflowError
from understanding.ratings import ASPECT_LABELS, ASPECTS

CHANNEL = "phone"
SENDER_PREFIX = "phone:"
#: The audit kinds of a call registered, and of a follow-up call made.
INTAKE = "phone_intake"
FOLLOW_UP = "follow_up_call"
#: How far ahead of the server's clock a call time may be (clocks differ a little), and how
#: long ago a call may have been to be registered now.
FUTURE_GRACE = timedelta(minutes=1)
MAX_CALL_AGE = timedelta(days=7)
#: The longest report kept (what the caller said), and the longest note of a call.
MAX_SAID = workflow.MAX_USER_TEXT
MAX_CALL_NOTE = store.MAX_COMMENT
#: The most call tasks one page lists.
CALLS_LIMIT = 200

#: Separators people type inside a number: spaces, dashes (also the full-width and long
#: ones), dots, and the brackets around an area code.
_SEPARATORS = re.compile(r"[\s\-‐‑–—－.·()（）]+")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋", "0123456789+")
_COUNTRY = re.compile(r"^(?:\+86|0086|86(?=1[3-9]\d{9}$))")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
#: A landline with its area code: 010 and 02x have three digits, every other area code four
#: (0311, 0755, ...); the local number has 7 or 8 digits and never starts with 0 or 1.
_LANDLINE = re.compile(r"^(?:(0[12]\d)([2-9]\d{7})|(0[3-9]\d{2})([2-9]\d{6,7}))$")
INVALID_NUMBER = (
    "来电号码格式不正确：请填写 11 位手机号（如 138 1234 5678），"
    "或带区号的固定电话（如 010-62345678、0755-8666 8888）"
)


def normalise_number(raw: str) -> str:
    """The caller's number in one form: a mobile as its 11 digits (``13812345678``, also from
    ``+86 138-1234-5678``), a landline as area code, dash, number (``010-62345678``, also from
    ``(010) 6234 5678`` or ``+86 10 62345678``). Raises :class:`WorkflowError` otherwise."""
    text = _SEPARATORS.sub("", (raw or "").translate(_FULL_WIDTH).strip())
    had_country = bool(_COUNTRY.match(text))
    text = _COUNTRY.sub("", text, count=1)
    if _MOBILE.match(text):
        return text
    if had_country and not text.startswith("0"):
        text = "0" + text  # +86 10 12345678: the area code without its trunk 0
    found = _LANDLINE.match(text)
    if found is None:
        raise WorkflowError(INVALID_NUMBER)
    area, local = (found.group(1), found.group(2)) if found.group(1) else found.group(3, 4)
    return f"{area}-{local}"


def mask_caller(number: str | None) -> str:
    """A normalised number as pages show it before anyone asked to see it: ``138****5678``,
    ``010-****5678``; "" for none."""
    if not number:
        return ""
    if "-" in number:
        area, local = number.split("-", 1)
        return f"{area}-****{local[-4:]}"
    if len(number) >= 11:
        return f"{number[:3]}****{number[-4:]}"
    return "****" + number[-4:]


def sender_id_of(number: str) -> str:
    """The conversation id of a caller's tickets (their normalised number)."""
    return SENDER_PREFIX + number


def call_key(number: str, called_at: datetime, said: str = "") -> str:
    """The idempotency key of the ticket of one report on a call: the same number at the same
    moment saying the same is one report (a form sent twice makes one ticket); a second
    problem told in the same call is a second ticket."""
    moment = called_at.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    words = " ".join(said.split())
    return hashlib.sha256(f"phone\x1f{number}\x1f{moment}\x1f{words}".encode()).hexdigest()


def _call_time(called_at: datetime, now: datetime) -> datetime:
    """The call time, checked (a naive one is China time, as the console's form gives it)."""
    moment = called_at if called_at.tzinfo else called_at.replace(tzinfo=DISPLAY_TZ)
    if moment > now + FUTURE_GRACE:
        raise WorkflowError("来电时间不能晚于现在，请核对日期和时间")
    if moment < now - MAX_CALL_AGE:
        raise WorkflowError(
            f"来电时间早于 {MAX_CALL_AGE.days} 天前，请核对日期；更早的来电请按今天的新反馈登记"
        )
    return moment.astimezone(timezone.utc)


def _said(text: str) -> str:
    said = (text or "").strip()
    if not said:
        raise WorkflowError("请填写用户在电话里反映的问题")
    return said[:MAX_SAID]


def _category(category: str, policy: PriorityPolicy) -> str:
    if category not in policy.categories:
        raise WorkflowError(f"没有「{category}」这个问题类别，请从列表中选择")
    return category


def create_phone_ticket(
    *,
    caller: str,
    said: str,
    called_at: datetime,
    category: str,
    urgent: bool,
    category_unsure: bool,
    actor: Staff,
    now: datetime | None = None,
    database_url: str | None = None,
) -> TicketView:
    """The ticket of one call to the hotline, registered by ``actor`` while on the phone: its
    priority and due times from the priority policy, its clocks running from the call time.
    Raises :class:`WorkflowError` (a message for the console) for an editor, a number that is
    no phone number, an empty report, a call time in the future or long past, or an unknown
    category. A form sent twice (same number, call time and words) gives the ticket it made."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能登记电话工单")
    policy = load_policy()
    number = normalise_number(caller)
    text = _said(said)
    at = _call_time(called_at, now or utcnow())
    category = _category(category, policy)
    ticket = store.create_or_join(
        idempotency_key=call_key(number, at, text),
        sender_id=sender_id_of(number),
        category=category,
        reason="user_request",
        urgent_signal=urgent,
        transcript=[{"role": "user", "text": text, "ts": at.isoformat(), "channel": CHANNEL}],
        policy=policy,
        now=at,
        join=False,
        channel=CHANNEL,
        category_unsure=category_unsure,
        contact_phone=number,
        database_url=database_url,
    )
    if ticket.created_now:
        with session_scope(database_url) as session:
            ticket_id = session.execute(
                select(Ticket.id).where(Ticket.number == ticket.number)
            ).scalar_one()
            session.add(
                TicketEvent(
                    ticket_id=ticket_id,
                    actor_id=actor.id,
                    kind=INTAKE,
                    # no number here: the audit trail is shown to staff as it stands
                    detail={
                        "called_at": at.isoformat(),
                        "category": category,
                        "urgent": bool(urgent),
                        "category_unsure": bool(category_unsure),
                        "priority": ticket.priority,
                    },
                    created_at=utcnow(),
                )
            )
    return ticket


# --- the follow-up call ----------------------------------------------------------------------


@dataclass(frozen=True)
class CallTask:
    """A resolved phone ticket whose user is to be called back."""

    number: str
    category: str
    priority: str
    #: The caller's number, masked unless ``calls_due`` was asked to reveal it.
    caller: str
    masked: bool
    #: What the caller reported (the first user turn), for the agent to recall the case.
    said: str
    assignee: str | None
    assignee_id: int | None
    assignee_name: str | None
    called_at: datetime
    resolved_at: datetime | None
    #: Calls since it was resolved that did not reach the user, and the latest one.
    attempts: int
    last_attempt_at: datetime | None


def _first_said(transcript: Any) -> str:
    for turn in transcript or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            return str(turn.get("text") or "")
    return ""


def calls_due(
    *,
    reveal: str | None = None,
    limit: int = CALLS_LIMIT,
    database_url: str | None = None,
) -> list[CallTask]:
    """The follow-up calls to make: phone tickets staff resolved and nobody has confirmed with
    the user yet, the longest waiting first, each with the calls that did not get through.
    Every caller's number is masked but that of ticket ``reveal`` (the caller of this
    function audits the view first, ``workflow.reveal_contact``)."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Ticket, StaffUser.username, StaffUser.display_name)
            .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
            .where(Ticket.channel == CHANNEL, Ticket.status == "resolved")
            .order_by(Ticket.resolved_at, Ticket.id)
            .limit(limit)
        ).all()
        tasks = []
        for ticket, username, display_name in rows:
            attempts = _attempts(session, ticket.id, ticket.resolved_at)
            number = ticket.contact_phone or ticket.sender_id.removeprefix(SENDER_PREFIX)
            shown = reveal is not None and reveal == ticket.number
            tasks.append(
                CallTask(
                    number=ticket.number,
                    category=ticket.category,
                    priority=ticket.priority,
                    caller=number if shown else mask_caller(number),
                    masked=not shown,
                    said=_first_said(ticket.transcript),
                    assignee=username,
                    assignee_id=ticket.assignee_id,
                    assignee_name=display_name,
                    called_at=ticket.created_at,
                    resolved_at=ticket.resolved_at,
                    attempts=attempts[0],
                    last_attempt_at=attempts[1],
                )
            )
        return tasks


def _attempts(
    session: Session, ticket_id: int, since: datetime | None
) -> tuple[int, datetime | None]:
    """The follow-up calls of the ticket since it was last resolved (``since``; each one that
    reached the user moved it on, so these are the ones that did not) and the latest one's
    time."""
    query = select(func.count(TicketEvent.id), func.max(TicketEvent.created_at)).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind == FOLLOW_UP
    )
    if since is not None:
        query = query.where(TicketEvent.created_at >= since)
    count, latest = session.execute(query).one()
    return int(count or 0), latest


@dataclass(frozen=True)
class CallOutcome:
    number: str
    #: closed (reached, solved) | reopened (reached, not solved) | attempt (not reached)
    outcome: str
    #: Calls since the ticket was resolved, this one included.
    attempts: int
    #: The scores recorded on this call (none when the user did not rate).
    scores: dict[str, int]


def _scores(scores: Mapping[str, int]) -> dict[str, int]:
    checked = {}
    for aspect, score in scores.items():
        if aspect not in ASPECTS:
            raise WorkflowError(f"没有「{aspect}」这一项评价")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise WorkflowError(f"{ASPECT_LABELS[aspect]}的评分必须是 1 到 5 分")
        checked[aspect] = score
    return checked


def record_follow_up_call(
    number: str,
    actor: Staff,
    *,
    reached: bool,
    solved: bool | None,
    scores: Mapping[str, int],
    comment: str,
    now: datetime | None = None,
    database_url: str | None = None,
) -> CallOutcome:
    """What came of ``actor``'s follow-up call of the resolved phone ticket ``number``.

    Reached, ``solved``: the user confirms the fix and the ticket is closed (as when they
    confirm it in chat); reached, not solved: back to in_progress with a note. Either way
    the scores the user gave (1-5 by aspect, any of ``understanding.ratings.ASPECTS``; none
    if they would not rate) rate the ticket's assignee, and ``comment`` is kept with them.
    Not reached: an attempt is recorded, ``solved`` and ``scores`` are not read, the call
    stays due. Every call is audited (``follow_up_call``) with ``actor``. Raises
    :class:`WorkflowError` for an editor, another channel's ticket, a ticket not waiting for
    its follow-up, a reached call without its answer, or a score out of range."""
    if not actor.works_tickets:
        raise WorkflowError("内容编辑账号不能记录回访")
    moment = now or utcnow()
    note = (comment or "").strip()[:MAX_CALL_NOTE]
    given = _scores(scores) if reached else {}
    if reached and solved is None:
        raise WorkflowError("电话已接通，请选择用户的问题是否已经解决")
    with session_scope(database_url) as session:
        row = session.execute(
            select(
                Ticket.id, Ticket.sender_id, Ticket.channel, Ticket.status, Ticket.resolved_at
            ).where(Ticket.number == number)
        ).first()
    if row is None:
        raise workflow.TicketNotFound(f"工单 {number} 不存在")
    if row.channel != CHANNEL:
        raise WorkflowError("只有电话工单在这里回访；其他渠道的工单由系统自动回访")
    if row.status != "resolved":
        raise WorkflowError(_not_due(row.status))
    outcome = "attempt"
    if reached:
        outcome = _reached(number, given, bool(solved), note, moment, database_url)
    with session_scope(database_url) as session:
        attempts = _attempts(session, row.id, row.resolved_at)[0] + 1
        session.add(
            TicketEvent(
                ticket_id=row.id,
                actor_id=actor.id,
                kind=FOLLOW_UP,
                detail={
                    "reached": bool(reached),
                    "solved": bool(solved) if reached else None,
                    "outcome": outcome,
                    "attempt": attempts,
                    "scores": given,
                    "comment": note,
                },
                created_at=moment,
            )
        )
    return CallOutcome(number=number, outcome=outcome, attempts=attempts, scores=given)


def _not_due(status: str) -> str:
    label = load_policy().status_label(status)
    if status == "closed":
        return "这张工单已经关闭，回访已完成"
    return f"这张工单现在是「{label}」，还不需要回访（工单解决后才会出现在回访任务里）"


def _reached(
    number: str,
    scores: dict[str, int],
    solved: bool,
    note: str,
    moment: datetime,
    database_url: str | None,
) -> str:
    """The user's answer kept as every follow-up outside the chat keeps it (one feedback row
    per ticket, its assignee rated; ``tickets.follow_up``), the ticket closed or reopened."""
    status = follow_up.record_answer(
        number,
        solved=solved,
        scores=scores,
        comment=note,
        how="电话回访",
        now=moment,
        database_url=database_url,
    )
    return "closed" if status == "closed" else "reopened"


def local_input(moment: datetime) -> str:
    """A moment as the value of a ``datetime-local`` input (China time, to the minute)."""
    return moment.astimezone(DISPLAY_TZ).strftime("%Y-%m-%dT%H:%M")


def read_local_input(text: str) -> datetime:
    """What a ``datetime-local`` input sent, as China time; :class:`WorkflowError` if it is
    not a date and time."""
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise WorkflowError("请填写来电时间（日期和时间）") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=DISPLAY_TZ)
