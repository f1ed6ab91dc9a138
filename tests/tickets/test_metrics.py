"""Supervisor figures computed on a real database (SQLite and PostgreSQL): every figure of a
small set worked out by hand, overall and per channel, the tickets behind each figure (also
of one channel), the period read from a query string, and the CSV export checked against the
database column by column."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from tests.factories import NOW, new_ticket
from tests.tickets import dashboard_set
from tests.tickets.builders import statements_during, ticket_with
from tests.tickets.test_queue_at_scale import main_table
from tickets import db, metrics, staff, store, workflow
from tickets.config import DISPLAY_TZ
from tickets.models import CHANNELS, Feedback, StaffUser, Ticket, utcnow
from tickets.period import Period, PeriodError, parse_period, today_local

_ratings = dashboard_set._ratings

H = timedelta(hours=1)
M = timedelta(minutes=1)
AT = dashboard_set.AT
PERIOD = dashboard_set.PERIOD
UNRATED = {"attitude": None, "expertise": None, "result": None}


@pytest.fixture()
def seeded(any_database):
    return dashboard_set.seed(any_database)


def compute(url: str, period: Period = PERIOD, now: datetime = AT) -> dict:
    return metrics.compute(period, now=now, database_url=url)


def test_every_figure_of_the_set_matches_the_figures_worked_out_by_hand(seeded):
    figures = compute(seeded.url)
    assert figures == dashboard_set.EXPECTED
    # shown most urgent first, in the policy's order of categories, statuses as they progress
    assert list(figures["by_priority"]) == ["urgent", "general", "complex", "legacy"]
    assert list(figures["per_priority"]) == list(figures["by_priority"])
    assert list(figures["by_category"]) == ["network", "login", "feature", "data_loss", "other"]
    assert list(figures["per_agent"]) == ["a.one", "a.three", "a.two", "s.boss"]
    assert list(figures["channels"]) == list(CHANNELS)
    assert list(figures["channels"]["phone"]["by_priority"]) == ["complex", "legacy"]


def test_the_channels_add_up_to_every_tickets_figures(seeded):
    """Each count of every ticket is the sum of the channels' (the bot's conversations and
    the spot checks are no channel's)."""
    figures = compute(seeded.url)

    def at(figure, path: tuple) -> int:
        for key in path:  # a key a channel lacks (no such agent, category...): nothing
            figure = figure.get(key, {}) if isinstance(figure, dict) else figure[key]
        return figure or 0

    def summed(*path) -> int:
        return sum(at(channel, path) for channel in figures["channels"].values())

    paths = [("tickets",), ("resolved",), ("staff_ratings", "ratings")]
    paths += [("sla", key) for key in ("update_breaches", "update_breached_tickets")]
    paths += [("sla", c, o) for c in ("first_response", "resolution") for o in ("met", "missed")]
    for key in ("by_category", "by_priority", "by_status"):
        paths += [(key, value) for value in figures[key]]
    for agent in figures["per_agent"]:
        paths += [("per_agent", agent, k) for k in ("assigned", "resolved", "ratings")]
    for n in range(len(figures["daily"])):
        paths += [("daily", n, "tickets"), ("daily", n, "resolved")]
    assert len(paths) > 40
    for path in paths:
        assert summed(*path) == at(figures, path), path
    assert figures["tickets"] == 17
    days = [[day["day"] for day in c["daily"]] for c in figures["channels"].values()]
    assert days == [[day["day"] for day in figures["daily"]]] * 3


def test_every_ticket_and_the_days_around_them_for_all_time(seeded):
    """All time: the ticket before the period and its breach, rating and bot conversation
    count too; the days run from the first one to today."""
    figures = compute(seeded.url, Period(None, None))
    assert figures["tickets"] == 18 and figures["by_priority"]["urgent"] == 8
    assert figures["period"] == {
        "all": "1",
        "label": "全部时间",
        "first_day": "2026-11-19",
        "last_day": "2026-11-24",
    }
    assert [d["day"] for d in figures["daily"]][:2] == ["2026-11-19", "2026-11-20"]
    assert figures["sla"]["update_breaches"] == 5 and figures["sla"]["update_breached_tickets"] == 4
    assert figures["bot_resolved"] == 5 and figures["bot_rating"] == {"ratings": 4, "mean": 3.0}
    assert figures["staff_ratings"] == _ratings(4, 3.25, 3.5, 3.0)  # t16's, before the period
    # t15 came by phone (with a breach: looked up by its id), t16 by chat (rated before)
    chat, email, phone = (figures["channels"][name] for name in ("chat", "email", "phone"))
    assert [c["tickets"] for c in (chat, email, phone)] == [11, 4, 3]
    assert [c["sla"]["update_breaches"] for c in (chat, email, phone)] == [1, 2, 2]
    assert [c["sla"]["update_breached_tickets"] for c in (chat, email, phone)] == [1, 1, 2]
    assert chat["staff_ratings"] == _ratings(2, 3.0, 2.5, 3.0)  # t1 and t16
    assert phone["per_agent"]["a.one"]["assigned"] == 1 and phone["daily"][0]["tickets"] == 1
    one = figures["per_agent"]["a.one"]  # and t15
    assert [one[key] for key in ("assigned", "resolved", "update_breaches", "ratings")] == [
        5,
        4,
        4,
        3,
    ]


def test_a_day_of_the_period_starts_at_midnight_china_time(seeded):
    """t18 was made a second before midnight of the 22nd in China (the 21st), t17 at it."""
    day = compute(seeded.url, Period(date(2026, 11, 22), date(2026, 11, 22)))
    assert day["tickets"] == 1 and day["per_agent"]["a.two"]["assigned"] == 1
    before = compute(seeded.url, Period(date(2026, 11, 21), date(2026, 11, 21)))
    assert before["tickets"] == 1 and before["by_status"] == {"open": 1}


def test_an_empty_database_has_no_rates_or_means(any_database):
    figures = compute(any_database)
    channels = figures.pop("channels")
    zero = {"met": 0, "missed": 0, "pending": 0, "compliance_pct": None}
    empty_day = {
        "tickets": 0,
        "first_response": zero,
        "resolved": 0,
        "mean_hours_to_resolve": None,
        "bot_resolved": 0,
        "containment_pct": None,
        "bot_rating": {"ratings": 0, "mean": None},
        "staff_ratings": {"ratings": 0, **UNRATED},
    }
    assert figures == {
        "period": dashboard_set.EXPECTED["period"],
        "tickets": 0,
        "by_category": {},
        "by_priority": {},
        "by_status": {},
        "sla": {
            "tickets": 0,
            "first_response": zero,
            "resolution": zero,
            "update_breaches": 0,
            "update_breached_tickets": 0,
        },
        "per_priority": {},
        "mean_hours_to_resolve": None,
        "resolved": 0,
        "resolution_rate_pct": None,
        "bot_resolved": 0,
        "containment_pct": None,
        "bot_rating": {"ratings": 0, "mean": None},
        "staff_ratings": {"ratings": 0, **UNRATED},
        "per_agent": {},
        "daily": [{"day": f"2026-11-{d}", **empty_day} for d in range(20, 25)],
    }
    assert channels == {  # every channel, with the same figures (but the bot's)
        name: {
            key: value
            for key, value in figures.items()
            if key not in ("period", "bot_resolved", "containment_pct", "bot_rating")
        }
        | {"daily": [_channel_day(d) for d in figures["daily"]]}
        for name in CHANNELS
    }
    everything = compute(any_database, Period(None, None))
    assert everything["daily"] == [] and everything["period"]["first_day"] is None
    assert all(c["daily"] == [] and c["tickets"] == 0 for c in everything["channels"].values())


def _channel_day(day: dict) -> dict:
    """A day of every ticket without the bot's figures: as a channel's day shows it."""
    return {
        k: v for k, v in day.items() if k not in ("bot_resolved", "containment_pct", "bot_rating")
    }


def test_the_figures_follow_the_work_done(any_database):
    """Through the workflow (not columns written by hand): claimed, answered, resolved."""
    agent = staff.create_staff("m.agent", "a long password", "agent", database_url=any_database)
    fast = new_ticket(any_database)  # general, due NOW + 6 h
    slow = new_ticket(any_database, category="data_loss")  # urgent, due NOW + 1 h
    new_ticket(any_database, category="feature", playbook_priority="complex")  # waiting
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
    figures = compute(any_database, Period(date(2026, 11, 24), date(2026, 11, 24)), NOW + 2 * H)
    assert figures["tickets"] == 3
    assert figures["per_priority"]["general"]["first_response"]["compliance_pct"] == 100.0
    assert figures["per_priority"]["urgent"]["first_response"] == {
        "met": 0,
        "missed": 1,
        "pending": 0,
        "compliance_pct": 0.0,
    }
    assert figures["per_priority"]["complex"]["first_response"]["pending"] == 1
    assert figures["resolution_rate_pct"] == round(100 / 3, 1)
    assert figures["per_agent"]["m.agent"]["assigned"] == 2
    assert figures["per_agent"]["m.agent"]["mean_first_response_hours"] == 1.75
    assert (
        figures["channels"]["chat"]["tickets"] == 3 and figures["channels"]["email"]["tickets"] == 0
    )


def test_tickets_made_by_each_channel_are_counted_in_theirs(any_database):
    """Tickets as the channels make them (``store.create_or_join``, three hours ago: the
    ratings are given now), then worked: a mail and a call each counted in its channel, with
    its first response, resolution and rating, and listed by the channel's drill-down."""
    agent = staff.create_staff("c.agent", "a long password", "agent", database_url=any_database)
    at = utcnow() - 3 * H
    made = {}
    for channel, category in (("chat", "network"), ("email", "login"), ("phone", "login")):
        made[channel] = store.create_or_join(
            idempotency_key=f"channel-{channel}",
            sender_id=f"someone-{channel}",
            category=category,
            reason="user_request",
            now=at,
            database_url=any_database,
            join=False,
            channel=channel,
            category_unsure=channel == "phone",
        )
    second = new_ticket(any_database, channel="email", now=at + H)  # network, by the factory
    for ticket in (made["email"], made["phone"]):
        workflow.claim(ticket.number, agent, database_url=any_database)
        workflow.transition(ticket.number, agent, "in_progress", database_url=any_database)
        workflow.record_reply(
            ticket.number, agent, "您好", now=at + 30 * M, database_url=any_database
        )
    workflow.transition(made["email"].number, agent, "resolved", database_url=any_database)
    store.record_staff_rating(
        idempotency_key="rated-email",
        sender_id="someone-email",
        ticket_number=made["email"].number,
        scores={"attitude": 5, "expertise": 4, "result": 3},
        database_url=any_database,
    )
    figures = metrics.compute(database_url=any_database)  # the last 30 days
    chat, email, phone = (figures["channels"][name] for name in ("chat", "email", "phone"))
    assert [c["tickets"] for c in (chat, email, phone)] == [1, 2, 1] and figures["tickets"] == 4
    assert email["by_category"] == {"network": 1, "login": 1}
    assert phone["by_category"] == {"login": 1}
    assert (chat["resolved"], email["resolved"], phone["resolved"]) == (0, 1, 0)
    assert email["per_agent"]["c.agent"]["assigned"] == 1
    assert phone["per_agent"]["c.agent"]["assigned"] == 1 and "c.agent" not in chat["per_agent"]
    assert email["staff_ratings"] == _ratings(1, 5.0, 4.0, 3.0)
    assert email["per_agent"]["c.agent"]["ratings"] == 1
    assert phone["staff_ratings"]["ratings"] == chat["staff_ratings"]["ratings"] == 0
    assert phone["sla"]["first_response"]["met"] == 1
    assert chat["sla"]["first_response"]["met"] == 0
    today = today_local(utcnow())

    def listed_of(**query: str) -> set[str]:
        filters = metrics.DrillFilters.from_mapping(query, today)
        return {
            line.number for line in metrics.drill_down(filters, database_url=any_database).lines
        }

    assert listed_of(channel="email") == {made["email"].number, second.number}
    assert listed_of(channel="phone") == {made["phone"].number}
    assert listed_of(channel="email", only="rated") == {made["email"].number}
    assert listed_of(channel="chat", only="rated") == set()


def test_the_figures_are_aggregated_by_the_database_without_reading_a_transcript(seeded):
    url = seeded.url
    seen = statements_during(url, lambda: compute(url))
    assert seen and all("transcript" not in s and "steps_tried" not in s for s in seen)
    on_tickets = [s for s in seen if main_table(s) == "tickets"]  # per group, per day
    assert len(on_tickets) == 2 and all("GROUP BY" in s for s in on_tickets)
    on_feedback = [s for s in seen if main_table(s) == "feedback"]  # per day, per agent
    assert len(on_feedback) == 2 and all("GROUP BY" in s for s in on_feedback)
    on_breaches = [s for s in seen if main_table(s) == "sla_events"]
    assert len(on_breaches) == 2 and all("GROUP BY" in s for s in on_breaches)


# --- the period ---------------------------------------------------------------------------------

TODAY = date(2026, 11, 24)


def test_the_period_is_the_last_30_days_unless_asked_otherwise():
    assert parse_period({}, TODAY) == Period(date(2026, 10, 26), TODAY)
    assert parse_period({"from": "2026-11-01", "to": "2026-11-03"}, TODAY) == Period(
        date(2026, 11, 1), date(2026, 11, 3)
    )
    assert parse_period({"from": "2026-11-01"}, TODAY) == Period(date(2026, 11, 1), TODAY)
    assert parse_period({"to": "2026-11-03"}, TODAY) == Period(date(2026, 10, 5), date(2026, 11, 3))
    assert parse_period({"days": "7"}, TODAY) == Period(date(2026, 11, 18), TODAY)
    assert parse_period({"all": "1", "from": "2026-11-01"}, TODAY).everything
    bounds = Period(date(2026, 11, 24), date(2026, 11, 24)).bounds()
    assert bounds == (
        datetime(2026, 11, 23, 16, tzinfo=timezone.utc),
        datetime(2026, 11, 24, 16, tzinfo=timezone.utc),
    )
    assert bounds[0].astimezone(DISPLAY_TZ).hour == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"from": "2026-13-01"},
            "开始日期「2026-13-01」不是有效的日期（没有这一天），请按 YYYY-MM-DD 填写",
        ),
        ({"to": "24/11/2026"}, "结束日期「24/11/2026」不是有效的日期，请按 YYYY-MM-DD 填写"),
        ({"from": "2026-2-1"}, "开始日期「2026-2-1」不是有效的日期"),
        (
            {"from": "2026-11-24", "to": "2026-11-01"},
            "开始日期（2026-11-24）晚于结束日期（2026-11-01）",
        ),
        ({"from": "1999-12-31"}, "超出范围：日期须在 2000-01-01 至 2100-12-31 之间"),
        ({"from": "2020-01-01", "to": "2026-11-24"}, "最长可选 731 天"),
        ({"days": "0"}, "天数「0」无效"),
        ({"days": "abc"}, "天数「abc」无效"),
    ],
)
def test_a_bad_period_is_refused_with_a_clear_message(query, message):
    with pytest.raises(PeriodError) as refused:
        parse_period(query, TODAY)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"day": "2026-11-31"}, "日期「2026-11-31」不是有效的日期"),
        ({"day": "2026-09-01"}, "日期 2026-09-01 不在所选时段"),
        ({"status": "gone"}, "没有「gone」这种工单状态"),
        ({"clock": "lunch"}, "没有「lunch」这种时限"),
        ({"clock": "resolution", "outcome": "late"}, "没有「late」这种结果"),
        ({"outcome": "met"}, "请同时指定时限（clock）"),
        ({"clock": "update", "outcome": "met"}, "clock=update 时 outcome 只能是 missed"),
        ({"only": "everything"}, "没有「everything」这种筛选"),
        ({"after": "x1"}, "参数 after「x1」应为工单的编号"),
        ({"agent": "x" * 65}, "参数 agent 太长"),
        ({"channel": "fax"}, "没有「fax」这种渠道（可选：chat、email、phone）"),
    ],
)
def test_a_bad_drill_down_filter_is_refused_with_a_clear_message(query, message):
    with pytest.raises(PeriodError) as refused:
        metrics.DrillFilters.from_mapping(query, TODAY)
    assert message in str(refused.value)


# --- the tickets behind each figure -------------------------------------------------------------


def listed(url: str, now: datetime = AT, **query: str) -> list[str]:
    """Every ticket number of the drill-down (all its pages)."""
    query = PERIOD.query() | query
    numbers: list[str] = []
    while True:
        filters = metrics.DrillFilters.from_mapping(query, TODAY)
        page = metrics.drill_down(filters, now=now, database_url=url)
        numbers += [line.number for line in page.lines]
        if page.next_after is None:
            return numbers
        query = query | {"after": str(page.next_after)}


def figure_lists(figures: dict, **within: str) -> list[tuple[int, dict[str, str]]]:
    """(count, the drill-down's filters) of every count on the dashboard: of every ticket's
    figures and each channel's (``within``: the filters of a channel's figures)."""
    out: list[tuple[int, dict[str, str]]] = [(figures["tickets"], {**within})]
    out.append((figures["resolved"], {**within, "only": "resolved"}))
    out.append((figures["staff_ratings"]["ratings"], {**within, "only": "rated"}))
    for key, name in (("by_category", "category"), ("by_status", "status")):
        out += [(n, {**within, name: value}) for value, n in figures[key].items()]

    def clocks(row: dict, narrowed: dict[str, str]) -> None:
        out.append((row["tickets"], narrowed))
        out.append((row["update_breached_tickets"], {**narrowed, "clock": "update"}))
        for clock in ("first_response", "resolution"):
            for outcome in ("met", "missed", "pending"):
                query = {**narrowed, "clock": clock, "outcome": outcome}
                out.append((row[clock][outcome], query))

    clocks(figures["sla"], {**within})
    for priority, row in figures["per_priority"].items():
        clocks(row, {**within, "priority": priority})
    for agent, row in figures["per_agent"].items():
        clocks(row, {**within, "agent": agent})
        out.append((row["resolved"], {**within, "agent": agent, "only": "resolved"}))
        out.append((row["ratings"], {**within, "agent": agent, "only": "rated"}))
        if "qa" in row:  # the spot checks are not split by channel
            out.append((row["qa"]["reviews"], {"agent": agent, "only": "reviewed"}))
    for day in figures["daily"]:
        on = {**within, "day": day["day"]}
        out.append((day["tickets"], on))
        out.append((day["resolved"], {**on, "only": "resolved"}))
        out.append((day["staff_ratings"]["ratings"], {**on, "only": "rated"}))
        for outcome in ("met", "missed", "pending"):
            query = {**on, "clock": "first_response", "outcome": outcome}
            out.append((day["first_response"][outcome], query))
    for channel, split in figures.get("channels", {}).items():
        out += figure_lists(split, channel=channel)
    return out


def test_every_figure_lists_the_tickets_it_counts(seeded):
    figures = compute(seeded.url)
    checks = figure_lists(figures)
    assert len(checks) > 350 and len([q for _n, q in checks if "channel" in q]) > 200
    for count, query in checks:
        assert len(listed(seeded.url, **query)) == count, query


def test_the_lists_hold_the_tickets_worked_out_by_hand(seeded):
    t = seeded.numbers

    def names(**query: str) -> set[str]:
        found = set(listed(seeded.url, **query))
        return {name for name, number in t.items() if number in found}

    assert names(clock="first_response", outcome="pending") == {"t4", "t7", "t11", "t12", "t13"}
    assert names(clock="resolution", outcome="missed") == {"t16", "t17", "t18"}
    assert names(clock="update", agent="a.one") == {"t3", "t17"}  # t17 is a.two's now
    assert names(clock="update", priority="complex") == {"t5"}
    assert names(agent="a.one", only="rated") == {"t1", "t3"}  # t16 rated before the period
    assert names(agent="a.one", only="reviewed") == {"t3"}
    assert names(day="2026-11-21") == {"t18"} and names(day="2026-11-22") == {"t17"}
    assert names(agent="nobody") == set() and names(agent="nobody", clock="update") == set()
    assert names(channel="email") == {"t3", "t6", "t13", "t18"}
    assert names(channel="phone") == {"t5", "t12"}  # t15 is before the period
    assert names(channel="email", clock="update") == {"t3"}
    assert names(channel="chat", clock="update", agent="a.one") == {"t17"}
    assert names(channel="email", only="rated") == {"t3", "t6"}
    assert names(channel="email", clock="resolution", outcome="missed") == {"t18"}


def test_a_list_line_shows_what_the_figures_counted(seeded):
    filters = metrics.DrillFilters.from_mapping(
        PERIOD.query() | {"clock": "update", "agent": "a.one"}, TODAY
    )
    lines = {
        line.number: line
        for line in metrics.drill_down(filters, now=AT, database_url=seeded.url).lines
    }
    t3, t17 = lines[seeded.numbers["t3"]], lines[seeded.numbers["t17"]]
    assert (t3.update_breaches, t17.update_breaches) == (2, 1)  # a.one's
    assert t3.agent == "a.one" and t17.agent == "a.two"
    assert (t3.channel, t17.channel) == ("email", "chat")
    assert (t3.first_response, t3.resolution) == ("missed", "met")
    assert (t3.first_response_hours, t3.resolution_hours) == (1.5, 5.0)
    assert t3.ratings == {"attitude": 3, "expertise": 4, "result": 2}
    whole = metrics.DrillFilters.from_mapping(PERIOD.query(), TODAY)
    every = {
        line.number: line
        for line in metrics.drill_down(whole, now=AT, database_url=seeded.url).lines
    }
    assert every[seeded.numbers["t1"]].paused_seconds == 1800
    assert every[seeded.numbers["t13"]].paused_seconds == 2 * 3600  # waiting since NOW + 1 h
    assert every[seeded.numbers["t10"]].ratings == {"attitude": 5}  # as far as the user went
    assert list(every) == sorted(every, key=lambda n: (every[n].created_at, every[n].id))


def test_a_long_list_comes_in_pages_that_follow_each_other(seeded, monkeypatch):
    whole = listed(seeded.url)
    monkeypatch.setattr(metrics, "DRILL_LIMIT", 4)
    pages = []
    query = PERIOD.query()
    while True:
        page = metrics.drill_down(
            metrics.DrillFilters.from_mapping(query, TODAY), now=AT, database_url=seeded.url
        )
        pages.append([line.number for line in page.lines])
        if page.next_after is None:
            break
        query = PERIOD.query() | {"after": str(page.next_after)}
    assert [len(p) for p in pages] == [4, 4, 4, 4, 1]
    assert [n for p in pages for n in p] == whole and len(whole) == 17


def test_a_list_reads_its_page_only(seeded):
    url = seeded.url
    filters = metrics.DrillFilters.from_mapping(PERIOD.query(), TODAY)
    seen = statements_during(url, lambda: metrics.drill_down(filters, now=AT, database_url=url))
    assert all("transcript" not in s for s in seen)
    lines = [s for s in seen if "FROM tickets" in s]
    assert len(lines) == 1 and "LIMIT" in lines[0]


# --- the export ---------------------------------------------------------------------------------


def export(url: str, period: Period | None = None, now: datetime = AT) -> list[list[str]]:
    text = "".join(metrics.csv_chunks(period, now=now, database_url=url))
    return list(csv.reader(io.StringIO(text)))


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(DISPLAY_TZ).isoformat() if moment else ""


def _hours(start: datetime, end: datetime | None) -> str:
    return "" if end is None else f"{round((end - start).total_seconds() / 3600, 2):g}"


def test_the_export_has_every_column_of_every_ticket_as_the_database_holds_it(seeded):
    rows = export(seeded.url)
    assert (
        rows[0]
        == list(metrics.CSV_HEADER)
        == [
            "number",
            "channel",
            "category",
            "priority",
            "status",
            "agent",
            "created_at",
            "first_response_at",
            "first_response_hours",
            "resolved_at",
            "resolution_hours",
            "first_response_sla",
            "resolution_sla",
            "paused_minutes",
            "attitude",
            "expertise",
            "result",
        ]
    )
    by_number = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert len(by_number) == len(rows) - 1 == 18  # one row per ticket
    lines = {
        line.number: line
        for line in metrics.drill_down(
            metrics.DrillFilters.from_mapping({"all": "1"}, TODAY), now=AT, database_url=seeded.url
        ).lines
    }
    with db.session_scope(seeded.url) as session:
        tickets = session.execute(
            select(Ticket, StaffUser.username).join(
                StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True
            )
        ).all()
        scores = {
            f.ticket_number: f
            for f in session.execute(
                select(Feedback).where(Feedback.ticket_number.is_not(None))
            ).scalars()
        }
        for ticket, agent in tickets:
            row, rated = by_number[ticket.number], scores.get(ticket.number)
            paused = ticket.paused_seconds + (
                (AT - ticket.paused_since).total_seconds() if ticket.paused_since else 0
            )
            assert row == {
                "number": ticket.number,
                "channel": ticket.channel,
                "category": ticket.category,
                "priority": ticket.priority,
                "status": ticket.status,
                "agent": agent or "",
                "created_at": _iso(ticket.created_at),
                "first_response_at": _iso(ticket.first_response_at),
                "first_response_hours": _hours(ticket.created_at, ticket.first_response_at),
                "resolved_at": _iso(ticket.resolved_at),
                "resolution_hours": _hours(ticket.created_at, ticket.resolved_at),
                # the outcome the figures count (the drill-down reads the same expression)
                "first_response_sla": lines[ticket.number].first_response,
                "resolution_sla": lines[ticket.number].resolution,
                "paused_minutes": f"{round(paused / 60, 1):g}",
                **{
                    aspect: str(getattr(rated, aspect) or "") if rated else ""
                    for aspect in ("attitude", "expertise", "result")
                },
            }, ticket.number
    t = seeded.numbers
    assert [by_number[t[name]]["channel"] for name in ("t1", "t3", "t5", "t15")] == [
        "chat",
        "email",
        "phone",
        "phone",
    ]
    assert by_number[t["t3"]]["first_response_sla"] == "missed"
    assert by_number[t["t3"]]["created_at"] == "2026-11-24T09:30:00+08:00"
    assert by_number[t["t3"]]["first_response_hours"] == "1.5"
    assert by_number[t["t1"]]["paused_minutes"] == "30"
    assert by_number[t["t10"]]["attitude"] == "5" and by_number[t["t10"]]["result"] == ""
    ids = {ticket.number: ticket.id for ticket, _agent in tickets}
    assert [row[0] for row in rows[1:]] == sorted(by_number, key=ids.__getitem__)  # oldest first


def test_the_export_of_a_period_has_its_tickets_only(seeded):
    rows = export(seeded.url, PERIOD)
    assert len(rows) - 1 == 17 and seeded.numbers["t15"] not in [row[0] for row in rows]
    day = export(seeded.url, Period(date(2026, 11, 21), date(2026, 11, 21)))
    assert [row[0] for row in day[1:]] == [seeded.numbers["t18"]]


def test_the_export_streams_in_chunks_without_contacts_or_transcripts(any_database, monkeypatch):
    numbers = [ticket_with(any_database, "network", NOW + n * M) for n in range(5)]
    store.set_contact(
        numbers[0], "alice", phone="13800138000", email=None, database_url=any_database
    )
    monkeypatch.setattr(metrics, "CSV_CHUNK_ROWS", 2)
    chunks = list(metrics.csv_chunks(now=AT, database_url=any_database))
    assert len(chunks) == 1 + 3  # the header, then 2 + 2 + 1 tickets
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert [row[0] for row in rows[1:]] == numbers  # oldest first
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


# --- ratings ------------------------------------------------------------------------------------


def test_three_part_ratings_are_averaged_per_aspect_and_per_agent(any_database):
    one = staff.create_staff("r.one", "a long password", "agent", database_url=any_database)
    two = staff.create_staff("r.two", "a long password", "agent", database_url=any_database)
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
    figures = metrics.compute(database_url=any_database)  # given today: the last 30 days
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
    assert figures["bot_rating"]["ratings"] == 0  # the bot's single ratings are counted apart


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
