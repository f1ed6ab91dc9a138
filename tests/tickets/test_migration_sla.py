"""Migrations 0006-0008 (the service clocks, duty and skills, three-part ratings) run both ways
on SQLite and PostgreSQL, and a ticket made before them gets its clocks from the first sweep
after the upgrade."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from tickets import sla_sweeper, store
from tickets.migrate import alembic_config, upgrade

NEW_COLUMNS = {
    "resolution_due_at",
    "update_due_at",
    "paused_since",
    "paused_seconds",
    "sla_check_at",
}
NEW_TABLES = {"sla_events", "ticket_meta"}
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def schema(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(url, future=True)
    found = inspect(engine)
    tables = set(found.get_table_names())
    columns = {column["name"] for column in found.get_columns("tickets")}
    engine.dispose()
    return tables, columns


def test_the_clock_columns_and_tables_come_and_go_with_their_migration(any_database):
    tables, columns = schema(any_database)
    assert NEW_TABLES <= tables and NEW_COLUMNS <= columns
    command.downgrade(alembic_config(any_database), "0005")
    tables, columns = schema(any_database)
    assert not NEW_TABLES & tables and not NEW_COLUMNS & columns
    upgrade(any_database)
    tables, columns = schema(any_database)
    assert NEW_TABLES <= tables and NEW_COLUMNS <= columns


STAFF_COLUMNS = {"available", "available_changed_at", "skills", "last_assigned_at"}
FEEDBACK_COLUMNS = {"attitude", "expertise", "result", "staff_id"}


def columns_of(url: str, table: str) -> set[str]:
    engine = create_engine(url, future=True)
    names = {column["name"] for column in inspect(engine).get_columns(table)}
    engine.dispose()
    return names


@pytest.mark.parametrize(
    "revision, table, columns",
    [("0006", "staff_users", STAFF_COLUMNS), ("0007", "feedback", FEEDBACK_COLUMNS)],
)
def test_duty_and_rating_columns_come_and_go_with_their_migration(
    any_database, revision, table, columns
):
    assert columns <= columns_of(any_database, table)
    command.downgrade(alembic_config(any_database), revision)
    assert not columns & columns_of(any_database, table)
    upgrade(any_database)
    assert columns <= columns_of(any_database, table)


def test_a_ticket_from_before_the_upgrade_gets_its_clocks_from_the_first_sweep(any_database):
    command.downgrade(alembic_config(any_database), "0005")
    engine = create_engine(any_database, future=True)
    with engine.begin() as connection:  # a ticket as the code before 0006 wrote it
        connection.execute(
            text(
                "INSERT INTO tickets (number, idempotency_key, sender_id, category, reason,"
                " steps_tried, urgent_signal, priority, sla_due_at, status, transcript,"
                " created_at, updated_at) VALUES ('DY-20261201-0001', 'k1', 'old-user',"
                " 'login', 'user_request', '[]', :no, 'urgent', :due, 'open', '[]', :t0, :t0)"
            ),
            {"no": False, "due": T0 + timedelta(hours=1), "t0": T0},
        )
    engine.dispose()
    upgrade(any_database)
    report = sla_sweeper.sweep(now=T0 + timedelta(minutes=30), database_url=any_database)
    assert report.policy_changed and report.refreshed == 1
    ticket = store.get_for_sender("DY-20261201-0001", "old-user", database_url=any_database)
    assert ticket.sla_due_at == T0 + timedelta(hours=1)
    assert ticket.resolution_due_at == T0 + timedelta(hours=24)
    again = sla_sweeper.sweep(now=T0 + timedelta(minutes=31), database_url=any_database)
    assert not again.policy_changed and again.refreshed == 0  # nothing due yet: no work
