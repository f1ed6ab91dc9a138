"""Migration 0005 (the console's indexes) runs both ways on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from tickets.migrate import alembic_config, upgrade

NEW = {"ix_tickets_queue", "ix_tickets_dashboard", "ix_feedback_dashboard"}
REPLACED = {"ix_tickets_status", "ix_tickets_priority"}


def indexes(url: str) -> set[str]:
    engine = create_engine(url, future=True)
    names = {
        index["name"]
        for table in ("tickets", "feedback")
        for index in inspect(engine).get_indexes(table)
    }
    engine.dispose()
    return names


def test_the_console_indexes_come_and_go_with_their_migration(any_database):
    assert NEW <= indexes(any_database) and not REPLACED & indexes(any_database)
    command.downgrade(alembic_config(any_database), "0004")
    assert REPLACED <= indexes(any_database) and not NEW & indexes(any_database)
    upgrade(any_database)
    assert NEW <= indexes(any_database) and not REPLACED & indexes(any_database)
