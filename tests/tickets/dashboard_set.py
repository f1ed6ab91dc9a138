"""A small set of tickets whose every dashboard figure is worked out by hand (the expected
figures are in ``EXPECTED``): every status, all priorities and one the policy does not know,
each clock met, missed and pending (a due time passed, met exactly, met to the second, paused
while waiting for the user with and without a stored breach), progress-update breaches
recorded against another agent than the ticket's, days cut at midnight China time, bot
feedback and three-part ratings given inside and outside the period, a half-given rating, a
single rating on a ticket (not the bot's), spot-check reviews; tickets of each channel (most
by chat; t3 t6 t13 t18 by e-mail, t5 t12 and t15 before the period by phone), so that every
figure splits by channel (``EXPECTED["channels"]``).

The period is 2026-11-20 to 2026-11-24 (China time); the figures' moment ``AT`` is NOW + 3 h
(2026-11-24 12:30 China time). Priorities: network and other general (first response 6 h,
resolution 24 h), login, data loss and an urgent word urgent (1 h, 24 h, updates every 2 h),
feature complex (24 h, 72 h, updates every 8 h).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import update

from tests.factories import NOW
from tests.tickets.builders import ticket_with
from tickets import db, staff, store
from tickets.models import Feedback, SlaEvent, Ticket
from tickets.period import Period
from tickets.quality_models import QaReview, QaSample

H = timedelta(hours=1)
M = timedelta(minutes=1)
AT = NOW + 3 * H
PERIOD = Period(date(2026, 11, 20), date(2026, 11, 24))
UTC = timezone.utc
#: 2026-11-22 00:00 China time, and the second before it.
MIDNIGHT = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
#: The columns of a ticket that came in by e-mail, or by a call (the rest came by chat).
EMAIL: dict[str, Any] = {"channel": "email"}
PHONE: dict[str, Any] = {"channel": "phone"}


@dataclass
class Seeded:
    url: str
    numbers: dict[str, str]
    staff_ids: dict[str, int]
    sender: str = "alice"


# name: category, created, status, assignee, first response, resolved, closed, extra columns
TICKETS: dict[str, tuple[Any, ...]] = {
    "t1": ("network", NOW, "resolved", "a.one", NOW + 30 * M, NOW + 2 * H, None, {}),
    "t2": ("network", NOW - 10 * H, "open", None, None, None, None, {}),
    "t3": ("login", NOW, "closed", "a.one", NOW + 90 * M, NOW + 5 * H, NOW + 6 * H, EMAIL),
    "t4": ("data_loss", NOW + 150 * M, "assigned", "a.two", None, None, None, {}),
    "t5": ("feature", NOW, "in_progress", "a.two", NOW + H, None, None, PHONE),
    "t6": ("feature", NOW - 30 * H, "resolved", "a.two", NOW - 5 * H, NOW - 2 * H, None, EMAIL),
    "t7": ("network", NOW - 3 * H, "open", None, None, None, None, {}),  # due exactly at AT
    "t8": ("network", NOW - H, "in_progress", "a.one", NOW + 15 * M, None, None, {}),
    "t9": ("login", NOW - 5 * H, "assigned", "a.three", None, None, None, {}),
    # t10: urgent by what the user said, answered exactly at its due time
    "t10": ("network", NOW - H, "closed", "s.boss", NOW, NOW + H, NOW + 2 * H, {}),
    "t11": ("other", NOW, "open", None, None, None, None, {}),
    "t12": ("other", NOW, "open", None, None, None, None, {"priority": "legacy", **PHONE}),
    # waiting for the user before any answer: paused (its stored due time has passed)
    "t13": ("login", NOW - 4 * H, "waiting_user", "a.three", None, None, None, EMAIL),
    "t14": ("login", NOW - 4 * H, "waiting_user", "a.three", None, None, None, {}),
    "t15": (  # before the period
        "login",
        datetime(2026, 11, 19, 2, 0, tzinfo=UTC),
        "closed",
        "a.one",
        datetime(2026, 11, 19, 2, 30, tzinfo=UTC),
        datetime(2026, 11, 19, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 19, 9, 0, tzinfo=UTC),
        PHONE,
    ),
    "t16": ("network", NOW - 30 * H, "closed", "a.one", NOW - 29 * H, NOW - H, NOW, {}),
    # made at midnight China time (2026-11-22), and the second before it (2026-11-21)
    "t17": ("login", MIDNIGHT, "in_progress", "a.two", MIDNIGHT + 30 * M, None, None, {}),
    "t18": ("network", MIDNIGHT - timedelta(seconds=1), "open", None, None, None, None, EMAIL),
}


def seed(url: str) -> Seeded:
    staff_ids = {
        name: staff.create_staff(name, "a long password", role, database_url=url).id
        for name, role in (
            ("a.one", "agent"),
            ("a.two", "agent"),
            ("a.three", "agent"),
            ("a.idle", "agent"),
            ("s.boss", "supervisor"),
        )
    }
    numbers: dict[str, str] = {}
    for name, (category, created, status, agent, first, resolved, closed, extra) in TICKETS.items():
        columns = dict(
            status=status,
            assignee_id=staff_ids[agent] if agent else None,
            first_response_at=first,
            resolved_at=resolved,
            closed_at=closed,
            **extra,
        )
        if name in ("t13", "t14"):  # paused before the resolution's due time: none
            columns.update(resolution_due_at=None, paused_since=NOW + H)
        if name == "t1":
            columns.update(paused_seconds=1800)
        numbers[name] = ticket_with(
            url,
            category,
            created,
            reason="user_request" if category == "other" else "playbook_exhausted",
            urgent=name == "t10",
            **columns,
        )
    ids = _ids(url, numbers)
    events = [
        # t14's first response breached before it waited for the user
        ("t14", "first_response", "breach", 0, "urgent", "a.three", NOW - 3 * H),
        ("t3", "update", "breach", 0, "urgent", "a.one", NOW + 3 * H + 30 * M),
        ("t3", "update", "breach", 1, "urgent", "a.one", NOW + 5 * H + 30 * M),
        ("t5", "update", "breach", 0, "complex", "a.two", NOW + 9 * H),
        ("t5", "update", "warning", 1, "complex", "a.two", NOW + 2 * H),  # not a breach
        ("t17", "update", "breach", 0, "urgent", "a.one", MIDNIGHT + 150 * M),  # a.one's then
        ("t15", "update", "breach", 0, "urgent", "a.one", datetime(2026, 11, 19, 5, tzinfo=UTC)),
    ]
    with db.session_scope(url) as session:
        for name, clock, kind, cycle, priority, agent, at in events:
            session.add(
                SlaEvent(
                    ticket_id=ids[name],
                    clock=clock,
                    kind=kind,
                    cycle=cycle,
                    priority=priority,
                    assignee_id=staff_ids[agent],
                    due_at=at,
                    at=at,
                    recorded_at=at,
                )
            )
    day = {
        "11-24": NOW + 4 * H,
        "11-23": NOW - 20 * H,
        "11-19": datetime(2026, 11, 19, 6, tzinfo=UTC),
    }
    # the bot's conversations: three on the 24th (rated 5, 4, not rated), one on the 23rd
    # (2) and one before the period (1)
    for key, rating, given in (
        ("bot-1", 5, "11-24"),
        ("bot-2", 4, "11-24"),
        ("bot-3", None, "11-24"),
        ("bot-4", 2, "11-23"),
        ("bot-5", 1, "11-19"),
    ):
        store.record_feedback(
            idempotency_key=key,
            sender_id=f"user-{key}",
            playbook="network",
            resolved_step="check_network",
            rating=rating,
            database_url=url,
        )
        _given(url, key, day[given])
    # staff's three-part ratings (t16's given before the period, t10's only half-way, with a
    # single rating of the ticket as well, which is not the bot's)
    for name, scores, given in (
        ("t1", {"attitude": 5, "expertise": 4, "result": 5}, "11-24"),
        ("t3", {"attitude": 3, "expertise": 4, "result": 2}, "11-24"),
        ("t6", {"attitude": 4, "expertise": 5, "result": 4}, "11-23"),
        ("t16", {"attitude": 1, "expertise": 1, "result": 1}, "11-19"),
        ("t10", {"attitude": 5}, "11-24"),
    ):
        store.record_staff_rating(
            idempotency_key=f"rated-{name}",
            sender_id="alice",
            ticket_number=numbers[name],
            scores=scores,
            database_url=url,
        )
        _given(url, f"rated-{name}", day[given])
    store.record_feedback(
        idempotency_key="rated-t10",
        sender_id="alice",
        playbook=None,
        resolved_step=None,
        rating=3,
        ticket_number=numbers["t10"],
        database_url=url,
    )
    # spot checks of two tickets closed in the period
    with db.session_scope(url) as session:
        for name, agent, total in (("t3", "a.one", 80.0), ("t10", "s.boss", 90.0)):
            sample = QaSample(
                period_start=date(2026, 11, 23),
                kind="ticket",
                ticket_id=ids[name],
                staff_id=staff_ids[agent],
                seed="test",
                drawn_at=NOW,
                status="reviewed",
            )
            session.add(sample)
            session.flush()
            session.add(
                QaReview(
                    sample_id=sample.id,
                    reviewer_id=staff_ids["s.boss"],
                    scores={},
                    total=total,
                    comment="",
                    created_at=NOW + 7 * H,
                )
            )
    return Seeded(url=url, numbers=numbers, staff_ids=staff_ids)


def _ids(url: str, numbers: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import select

    with db.session_scope(url) as session:
        rows = session.execute(select(Ticket.number, Ticket.id)).all()
    by_number = dict(rows)
    return {name: by_number[number] for name, number in numbers.items()}


def _given(url: str, key: str, moment: datetime) -> None:
    with db.session_scope(url) as session:
        session.execute(
            update(Feedback)
            .where(Feedback.idempotency_key == key)
            .values(created_at=moment, updated_at=moment)
        )


def _clock(met: int, missed: int, pending: int) -> dict[str, Any]:
    done = met + missed
    return {
        "met": met,
        "missed": missed,
        "pending": pending,
        "compliance_pct": round(100 * met / done, 1) if done else None,
    }


def _sla(tickets: int, fr: tuple[int, int, int], res: tuple[int, int, int], updates=(0, 0)):
    return {
        "tickets": tickets,
        "first_response": _clock(*fr),
        "resolution": _clock(*res),
        "update_breaches": updates[0],
        "update_breached_tickets": updates[1],
    }


def _ratings(n: int, attitude=None, expertise=None, result=None) -> dict[str, Any]:
    return {"ratings": n, "attitude": attitude, "expertise": expertise, "result": result}


def _agent(assigned, resolved, mean, sla, ratings, qa=(0, None)) -> dict[str, Any]:
    return {
        "assigned": assigned,
        "resolved": resolved,
        "mean_first_response_hours": mean,
        **sla,
        **ratings,
        "qa": {"reviews": qa[0], "score": qa[1]},
    }


def _day(day, tickets, fr, resolved, mean, bot, bot_rating, staff_ratings) -> dict[str, Any]:
    return {
        "day": day,
        "tickets": tickets,
        "first_response": _clock(*fr),
        "resolved": resolved,
        "mean_hours_to_resolve": mean,
        "bot_resolved": bot,
        "containment_pct": round(100 * bot / (bot + tickets), 1) if bot + tickets else None,
        "bot_rating": {"ratings": bot_rating[0], "mean": bot_rating[1]},
        "staff_ratings": staff_ratings,
    }


EMPTY_DAY = ((0, 0, 0), 0, None, 0, (0, None), _ratings(0))
#: The figures of the set, worked out by hand (see each ticket above).
EXPECTED: dict[str, Any] = {
    "period": {
        "from": "2026-11-20",
        "to": "2026-11-24",
        "label": "2026-11-20 至 2026-11-24",
        "first_day": "2026-11-20",
        "last_day": "2026-11-24",
    },
    "tickets": 17,
    "by_category": {"network": 7, "login": 5, "feature": 2, "data_loss": 1, "other": 2},
    "by_priority": {"urgent": 7, "general": 7, "complex": 2, "legacy": 1},
    "by_status": {
        "open": 5,
        "assigned": 2,
        "in_progress": 3,
        "waiting_user": 2,
        "resolved": 2,
        "closed": 3,
    },
    # first response: met t1 t5 t8 t10 t16 t17, missed t2 t3 t6 t9 t14 t18, pending t4 t7
    # t11 t12 t13; resolution: met t1 t3 t6 t10, missed t16 t17 t18
    "sla": _sla(17, (6, 6, 5), (4, 3, 10), (4, 3)),
    "per_priority": {
        "urgent": _sla(7, (2, 3, 2), (2, 1, 4), (3, 2)),  # t3 t4 t9 t10 t13 t14 t17
        "general": _sla(7, (3, 2, 2), (1, 2, 4)),  # t1 t2 t7 t8 t11 t16 t18
        "complex": _sla(2, (1, 1, 0), (1, 0, 1), (1, 1)),  # t5 t6
        "legacy": _sla(1, (0, 0, 1), (0, 0, 1)),  # t12
    },
    "mean_hours_to_resolve": 13.2,  # (2 + 5 + 28 + 2 + 29) / 5
    "resolved": 5,
    "resolution_rate_pct": 29.4,  # 5 of 17
    "bot_resolved": 4,
    "containment_pct": 19.0,  # 4 of 4 + 17
    "bot_rating": {"ratings": 3, "mean": 3.67},  # (5 + 4 + 2) / 3
    "staff_ratings": _ratings(3, 4.0, 4.33, 3.67),  # t1 t3 t6
    "per_agent": {
        # t1 t3 t8 t16: first responses after 0.5, 1.5, 1.25 and 1 h; t17's breach was his
        "a.one": _agent(
            4,
            3,
            1.06,
            _sla(4, (3, 1, 0), (2, 1, 1), (3, 2)),
            _ratings(2, 4.0, 4.0, 3.5),
            (1, 80.0),
        ),
        "a.three": _agent(3, 0, None, _sla(3, (0, 2, 1), (0, 0, 3)), _ratings(0)),  # t9 t13 t14
        # t4 t5 t6 t17: answered after 1, 25 and 0.5 h
        "a.two": _agent(
            4, 1, 8.83, _sla(4, (2, 1, 1), (1, 1, 2), (1, 1)), _ratings(1, 4.0, 5.0, 4.0)
        ),
        "s.boss": _agent(1, 1, 1.0, _sla(1, (1, 0, 0), (1, 0, 0)), _ratings(0), (1, 90.0)),
    },
    "daily": [
        _day("2026-11-20", 0, *EMPTY_DAY),
        _day("2026-11-21", 1, (0, 1, 0), 0, None, 0, (0, None), _ratings(0)),  # t18
        _day("2026-11-22", 1, (1, 0, 0), 0, None, 0, (0, None), _ratings(0)),  # t17
        _day(  # t2 t6 t16
            "2026-11-23", 3, (1, 2, 0), 2, 28.5, 1, (1, 2.0), _ratings(1, 4.0, 5.0, 4.0)
        ),
        _day(  # t1 t3 t4 t5 t7 t8 t9 t10 t11 t12 t13 t14
            "2026-11-24", 12, (4, 3, 5), 3, 3.0, 3, (2, 4.5), _ratings(2, 4.0, 4.0, 3.5)
        ),
    ],
}


def _line(assigned, resolved, mean, sla, ratings) -> dict[str, Any]:
    """An agent's line of one channel (the spot checks are not split by channel)."""
    line = {"assigned": assigned, "resolved": resolved, "mean_first_response_hours": mean}
    return line | sla | ratings


def _channel_day(day, tickets, fr, resolved, mean, staff_ratings) -> dict[str, Any]:
    """A day of one channel (the bot's conversations are no channel's tickets)."""
    return {
        "day": day,
        "tickets": tickets,
        "first_response": _clock(*fr),
        "resolved": resolved,
        "mean_hours_to_resolve": mean,
        "staff_ratings": staff_ratings,
    }


def _channel_days(*days: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The period's days of one channel: those given, every other one empty."""
    given = {day[0]: day for day in days}
    return [
        _channel_day(*given.get(day, (day, 0, (0, 0, 0), 0, None, _ratings(0))))
        for day in (f"2026-11-{d}" for d in range(20, 25))
    ]


#: Each channel's figures, worked out by hand: chat t1 t2 t4 t7 t8 t9 t10 t11 t14 t16 t17,
#: email t3 t6 t13 t18, phone t5 t12 (t15 is before the period). They add up to EXPECTED's.
EXPECTED["channels"] = {
    "chat": {
        "tickets": 11,
        "by_category": {"network": 6, "login": 3, "data_loss": 1, "other": 1},
        "by_priority": {"urgent": 5, "general": 6},
        "by_status": {
            "open": 3,
            "assigned": 2,
            "in_progress": 2,
            "waiting_user": 1,
            "resolved": 1,
            "closed": 2,
        },
        # first response: met t1 t8 t10 t16 t17, missed t2 t9 t14, pending t4 t7 t11;
        # resolution: met t1 t10, missed t16 t17; t17's progress update breached
        "sla": _sla(11, (5, 3, 3), (2, 2, 7), (1, 1)),
        "per_priority": {
            "urgent": _sla(5, (2, 2, 1), (1, 1, 3), (1, 1)),  # t4 t9 t10 t14 t17
            "general": _sla(6, (3, 1, 2), (1, 1, 4)),  # t1 t2 t7 t8 t11 t16
        },
        "mean_hours_to_resolve": 11.0,  # (2 + 2 + 29) / 3
        "resolved": 3,
        "resolution_rate_pct": 27.3,  # 3 of 11
        "staff_ratings": _ratings(1, 5.0, 4.0, 5.0),  # t1
        "per_agent": {
            # t1 t8 t16 (answered after 0.5, 1.25 and 1 h), and t17's breach, his then
            "a.one": _line(
                3, 2, 0.92, _sla(3, (3, 0, 0), (1, 1, 1), (1, 1)), _ratings(1, 5.0, 4.0, 5.0)
            ),
            "a.three": _line(2, 0, None, _sla(2, (0, 2, 0), (0, 0, 2)), _ratings(0)),  # t9 t14
            "a.two": _line(2, 0, 0.5, _sla(2, (1, 0, 1), (0, 1, 1)), _ratings(0)),  # t4 t17
            "s.boss": _line(1, 1, 1.0, _sla(1, (1, 0, 0), (1, 0, 0)), _ratings(0)),  # t10
        },
        "daily": _channel_days(
            ("2026-11-22", 1, (1, 0, 0), 0, None, _ratings(0)),  # t17
            ("2026-11-23", 2, (1, 1, 0), 1, 29.0, _ratings(0)),  # t2 t16
            # t1 t4 t7 t8 t9 t10 t11 t14
            ("2026-11-24", 8, (3, 2, 3), 2, 2.0, _ratings(1, 5.0, 4.0, 5.0)),
        ),
    },
    "email": {
        "tickets": 4,
        "by_category": {"network": 1, "login": 2, "feature": 1},
        "by_priority": {"urgent": 2, "general": 1, "complex": 1},
        "by_status": {"open": 1, "waiting_user": 1, "resolved": 1, "closed": 1},
        # first response: missed t3 t6 t18, pending t13; resolution: met t3 t6, missed t18
        "sla": _sla(4, (0, 3, 1), (2, 1, 1), (2, 1)),
        "per_priority": {
            "urgent": _sla(2, (0, 1, 1), (1, 0, 1), (2, 1)),  # t3 t13
            "general": _sla(1, (0, 1, 0), (0, 1, 0)),  # t18
            "complex": _sla(1, (0, 1, 0), (1, 0, 0)),  # t6
        },
        "mean_hours_to_resolve": 16.5,  # (5 + 28) / 2
        "resolved": 2,
        "resolution_rate_pct": 50.0,
        "staff_ratings": _ratings(2, 3.5, 4.5, 3.0),  # t3 t6
        "per_agent": {
            "a.one": _line(
                1, 1, 1.5, _sla(1, (0, 1, 0), (1, 0, 0), (2, 1)), _ratings(1, 3.0, 4.0, 2.0)
            ),  # t3
            "a.three": _line(1, 0, None, _sla(1, (0, 0, 1), (0, 0, 1)), _ratings(0)),  # t13
            "a.two": _line(
                1, 1, 25.0, _sla(1, (0, 1, 0), (1, 0, 0)), _ratings(1, 4.0, 5.0, 4.0)
            ),  # t6
        },
        "daily": _channel_days(
            ("2026-11-21", 1, (0, 1, 0), 0, None, _ratings(0)),  # t18
            ("2026-11-23", 1, (0, 1, 0), 1, 28.0, _ratings(1, 4.0, 5.0, 4.0)),  # t6
            ("2026-11-24", 2, (0, 1, 1), 1, 5.0, _ratings(1, 3.0, 4.0, 2.0)),  # t3 t13
        ),
    },
    "phone": {
        "tickets": 2,
        "by_category": {"feature": 1, "other": 1},
        "by_priority": {"complex": 1, "legacy": 1},
        "by_status": {"open": 1, "in_progress": 1},
        "sla": _sla(2, (1, 0, 1), (0, 0, 2), (1, 1)),  # t5 answered in time, t12 waiting
        "per_priority": {
            "complex": _sla(1, (1, 0, 0), (0, 0, 1), (1, 1)),  # t5
            "legacy": _sla(1, (0, 0, 1), (0, 0, 1)),  # t12
        },
        "mean_hours_to_resolve": None,
        "resolved": 0,
        "resolution_rate_pct": 0.0,
        "staff_ratings": _ratings(0),
        "per_agent": {
            "a.two": _line(1, 0, 1.0, _sla(1, (1, 0, 0), (0, 0, 1), (1, 1)), _ratings(0)),  # t5
        },
        "daily": _channel_days(("2026-11-24", 2, (1, 0, 1), 0, None, _ratings(0))),  # t5 t12
    },
}
