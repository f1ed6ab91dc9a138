"""The queue read a slice per status and priority: the same order as one sort of every open
ticket, only the columns a queue line shows, and plans that read the indexes of migrations 0005
and 0011 (the queue, the dashboard and its drill-down; EXPLAIN on SQLite and PostgreSQL over
tickets seeded as the benchmark seeds them)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from scripts import bench_tickets
from tests.factories import NOW
from tests.tickets.builders import statements_during, ticket_with
from tickets import db, metrics, queries
from tickets.models import utcnow
from tickets.period import Period, today_local

H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture()
def mixed(any_database):
    """Open tickets of every open status and priority (due times interleaved across statuses),
    and a closed urgent one; their numbers by name."""
    url = any_database
    return url, {
        # urgent (login, 1 h)
        "u_open": ticket_with(url, "login", NOW),  # due NOW + 1 h
        "u_progress": ticket_with(url, "login", NOW - 30 * M, status="in_progress"),  # + 30 min
        "u_assigned": ticket_with(url, "login", NOW + H, status="assigned"),  # + 2 h
        "u_closed": ticket_with(url, "login", NOW - 2 * H, status="closed"),
        # general (network, 6 h)
        "g_open": ticket_with(url, "network", NOW - 5 * H),  # due NOW + 1 h
        "g_assigned": ticket_with(url, "network", NOW - 6 * H, status="assigned"),  # due NOW
        # complex (feature, 24 h)
        "c_open": ticket_with(url, "feature", NOW - 23 * H),  # due NOW + 1 h
    }


def numbers(url, **filters):
    found = queries.queue(queries.QueueFilters(**filters), database_url=url)
    return [ticket.number for ticket in found.tickets]


def test_the_page_is_the_most_urgent_then_earliest_due_across_the_open_statuses(mixed, monkeypatch):
    url, t = mixed
    everything = ["u_progress", "u_open", "u_assigned", "g_assigned", "g_open", "c_open"]
    assert numbers(url) == [t[name] for name in everything]
    monkeypatch.setattr(queries, "QUEUE_LIMIT", 4)
    assert numbers(url) == [t[name] for name in everything[:4]]
    monkeypatch.setattr(queries, "QUEUE_LIMIT", 2)
    assert numbers(url) == [t["u_progress"], t["u_open"]]
    assert numbers(url, status="assigned") == [t["u_assigned"], t["g_assigned"]]
    assert numbers(url, status="closed") == [t["u_closed"]]
    found = queries.queue(queries.QueueFilters(), database_url=url)
    assert found.counts == {"open": 3, "assigned": 2, "in_progress": 1, "closed": 1}


def test_a_priority_the_policy_no_longer_knows_comes_last_by_due_time(mixed):
    url, t = mixed
    later = ticket_with(url, "other", NOW, priority="legacy", sla_due_at=NOW + 3 * H)
    sooner = ticket_with(url, "other", NOW, priority="old", sla_due_at=NOW + 2 * H)
    assert numbers(url)[-3:] == [t["c_open"], sooner, later]
    assert numbers(url, priority="legacy")[-3:] == [t["c_open"], sooner, later]  # filters nothing


def test_filters_apply_inside_every_slice(mixed):
    url, t = mixed
    assert numbers(url, category="login") == [t["u_progress"], t["u_open"], t["u_assigned"]]
    assert numbers(url, priority="general") == [t["g_assigned"], t["g_open"]]
    assert numbers(url, priority="general", status="open") == [t["g_open"]]
    assert numbers(url, category="network", status="closed") == []


def test_the_queue_reads_no_transcript_and_the_detail_one_ticket(mixed):
    url, t = mixed
    seen = statements_during(url, lambda: queries.queue(queries.QueueFilters(), database_url=url))
    assert len(seen) == 1 + 3  # the counts, then one per priority (its status slices merged)
    assert not [s for s in seen if "transcript" in s or "steps_tried" in s]
    seen = statements_during(url, lambda: queries.ticket_detail(t["u_open"], database_url=url))
    assert "tickets.number =" in seen[0] and "transcript" in seen[0]
    assert all("transcript" not in s for s in seen[1:])  # the audit trail of that ticket


def plans_during(url: str, run) -> list[tuple[str, str]]:
    """Each statement ``run()`` sends to the database at ``url``, with the database's plan for
    it (EXPLAIN with the same parameters)."""
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, *_args):
        sent.append((statement, parameters))

    engine = db.get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        return [
            (
                sql,
                "\n".join(str(row[-1]) for row in connection.exec_driver_sql(explain + sql, args)),
            )
            for sql, args in sent
            if sql.lstrip().upper().startswith("SELECT")  # not the session's SET LOCAL
        ]


def test_the_queue_and_the_dashboard_read_their_indexes(any_database):
    """Over tickets as the benchmark seeds them (a sixth of them open, transcripts of about
    3 KB): the queue reads ix_tickets_queue (on SQLite each slice in order, with no sort; at
    this size PostgreSQL sorts a slice's few rows instead, see ``make bench`` for 100,000), its
    counts and every dashboard aggregate (the last 30 days and every ticket) read an index
    only, never the rows."""
    url = any_database
    bench_tickets.seed(url, 3_000)
    postgres = url.startswith("postgresql")
    index_only = "Index Only Scan" if postgres else "COVERING INDEX"
    counts, *pages = plans_during(
        url, lambda: queries.queue(queries.QueueFilters(), database_url=url)
    )
    assert index_only in counts[1] and "ix_tickets_queue" in counts[1], counts
    assert len(pages) >= 2  # the urgent ones do not fill the page
    for sql, shown in pages:
        assert "transcript" not in sql and "ix_tickets_" in shown, shown
        assert "Seq Scan on tickets" not in shown and not re.search(r"SCAN tickets$", shown, re.M)
    arm = queries.queue_slice("open", "urgent", queries.QueueFilters(), (), queries.QUEUE_LIMIT)

    def read_arm() -> None:
        with db.session_scope(url) as session:
            session.execute(arm).all()

    (_sql, shown), *_ = plans_during(url, read_arm)
    if not postgres:
        assert "ix_tickets_queue" in shown and "TEMP B-TREE" not in shown, shown
    for period in (metrics.default_period(), Period(None, None)):
        plans = plans_during(url, lambda period=period: metrics.compute(period, database_url=url))
        on_tickets = [(sql, shown) for sql, shown in plans if "FROM tickets" in sql]
        assert len([sql for sql, _shown in on_tickets if "GROUP BY" in sql]) == 2, plans
        # the period's range, or every ticket in group order (for every ticket also the first
        # and the last moment: an end of the index)
        for sql, shown in on_tickets:
            assert index_only in shown and re.search(r"ix_tickets_(period|dashboard)", shown), (
                sql,
                shown,
            )
        for sql, shown in plans:
            if "FROM sla_events" in sql and "FROM tickets" not in sql:  # tickets by their key
                assert "ix_sla_events_breaches" in shown and "Seq Scan on tickets" not in shown
                assert not re.search(r"SCAN tickets$", shown, re.M), shown
            if "FROM feedback" in sql and not postgres:  # PostgreSQL reads so few rows directly
                assert "COVERING INDEX ix_feedback_" in shown, shown


def test_the_drill_down_reads_a_range_of_its_index_in_order(any_database):
    """Every list reads ix_tickets_period in the order it shows (SQLite: no sort but within
    one moment; PostgreSQL: an index scan), whichever filter narrows it, never the rows of
    another index's matches."""
    url = any_database
    bench_tickets.seed(url, 3_000)
    postgres = url.startswith("postgresql")
    today = today_local(utcnow())
    for query in (
        {},
        {"all": "1"},
        {"status": "closed"},
        {"priority": "urgent", "clock": "resolution", "outcome": "missed"},
        {"agent": "bench.staff05"},
        {"all": "1", "agent": "bench.staff05", "clock": "first_response", "outcome": "pending"},
        {"clock": "update", "agent": "bench.staff04"},
        {"only": "resolved", "category": "login"},
    ):
        filters = metrics.DrillFilters.from_mapping(query, today)
        plans = plans_during(
            url, lambda filters=filters: metrics.drill_down(filters, database_url=url)
        )
        (sql, shown), *_others = [(q, s) for q, s in plans if "FROM tickets" in q]
        assert "transcript" not in sql and "ix_tickets_period" in shown, (query, shown)
        if not postgres:
            assert "TEMP B-TREE FOR ORDER BY" not in shown, (query, shown)
            assert not re.search(r"SCAN tickets$", shown, re.M), (query, shown)
