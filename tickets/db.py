"""The one place that creates the SQLAlchemy engine and sessions for the ticket store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from tickets import config

#: How long a new connection to PostgreSQL may take (seconds).
CONNECT_TIMEOUT_SECONDS = 5

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_sessionmakers: dict[str, sessionmaker] = {}


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # connections kept (SQLAlchemy 1.4 opens a file database anew for every session,
            # and in WAL mode closing the last connection writes the log back each time): a
            # ticket written and read back 17 ms -> 4-7 ms p50 here (README, Performance)
            poolclass=None if db_path in ("", ":memory:") else QueuePool,
            future=True,
            hide_parameters=True,  # SQL errors must not print phone numbers into logs
        )

        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover
            # driver hook
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # (what ``@event.listens_for`` does, without an untyped decorator)
        event.listen(engine, "connect", _sqlite_pragmas)

    else:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            future=True,
            hide_parameters=True,
            # a server that takes the connection and never answers does not hold a thread
            # (and a ticket write, a readiness check) for ever: libpq gives up after this
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
    # The schema is made by Alembic migrations (python -m tickets.migrate), never here.
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: ``DATABASE_URL``), created once per process."""
    url = url or config.database_url()
    with _lock:
        if url not in _engines:
            _engines[url] = _make_engine(url)
            _sessionmakers[url] = sessionmaker(
                bind=_engines[url], future=True, expire_on_commit=False
            )
        return _engines[url]


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One session per unit of work: commit on success, roll back on error."""
    url = url or config.database_url()
    get_engine(url)
    session: Session = _sessionmakers[url]()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Close every pooled connection (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _sessionmakers.clear()


#: A readiness check waits this long for the database (seconds).
READY_TIMEOUT_SECONDS = 1.0


def answers(url: str | None = None) -> bool:
    """Whether the ticket database answers ``SELECT 1`` (a server's readiness check)."""
    with session_scope(url) as session:
        return bool(session.execute(text("SELECT 1")).scalar() == 1)


#: The database checks in progress, by what they check.
_checks: dict[Hashable, asyncio.Future[bool]] = {}


def shared_check(key: Hashable, check: Callable[[], bool]) -> asyncio.Future[bool]:
    """``check`` run in a thread, or the run of the same ``key`` still going in this event
    loop. A database that hangs (takes the connection, never answers) keeps one thread
    waiting, not one more per readiness request: those threads are the event loop's default
    executor, which ticket writes and the servers' own work need too."""
    loop = asyncio.get_running_loop()
    running = _checks.get(key)
    if running is not None and not running.done() and running.get_loop() is loop:
        return running
    started = asyncio.ensure_future(asyncio.to_thread(check))
    # its outcome is read by whoever waits in time; a late failure is not an error
    started.add_done_callback(lambda done: done.cancelled() or done.exception())
    _checks[key] = started
    return started


async def readiness(url: str | None = None) -> tuple[bool, dict[str, str]]:
    """Whether the ticket database answers within :data:`READY_TIMEOUT_SECONDS`, with what
    went wrong otherwise (the kind of failure only): the action and web servers' ``/ready``.
    Checks made while one is still waiting for the database wait for that same one."""
    check = shared_check(("tickets", url), lambda: answers(url))
    try:
        ok = await asyncio.wait_for(asyncio.shield(check), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; its kind is shown
        return False, {"database": type(exc).__name__}
    return ok, {"database": "ok" if ok else "unexpected answer"}


#: The PostgreSQL advisory locks of the desk's background rounds (any constants, unique in the
#: database): several web servers run each round one at a time.
ROUND_LOCKS = {
    "sla_sweep": 0x5D1A5E,
    "assignment": 0x5D1A55,
    "notifications": 0x5D1A70,
    "spot_check_draw": 0x51C4EC,
}


def round_lock(session: Session, name: str, *, wait: bool = False) -> bool:
    """Take the lock of round ``name`` for the session's transaction: True when this session
    holds it (``wait``: after waiting for it), False when another one does. SQLite has one
    writer at a time anyway: always True."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = {"key": ROUND_LOCKS[name]}
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), key).scalar())
