"""The supervisors' dashboard through the real web app, on SQLite and PostgreSQL, over the set of
``tests/tickets/dashboard_set.py`` (every figure worked out by hand, overall and per channel)
at its moment: the page and its JSON show those figures, every number on the page opens the
list of the tickets it counts (also of one channel), the trends' data block, bad periods and
filters answered clearly, the CSV export with each ticket's channel, the charts' scripts
served from this site only, and who may see it."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from sanic import Sanic

from tests.factories import PASSWORD, PHONE, InProcessSite, login
from tests.tickets import dashboard_set
from tickets import metrics, staff, store
from tickets.period import Period
from web.app import ECHARTS, create_app
from web.console import supervision

AT = dashboard_set.AT
EXPECTED = dashboard_set.EXPECTED
PERIOD_QUERY = "from=2026-11-20&to=2026-11-24"


@pytest.fixture()
def site(any_database, monkeypatch):
    """The web app in this process over the set, its clock at the set's moment, no rounds."""
    seeded = dashboard_set.seed(any_database)
    people = {
        role: staff.create_staff(f"{role}.web", PASSWORD, role, database_url=any_database)
        for role in ("agent", "supervisor", "editor")
    }
    store.set_contact(
        seeded.numbers["t2"], "alice", phone=PHONE, email=None, database_url=any_database
    )
    for variable in ("ASSIGN_SECONDS", "SLA_SWEEP_SECONDS", "NOTIFY_SECONDS", "QA_DRAW_SECONDS"):
        monkeypatch.setenv(variable, "0")
    monkeypatch.setenv("DATABASE_URL", any_database)
    monkeypatch.setenv("CONSOLE_SECRET", "web-test-secret")
    monkeypatch.setenv("DY_SESSION_SECRET", "web-test-session-secret")
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(metrics, "utcnow", lambda: AT)
    monkeypatch.setattr(supervision, "utcnow", lambda: AT)
    return InProcessSite(
        create_app(f"dy_dashboard_test_{uuid.uuid4().hex[:8]}"),
        people=people,
        database_url=any_database,
        seeded=seeded,
    )


class Page(HTMLParser):
    """The tables (by id: rows of cells, each cell's text and its links), the links of the
    whole page and the data block of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, list[str]]]]] = {}
        self.links: list[tuple[str, str]] = []
        self.data = ""
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._cell_links: list[str] = []
        self._link: str | None = None
        self._link_text: list[str] = []
        self._in_data = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table" and values.get("id"):
            self._table = values["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell, self._cell_links = [], []
        elif tag == "a":
            self._link, self._link_text = values.get("href") or "", []
            if self._cell is not None:
                self._cell_links.append(self._link)
        elif tag == "script" and values.get("id") == "dashboard-data":
            self._in_data = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._table and self._cell is not None:
            self.tables[self._table][-1].append(("".join(self._cell).strip(), self._cell_links))
            self._cell = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._link, "".join(self._link_text).strip()))
            self._link = None
        elif tag == "script":
            self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._link is not None:
            self._link_text.append(data)
        if self._in_data:
            self.data += data

    def rows(self, table: str) -> list[list[str]]:
        return [[text for text, _links in row] for row in self.tables[table] if row]


def pct(value):
    return "—" if value is None else f"{value}%"


def shown(value):
    return "—" if value is None else str(value)


def clock_cells(row: dict) -> list[str]:
    return [str(row["met"]), str(row["missed"]), str(row["pending"]), pct(row["compliance_pct"])]


def test_the_dashboard_shows_the_figures_worked_out_by_hand(site):
    boss = login(site, "supervisor")
    answer = boss.get(f"/console/dashboard?{PERIOD_QUERY}")
    assert answer.status_code == 200
    page = Page(answer.text)
    assert re.search(r'<dd id="total-tickets"><a href="[^"]+">17</a></dd>', answer.text)
    assert "服务态度 4.0 · 专业水平 4.33 · 解决效果 3.67（" in answer.text
    assert re.search(r">3 份三项评价</a>）</dd>", answer.text)
    assert (
        "首次响应达标率" in answer.text and "机器人独立解决</dt><dd>4 次（占 19.0%）" in answer.text
    )
    labels = {"urgent": ["紧急", "1 小时内"], "general": ["一般", "3-6 小时内"]}
    labels |= {"complex": ["复杂", "12-24 小时内"], "legacy": ["legacy", ""]}
    assert page.rows("sla-priority") == [
        [
            *labels[priority],
            str(row["tickets"]),
            *clock_cells(row["first_response"]),
            *clock_cells(row["resolution"]),
            str(row["update_breaches"]),
            str(row["update_breached_tickets"]),
        ]
        for priority, row in EXPECTED["per_priority"].items()
    ]
    assert page.rows("per-agent") == [
        [
            name,
            str(row["assigned"]),
            str(row["resolved"]),
            shown(row["mean_first_response_hours"]),
            *clock_cells(row["first_response"]),
            *clock_cells(row["resolution"]),
            f"{row['update_breaches']}（{row['update_breached_tickets']}）",
            *(shown(row[a]) for a in ("attitude", "expertise", "result")),
            str(row["ratings"]),
            str(row["qa"]["reviews"]),
            shown(row["qa"]["score"]),
        ]
        for name, row in EXPECTED["per_agent"].items()
    ]
    assert page.rows("daily") == [
        [
            d["day"],
            str(d["tickets"]),
            *clock_cells(d["first_response"]),
            str(d["resolved"]),
            shown(d["mean_hours_to_resolve"]),
            str(d["bot_resolved"]),
            pct(d["containment_pct"]),
            shown(d["bot_rating"]["mean"]),
            *(shown(d["staff_ratings"][a]) for a in ("attitude", "expertise", "result")),
            str(d["staff_ratings"]["ratings"]),
        ]
        for d in reversed(EXPECTED["daily"])
    ]
    chart = json.loads(page.data)
    assert chart == {
        "drill": f"/console/dashboard/tickets?{PERIOD_QUERY}",
        "daily": EXPECTED["daily"],
        "channels": [
            {"name": "chat", "label": "在线聊天", "tickets": [0, 0, 1, 2, 8]},
            {"name": "email", "label": "邮件", "tickets": [0, 1, 0, 1, 2]},
            {"name": "phone", "label": "电话热线", "tickets": [0, 0, 0, 0, 2]},
        ],
    }


LABELS = {"chat": "在线聊天", "email": "邮件", "phone": "电话热线"}


def channel_cells(f: dict) -> list[str]:
    """A row of the channels' table: a channel's figures (or every ticket's)."""
    sla, rated = f["sla"], f["staff_ratings"]
    return [
        str(f["tickets"]),
        str(f["resolved"]),
        pct(f["resolution_rate_pct"]),
        shown(f["mean_hours_to_resolve"]),
        *clock_cells(sla["first_response"]),
        *clock_cells(sla["resolution"]),
        str(sla["update_breaches"]),
        str(sla["update_breached_tickets"]),
        *(shown(rated[a]) for a in ("attitude", "expertise", "result")),
        str(rated["ratings"]),
    ]


def test_the_dashboard_splits_every_figure_by_channel(site):
    boss = login(site, "supervisor")
    page = Page(boss.get(f"/console/dashboard?{PERIOD_QUERY}").text)
    split = EXPECTED["channels"]
    assert page.rows("channels") == [
        *([LABELS[name], *channel_cells(f)] for name, f in split.items()),
        ["全部渠道", *channel_cells(EXPECTED)],
    ]
    assert page.rows("channels")[1][:4] == ["邮件", "4", "2", "50.0%"]
    for table, key in (
        ("category-channels", "by_category"),
        ("priority-channels", "by_priority"),
        ("status-channels", "by_status"),
    ):
        assert [row[1:] for row in page.rows(table)] == [
            [str(n), *(str(split[c][key].get(value, 0)) for c in split)]
            for value, n in EXPECTED[key].items()
        ], table
    assert page.rows("category-channels")[0] == ["网络连接", "7", "6", "1", "0"]
    assert page.rows("sla-priority-channels") == [
        [
            LABELS[name],
            label,
            str(row["tickets"]),
            *clock_cells(row["first_response"]),
            *clock_cells(row["resolution"]),
            str(row["update_breaches"]),
            str(row["update_breached_tickets"]),
        ]
        for name, f in split.items()
        for label, row in zip(
            [
                {"urgent": "紧急", "general": "一般", "complex": "复杂"}.get(p, p)
                for p in f["per_priority"]
            ],
            f["per_priority"].values(),
            strict=True,
        )
    ]
    assert page.rows("per-agent-channels") == [
        [
            LABELS[name],
            agent,
            str(row["assigned"]),
            str(row["resolved"]),
            shown(row["mean_first_response_hours"]),
            *clock_cells(row["first_response"]),
            *clock_cells(row["resolution"]),
            f"{row['update_breaches']}（{row['update_breached_tickets']}）",
            *(shown(row[a]) for a in ("attitude", "expertise", "result")),
            str(row["ratings"]),
        ]
        for name, f in split.items()
        for agent, row in f["per_agent"].items()
    ]
    days = page.rows("daily-channels")
    assert [row[0] for row in days] == [d["day"] for d in reversed(EXPECTED["daily"])]
    assert days[0] == [
        "2026-11-24",
        *("8", "2", "60.0%", "2", "2.0"),  # chat: t1 t4 t7 t8 t9 t10 t11 t14
        *("2", "1", "0.0%", "1", "5.0"),  # email: t3 t13
        *("2", "0", "100.0%", "0", "—"),  # phone: t5 t12
    ]


def test_every_number_on_the_dashboard_opens_the_tickets_it_counts(site):
    boss = login(site, "supervisor")
    page = Page(boss.get(f"/console/dashboard?{PERIOD_QUERY}").text)
    counted = [
        (href, int(re.match(r"\d+", text).group()))  # "3 份三项评价": 3
        for href, text in page.links
        if "/dashboard/tickets?" in href
    ]
    assert len(counted) > 300 and len([h for h, _n in counted if "channel=" in h]) > 150
    lists: dict[str, int] = {}  # a list linked twice (every channel's row, a day's cell)
    for href, count in counted:
        assert lists.setdefault(href, count) == count, href  # counts the same each time
    numbers = set(site.seeded.numbers.values())
    for href, count in lists.items():
        assert parse_qs(urlsplit(href).query)["from"] == ["2026-11-20"]
        lines: list[str] = []
        while href:
            answer = boss.get(href)
            assert answer.status_code == 200, href
            lines += re.findall(r'<tr data-number="([^"]+)"', answer.text)
            more = re.search(r'<a href="([^"]+)" id="more"', answer.text)
            href = more.group(1).replace("&amp;", "&") if more else ""
        assert len(lines) == count and set(lines) <= numbers, (href, count, lines)


def test_a_list_shows_each_ticket_line_with_its_outcomes(site, monkeypatch):
    boss = login(site, "supervisor")
    t = site.seeded.numbers
    answer = boss.get(f"/console/dashboard/tickets?{PERIOD_QUERY}&clock=update&agent=a.one")
    assert answer.status_code == 200
    assert '<span class="tag">客服：a.one</span>' in answer.text and "进度通报超时" in answer.text
    rows = {cells[0]: cells for cells in Page(answer.text).rows("drill")}
    assert set(rows) == {t["t3"], t["t17"]}
    assert rows[t["t3"]] == [
        t["t3"],
        "邮件",
        "紧急",
        "账号登录",
        "已关闭",
        "a.one",
        "2026-11-24 09:30",
        "2026-11-24 11:00（1.5 小时）",
        "5.0",
        "超时",
        "按时",
        "2",
        "—",
        "3 / 4 / 2",
    ]
    assert rows[t["t17"]][5] == "a.two" and rows[t["t17"]][11] == "1"  # a.one's breach
    assert rows[t["t17"]][1] == "在线聊天"
    assert f'<a href="/console/tickets/{t["t3"]}">' in answer.text
    monkeypatch.setattr(metrics, "DRILL_LIMIT", 5)
    first = boss.get(f"/console/dashboard/tickets?{PERIOD_QUERY}")
    assert len(Page(first.text).rows("drill")) == 5 and 'id="more"' in first.text
    paused = boss.get(f"/console/dashboard/tickets?{PERIOD_QUERY}&day=2026-11-24&status=resolved")
    assert Page(paused.text).rows("drill")[0][12] == "30 分"  # t1 waited half an hour


def test_a_list_of_one_channel_has_its_tickets_only(site):
    boss = login(site, "supervisor")
    t = site.seeded.numbers
    answer = boss.get(f"/console/dashboard/tickets?{PERIOD_QUERY}&channel=email")
    assert answer.status_code == 200 and '<span class="tag">渠道：邮件</span>' in answer.text
    rows = Page(answer.text).rows("drill")
    assert {row[0] for row in rows} == {t[n] for n in ("t3", "t6", "t13", "t18")}
    assert {row[1] for row in rows} == {"邮件"}
    late = boss.get(
        f"/console/dashboard/tickets?{PERIOD_QUERY}&channel=phone&clock=first_response&outcome=met"
    )
    assert [row[0] for row in Page(late.text).rows("drill")] == [t["t5"]]
    refused = boss.get(f"/console/dashboard/tickets?{PERIOD_QUERY}&channel=fax")
    assert refused.status_code == 400 and "没有「fax」这种渠道" in refused.text


def test_the_default_period_is_the_last_30_days(site):
    boss = login(site, "supervisor")
    answer = boss.get("/console/dashboard")
    assert 'name="from" value="2026-10-26"' in answer.text
    assert 'name="to" value="2026-11-24"' in answer.text
    assert re.search(r'<dd id="total-tickets"><a href="[^"]+">18</a></dd>', answer.text)  # t15
    week = boss.get("/console/dashboard?days=7")
    assert 'name="from" value="2026-11-18"' in week.text
    everything = boss.get("/console/dashboard?all=1")
    assert (
        "时段：全部时间" in everything.text
        and "/console/dashboard/tickets?all=1" in everything.text
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/console/dashboard?from=2026-13-01",
            "开始日期「2026-13-01」不是有效的日期（没有这一天）",
        ),
        ("/console/dashboard?from=2026-11-24&to=2026-11-01", "开始日期（2026-11-24）晚于结束日期"),
        (
            "/console/dashboard?to=yesterday",
            "结束日期「yesterday」不是有效的日期，请按 YYYY-MM-DD 填写",
        ),
        ("/console/dashboard/tickets?clock=update&outcome=met", "outcome 只能是 missed"),
        ("/console/dashboard/tickets?day=2026-02-30", "日期「2026-02-30」不是有效的日期"),
        ("/console/export.csv?from=2026/11/01", "开始日期「2026/11/01」不是有效的日期"),
    ],
)
def test_a_bad_period_or_filter_is_answered_clearly(site, path, message):
    boss = login(site, "supervisor")
    answer = boss.get(path)
    assert answer.status_code == 400 and message in answer.text
    assert 'role="alert"' in answer.text and "Traceback" not in answer.text


def test_the_figures_as_json(site):
    boss = login(site, "supervisor")
    answer = boss.get(f"/console/dashboard.json?{PERIOD_QUERY}")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert answer.json() == EXPECTED | {"drill": f"/console/dashboard/tickets?{PERIOD_QUERY}"}
    refused = boss.get("/console/dashboard.json?from=2026-11-31")
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "开始日期「2026-11-31」不是有效的日期（没有这一天），"
        "请按 YYYY-MM-DD 填写，例如 2026-11-24"
    }


def test_the_export_streams_one_row_per_ticket_without_contacts(site):
    boss = login(site, "supervisor")
    everything = boss.get("/console/export.csv")
    assert everything.status_code == 200
    assert everything.headers["content-type"] == "text/csv; charset=utf-8"
    assert everything.headers["content-disposition"] == 'attachment; filename="tickets.csv"'
    assert everything.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(everything.text)))
    assert rows[0] == list(metrics.CSV_HEADER) and len(rows) - 1 == 18
    assert rows == list(
        csv.reader(io.StringIO("".join(metrics.csv_chunks(now=AT, database_url=site.database_url))))
    )
    assert PHONE not in everything.text
    channels = {row[0]: row[1] for row in rows[1:]}
    t = site.seeded.numbers
    assert [channels[t[name]] for name in ("t1", "t3", "t5", "t15")] == [
        "chat",
        "email",
        "phone",
        "phone",
    ]
    assert sorted(channels.values()).count("email") == 4
    period = boss.get(f"/console/export.csv?{PERIOD_QUERY}")
    name = 'attachment; filename="tickets-2026-11-20-2026-11-24.csv"'
    assert period.headers["content-disposition"] == name
    assert len(list(csv.reader(io.StringIO(period.text)))) - 1 == 17
    page = boss.get(f"/console/dashboard?{PERIOD_QUERY}").text
    assert f'href="/console/export.csv?{PERIOD_QUERY.replace("&", "&amp;")}"' in page


def test_the_charts_are_drawn_by_this_sites_scripts_only(site):
    boss = login(site, "supervisor")
    page = boss.get(f"/console/dashboard?{PERIOD_QUERY}")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert '<script src="/vendor/echarts.min.js">' in scripts
    assert '<script src="/static/dashboard.js">' in scripts
    assert all("http" not in tag for tag in scripts)  # nothing from elsewhere
    assert '<script type="application/json" id="dashboard-data">' in scripts  # data, not code
    vendor = site.get("/vendor/echarts.min.js")
    assert vendor.status_code == 200 and vendor.headers["content-type"] == "application/javascript"
    assert vendor.content == ECHARTS.read_bytes()
    assert site.get("/static/dashboard.js").status_code == 200


def test_the_drill_down_and_the_figures_are_for_supervisors_only(site):
    agent = login(site, "agent")
    for path in ("/console/dashboard", "/console/dashboard.json", "/console/dashboard/tickets"):
        answer = agent.get(path)
        assert answer.status_code == 403 and "只有主管可以查看统计看板" in answer.text
    assert agent.get("/console/export.csv").status_code == 403
    assert site.get("/console/dashboard/tickets", allow_redirects=False).status_code == 302


def test_a_period_of_every_ticket_counts_the_one_before(site):
    boss = login(site, "supervisor")
    answer = boss.get("/console/dashboard.json?all=1")
    assert answer.json()["tickets"] == 18 == metrics.compute(Period(None, None), now=AT)["tickets"]
