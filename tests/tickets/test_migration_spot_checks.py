"""Migration 0010 (the spot checks' tables) runs both ways on SQLite and PostgreSQL, and its keys
hold: one draw per period, a ticket or a conversation once per period, a sample points at
exactly one of them, one review per sample."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from tests.factories import new_ticket
from tickets.migrate import alembic_config, upgrade

TABLES = {"qa_draws", "qa_samples", "qa_reviews"}
INDEXES = {"ix_qa_samples_queue", "ix_qa_samples_ticket_id"}
AT = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)


def schema(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(url, future=True)
    found = inspect(engine)
    tables = set(found.get_table_names())
    indexes = (
        {index["name"] for index in found.get_indexes("qa_samples")}
        if "qa_samples" in tables
        else set()
    )
    engine.dispose()
    return tables, indexes


def test_the_spot_check_tables_come_and_go_with_their_migration(any_database):
    tables, indexes = schema(any_database)
    assert TABLES <= tables and INDEXES <= indexes
    command.downgrade(alembic_config(any_database), "0009")
    tables, indexes = schema(any_database)
    assert not TABLES & tables and not indexes
    assert {"tickets", "feedback", "staff_users", "ticket_events"} <= tables  # the rest stays
    upgrade(any_database)
    tables, indexes = schema(any_database)
    assert TABLES <= tables and INDEXES <= indexes


def insert(connection, sql: str, **values) -> None:
    connection.execute(text(sql), values)


SAMPLE = (
    "INSERT INTO qa_samples (period_start, kind, ticket_id, feedback_id, seed, drawn_at, status)"
    " VALUES (:day, :kind, :ticket, :feedback, 's', :at, 'pending')"
)


def test_the_keys_of_the_spot_check_tables(any_database):
    ticket = new_ticket(any_database)
    engine = create_engine(any_database, future=True)
    day, other_day = date(2026, 11, 23), date(2026, 11, 30)
    with engine.begin() as connection:
        ticket_id = connection.execute(
            text("SELECT id FROM tickets WHERE number = :n"), {"n": ticket.number}
        ).scalar()
        insert(
            connection,
            "INSERT INTO feedback (idempotency_key, sender_id, created_at, updated_at)"
            " VALUES ('k', 'u', :at, :at)",
            at=AT,
        )
        feedback_id = connection.execute(text("SELECT id FROM feedback")).scalar()
        insert(
            connection,
            "INSERT INTO qa_draws (period_start, period_end, seed, tickets, conversations,"
            " drawn_at) VALUES (:day, :end, 's', 1, 1, :at)",
            day=day,
            end=other_day,
            at=AT,
        )
        insert(connection, SAMPLE, day=day, kind="ticket", ticket=ticket_id, feedback=None, at=AT)
        insert(connection, SAMPLE, day=day, kind="bot", ticket=None, feedback=feedback_id, at=AT)
        insert(  # the same ticket in another period is another row
            connection, SAMPLE, day=other_day, kind="ticket", ticket=ticket_id, feedback=None, at=AT
        )

    refused = [
        (
            "INSERT INTO qa_draws (period_start, period_end, seed, tickets, conversations,"
            " drawn_at) VALUES (:day, :end, 's', 0, 0, :at)",
            {"day": day, "end": other_day, "at": AT},
        ),
        (SAMPLE, {"day": day, "kind": "ticket", "ticket": ticket_id, "feedback": None, "at": AT}),
        (SAMPLE, {"day": day, "kind": "bot", "ticket": None, "feedback": feedback_id, "at": AT}),
        # a sample of neither, of both, or of the wrong kind
        (SAMPLE, {"day": day, "kind": "ticket", "ticket": None, "feedback": None, "at": AT}),
        (
            SAMPLE,
            {
                "day": other_day,
                "kind": "bot",
                "ticket": ticket_id,
                "feedback": feedback_id,
                "at": AT,
            },
        ),
        (
            SAMPLE,
            {"day": other_day, "kind": "bot", "ticket": ticket_id, "feedback": None, "at": AT},
        ),
    ]
    for sql, values in refused:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(sql), values)

    review = (
        "INSERT INTO qa_reviews (sample_id, reviewer_id, scores, total, comment, created_at)"
        " VALUES (:sample, :reviewer, '{}', 80.0, '', :at)"
    )
    with engine.begin() as connection:
        insert(
            connection,
            "INSERT INTO staff_users (username, display_name, role, password_hash, active,"
            " failed_logins, available, skills, created_at) VALUES ('boss', '主管', 'supervisor',"
            " 'x', :yes, 0, :no, '[]', :at)",
            yes=True,
            no=False,
            at=AT,
        )
        reviewer = connection.execute(text("SELECT id FROM staff_users")).scalar()
        sample = connection.execute(text("SELECT min(id) FROM qa_samples")).scalar()
        insert(connection, review, sample=sample, reviewer=reviewer, at=AT)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        insert(connection, review, sample=sample, reviewer=reviewer, at=AT)
    engine.dispose()
