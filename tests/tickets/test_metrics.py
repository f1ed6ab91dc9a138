"""Supervisor figures computed on a real database."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.factories import NOW, new_ticket
from tests.tickets.builders import statements_during, ticket_with
from tickets import db, metrics, staff, store, workflow

H = timedelta(hours=1)
M = timedelta(minutes=1)
#: The three-part rating's means before any rating.
UNRATED = {"attitude": None, "expertise": None, "result": None}
NONE = {"ratings": 0, **UNRATED}


def test_figures_follow_the_work_done(any_database):
    agent = staff.create_staff("m.agent", "a long password", "agent", database_url=any_database)
    fast = new_ticket(any_database)  # general, due NOW+6h
    slow = new_ticket(any_database, category="data_loss")  # urgent, due NOW+1h
    new_ticket(any_database, category="feature", playbook_priority="complex")  # complex, waiting
    for ticket, minutes in ((fast, 30), (slow, 180)):
        workflow.claim(ticket.number, agent, database_url=any_database)
        workflow.transition(ticket.number, agent, "in_progress", database_url=any_database)
        workflow.record_reply(
            ticket.number,
            agent,
            "正在处理",
            now=NOW + timedelta(minutes=minutes),
            database_url=any_database,
        )
    workflow.transition(fast.number, agent, "resolved", database_url=any_database)
    store.record_feedback(
        idempotency_key="bot-1",
        sender_id="u1",
        playbook="network",
        resolved_step="check_network",
        rating=5,
        database_url=any_database,
    )
    store.record_feedback(
        idempotency_key="bot-2",
        sender_id="u2",
        playbook="login",
        resolved_step="reset_password",
        rating=3,
        database_url=any_database,
    )

    figures = metrics.compute(now=NOW + timedelta(hours=2), database_url=any_database)
    assert figures["tickets"] == 3
    assert figures["by_category"] == {"network": 1, "data_loss": 1, "feature": 1}
    assert figures["by_priority"] == {"general": 1, "urgent": 1, "complex": 1}
    assert figures["first_response"]["general"]["compliance_pct"] == 100.0
    assert figures["first_response"]["urgent"] == {
        "met": 0,
        "missed": 1,
        "waiting": 0,
        "compliance_pct": 0.0,
    }
    assert figures["first_response"]["complex"]["waiting"] == 1
    assert figures["resolution_rate_pct"] == round(100 / 3, 1)
    assert figures["bot_resolved"] == 2 and figures["containment_pct"] == 40.0
    assert figures["average_rating"] == 4.0
    assert figures["per_agent"]["m.agent"] == {
        "assigned": 2,
        "resolved": 1,
        "mean_first_response_hours": 1.75,
        **NONE,
    }

    rows = list(csv.reader(io.StringIO(export(any_database))))
    assert rows[0][0] == "number" and len(rows) == 4
    assert "13800138000" not in export(any_database)


def export(url: str) -> str:
    return "".join(metrics.csv_chunks(database_url=url))


def test_every_figure_on_a_varied_set_matches_the_figures_worked_out_by_hand(any_database):
    """All priorities and statuses, first responses in time, late, exactly at the due time and
    missing (past the due time, exactly at it, before it), assigned and not, an agent without
    any first response, one without tickets, a priority the policy does not know, feedback with
    and without a rating, on a ticket and not."""
    url = any_database
    ids = {
        name: staff.create_staff(name, "a long password", role, database_url=url).id
        for name, role in (
            ("a.one", "agent"),
            ("a.two", "agent"),
            ("a.three", "agent"),
            ("a.idle", "agent"),
            ("s.boss", "supervisor"),
        )
    }
    # network/other: general (6 h), login/data_loss/urgent: urgent (1 h), feature: complex (24 h)
    # category, created, status, assignee, first response, resolved, closed; the figures' moment
    # is NOW + 3 h
    table = [
        ("network", NOW, "resolved", "a.one", NOW + 30 * M, NOW + 2 * H, None),  # t1
        ("network", NOW - 10 * H, "open", None, None, None, None),  # unanswered past due: missed
        ("login", NOW, "closed", "a.one", NOW + 90 * M, NOW + 5 * H, NOW + 6 * H),  # late
        ("data_loss", NOW + 150 * M, "assigned", "a.two", None, None, None),  # waiting
        ("feature", NOW, "in_progress", "a.two", NOW + H, None, None),
        ("feature", NOW - 30 * H, "resolved", "a.two", NOW - 5 * H, NOW - 2 * H, None),  # late
        ("network", NOW - 3 * H, "open", None, None, None, None),  # due at the moment: waiting
        ("network", NOW - H, "in_progress", "a.one", NOW + 15 * M, None, None),
        ("login", NOW - 5 * H, "assigned", "a.three", None, None, None),  # missed
    ]
    numbers = [
        ticket_with(
            url,
            category,
            created,
            status=status,
            assignee_id=ids[assignee] if assignee else None,
            first_response_at=first,
            resolved_at=resolved,
            closed_at=closed,
        )
        for category, created, status, assignee, first, resolved, closed in table
    ]
    t1 = numbers[0]
    t8 = ticket_with(  # urgent by what the user said; answered exactly at the due time
        url,
        "network",
        NOW - H,
        urgent=True,
        status="closed",
        assignee_id=ids["s.boss"],
        first_response_at=NOW,
        resolved_at=NOW + H,
        closed_at=NOW + 2 * H,
    )
    ticket_with(url, "other", NOW, reason="user_request")  # general, waiting
    ticket_with(
        url, "other", NOW, reason="user_request", priority="legacy", sla_due_at=NOW + 48 * H
    )
    for key, ticket, rating in (
        ("bot-1", None, 5),
        ("bot-2", None, 4),
        ("bot-3", None, None),
        ("t1", t1, 2),
        ("t8", t8, None),
    ):
        store.record_feedback(
            idempotency_key=key,
            sender_id=f"user-{key}",
            playbook="network",
            resolved_step="check_network",
            rating=rating,
            ticket_number=ticket,
            database_url=url,
        )

    figures = metrics.compute(now=NOW + 3 * H, database_url=url)

    assert figures == {
        "tickets": 12,
        "by_category": {"network": 5, "login": 2, "feature": 2, "data_loss": 1, "other": 2},
        "by_priority": {"urgent": 4, "general": 5, "complex": 2, "legacy": 1},
        "by_status": {"open": 4, "assigned": 2, "in_progress": 2, "resolved": 2, "closed": 2},
        "first_response": {
            "urgent": {"met": 1, "missed": 2, "waiting": 1, "compliance_pct": 33.3},
            "general": {"met": 2, "missed": 1, "waiting": 2, "compliance_pct": 66.7},
            "complex": {"met": 1, "missed": 1, "waiting": 0, "compliance_pct": 50.0},
            "legacy": {"met": 0, "missed": 0, "waiting": 1, "compliance_pct": None},
        },
        "mean_hours_to_resolve": 9.25,  # (2 + 5 + 28 + 2) / 4
        "resolution_rate_pct": 33.3,  # 4 of 12 resolved or closed
        "bot_resolved": 3,
        "containment_pct": 20.0,  # 3 of 3 + 12
        "average_rating": 3.67,  # (5 + 4 + 2) / 3
        "ratings": 3,
        "staff_ratings": {"ratings": 0, **UNRATED},
        "per_agent": {
            "a.one": {"assigned": 3, "resolved": 2, "mean_first_response_hours": 1.08, **NONE},
            "a.three": {"assigned": 1, "resolved": 0, "mean_first_response_hours": None, **NONE},
            "a.two": {"assigned": 3, "resolved": 1, "mean_first_response_hours": 13.0, **NONE},
            "s.boss": {"assigned": 1, "resolved": 1, "mean_first_response_hours": 1.0, **NONE},
        },
    }
    # shown most urgent first, in the policy's order of categories, statuses as they progress
    assert list(figures["by_priority"]) == ["urgent", "general", "complex", "legacy"]
    assert list(figures["first_response"]) == list(figures["by_priority"])
    assert list(figures["by_category"]) == ["network", "login", "feature", "data_loss", "other"]
    assert list(figures["per_agent"]) == ["a.one", "a.three", "a.two", "s.boss"]


def test_an_empty_database_has_no_rates_or_means(any_database):
    figures = metrics.compute(now=NOW, database_url=any_database)
    assert figures == {
        "tickets": 0,
        "by_category": {},
        "by_priority": {},
        "by_status": {},
        "first_response": {},
        "mean_hours_to_resolve": None,
        "resolution_rate_pct": None,
        "bot_resolved": 0,
        "containment_pct": None,
        "average_rating": None,
        "ratings": 0,
        "staff_ratings": {"ratings": 0, **UNRATED},
        "per_agent": {},
    }


def test_the_figures_are_aggregated_by_the_database_without_reading_a_transcript(any_database):
    for category in ("network", "login", "feature"):
        ticket_with(any_database, category, NOW)
    seen = statements_during(any_database, lambda: metrics.compute(database_url=any_database))
    assert seen and all("transcript" not in s and "steps_tried" not in s for s in seen)
    on_tickets = [s for s in seen if "FROM tickets" in s]
    assert len(on_tickets) == 1 and "GROUP BY" in on_tickets[0]  # one pass over an index


def test_the_export_streams_every_ticket_in_chunks_without_contacts_or_transcripts(
    any_database, monkeypatch
):
    boss = staff.create_staff("s.boss", "a long password", "supervisor", database_url=any_database)
    numbers = [ticket_with(any_database, "network", NOW + n * M) for n in range(5)]
    store.set_contact(
        numbers[0], "alice", phone="13800138000", email=None, database_url=any_database
    )
    workflow.assign(numbers[1], boss, "s.boss", database_url=any_database)
    monkeypatch.setattr(metrics, "CSV_CHUNK_ROWS", 2)

    chunks = list(metrics.csv_chunks(database_url=any_database))

    assert len(chunks) == 1 + 3  # the header, then 2 + 2 + 1 tickets
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[0] == list(metrics.CSV_HEADER)
    assert [row[0] for row in rows[1:]] == numbers  # oldest first
    assert rows[2][3:5] == ["assigned", "s.boss"] and rows[1][4] == ""
    assert rows[1][5] == NOW.isoformat() and rows[1][6] == (NOW + 6 * H).isoformat()
    assert rows[1][10] == "playbook_exhausted"
    text = "".join(chunks)
    assert "13800138000" not in text and "网络老掉线" not in text


def test_an_export_stopped_early_gives_its_connection_back(any_database, monkeypatch):
    for n in range(4):
        ticket_with(any_database, "network", NOW + n * M)
    monkeypatch.setattr(metrics, "CSV_CHUNK_ROWS", 1)
    held: list[int] = []
    engine = db.get_engine(any_database)
    event.listen(engine, "checkout", lambda *_: held.append(1))
    event.listen(engine, "checkin", lambda *_: held.append(-1))
    chunks = metrics.csv_chunks(database_url=any_database)
    assert next(chunks).startswith("number,") and next(chunks).startswith("DY-")
    assert sum(held) == 1  # the export holds one connection while it runs
    chunks.close()
    assert sum(held) == 0


def test_three_part_ratings_are_averaged_per_aspect_and_per_agent(any_database):
    one = staff.create_staff("r.one", "a long password", "agent", database_url=any_database)
    two = staff.create_staff("r.two", "a long password", "agent", database_url=any_database)
    rated = []
    for agent, scores in (
        (one, {"attitude": 5, "expertise": 4, "result": 5}),
        (one, {"attitude": 3, "expertise": 4, "result": 2}),
        (two, {"attitude": 4, "expertise": 5, "result": 4}),
        (two, {"attitude": 1}),  # left half-way: not counted
    ):
        ticket = new_ticket(any_database)
        workflow.claim(ticket.number, agent, database_url=any_database)
        store.record_staff_rating(
            idempotency_key=f"ticket-{ticket.number}",
            sender_id=ticket.sender_id,
            ticket_number=ticket.number,
            scores=scores,
            database_url=any_database,
        )
        rated.append(ticket)
    figures = metrics.compute(now=NOW, database_url=any_database)
    assert figures["staff_ratings"] == {
        "ratings": 3,
        "attitude": 4.0,
        "expertise": 4.33,
        "result": 3.67,
    }
    first = figures["per_agent"]["r.one"]
    assert [first[key] for key in ("ratings", "attitude", "expertise", "result")] == [
        2,
        4.0,
        4.0,
        3.5,
    ]
    assert figures["per_agent"]["r.two"]["ratings"] == 1
    assert figures["per_agent"]["r.two"]["expertise"] == 5.0
    assert figures["ratings"] == 0  # the bot's single ratings are counted apart


def test_a_staff_rating_refuses_another_users_ticket_and_bad_scores(any_database):
    ticket = new_ticket(any_database)
    with pytest.raises(LookupError):
        store.record_staff_rating(
            idempotency_key="k",
            sender_id="someone-else",
            ticket_number=ticket.number,
            scores={"attitude": 5},
            database_url=any_database,
        )
    for bad in ({"attitude": 6}, {"attitude": 0}, {"kindness": 5}, {"result": "5"}):
        with pytest.raises(ValueError):
            store.record_staff_rating(
                idempotency_key="k",
                sender_id=ticket.sender_id,
                ticket_number=ticket.number,
                scores=bad,
                database_url=any_database,
            )
    assert store.get_feedback("k", database_url=any_database) is None
