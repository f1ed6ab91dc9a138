"""The flow statistics kept between page views: random conversations through the real
actions and playbooks, saved in Rasa's own SQL tracker store, folded in pieces cut anywhere,
count exactly what one full replay counts (SQLite, and PostgreSQL when it runs here)."""

from __future__ import annotations

import dataclasses
import itertools
import random
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from playbook.model import ESCALATE, Playbook
from playbook.progress import Progress
from playbook.registry import PlaybookRegistry
from scripts.servers import free_port
from tests.factories import ROOT
from tests.web.chats import random_conversations
from tickets.policy import load_policy
from web import flow_stats, trackerstore
from web.console import flow_pages
from web.flow_replay import PROGRESS_SLOTS, PlaybookStats, Tally, count_events, kept

IDLE = 3600.0
Row = Sequence[Any]


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture()
def playbooks() -> list[Playbook]:
    return PlaybookRegistry(priorities=list(load_policy().levels)).all()


async def recorded_store(
    path: Path, rasa_domain: Domain, domain: dict[str, Any], *, seed: int, conversations: int
) -> Engine:
    """Random conversations in Rasa's own tracker store at ``path``; an engine on it."""
    store = SQLTrackerStore(rasa_domain, dialect="sqlite", db=str(path))
    await random_conversations(
        store, rasa_domain, domain, seed=seed, conversations=conversations, turns=10
    )
    store.engine.dispose()
    return create_engine(f"sqlite:///{path}")


def read_rows(engine: Engine) -> list[Row]:
    """``(id, sender_id, ...)`` of every event the statistics read, as the page reads them."""
    return list(trackerstore.events_after(engine, flow_stats.READ, 0, 0))


def between(rows: list[Row], low: int, high: int) -> list[Row]:
    """The rows with ids in ``(low, high]``, without their id, in the order of the query."""
    return [row[1:] for row in rows if low < row[0] <= high]


def moments(rows: list[Row]) -> list[tuple[float, float]]:
    """``(now, idle_seconds)`` to read at: all conversations over, none over, and a time at
    which the first half of them have been idle long enough."""
    seen = sorted(row[3] for row in rows if row[3])
    first, last = seen[0], seen[-1]
    return [(last + 2 * IDLE, IDLE), (last, IDLE), (last, (last - first) / 2)]


def full_replay(playbooks: list[Playbook], rows: list[Row], now: float, idle: float) -> Any:
    return count_events(playbooks, [row[1:] for row in rows], now=now, idle_seconds=idle)


# --- pieces folded in memory -------------------------------------------------------------


async def test_two_pieces_cut_at_every_event_count_as_one_replay(
    tmp_path, database_url, rasa_domain, domain, playbooks
):
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=1, conversations=3)
    rows = read_rows(engine)
    last = max(row[0] for row in rows)
    whole = {moment: full_replay(playbooks, rows, *moment) for moment in moments(rows)}
    assert sum(s.conversations for s in whole[moments(rows)[0]].values()) >= 3
    cut_in_an_action = 0
    for cut in range(0, last + 1):
        tally = Tally(playbooks)
        tally.fold(between(rows, 0, cut))
        before = [row for row in rows if row[0] <= cut]
        for now, idle in moments(rows):
            assert tally.view(now, idle) == full_replay(playbooks, before, now, idle), cut
        cut_in_an_action += bool(tally.unsettled)
        tally.fold(between(rows, cut, last))
        for moment, expected in whole.items():
            assert tally.view(*moment) == expected, cut
    assert cut_in_an_action  # some cuts fell between an action and the slots it set


@pytest.mark.parametrize("seed", [2, 3, 4])
async def test_random_pieces_count_as_one_replay(
    tmp_path, database_url, rasa_domain, domain, playbooks, seed
):
    engine = await recorded_store(
        tmp_path / "t.db", rasa_domain, domain, seed=seed, conversations=12
    )
    rows = read_rows(engine)
    last = max(row[0] for row in rows)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, last), 15)) + [last]
    tally, low = Tally(playbooks), 0
    for cut in cuts:
        tally.fold(between(rows, low, cut))
        low = cut
        before = [row for row in rows if row[0] <= cut]
        for now, idle in moments(rows):
            assert tally.view(now, idle) == full_replay(playbooks, before, now, idle), cut


async def test_many_conversations_at_the_same_steps_count_as_one_replay(
    tmp_path, database_url, rasa_domain, domain, playbooks
):
    """Hundreds of conversations waiting at the same steps, most of them going on in the
    next piece: the kept last-seen times are rebuilt rather than edited one by one."""
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=17, conversations=4)
    one = read_rows(engine)
    rows = [  # 150 copies going on side by side, each a minute later than the one before
        (row[0] * 150 + n, f"{n}-{row[1]}", row[2], row[3] + 60.0 * n, *row[4:])
        for n in range(150)
        for row in one
    ]
    rows.sort(key=lambda row: (row[1], row[0]))
    last = max(row[0] for row in rows)
    for cut in (last // 3, last // 2, 2 * last // 3):
        tally = Tally(playbooks)
        tally.fold(between(rows, 0, cut))
        tally.fold(between(rows, cut, last))
        for now, idle in moments(rows):
            assert tally.view(now, idle) == full_replay(playbooks, rows, now, idle), cut


def test_progress_slots_are_kept_as_the_actions_read_them(playbooks):
    """A conversation keeps its progress slots reduced to what :class:`Progress` reads; the
    reading of damaged slots does not change."""
    by_id = {p.id: p for p in playbooks}
    damaged = [
        ("troubleshooting", "network", "restart_device", ["check_network", 3, None]),
        ("troubleshooting", "network", "restart_device", "check_network"),
        ("troubleshooting", ["network"], {"id": "x"}, None),
        (7, "network", "check_network", [["check_network"]]),
        ("troubleshooting", "gone", "check_network", []),
        (None, None, None, None),
    ]
    for values in damaged:
        raw = dict(zip(PROGRESS_SLOTS, values, strict=True))
        reduced = {name: kept(name, value) for name, value in raw.items()}
        reduced["steps_tried"] = list(reduced["steps_tried"])
        assert Progress.read(reduced, by_id) == Progress.read(raw, by_id), values


# --- through the tracker store ------------------------------------------------------------


def mirror(source: Engine, target: Path, rasa_domain: Domain) -> tuple[Engine, list[Any]]:
    """An empty tracker store at ``target`` (Rasa's tables) and every event row of
    ``source``, all columns, by id: to be copied over a few at a time."""
    SQLTrackerStore(rasa_domain, dialect="sqlite", db=str(target)).engine.dispose()
    with source.connect() as connection:
        events = list(
            connection.execute(select(trackerstore.EVENTS).order_by(trackerstore.EVENTS.c.id))
        )
    return create_engine(f"sqlite:///{target}"), events


def copy(engine: Engine, events: list[Any]) -> None:
    with engine.begin() as connection:
        for event in events:
            connection.execute(insert(trackerstore.EVENTS).values(**event._mapping))


@pytest.mark.parametrize(
    ("settings", "sorted_here"),
    [
        ({"settle_seconds": 0.0, "late_events": 0}, trackerstore.SORTED_HERE),
        ({"settle_seconds": 30.0, "late_events": 25}, trackerstore.SORTED_HERE),
        ({"settle_seconds": 0.0, "late_events": 0}, 0),
    ],
    ids=["cursor", "asking-again", "streamed-in-conversation-order"],
)
async def test_a_view_after_every_event_is_a_full_replay(
    tmp_path, database_url, rasa_domain, domain, playbooks, settings, sorted_here, monkeypatch
):
    monkeypatch.setattr(trackerstore, "SORTED_HERE", sorted_here)
    source = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=5, conversations=4)
    target, events = mirror(source, tmp_path / "mirror.db", rasa_domain)
    clock = itertools.count(0.0, 7.0)  # seconds between two views
    aggregator = flow_stats.FlowAggregator(clock=lambda: next(clock), **settings)
    for event in events:
        copy(target, [event])
        rows = read_rows(target)
        for now, idle in moments(rows):
            expected = full_replay(playbooks, rows, now, idle)
            assert aggregator.stats(target, playbooks, now=now, idle_seconds=idle) == expected
    assert aggregator.replays == 1


async def test_new_events_come_grouped_by_conversation_in_id_order(
    tmp_path, database_url, rasa_domain, domain, monkeypatch
):
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=16, conversations=5)
    newest = max(row[0] for row in read_rows(engine))
    found = {}
    for sorted_here in (newest, 0):  # sorted here / streamed in the database's order
        monkeypatch.setattr(trackerstore, "SORTED_HERE", sorted_here)
        rows = list(trackerstore.events_after(engine, flow_stats.READ, 40, newest))
        senders = [sender for sender, _ in itertools.groupby(row[1] for row in rows)]
        assert len(senders) == len(set(senders)) == 5  # each conversation's events together
        assert all(a[0] < b[0] for a, b in zip(rows, rows[1:], strict=False) if a[1] == b[1])
        assert min(row[0] for row in rows) > 40
        found[sorted_here] = sorted(rows)
    assert found[newest] == found[0]


async def test_an_event_committed_after_a_newer_one_is_still_read_once(
    tmp_path, database_url, rasa_domain, domain, playbooks
):
    """PostgreSQL with two Rasa replicas: a turn's events can become visible after events
    with larger ids. They are read at a later view, and only once."""
    source = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=6, conversations=6)
    target, events = mirror(source, tmp_path / "mirror.db", rasa_domain)
    sender = events[len(events) // 2].sender_id  # its turn there commits late
    late = [e for e in events[len(events) // 2 :] if e.sender_id == sender][:6]
    early = [e for e in events if e.sender_id != sender or e.id < late[0].id]
    copy(target, early)  # the late conversation's turn is not committed yet
    aggregator = flow_stats.FlowAggregator()  # a real clock: the views are within seconds
    now = max(event.timestamp for event in events) + 2 * IDLE
    aggregator.stats(target, playbooks, now=now, idle_seconds=IDLE)
    copy(target, late)
    rest = [e for e in events if e not in early and e not in late]
    for piece in (rest[: len(rest) // 2], rest[len(rest) // 2 :], []):
        copy(target, piece)
        for moment in moments(read_rows(target)):
            expected = full_replay(playbooks, read_rows(target), *moment)
            assert aggregator.stats(target, playbooks, now=moment[0], idle_seconds=moment[1]) == (
                expected
            )


async def test_idle_is_decided_when_the_statistics_are_read(
    tmp_path, database_url, rasa_domain, domain, playbooks
):
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=7, conversations=8)
    rows = read_rows(engine)
    aggregator = flow_stats.FlowAggregator()
    last = max(row[3] for row in rows)
    going = aggregator.stats(engine, playbooks, now=last, idle_seconds=IDLE)
    over = aggregator.stats(engine, playbooks, now=last + 2 * IDLE, idle_seconds=IDLE)
    left_before = sum(s.gave_up for s in going.values())  # sessions that started afresh
    assert sum(s.open_now for s in going.values()) > 0
    assert sum(s.gave_up for s in over.values()) == left_before + sum(
        s.open_now for s in going.values()
    )
    assert sum(s.open_now for s in over.values()) == 0
    assert over == full_replay(playbooks, rows, last + 2 * IDLE, IDLE)
    assert aggregator.replays == 1


def edited(playbooks: list[Playbook]) -> list[Playbook]:
    """The network playbook as an editor changed it: 还是不行 at check_network hands over."""
    changed = []
    for playbook in playbooks:
        if playbook.id == "network":
            steps = dict(playbook.steps)
            steps["check_network"] = dataclasses.replace(steps["check_network"], on_no=ESCALATE)
            playbook = dataclasses.replace(playbook, steps=steps)
        changed.append(playbook)
    return changed


async def test_an_edited_playbook_counts_afresh(
    tmp_path, database_url, rasa_domain, domain, playbooks
):
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=9, conversations=10)
    rows = read_rows(engine)
    now = max(row[3] for row in rows) + 2 * IDLE
    aggregator = flow_stats.FlowAggregator()
    before = aggregator.stats(engine, playbooks, now=now, idle_seconds=IDLE)
    afresh = PlaybookRegistry(priorities=list(load_policy().levels)).all()
    again = aggregator.stats(engine, afresh, now=now, idle_seconds=IDLE)
    assert again == before and aggregator.replays == 1  # read afresh, the same content
    after = aggregator.stats(engine, edited(playbooks), now=now, idle_seconds=IDLE)
    assert aggregator.replays == 2
    assert after == full_replay(edited(playbooks), rows, now, IDLE)
    assert before["network"].steps["check_network"].answers["no"] > 0
    assert after["network"].steps["check_network"].escalated > (
        before["network"].steps["check_network"].escalated
    )


async def test_a_replaced_database_counts_afresh(
    tmp_path, database_url, rasa_domain, domain, playbooks
):
    live = tmp_path / "trackers.db"
    await recorded_store(tmp_path / "a.db", rasa_domain, domain, seed=9, conversations=8)
    await recorded_store(tmp_path / "b.db", rasa_domain, domain, seed=10, conversations=10)
    shorter, events = mirror(
        create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "short.db", rasa_domain
    )
    copy(shorter, events[: len(events) // 2])
    url = f"sqlite:///{live}"
    shutil.copy(tmp_path / "a.db", live)
    aggregator = flow_stats.aggregator(trackerstore.readonly_engine(url))
    for replays, path in enumerate([tmp_path / "a.db", tmp_path / "short.db", tmp_path / "b.db"]):
        shutil.copy(path, live)  # an operator restores a backup / points at another database
        reader = create_engine(url)
        rows = read_rows(reader)
        reader.dispose()
        now = max(row[3] for row in rows) + 2 * IDLE
        assert flow_stats.flow_stats(playbooks, url, now=now) == full_replay(
            playbooks, rows, now, IDLE
        )
        assert aggregator.replays == replays + 1


async def test_two_views_at_once_fold_the_events_once(
    tmp_path, database_url, rasa_domain, domain, playbooks, monkeypatch
):
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=11, conversations=6)
    rows = read_rows(engine)
    now = max(row[3] for row in rows) + 2 * IDLE
    inside, go = threading.Event(), threading.Event()
    real = trackerstore.events_after

    def paused(*args: Any) -> Iterator[Row]:
        found = real(*args)
        yield next(found)
        inside.set()  # the first view is folding: a second one comes in now
        go.wait()
        yield from found

    monkeypatch.setattr(flow_stats, "events_after", paused)
    aggregator = flow_stats.FlowAggregator()
    results: list[dict[str, PlaybookStats]] = []

    def view() -> None:
        results.append(aggregator.stats(engine, playbooks, now=now, idle_seconds=IDLE))

    first = threading.Thread(target=view)
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=view)
    second.start()
    second.join(0.2)
    assert second.is_alive()  # it waits for the first view's fold
    go.set()
    first.join(30)
    second.join(30)
    expected = full_replay(playbooks, rows, now, IDLE)
    assert results == [expected, expected] and aggregator.replays == 1


async def test_a_read_that_fails_part_way_leaves_nothing_half_counted(
    tmp_path, database_url, rasa_domain, domain, playbooks, monkeypatch
):
    engine = await recorded_store(tmp_path / "t.db", rasa_domain, domain, seed=12, conversations=6)
    rows = read_rows(engine)
    now = max(row[3] for row in rows) + 2 * IDLE
    real = trackerstore.events_after

    def broken(*args: Any) -> Iterator[Row]:
        yield from itertools.islice(real(*args), len(rows) // 2)
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    url = f"sqlite:///{tmp_path / 't.db'}"
    monkeypatch.setattr(flow_stats, "events_after", broken)
    with pytest.raises(trackerstore.StoreUnreadable):
        flow_stats.flow_stats(playbooks, url, now=now)
    monkeypatch.setattr(flow_stats, "events_after", real)
    assert flow_stats.flow_stats(playbooks, url, now=now) == full_replay(playbooks, rows, now, IDLE)


def test_the_page_says_when_the_tracker_store_cannot_be_read(monkeypatch):
    monkeypatch.setenv("DY_TRACKER_DB_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/rasa")
    found = flow_pages.overview()
    assert found.stats == {} and found.playbooks
    assert found.note == "暂时无法读取对话记录库，下面只显示流程图，请稍后刷新。"


@pytest.mark.postgres
async def test_views_between_turns_on_postgresql(
    empty_postgres, database_url, rasa_domain, domain, playbooks
):
    name = empty_postgres.rsplit("/", 1)[1]
    store = SQLTrackerStore(
        rasa_domain, dialect="postgresql", host="127.0.0.1", port=5432, username="postgres", db=name
    )
    engine = create_engine(empty_postgres)
    try:
        for seed in (13, 14, 15):
            await random_conversations(
                store, rasa_domain, domain, seed=seed, conversations=5, turns=8
            )
            rows = read_rows(engine)
            for now, idle in moments(rows):
                assert flow_stats.flow_stats(
                    playbooks, empty_postgres, now=now, idle_seconds=idle
                ) == full_replay(playbooks, rows, now, idle)
        assert flow_stats.aggregator(engine).replays == 1
    finally:
        store.engine.dispose()
        engine.dispose()
