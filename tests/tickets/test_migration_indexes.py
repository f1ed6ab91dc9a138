"""Migrations 0005 (the console's indexes), 0011 (the dashboard's) and 0012 (channels and mail)
run both ways on SQLite and PostgreSQL."""

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


def index_columns(url: str, table: str) -> dict[str, list[str]]:
    engine = create_engine(url, future=True)
    found = {
        index["name"]: list(index["column_names"]) for index in inspect(engine).get_indexes(table)
    }
    engine.dispose()
    return found


DASHBOARD_0005 = [
    "priority",
    "status",
    "category",
    "assignee_id",
    "sla_due_at",
    "first_response_at",
    "created_at",
    "resolved_at",
]


def test_the_dashboard_indexes_of_0011_come_and_go_with_their_migration(any_database):
    """Migration 0011: the period's index, the dashboard's with the resolution due time, the
    feedback by time, the breaches; down to 0010 they go and 0005's dashboard index is back."""
    tickets = index_columns(any_database, "tickets")
    assert tickets["ix_tickets_period"][:3] == ["created_at", "channel", "priority"]
    assert "resolution_due_at" in tickets["ix_tickets_dashboard"]
    assert index_columns(any_database, "feedback")["ix_feedback_period"][0] == "created_at"
    assert "ix_sla_events_breaches" in index_columns(any_database, "sla_events")
    command.downgrade(alembic_config(any_database), "0010")
    tickets = index_columns(any_database, "tickets")
    assert "ix_tickets_period" not in tickets and tickets["ix_tickets_dashboard"] == DASHBOARD_0005
    assert "ix_feedback_period" not in index_columns(any_database, "feedback")
    assert "ix_sla_events_breaches" not in index_columns(any_database, "sla_events")
    upgrade(any_database)
    assert index_columns(any_database, "tickets")["ix_tickets_period"][0] == "created_at"


def test_channels_and_mail_of_0012_come_and_go_with_their_migration(any_database):
    """Migration 0012: every ticket has a channel (old ones: chat) in both dashboard indexes,
    the mailbox's mail and the attachments have their tables; down to 0011 they go."""
    engine = create_engine(any_database, future=True)
    columns = {column["name"] for column in inspect(engine).get_columns("tickets")}
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"channel", "category_unsure"} <= columns
    assert {"mail_messages", "ticket_attachments"} <= tables
    assert index_columns(any_database, "tickets")["ix_tickets_dashboard"][0] == "channel"
    command.downgrade(alembic_config(any_database), "0011")
    engine = create_engine(any_database, future=True)
    columns = {column["name"] for column in inspect(engine).get_columns("tickets")}
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert "channel" not in columns and "mail_messages" not in tables
    assert index_columns(any_database, "tickets")["ix_tickets_period"][:2] == [
        "created_at",
        "priority",
    ]
    upgrade(any_database)
    assert index_columns(any_database, "tickets")["ix_tickets_period"][1] == "channel"
