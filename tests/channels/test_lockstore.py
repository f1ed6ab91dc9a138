"""The conversation lock across replicas (channels.lockstore) on a real, private Redis.

Two "replicas" are two threads, each with its own event loop and its own lock store client,
taking turns on one conversation at the same moment; each turn records when it entered and
left. Rasa's stock RedisLockStore runs the same race and is caught letting two turns in.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from rasa.core.lock_store import LockError, RedisLockStore

from channels.lockstore import AtomicRedisLockStore, LockUnavailable
from scripts.servers import RedisServer


@pytest.fixture()
def private_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def atomic(server: RedisServer, **kwargs) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(host="127.0.0.1", port=server.port, **kwargs)


def race(
    make_store: Callable[[], object], turns: int = 20, replicas: int = 2, limit: float = 60
) -> tuple[list[tuple], list[BaseException]]:
    """``turns`` turns of one conversation started at once, alternating between ``replicas``
    lock stores (each in its own thread and event loop): (turn, entered, left) of each turn
    that ran, and what went wrong (a replica whose turns did not all finish within ``limit``
    seconds reports a TimeoutError)."""
    record: list[tuple[int, float, float]] = []
    guard = threading.Lock()
    start = threading.Barrier(replicas)
    errors: list[BaseException] = []

    async def turn(store, number: int) -> None:
        async with store.lock("race-conversation"):
            entered = time.monotonic()
            await asyncio.sleep(0.01)  # the turn's work: predict, run the action, save
            left = time.monotonic()
        with guard:
            record.append((number, entered, left))

    async def turns_of(index: int) -> None:
        store = make_store()
        start.wait()
        mine = (turn(store, n) for n in range(index, turns, replicas))
        await asyncio.wait_for(asyncio.gather(*mine), timeout=limit)

    def replica(index: int) -> None:
        try:
            asyncio.run(turns_of(index))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=limit + 30)
    return record, errors


def most_at_once(record: list[tuple]) -> int:
    edges = sorted([(entered, 1) for _, entered, _ in record] + [(left, -1) for *_, left in record])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def test_twenty_parallel_turns_on_two_replicas_never_overlap(private_redis):
    record, errors = race(lambda: atomic(private_redis))
    assert not errors and len(record) == 20
    assert most_at_once(record) == 1
    # nothing is left behind: the conversation's hash and every ticket's liveness are gone
    assert redis.Redis(port=private_redis.port).keys("*") == []


def test_rasas_own_redis_lock_store_lets_two_turns_in(private_redis):
    """The race the atomic store closes: Rasa's GET-then-SET of the ticket lock lets two
    turns in at once, or loses a ticket so that turns wait until they give up."""
    rounds = []
    for _ in range(5):  # the race is a matter of timing; it shows within a few rounds
        record, errors = race(
            lambda: RedisLockStore(host="127.0.0.1", port=private_redis.port), limit=15
        )
        rounds.append((most_at_once(record), len(record), [type(e).__name__ for e in errors]))
        if most_at_once(record) > 1 or errors:
            break
        redis.Redis(port=private_redis.port).flushall()
    assert rounds[-1][0] > 1 or rounds[-1][2], rounds


async def test_turns_are_served_in_the_order_they_arrived(private_redis):
    store = atomic(private_redis)
    order: list[int] = []
    everyone_waits = asyncio.Event()

    async def turn(number: int) -> None:
        async with store.lock("in-order"):
            if number == 0:
                await everyone_waits.wait()  # the first holds the lock while the rest arrive
            order.append(number)

    key, _ = store._keys("in-order")
    watch = redis.Redis(port=private_redis.port)
    tasks = []
    for number in range(10):
        tasks.append(asyncio.create_task(turn(number)))
        deadline = time.monotonic() + 10
        # it has arrived once it holds its ticket; only then does the next one come
        while int(watch.hget(key, "next") or 0) < number + 1:
            assert time.monotonic() < deadline, "no ticket taken"
            await asyncio.sleep(0.001)
    everyone_waits.set()
    await asyncio.gather(*tasks)
    assert order == list(range(10))


async def test_other_conversations_do_not_wait(private_redis):
    store = atomic(private_redis)
    async with store.lock("busy"):
        started = time.monotonic()
        async with store.lock("another"):
            pass
        assert time.monotonic() - started < 1


async def test_a_holder_that_died_frees_the_lock_after_its_lifetime(private_redis):
    dead = atomic(private_redis, lifetime=0.6)
    key, alive = dead._keys("crashed")
    # a replica took the lock and was killed with -9: it never renews nor releases
    await dead.issue(key, alive, "600", "dead-token")
    survivor = atomic(private_redis, lifetime=0.6)
    started = time.monotonic()
    async with survivor.lock("crashed"):
        waited = time.monotonic() - started
    assert 0.4 < waited < 3, waited


async def test_a_long_turn_keeps_its_lock_by_renewing_it(private_redis):
    store = atomic(private_redis, lifetime=0.6)
    entered: list[str] = []

    async def slow() -> None:
        async with store.lock("slow"):
            entered.append("slow in")
            await asyncio.sleep(1.5)  # longer than the lifetime: renewed meanwhile
            entered.append("slow out")

    async def next_turn() -> None:
        await asyncio.sleep(1.0)  # after a whole lifetime with nobody waiting behind it
        async with store.lock("slow"):
            entered.append("next in")

    await asyncio.gather(slow(), next_turn())
    assert entered == ["slow in", "slow out", "next in"]


async def test_waiting_too_long_is_a_lock_error_and_frees_the_ticket(private_redis):
    holder = atomic(private_redis)
    impatient = atomic(private_redis, wait=0.3)
    async with holder.lock("queue"):
        with pytest.raises(LockError):
            async with impatient.lock("queue"):
                pass
    async with holder.lock("queue"):  # the given-up ticket is skipped, not waited for
        pass
    assert redis.Redis(port=private_redis.port).keys("*") == []


async def test_redis_down_is_a_clear_error_not_a_hang(private_redis):
    store = atomic(private_redis)
    async with store.lock("before"):
        pass
    assert await store.ping()
    private_redis.stop()
    started = time.monotonic()
    with pytest.raises(LockUnavailable):
        async with store.lock("during"):
            pass
    assert time.monotonic() - started < 5
    assert not await store.ping()
    private_redis.start()  # same port: the store recovers without a restart
    async with store.lock("after"):
        pass


def test_after_a_redis_restart_the_dead_pooled_connections_fail_one_turn_not_each(
    private_redis,
):
    """Every connection the pool kept is dead once Redis has restarted. A script that can
    run twice (waiting for the turn, renewing, releasing) runs again on a new connection; the
    first failure drops the whole pool, so the turns after it do not meet a dead one."""
    store = atomic(private_redis)

    async def turns(conversations: int) -> list[str]:
        async def one(n: int) -> str:
            try:
                async with store.lock(f"restart-{n}"):
                    await asyncio.sleep(0.05)  # all at once: the pool opens a connection each
                return "ok"
            except LockUnavailable:
                return "unavailable"

        return list(await asyncio.gather(*(one(n) for n in range(conversations))))

    async def scenario() -> tuple[int, list[str], list[str], list[str]]:
        assert await turns(6) == ["ok"] * 6
        pooled = len(store.red.connection_pool._available_connections)
        private_redis.stop()
        private_redis.start()  # same port, every pooled connection now dead
        first = [await turns(1) for _ in range(2)]  # one turn, then the next
        return pooled, first[0], first[1], await turns(6)

    pooled, first, second, after = asyncio.run(scenario())
    assert pooled >= 6
    assert first in (["ok"], ["unavailable"])  # the very first may meet a dead connection
    assert second == ["ok"] and after == ["ok"] * 6
