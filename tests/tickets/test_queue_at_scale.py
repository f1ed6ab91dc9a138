"""The queue read a slice per status and priority: the same order as one sort of every open
ticket, only the columns a queue line shows, and plans that read the indexes of migrations
0005, 0011 and 0012 (the queue, also of one channel, the dashboard split by channel and its
drill-down; EXPLAIN on SQLite and PostgreSQL over tickets seeded as the benchmark seeds them,
from every channel)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, update

from scripts import bench_tickets
from tests.factories import NOW
from tests.tickets.builders import statements_during, ticket_with
from tickets import db, metrics, queries
from tickets.models import Ticket, utcnow
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
    with db.session_scope(url) as session:
        for name, channel in (("u_open", "email"), ("g_open", "email"), ("c_open", "phone")):
            session.execute(update(Ticket).where(Ticket.number == t[name]).values(channel=channel))
    assert numbers(url, channel="email") == [t["u_open"], t["g_open"]]
    assert numbers(url, channel="phone") == [t["c_open"]]
    assert numbers(url, channel="chat") == [
        t[n] for n in ("u_progress", "u_assigned", "g_assigned")
    ]
    assert numbers(url, channel="email", priority="general") == [t["g_open"]]
    assert numbers(url, channel="fax") == numbers(url)  # not a channel: filters nothing


def test_the_queue_reads_no_transcript_and_the_detail_one_ticket(mixed):
    url, t = mixed
    seen = statements_during(url, lambda: queries.queue(queries.QueueFilters(), database_url=url))
    assert len(seen) == 1 + 3  # the counts, then one per priority (its status slices merged)
    assert not [s for s in seen if "transcript" in s or "steps_tried" in s]
    seen = statements_during(url, lambda: queries.ticket_detail(t["u_open"], database_url=url))
    assert "tickets.number =" in seen[0] and "transcript" in seen[0]
    assert all("transcript" not in s for s in seen[1:])  # the audit trail of that ticket


def main_table(sql: str) -> str:
    """The table a statement reads at its top level (its subqueries left out)."""
    flat, previous = sql, ""
    while flat != previous:
        previous, flat = flat, re.sub(r"\([^()]*\)", "", flat)
    found = re.search(r"\bFROM (\w+)", flat)
    return found.group(1) if found else ""


#: A ticket's row read in a plan (SQLite; PostgreSQL): any read of the tickets table (or its
#: aliases) but through an index holding every column used, or by its primary key.
ROW_READS = (
    re.compile(
        r"^(?:SCAN|SEARCH) (?:tickets|rated)\b(?!.*(?:COVERING INDEX|PRIMARY KEY)).*$", re.M
    ),
    re.compile(
        r"(?:Seq Scan|Bitmap Heap Scan|Index Scan(?: Backward)? using (?!tickets_pkey)\w+) "
        r"on tickets\b.*$",
        re.M,
    ),
)


def ticket_rows_read(plan: str) -> list[str]:
    """The lines of ``plan`` that read tickets' rows (not only their indexes)."""
    return [line for pattern in ROW_READS for line in pattern.findall(plan)]


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


@pytest.fixture()
def by_channels(monkeypatch):
    """The benchmark seeds tickets from every channel: a fifth by e-mail, a tenth by phone,
    the rest by chat (set as it builds them: updated afterwards, PostgreSQL's indexes would
    hold the old rows too until a vacuum)."""
    made = bench_tickets._Seeder.ticket

    def ticket(self, ticket_id: int):
        row, events, marks = made(self, ticket_id)
        row["channel"] = (
            "email" if ticket_id % 5 == 0 else "phone" if ticket_id % 10 == 1 else "chat"
        )
        return row, events, marks

    monkeypatch.setattr(bench_tickets._Seeder, "ticket", ticket)


def test_the_queue_and_the_dashboard_read_their_indexes(any_database, by_channels):
    """Over tickets as the benchmark seeds them (a sixth of them open, transcripts of about
    3 KB) from every channel: the queue reads ix_tickets_queue (on SQLite each slice in order,
    with no sort, also of one channel; at this size PostgreSQL sorts a slice's few rows
    instead, see ``make bench`` for 100,000), its counts and every dashboard aggregate (the
    last 30 days and every ticket) read an index only, never the rows: the channel of a breach
    or a rating too, looked up by the ticket's id (a period's breaches read their tickets by
    the primary key, as the spot checks do)."""
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
    for filters in (queries.QueueFilters(), queries.QueueFilters(channel="email")):
        arm = queries.queue_slice("open", "urgent", filters, (), queries.QUEUE_LIMIT)

        def read_arm(arm=arm) -> None:
            with db.session_scope(url) as session:
                session.execute(arm).all()

        (_sql, shown), *_ = plans_during(url, read_arm)
        if not postgres:
            assert "ix_tickets_queue" in shown and "TEMP B-TREE" not in shown, (filters, shown)
    for period in (metrics.default_period(), Period(None, None)):
        plans = plans_during(url, lambda period=period: metrics.compute(period, database_url=url))
        assert not [(sql, shown) for sql, shown in plans if ticket_rows_read(shown)], plans
        by_table: dict[str, list[tuple[str, str]]] = {}
        for sql, shown in plans:
            by_table.setdefault(main_table(sql), []).append((sql, shown))
        on_tickets = by_table["tickets"]
        assert len([sql for sql, _shown in on_tickets if "GROUP BY" in sql]) == 2, plans
        # the period's range, or every ticket in group order (for every ticket also the first
        # and the last moment: an end of the index)
        for sql, shown in on_tickets:
            assert index_only in shown and re.search(r"ix_tickets_(period|dashboard)", shown), (
                sql,
                shown,
            )
        for sql, shown in by_table["sla_events"]:  # per channel: with their tickets' channel
            assert "ix_sla_events_breaches" in shown and "GROUP BY" in sql, shown
            if period.everything:  # looked up by id in the channel's range of the index
                assert "ix_tickets_dashboard" in shown and index_only in shown, shown
        for sql, shown in by_table["feedback"]:
            if "GROUP BY" in sql:  # per day or per agent, and channel (by the ticket's id)
                assert "ix_tickets_dashboard" in shown and index_only in shown, shown
            if not postgres:  # PostgreSQL reads so few rows directly
                assert "COVERING INDEX ix_feedback_" in shown, shown


def test_the_drill_down_reads_a_range_of_its_index_in_order(any_database, by_channels):
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
        {"channel": "email"},
        {"all": "1", "channel": "phone", "status": "closed"},
        {"channel": "email", "clock": "update", "agent": "bench.staff04"},
        {"channel": "phone", "clock": "resolution", "outcome": "missed"},
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
