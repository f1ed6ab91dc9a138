"""The ticket store on a real database: SQLite always, PostgreSQL when it runs here."""

from __future__ import annotations

import concurrent.futures
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import NOW, ROOT, new_ticket
from tickets import db, store


def test_ticket_gets_number_priority_sla_and_transcript(any_database):
    ticket = new_ticket(any_database)
    assert ticket.created_now
    assert ticket.number == "DY-20261124-0001"
    assert ticket.priority == "general" and ticket.status == "open"
    assert (ticket.sla_due_at - NOW).total_seconds() == 6 * 3600
    stored = store.get_for_sender(ticket.number, "alice", database_url=any_database)
    assert stored.transcript[0]["text"] == "网络老掉线"
    assert stored.steps_tried == [{"id": "check_network", "title": "检查网络环境"}]
    assert stored.sla_due_at == ticket.sla_due_at


def test_numbers_count_up_per_day(any_database):
    numbers = [new_ticket(any_database).number for _ in range(3)]
    assert numbers == ["DY-20261124-0001", "DY-20261124-0002", "DY-20261124-0003"]
    tomorrow = datetime(2026, 11, 24, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 25th in China
    assert new_ticket(any_database, now=tomorrow).number == "DY-20261125-0001"


def test_same_escalation_never_makes_two_tickets(any_database):
    key = store.escalation_key("alice", "flow-1")
    first = new_ticket(any_database, idempotency_key=key)
    again = new_ticket(any_database, idempotency_key=key)
    assert first.created_now and not again.created_now
    assert again.number == first.number
    assert len(store.list_for_sender("alice", database_url=any_database)) == 1


def test_concurrent_retries_make_one_ticket_and_distinct_escalations_unique_numbers(any_database):
    key = store.escalation_key("bob", "flow-x")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        same = list(
            pool.map(
                lambda _: new_ticket(any_database, sender_id="bob", idempotency_key=key).number,
                range(4),
            )
        )
        distinct = list(
            pool.map(lambda _: new_ticket(any_database, sender_id="carol").number, range(6))
        )
    assert len(set(same)) == 1
    assert len(set(distinct)) == 6
    assert len(store.list_for_sender("bob", limit=50, database_url=any_database)) == 1


def test_tickets_are_only_visible_to_their_sender(any_database):
    ticket = new_ticket(any_database)
    assert store.get_for_sender(ticket.number, "mallory", database_url=any_database) is None
    assert store.list_for_sender("mallory", database_url=any_database) == []
    assert not store.set_contact(
        ticket.number, "mallory", phone="13800138000", database_url=any_database
    )


def test_contact_is_validated(any_database):
    ticket = new_ticket(any_database)
    with pytest.raises(ValueError):
        store.set_contact(ticket.number, "alice", phone="12345", database_url=any_database)
    with pytest.raises(ValueError):
        store.set_contact(ticket.number, "alice", email="not-an-email", database_url=any_database)
    assert store.set_contact(
        ticket.number,
        "alice",
        phone="13800138000",
        email="zhang.wei@example.com",
        database_url=any_database,
    )
    stored = store.get_for_sender(ticket.number, "alice", database_url=any_database)
    assert (stored.contact_phone, stored.contact_email) == ("13800138000", "zhang.wei@example.com")


def test_sql_looking_and_huge_text_is_stored_as_data(any_database):
    evil = "'; DROP TABLE tickets; --" + "网" * 10000
    ticket = new_ticket(
        any_database,
        sender_id="x'); DROP TABLE tickets;--",
        transcript=[{"role": "user", "text": evil, "ts": None}],
    )
    stored = store.get_for_sender(
        ticket.number, "x'); DROP TABLE tickets;--", database_url=any_database
    )
    assert stored.transcript[0]["text"].startswith("'; DROP TABLE tickets; --")
    assert stored.transcript[0]["truncated_chars"] == len(evil) - store.MAX_TURN_CHARS
    assert len(store.list_for_sender("alice", database_url=any_database)) == 0
    assert new_ticket(any_database).number.endswith("0002")  # the table is still there


def test_feedback_is_recorded_once_and_rated(any_database):
    key = store.escalation_key("alice", "flow-r")
    store.record_feedback(
        idempotency_key=key,
        sender_id="alice",
        playbook="network",
        resolved_step="restart_device",
        database_url=any_database,
    )
    store.record_feedback(
        idempotency_key=key,
        sender_id="alice",
        playbook="network",
        resolved_step="restart_device",
        rating=4,
        database_url=any_database,
    )
    assert store.get_feedback(key, database_url=any_database)["rating"] == 4
    with pytest.raises(ValueError):
        store.record_feedback(
            idempotency_key=key,
            sender_id="alice",
            playbook=None,
            resolved_step=None,
            rating=9,
            database_url=any_database,
        )


def test_numbers_keep_counting_past_9999(any_database):
    from tickets.db import session_scope
    from tickets.models import Ticket

    with session_scope(any_database) as session:
        session.add(
            Ticket(
                number="DY-20261124-9999",
                idempotency_key="k9999",
                sender_id="z",
                category="other",
                reason="user_request",
                steps_tried=[],
                priority="general",
                sla_due_at=NOW,
                status="open",
                transcript=[],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    assert new_ticket(any_database).number == "DY-20261124-10000"
    assert new_ticket(any_database).number == "DY-20261124-10001"


def test_local_times_are_stored_as_utc(any_database):
    from tickets.config import DISPLAY_TZ

    ticket = new_ticket(any_database, now=NOW.astimezone(DISPLAY_TZ))
    stored = store.get_for_sender(ticket.number, "alice", database_url=any_database)
    assert stored.created_at == NOW and stored.created_at.utcoffset().total_seconds() == 0


def test_unfinished_ticket_is_found_per_sender_and_category(any_database):
    ticket = new_ticket(any_database)
    assert (
        store.find_unfinished("alice", "network", database_url=any_database).number == ticket.number
    )
    assert store.find_unfinished("alice", "login", database_url=any_database) is None
    assert store.find_unfinished("bob", "network", database_url=any_database) is None


def test_migrations_build_exactly_the_models_schema(any_database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from tickets import quality_models  # noqa: F401 - the spot checks' tables share Base
    from tickets.models import Base

    engine = create_engine(any_database, future=True)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_a_database_from_before_migrations_is_adopted(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from tickets.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    # the first version's tables, made without Alembic's bookkeeping (as create_all did)
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url, future=True)
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()
    assert new_ticket(url).number == "DY-20261124-0001"
    db.dispose_all()


def test_times_are_stored_in_utc_and_read_back_aware(any_database):
    """UTCDateTime: a moment given in China time is the same instant when read back, as UTC,
    on SQLite (which keeps no zone) as on PostgreSQL."""
    china = timezone(timedelta(hours=8))
    created = new_ticket(any_database, now=NOW.astimezone(china))
    stored = store.get_for_sender(created.number, "alice", database_url=any_database)
    assert stored.created_at == NOW and stored.created_at.utcoffset() == timedelta(0)
    assert stored.sla_due_at == NOW + timedelta(hours=6)
    assert stored.sla_due_at.tzinfo is not None


@pytest.mark.postgres
def test_servers_starting_together_migrate_one_after_the_other(empty_postgres):
    """Three processes migrate one empty PostgreSQL database at the same moment (as the
    action servers of a scaled-out deployment do): all succeed, the schema is made once."""
    import os
    import subprocess
    import sys

    import psycopg2

    env = dict(os.environ, DATABASE_URL=empty_postgres)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "tickets.migrate"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    check = psycopg2.connect(empty_postgres)
    with check.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM alembic_version")
        assert cursor.fetchone() == (1,)
    check.close()
