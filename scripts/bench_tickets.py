"""The ticket side of the benchmark (``bench.py --tickets N``): N tickets seeded by bulk inserts
into a private database (a temporary SQLite file, then a fresh database on the shared
PostgreSQL) with their clocks' due times, stored breaches, pauses, feedback and three-part
ratings, and the console's queue, one ticket, the dashboard (the last 30 days and every
ticket), its drill-down lists and the CSV export timed over them, through the functions the
console calls and over HTTP through the real web server (its background rounds off). Prints
figures; asserts nothing."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from playbook.registry import PlaybookRegistry
from playbook.sourcefile import PROJECT_ROOT as ROOT
from scripts.servers import free_port, wait_until_up
from tickets import db, metrics, queries, staff
from tickets.config import DISPLAY_TZ
from tickets.migrate import upgrade
from tickets.models import Feedback, SlaEvent, StaffUser, Ticket, TicketEvent, utcnow
from tickets.period import Period, today_local
from tickets.policy import PriorityPolicy, load_policy

#: The shared PostgreSQL of this machine (trust authentication).
SHARED_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
BATCH = 2_000
STAFF = 20
#: How the tickets' statuses, categories and reasons are spread (weights).
STATUSES = {
    "open": 6,
    "assigned": 4,
    "in_progress": 5,
    "waiting_user": 2,
    "resolved": 12,
    "closed": 71,
}
#: The statuses of tickets made in the last three days (the rest spread over a year).
RECENT = ("open", "assigned", "in_progress", "waiting_user")
#: Three-part ratings (each aspect 1-5) and the bot's ratings: how the scores are spread.
SCORES = {5: 45, 4: 25, 3: 14, 2: 8, 1: 8}
CATEGORIES = {"network": 35, "login": 25, "feature": 20, "data_loss": 10, "other": 10}
REASONS = {"playbook_exhausted": 7, "user_request": 3}
USER_LINES = [
    "网络老是掉线，直播的时候特别明显，影响生意",
    "登录不上了，一直提示验证码错误，换了手机也不行",
    "橱窗里的商品突然不见了，昨天还好好的",
    "搜索功能用不了，输入关键词以后一直转圈",
    "还是不行，我已经按你说的重启过路由器了",
    "换成 4G 也一样卡，别的软件都正常",
    "私信发不出去，对方说一直收不到",
    "转人工吧，我这边急着开播",
]
BOT_LINES = [
    "了解，您遇到的是网络连接不稳定或掉线的问题。我们一步一步来排查，先检查一下当前的网络环境。",
    "请先检查一下网络环境：切换到稳定的 Wi-Fi 或移动数据，再打开抖音试试。测一测当前网速：https://www.speedtest.cn/",
    "好的，那我们换个方法试试。请重启一下设备和路由器，等待一分钟后重新连接网络。",
    "切换到稳定的网络后，现在可以正常使用了吗？",
    "已为您创建工单，客服人员会在承诺时间内联系您处理，请保持手机畅通。",
    "如果希望客服直接联系您，可以留下手机号或邮箱；不需要的话点“跳过”即可。",
]


@dataclass(frozen=True)
class Seeded:
    """What the measurements need from a seeded database."""

    url: str
    numbers: list[str]
    supervisor_id: int
    token: str
    transcript_bytes: float
    seconds: float


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """The median, the 95th percentile (nearest rank) and the worst of ``samples``."""
    ordered = sorted(samples)

    def pick(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]

    return pick(0.5), pick(0.95), ordered[-1]


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _transcript(rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    turns = []
    moment = start - timedelta(minutes=15)
    for n in range(rng.randint(10, 18)):
        moment += timedelta(seconds=rng.randint(5, 90))
        role = "user" if n % 2 == 0 else "bot"
        line = rng.choice(USER_LINES if role == "user" else BOT_LINES)
        turns.append({"role": role, "text": line, "ts": moment.isoformat()})
    return turns


class _Seeder:
    """Builds the rows of N tickets (with their audit events and feedback) in batches."""

    def __init__(self, policy: PriorityPolicy, staff_ids: list[int], now: datetime) -> None:
        self.policy = policy
        self.staff_ids = staff_ids
        self.now = now
        self.rng = random.Random(12)
        self.steps = {
            playbook.id: [{"id": s.id, "title": s.title} for s in playbook.steps.values()]
            for playbook in PlaybookRegistry().all()
        }
        self.per_day: dict[str, int] = {}
        self.transcript_bytes = 0

    def _number(self, created: datetime) -> str:
        day = created.astimezone(DISPLAY_TZ).strftime("%Y%m%d")
        self.per_day[day] = self.per_day.get(day, 0) + 1
        return f"DY-{day}-{self.per_day[day]:04d}"

    def ticket(
        self, ticket_id: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """A ticket's row, its audit events and its stored warnings and breaches."""
        rng, now = self.rng, self.now
        status = _pick(rng, STATUSES)
        recent = status in RECENT
        created = now - timedelta(hours=rng.uniform(0, 72 if recent else 24 * 365))
        category = _pick(rng, CATEGORIES)
        reason = "user_request" if category == "other" else _pick(rng, REASONS)
        urgent = rng.random() < 0.1
        decision = self.policy.decide(
            category=category, reason=reason, urgent_signal=urgent, created_at=created
        )
        assignee = None if status == "open" else rng.choice(self.staff_ids)
        level = decision.level
        first = None
        if status != "open" and (status not in ("assigned", "waiting_user") or rng.random() < 0.5):
            hours = rng.expovariate(1 / (0.7 * level.response_hours))
            first = min(now, created + timedelta(hours=hours))
        resolved = closed = None
        if status in ("resolved", "closed"):
            resolved = min(now, (first or created) + timedelta(hours=rng.uniform(0.5, 60)))
            if status == "closed":
                closed = min(now, resolved + timedelta(days=rng.uniform(0, 7)))
        # a share of the tickets waited for the user (after the first response, or before it
        # for those waiting now without one): the resolution's due time moves by the pause
        paused_seconds, paused_since = 0, None
        if status == "waiting_user":
            paused_since = max(first or created, now - timedelta(hours=rng.uniform(0, 6)))
        elif first is not None and rng.random() < 0.2:
            paused_seconds = int(rng.uniform(600, 12 * 3600))
        resolution_due: datetime | None = created + timedelta(
            hours=level.resolution_hours, seconds=paused_seconds
        )
        if (
            paused_since is not None
            and resolution_due is not None
            and resolution_due > paused_since
        ):
            resolution_due = None  # paused before its due time: none while it waits
        transcript = _transcript(rng, created)
        self.transcript_bytes += len(json.dumps(transcript))
        steps = self.steps.get(category, [])
        row = {
            "id": ticket_id,
            "number": self._number(created),
            "idempotency_key": uuid.UUID(int=rng.getrandbits(128)).hex,
            "sender_id": f"bench-user-{rng.randrange(60_000)}",
            "category": category,
            "playbook": category if steps else None,
            "reason": reason,
            "steps_tried": steps[: rng.randint(1, len(steps))] if steps else [],
            "urgent_signal": urgent,
            "priority": decision.priority,
            "sla_due_at": decision.due_at,
            "status": status,
            "contact_phone": f"138{rng.randrange(10**8):08d}" if rng.random() < 0.4 else None,
            "contact_email": None,
            "transcript": transcript,
            "assignee_id": assignee,
            "first_response_at": first,
            "resolution_due_at": resolution_due,
            "update_due_at": (
                first + timedelta(hours=level.update_hours)
                if first is not None and level.update_hours and status in RECENT[1:3]
                else None
            ),
            "paused_since": paused_since,
            "paused_seconds": paused_seconds,
            "resolved_at": resolved,
            "closed_at": closed,
            "created_at": created,
            "updated_at": closed or resolved or first or created,
        }
        events = []
        if assignee is not None:
            events.append(
                {
                    "ticket_id": ticket_id,
                    "actor_id": assignee,
                    "kind": "assign",
                    "created_at": created,
                }
            )
        if first is not None:
            events.append(
                {"ticket_id": ticket_id, "actor_id": assignee, "kind": "reply", "created_at": first}
            )
        for moment in (resolved, closed):
            if moment is not None:
                events.append(
                    {
                        "ticket_id": ticket_id,
                        "actor_id": assignee,
                        "kind": "status",
                        "created_at": moment,
                    }
                )
        for event in events:
            event["detail"] = (
                {"text": "您好，已收到您的问题，正在处理"} if event["kind"] == "reply" else {}
            )
        return row, events, self.sla_events(row, level)

    def sla_events(self, row: dict[str, Any], level: Any) -> list[dict[str, Any]]:
        """The warnings and breaches the sweeper would have stored for ``row``: a first
        response or a resolution past its due time, and some progress updates missed."""
        rng, now = self.rng, self.now
        marks: list[tuple[str, str, int, datetime, datetime, int | None]] = []
        due, first = row["sla_due_at"], row["first_response_at"]
        waiting = row["status"] == "waiting_user"
        if (first or (now if not waiting else due)) > due:
            marks.append(("first_response", "breach", 0, due, due, row["assignee_id"]))
        resolution_due, resolved = row["resolution_due_at"], row["resolved_at"]
        if resolution_due is not None and (resolved or now) > resolution_due:
            marks.append(("resolution", "breach", 0, resolution_due, resolution_due, None))
        if first is not None and level.update_hours and rng.random() < 0.3:
            end = resolved or now
            for cycle in range(rng.randint(1, 3)):
                moment = first + timedelta(hours=level.update_hours * (cycle + 1))
                if moment >= end:
                    break
                # one in ten counts against someone who held the ticket before
                agent = row["assignee_id"]
                if agent is not None and rng.random() < 0.1:
                    agent = rng.choice(self.staff_ids)
                marks.append(("update", "breach", cycle, moment, moment, agent))
        return [
            {
                "ticket_id": row["id"],
                "clock": clock,
                "kind": kind,
                "cycle": cycle,
                "priority": row["priority"],
                "assignee_id": agent if clock == "update" else row["assignee_id"],
                "due_at": due_at,
                "at": at,
                "recorded_at": at,
            }
            for clock, kind, cycle, due_at, at, agent in marks
        ]

    def feedback(self, row: dict[str, Any] | None) -> dict[str, Any]:
        """Feedback on a ticket (``row``: its three-part rating of the assignee, now and then
        left half-way) or, with None, on a conversation the bot solved (its 1-5 rating)."""
        rng = self.rng
        moment = (row or {}).get("resolved_at") or self.now - timedelta(days=rng.uniform(0, 365))
        scores: dict[str, int | None] = dict.fromkeys(("attitude", "expertise", "result"))
        rating = None
        if row is None:
            rating = rng.choices([*SCORES, None], weights=[*SCORES.values(), 12])[0]
        else:
            for aspect in ("attitude", "expertise", "result")[: rng.choices([3, 1], [95, 5])[0]]:
                scores[aspect] = rng.choices(list(SCORES), weights=list(SCORES.values()))[0]
        return {
            "idempotency_key": uuid.UUID(int=rng.getrandbits(128)).hex,
            "sender_id": (row or {}).get("sender_id") or f"bench-user-{rng.randrange(60_000)}",
            "playbook": rng.choice(list(self.steps)),
            "resolved_step": None,
            "ticket_number": (row or {}).get("number"),
            "rating": rating,
            **scores,
            "staff_id": (row or {}).get("assignee_id"),
            "comment": None,
            "created_at": moment,
            "updated_at": moment,
        }


def _insert_staff(connection: Connection, now: datetime) -> list[int]:
    rows: list[dict[str, Any]] = [
        {
            "id": n + 1,
            "username": f"bench.staff{n:02d}",
            "display_name": f"客服{n:02d}",
            "role": "supervisor" if n < 3 else "agent",
            "password_hash": "!",  # no password logs in; the bench uses a session and a token
            "active": True,
            "failed_logins": 0,
            "created_at": now,
        }
        for n in range(STAFF)
    ]
    connection.execute(StaffUser.__table__.insert(), rows)
    return [row["id"] for row in rows]


def seed(url: str, count: int) -> Seeded:
    """Migrate ``url`` and fill it with ``count`` tickets (bulk inserts, ``BATCH`` rows each)."""
    started = time.perf_counter()
    upgrade(url)
    now = datetime.now(timezone.utc)
    engine = create_engine(url, future=True)
    numbers: list[str] = []
    with engine.begin() as connection:
        seeder = _Seeder(load_policy(), _insert_staff(connection, now), now)
        for first in range(0, count, BATCH):
            tickets, events, feedback, marks = [], [], [], []
            for ticket_id in range(first + 1, min(count, first + BATCH) + 1):
                row, row_events, row_marks = seeder.ticket(ticket_id)
                tickets.append(row)
                events.extend(row_events)
                marks.extend(row_marks)
                if row["resolved_at"] is not None and seeder.rng.random() < 0.3:
                    feedback.append(seeder.feedback(row))
                if seeder.rng.random() < 0.6:  # solved by the bot: about 3 in 8 conversations
                    feedback.append(seeder.feedback(None))
            connection.execute(Ticket.__table__.insert(), tickets)
            connection.execute(TicketEvent.__table__.insert(), events)
            connection.execute(Feedback.__table__.insert(), feedback)
            if marks:
                connection.execute(SlaEvent.__table__.insert(), marks)
            numbers.extend(row["number"] for row in tickets[:: max(1, len(tickets) // 20)])
        if connection.dialect.name == "postgresql":  # the ids were given: move the sequences
            for table in ("staff_users", "tickets", "ticket_events", "feedback"):
                connection.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
            connection.execute(text("VACUUM ANALYZE"))
        else:  # the bulk load's pages moved from the write-ahead log into the database
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    token = staff.create_token("bench.staff00", "bench", database_url=url)
    return Seeded(
        url=url,
        numbers=numbers,
        supervisor_id=1,
        token=token,
        transcript_bytes=seeder.transcript_bytes / count,
        seconds=time.perf_counter() - started,
    )


def _timed(run: Callable[[int], object], reps: int) -> tuple[float, float, float]:
    samples = []
    for n in range(reps):
        began = time.perf_counter()
        run(n)
        samples.append((time.perf_counter() - began) * 1000)
    return percentiles(samples)


def _traced_peak_mb(run: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _line(what: str, figures: tuple[float, float, float], reps: int, extra: str = "") -> None:
    p50, p95, worst = figures
    print(f"  {what}, {reps} times: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms{extra}")


def queue_plan(url: str) -> str:
    """The database's plan for the queue's first slice (open, most urgent), node by node."""
    policy = load_policy()
    urgent = min(policy.levels, key=lambda name: policy.levels[name].rank)
    statement = queries.queue_slice(
        "open", urgent, queries.QueueFilters(), policy.categories, queries.QUEUE_LIMIT
    )
    engine = create_engine(url, future=True)
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + sql)
        lines = [str(row[-1]) for row in rows]
    engine.dispose()
    if postgres:  # the plan's nodes without their costs
        lines = [line.split("  (cost")[0].strip(" ->") for line in lines if "(cost" in line]
    return " > ".join(lines)


def measure_functions(seeded: Seeded, reps: int) -> None:
    """The functions the console's pages and API call, in this process."""
    url, numbers = seeded.url, seeded.numbers
    shown = queries.queue(queries.QueueFilters(), database_url=url)

    def default_queue(_: int) -> object:
        return queries.queue(queries.QueueFilters(), database_url=url)

    def filtered_queue(n: int) -> object:
        status = ("closed", "resolved", "in_progress")[n % 3]
        return queries.queue(queries.QueueFilters(status=status), database_url=url)

    def detail(n: int) -> object:
        return queries.ticket_detail(numbers[n % len(numbers)], database_url=url)

    month, everything = metrics.default_period(), Period(None, None)

    def dashboard(_: int) -> object:
        return metrics.compute(month, database_url=url)

    def dashboard_all(_: int) -> object:
        return metrics.compute(everything, database_url=url)

    today = today_local(utcnow())
    drills = [metrics.DrillFilters.from_mapping(query, today) for query in drill_queries(today)]

    def drill(n: int) -> object:
        return metrics.drill_down(drills[n % len(drills)], database_url=url)

    def export(period: Period | None = None) -> int:
        return sum(len(chunk) for chunk in metrics.csv_chunks(period, database_url=url))

    print(f"  queue plan (open, most urgent): {queue_plan(url)}")
    peak = _traced_peak_mb(lambda: default_queue(0))
    _line(
        f"queue (queries.queue, {len(shown.tickets)} of {sum(shown.counts.values())} shown)",
        _timed(default_queue, reps),
        reps,
        f"; Python peak {peak:.1f} MB",
    )
    _line(
        "queue of one status (closed / resolved / in_progress)", _timed(filtered_queue, reps), reps
    )
    peak = _traced_peak_mb(lambda: detail(0))
    _line(
        "one ticket (queries.ticket_detail)",
        _timed(detail, reps),
        reps,
        f"; Python peak {peak:.1f} MB",
    )
    figures = metrics.compute(month, database_url=url)
    peak = _traced_peak_mb(lambda: dashboard(0))
    _line(
        f"dashboard figures, last 30 days (metrics.compute, {figures['tickets']:,} tickets)",
        _timed(dashboard, reps),
        reps,
        f"; Python peak {peak:.1f} MB",
    )
    peak = _traced_peak_mb(lambda: dashboard_all(0))
    _line(
        "dashboard figures, every ticket (metrics.compute, a year of days)",
        _timed(dashboard_all, reps),
        reps,
        f"; Python peak {peak:.1f} MB",
    )
    _line(
        f"drill-down page (metrics.drill_down, {len(drills)} kinds of list in turn)",
        _timed(drill, max(reps, 2 * len(drills))),
        max(reps, 2 * len(drills)),
    )
    for label, period in (("every ticket", None), ("the last 30 days", month)):
        began = time.perf_counter()
        size = export(period)
        seconds = time.perf_counter() - began
        peak = _traced_peak_mb(lambda period=period: export(period))
        print(
            f"  CSV export (metrics.csv_chunks), {label}: {seconds:.2f} s, "
            f"{size / 2**20:.1f} MB; Python peak {peak:.1f} MB"
        )


def drill_queries(today: date) -> list[dict[str, str]]:
    """The drill-down lists measured, as the dashboard links them: the last 30 days' tickets,
    narrowed the ways its figures narrow them, and some of every ticket's."""
    month = metrics.default_period().query()
    day = (today - timedelta(days=3)).isoformat()
    return [
        month,
        month | {"priority": "urgent", "clock": "resolution", "outcome": "missed"},
        month | {"agent": "bench.staff05", "clock": "first_response", "outcome": "missed"},
        month | {"clock": "update", "agent": "bench.staff04"},
        month | {"day": day, "clock": "first_response", "outcome": "met"},
        month | {"agent": "bench.staff06", "only": "rated"},
        {"all": "1", "status": "closed", "only": "resolved"},
        {"all": "1", "agent": "bench.staff07", "clock": "resolution", "outcome": "met"},
    ]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@contextmanager
def web_server(
    url: str, workdir: Path, secret: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The console's web server (``python -m web``) on a free port over ``url``."""
    port = free_port()
    log = workdir / "web.log"
    env = dict(os.environ, DATABASE_URL=url, CONSOLE_SECRET=secret)
    env.setdefault("DY_SESSION_SECRET", secrets.token_hex(16))  # the widget's sessions
    # the requests measured alone: no background round (the SLA sweep would first recompute
    # every open ticket of the seeded store, notifications be made for its breaches)
    for variable in ("SLA_SWEEP_SECONDS", "ASSIGN_SECONDS", "NOTIFY_SECONDS", "QA_DRAW_SECONDS"):
        env.setdefault(variable, "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/config.js", process, log, 60)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure_http(seeded: Seeded, reps: int, workdir: Path) -> None:
    """The console's pages and API over HTTP, through the web server's own process."""
    from web.console import sessions

    secret = secrets.token_hex(16)
    before = os.environ.get("CONSOLE_SECRET")
    os.environ["CONSOLE_SECRET"] = secret  # the cookie signed as the server signs
    cookie = sessions.make_session(seeded.supervisor_id)
    if before is None:
        del os.environ["CONSOLE_SECRET"]
    else:
        os.environ["CONSOLE_SECRET"] = before
    with web_server(seeded.url, workdir, secret) as (base, process):
        browser = requests.Session()
        browser.cookies.set(sessions.COOKIE, cookie)
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {seeded.token}"
        numbers = seeded.numbers

        def get(session: requests.Session, path: str) -> Callable[[int], requests.Response]:
            def run(_: int) -> requests.Response:
                answer = session.get(base + path, timeout=120)
                answer.raise_for_status()
                return answer

            return run

        def one_ticket(n: int) -> object:
            answer = api.get(f"{base}/console/api/tickets/{numbers[n % len(numbers)]}", timeout=60)
            answer.raise_for_status()
            return answer

        get(browser, "/console/")(0)  # the first request of a process loads templates
        started_kb = _status_kb(process.pid, "VmRSS")
        _line("queue page (GET /console/)", _timed(get(browser, "/console/"), reps), reps)
        _line(
            "queue API (GET /console/api/tickets)",
            _timed(get(api, "/console/api/tickets"), reps),
            reps,
        )
        _line("one ticket API (GET /console/api/tickets/<number>)", _timed(one_ticket, reps), reps)
        _line(
            "dashboard page, last 30 days (GET /console/dashboard)",
            _timed(get(browser, "/console/dashboard"), reps),
            reps,
        )
        _line(
            "dashboard page, every ticket (GET /console/dashboard?all=1)",
            _timed(get(browser, "/console/dashboard?all=1"), reps),
            reps,
        )
        paths = [
            "/console/dashboard/tickets?" + urlencode(query)
            for query in drill_queries(today_local(utcnow()))
        ]

        def drill(n: int) -> object:
            return get(browser, paths[n % len(paths)])(n)

        _line(
            f"drill-down page (GET /console/dashboard/tickets, {len(paths)} kinds in turn)",
            _timed(drill, max(reps, 2 * len(paths))),
            max(reps, 2 * len(paths)),
        )
        for label, path in (
            ("every ticket", "/console/export.csv"),
            (
                "the last 30 days",
                "/console/export.csv?" + urlencode(metrics.default_period().query()),
            ),
        ):
            began = time.perf_counter()
            size = len(get(browser, path)(0).content) / 2**20
            seconds = time.perf_counter() - began
            print(
                f"  CSV export (GET {path.split('?')[0]}), {label}: {seconds:.2f} s, {size:.1f} MB"
            )
        peak_kb = _status_kb(process.pid, "VmHWM")
        print(
            f"  web server memory: RSS {started_kb / 1024:.0f} MB after its first page, "
            f"peak {peak_kb / 1024:.0f} MB over all of the above"
        )


def run_one(label: str, url: str, count: int, reps: int, workdir: Path) -> None:
    seeded = seed(url, count)
    os.sync()  # measure the console, not the disk writing the bulk load back
    print(
        f"tickets, {label}: {count:,} tickets seeded in {seeded.seconds:.0f} s "
        f"(transcripts {seeded.transcript_bytes / 1024:.1f} KB each on average)"
    )
    try:
        measure_functions(seeded, reps)
        measure_http(seeded, reps, workdir)
    finally:
        db.dispose_all()


def run(count: int, reps: int) -> None:
    """The ticket-side figures on SQLite and, when it answers, on the shared PostgreSQL."""
    import psycopg2

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_one("SQLite", f"sqlite:///{workdir / 'tickets.db'}", count, reps, workdir)
        try:
            admin = psycopg2.connect(f"{SHARED_POSTGRES}/postgres", connect_timeout=3)
        except psycopg2.OperationalError as exc:
            print(f"tickets, PostgreSQL: skipped, {SHARED_POSTGRES} does not answer ({exc})")
            return
        admin.autocommit = True
        name = f"dy_bench_tickets_{uuid.uuid4().hex[:8]}"
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        try:
            run_one("PostgreSQL", f"{SHARED_POSTGRES}/{name}", count, reps, workdir)
        finally:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
