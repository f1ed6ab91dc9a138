"""Benchmark: training time, server start-up, /model/parse latency, REST turn latency, memory,
and the ticket side (the console's queue, one ticket, the dashboard, the CSV export).

Prints figures; asserts nothing. Usage:
  python scripts/bench.py [--config config.yml] [--turns 200] [--parses 300] [--skip-train]
                          [--tickets 100000] [--ticket-reps 30] [--tickets-only]
Training goes to a temporary folder with a fresh cache, so it is a full training run.
``--scale`` adds the load through nginx on the scale-out (make scale-up) and the faults during
50 users' load (scripts/faults.py); run it under the scale-out's lock
(``flock /tmp/dy-cluster.lock bash scripts/bench.sh --scale``) when others share the machine.
``--tickets-only`` runs only the ticket side (``scripts/bench_tickets.py``); ``--tickets 0``
leaves it out.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from playbook.domain import domain_texts
from playbook.sourcefile import PROJECT_ROOT as ROOT
from scripts.servers import MODEL, Servers

APOLOGY = domain_texts().text("utter_action_failed")


def rss_mb(pid: int) -> float:
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1]) / 1024
    return total


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """The median, the 95th percentile (nearest rank) and the worst of ``samples``."""
    ordered = sorted(samples)

    def pick(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]

    return pick(0.5), pick(0.95), ordered[-1]


def train(config: Path, out: Path) -> float:
    env = dict(
        os.environ,
        RASA_CACHE_DIRECTORY=str(out / "cache"),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "train",
            "--config",
            str(config),
            "--domain",
            str(ROOT / "domain.yml"),
            "--data",
            str(ROOT / "data"),
            "--out",
            str(out),
            "--fixed-model-name",
            "bench",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def flow_figures(tracker_db: Path, conversations: int, scale_to: int = 10_000) -> None:
    """How long the console's flow page takes: its first view (a full replay) of the
    conversations just held, and of them repeated under new senders to ``scale_to``
    conversations in an SQLite tracker store; a later view there, after ``conversations`` new
    ones (only the new events are read); the memory the page keeps per conversation, with
    100,000 of them; the inbox of misunderstandings over the same scaled conversations."""
    import gc
    import sqlite3

    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy import create_engine
    from sqlalchemy.engine import Engine

    from playbook.registry import PlaybookRegistry
    from web import flow_replay, flow_stats, inbox, trackerstore

    def repeat(store: Path, copies: range) -> None:
        """The held conversations' events appended to ``store`` once per copy, new senders."""
        with sqlite3.connect(store) as db:
            db.execute("ATTACH DATABASE ? AS held", (str(tracker_db),))
            for n in copies:
                db.execute(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                    "action_name, data) SELECT sender_id || ?, type_name, timestamp, "
                    "intent_name, action_name, data FROM held.events ORDER BY id",
                    (f"-{n}",),
                )
        db.close()

    def view(engine: Engine) -> float:
        t0 = time.perf_counter()
        aggregator.stats(engine, playbooks, now=time.time(), idle_seconds=idle)
        return time.perf_counter() - t0

    playbooks = PlaybookRegistry().all()
    idle = trackerstore.DEFAULT_IDLE_SECONDS
    url = f"sqlite:///{tracker_db}"
    t0 = time.perf_counter()
    stats = flow_stats.flow_stats(playbooks, url)  # the page's first view
    elapsed = (time.perf_counter() - t0) * 1000
    escalated = sum(playbook.escalated for playbook in stats.values())
    engine = create_engine(url)
    rows = list(trackerstore.event_rows(engine, flow_stats.READ))  # the query the page runs
    engine.dispose()
    copies = max(1, scale_to // max(1, conversations))
    scaled = tracker_db.with_name("flow-scaled.db")
    engine = create_engine(f"sqlite:///{scaled}")
    SQLTrackerStore.SQLEvent.__table__.create(engine)  # Rasa's table and index
    repeat(scaled, range(copies))
    aggregator = flow_stats.FlowAggregator()
    first = view(engine)
    repeat(scaled, range(copies, copies + 1))
    later, unchanged = view(engine), view(engine)
    engine.dispose()
    print(
        f"flow statistics (console): first view of {conversations} conversations "
        f"({len(rows)} events read) {elapsed:.0f} ms (escalations counted: {escalated}); "
        f"{copies * conversations} conversations ({copies * len(rows)} events): first view "
        f"(full replay) {first:.2f} s, a later view after {conversations} new conversations "
        f"{later * 1000:.0f} ms, with nothing new {unchanged * 1000:.1f} ms"
    )
    many = max(1, 100_000 // max(1, conversations))
    gc.collect()
    before = rss_mb(os.getpid())
    tally = flow_replay.Tally(playbooks)
    t0 = time.perf_counter()
    tally.fold(  # each conversation with timestamps of its own, as in a real store
        (f"{n}-{row[0]}", row[1], (row[2] or 0.0) + 0.0, *row[3:])
        for n in range(many)
        for row in rows
    )
    folded = time.perf_counter() - t0
    gc.collect()
    kept = (rss_mb(os.getpid()) - before) * 1024 * 1024
    print(
        f"flow statistics kept per process: {len(tally.conversations)} conversations "
        f"({many * len(rows)} events, counted in {folded:.1f} s) add {kept / 1e6:.1f} MB "
        f"resident, {kept / len(tally.conversations):.0f} bytes per conversation"
    )
    by_id = {playbook.id: playbook for playbook in playbooks}
    engine = create_engine(url)
    rows = list(trackerstore.event_rows(engine, inbox.READ))  # the query the inbox page runs
    engine.dispose()
    t0 = time.perf_counter()
    box = inbox.build(((f"{n}-{row[0]}", *row[1:]) for n in range(copies) for row in rows), by_id)
    print(
        f"inbox of misunderstandings (console): {copies * conversations} conversations "
        f"({copies * len(rows)} events) read and grouped in {time.perf_counter() - t0:.2f} s "
        f"({box.messages} messages, {len(box.groups)} groups)"
    )


def load_figures(url: str, shape: str) -> None:
    """Simulated users at 1, 10 and 50 at once, each a whole conversation to a ticket."""
    from scripts import load

    for users in (1, 10, 50):
        result = load.run_load(
            url, users, conversations_each=5 if users == 1 else 1, prefix=f"bench{users}"
        )
        print(f"load, {shape}: {result.summary()}")


def tracker_retrieval_figures(workdir: Path) -> None:
    """How long Rasa's SQL tracker store (ours, on a private PostgreSQL) takes to retrieve one
    conversation of 10, 100 and 1,000 events."""
    import asyncio

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from channels.trackerstore import DySQLTrackerStore
    from scripts.servers import PostgresServer

    postgres = PostgresServer().start()
    try:
        postgres.create_database("bench_trackers")
        domain = Domain.load(str(ROOT / "domain.yml"))
        store = DySQLTrackerStore(
            domain,
            dialect="postgresql",
            host="127.0.0.1",
            port=postgres.port,
            db="bench_trackers",
            username="postgres",
        )

        async def measure(events: int) -> float:
            sender = f"bench-{events}"
            tracker = DialogueStateTracker(sender, domain.slots)
            for n in range(events // 3):
                tracker.update(UserUttered(f"第 {n} 句", {"name": "greet", "confidence": 1.0}))
                tracker.update(ActionExecuted("utter_greet"))
                tracker.update(BotUttered("您好"))
            await store.save(tracker)
            samples = []
            for _ in range(20):
                began = time.perf_counter()
                await store.retrieve(sender)
                samples.append((time.perf_counter() - began) * 1000)
            return percentiles(samples)[0]

        for events in (10, 100, 1000):
            median = asyncio.run(measure(events))
            print(
                f"tracker retrieval (PostgreSQL, DySQLTrackerStore): {events} events: "
                f"median {median:.1f} ms"
            )
    finally:
        postgres.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--parses", type=int, default=300)
    parser.add_argument("--skip-train", action="store_true", help="use models/dy.tar.gz")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also start the scale-out (make scale-up) and measure load through nginx",
    )
    parser.add_argument(
        "--tracker-store",
        choices=["sql", "memory"],
        default="sql",
        help="sql: SQLite as in endpoints.yml (default); memory: Rasa's in-memory store",
    )
    parser.add_argument(
        "--tickets",
        type=int,
        default=100_000,
        help="tickets seeded for the ticket side (0: leave the ticket side out)",
    )
    parser.add_argument(
        "--ticket-reps", type=int, default=30, help="times each ticket-side figure is measured"
    )
    parser.add_argument(
        "--tickets-only", action="store_true", help="only the ticket side (no training, no servers)"
    )
    args = parser.parse_args()
    if args.tickets_only:
        from scripts import bench_tickets

        bench_tickets.run(args.tickets or 100_000, args.ticket_reps)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = MODEL
        if not args.skip_train:
            seconds = train(args.config, workdir)
            model = workdir / "bench.tar.gz"
            print(f"training (full, empty cache, {args.config.name}): {seconds:.1f} s")
        servers = Servers(workdir, model=model, tracker_store=args.tracker_store)
        started = time.perf_counter()
        servers.start()
        print(
            f"start-up (both servers until /status answers): {time.perf_counter() - started:.1f} s"
        )
        try:
            session = requests.Session()
            texts = ["网络老是掉线", "登录不上了", "搜索功能用不了", "视频不见了", "你好", "转人工"]
            parse = []
            for i in range(args.parses):
                t0 = time.perf_counter()
                session.post(
                    f"{servers.url}/model/parse", json={"text": texts[i % len(texts)]}, timeout=30
                ).raise_for_status()
                parse.append((time.perf_counter() - t0) * 1000)
            p50, p95, worst = percentiles(parse)
            parse_p95 = p95
            print(
                f"/model/parse over {args.parses} requests: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                f"max {worst:.1f} ms"
            )

            # Whole REST turns that run a custom action: start a playbook, answer "no" until
            # the last step fails and a ticket is written to the database.
            turns = []
            script = ["网络老是掉线", "还是不行", "还是不行", "还是不行"]
            done = 0
            while done < args.turns:
                sender = f"bench-{uuid.uuid4().hex[:10]}"
                for message in script:
                    t0 = time.perf_counter()
                    reply = session.post(
                        f"{servers.url}/webhooks/rest/webhook",
                        json={"sender": sender, "message": message},
                        timeout=60,
                    )
                    reply.raise_for_status()
                    assert reply.json(), "empty reply"
                    assert all(m.get("text") != APOLOGY for m in reply.json()), "an action failed"
                    turns.append((time.perf_counter() - t0) * 1000)
                    done += 1
            p50, p95, worst = percentiles(turns)
            print(
                f"REST turn running a custom action, single user, {len(turns)} turns: "
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms"
            )
            print(f"REST turn p95 / bare /model/parse p95 (same run): {p95 / parse_p95:.1f}x")
            if args.tracker_store == "sql":
                flow_figures(workdir / "trackers.db", done // len(script))
            load_figures(servers.url, "embedded default (one Rasa, SQLite)")
            action_pid, rasa_pid = servers.pids()
            print(
                f"memory (RSS): Rasa server {rss_mb(rasa_pid):.0f} MB, "
                f"action server {rss_mb(action_pid):.0f} MB"
            )
        finally:
            servers.stop()
        tracker_retrieval_figures(workdir)
    if args.tickets:
        from scripts import bench_tickets

        bench_tickets.run(args.tickets, args.ticket_reps)
    if args.scale:
        from scripts import scale

        started = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "scale.py"), "up"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            print(f"scale-out did not start: {started.stderr[-500:]}")
            return 1
        load_figures(scale.Topology.load().entry, "scale-out through nginx (2 Rasa, PostgreSQL)")
        from scripts import faults

        # on private PostgreSQL and Redis instances (the scale-out above is stopped, then
        # started again); recovery: from the fault until the last failed turn of any user
        result = faults.run(users=50)
        print(f"faults during the load of 50 users through nginx:\n{result.table()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
