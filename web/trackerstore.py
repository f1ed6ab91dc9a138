"""Read-only access to Rasa's SQL tracker store: where it is, its events, and its sessions."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias
from urllib.parse import quote, urlsplit

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    create_engine,
    func,
    or_,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import Select

from playbook.domain import DEFAULT_SESSION_MINUTES, DOMAIN_PATH, DomainUnreadable, domain_texts
from playbook.sourcefile import PROJECT_ROOT

DEFAULT_ENDPOINTS = PROJECT_ROOT / "endpoints.yml"
#: A conversation idle this long has ended (Rasa's session expiry, domain.yml session_config).
DEFAULT_IDLE_SECONDS = DEFAULT_SESSION_MINUTES * 60
#: Actions after which Rasa starts the conversation state afresh.
RESET_ACTIONS = {"action_session_start", "action_restart"}

#: A tracker store: a URL, an engine (used as it is), or None (no SQL store).
Store: TypeAlias = str | URL | Engine | None

#: The event types the readers replay (``events.type_name``).
EventType: TypeAlias = Literal["user", "action", "bot", "slot"]

EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


class StoreUnreadable(Exception):
    """The tracker store could not be read (down, refused the connection, damaged); the
    message names the kind of failure only, never the URL or what was stored."""


# --- the events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """Which events of one type a reader wants, and whether it reads their ``data``."""

    #: Read the event itself (``data``, its JSON); None in the row otherwise, so what users
    #: wrote is only read by a reader that asks for it.
    data: bool = False
    #: Only the events whose ``data`` contains one of these texts (matched with SQL ``LIKE``,
    #: so ``_`` stands for any character and the reader checks what it needs); all if empty.
    containing: tuple[str, ...] = ()


def event_rows(engine: Engine, wanted: Mapping[EventType, Wanted]) -> Iterator[Sequence[Any]]:
    """``(sender_id, type_name, timestamp, intent_name, action_name, data)`` of the ``wanted``
    events of every conversation, ordered by conversation (sender id) and then by event id:
    one streamed query, each conversation's events together and in the order they happened."""
    query = _wanted_query(wanted, EVENTS.c.sender_id).order_by(EVENTS.c.sender_id, EVENTS.c.id)
    with engine.connect() as connection:
        yield from connection.execution_options(stream_results=True).execute(query)


#: New events up to this many ids are read by id and put in order here (see events_after).
SORTED_HERE = 20_000


def events_after(
    engine: Engine, wanted: Mapping[EventType, Wanted], after: int, newest: int
) -> Iterator[Sequence[Any]]:
    """``(id, sender_id, type_name, timestamp, intent_name, action_name, data)`` of the
    ``wanted`` events whose id is larger than ``after``, each conversation's events together
    and in id order (the conversations in no particular order): one query. ``newest`` is the
    store's newest id: up to :data:`SORTED_HERE` new ids are found through the primary key
    (a range of ids, whatever else is indexed) and sorted here; more are streamed from the
    database in the order of :func:`event_rows` (through Rasa's index on the sender id)."""
    events = EVENTS.c
    query = _wanted_query(wanted, events.id, events.sender_id).where(events.id > after)
    with engine.connect() as connection:
        if newest - after > SORTED_HERE:
            ordered = query.order_by(events.sender_id, events.id)
            yield from connection.execution_options(stream_results=True).execute(ordered)
            return
        rows = list(connection.execute(query.order_by(events.id)))
    rows.sort(key=lambda row: row[1])  # stable: each conversation's events stay in id order
    yield from rows


def _wanted_query(wanted: Mapping[EventType, Wanted], *first: Any) -> Select:
    """The ``wanted`` events: the columns ``first``, then type, timestamp, intent, action
    and ``data`` (None unless wanted)."""
    events = EVENTS.c
    every = [kind for kind, want in wanted.items() if not want.containing]
    some = [
        and_(
            events.type_name == kind,
            or_(*[events.data.like(f"%{text}%") for text in want.containing]),
        )
        for kind, want in wanted.items()
        if want.containing
    ]
    with_data = [kind for kind, want in wanted.items() if want.data]
    return select(
        *first,
        events.type_name,
        events.timestamp,
        events.intent_name,
        events.action_name,
        case((events.type_name.in_(with_data), events.data), else_=None),
    ).where(or_(events.type_name.in_(every), *some))


def newest_event(engine: Engine, known: int | None) -> tuple[int | None, str | None]:
    """The newest event id (None without events) and the conversation of the event with id
    ``known`` (None if there is none): whether the events read before are still there."""
    events = EVENTS.c
    sender = select(events.sender_id).where(events.id == (known or 0)).scalar_subquery()
    with engine.connect() as connection:
        newest, known_sender = connection.execute(select(func.max(events.id), sender)).one()
    return newest, known_sender


def stamp(engine: Engine) -> tuple[int, int | None]:
    """The number of events and the newest event id: it changes whenever Rasa writes, so a
    reading may be kept until it does."""
    with engine.connect() as connection:
        count, newest = connection.execute(
            select(func.count(), func.max(EVENTS.c.id)).select_from(EVENTS)
        ).one()
    return int(count), newest


@contextmanager
def reading(store: Store) -> Iterator[Engine | None]:
    """A read-only engine on the tracker store ``store``, or None when there is no store or
    it has no events table yet; an engine made here is disposed of afterwards. A database
    error inside the block (connecting, reading the rows) is :class:`StoreUnreadable`."""
    if store is None:
        yield None
        return
    try:
        engine = store if isinstance(store, Engine) else readonly_engine(store)
    except SQLAlchemyError as exc:
        raise StoreUnreadable(type(exc).__name__) from exc
    if engine is None:
        yield None
        return
    try:
        try:
            has_events = sa_inspect(engine).has_table("events")
        except SQLAlchemyError as exc:
            raise StoreUnreadable(type(exc).__name__) from exc
        try:
            yield engine if has_events else None
        except SQLAlchemyError as exc:
            raise StoreUnreadable(type(exc).__name__) from exc
    finally:
        if engine is not store:
            engine.dispose()


def readonly_engine(url: str | URL) -> Engine | None:
    """An engine that only reads; for SQLite, None when the file does not exist (it is
    never created here)."""
    url = make_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        path = Path(url.database)
        path = path if path.is_absolute() else PROJECT_ROOT / path
        if not path.is_file():
            return None
        return create_engine(
            f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true", hide_parameters=True
        )
    return create_engine(url, hide_parameters=True, pool_pre_ping=True)


# --- where the tracker store is ------------------------------------------------------------


def tracker_store_url(endpoints: Path | None = None) -> str | URL | None:
    """The SQL tracker store Rasa uses, as an SQLAlchemy URL, or None (in-memory or another
    kind of store).

    ``DY_TRACKER_DB_URL`` (an SQLAlchemy URL) wins; otherwise the ``tracker_store`` section
    of the endpoints file (``DY_ENDPOINTS``, default ``endpoints.yml``) is read the way Rasa
    reads it (``${VAR}`` placeholders included). A relative SQLite path is taken relative to
    the project folder, where ``make run`` starts Rasa.
    """
    if os.environ.get("DY_TRACKER_DB_URL"):
        return os.environ["DY_TRACKER_DB_URL"]
    path = Path(endpoints or os.environ.get("DY_ENDPOINTS") or DEFAULT_ENDPOINTS)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    if not path.is_file():
        return None
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(path), "tracker_store")
    if config is None or str(config.type or "").lower() != "sql":
        return None
    return sql_url(host=config.url, **config.kwargs)


def sql_url(
    dialect: str = "sqlite",
    host: str | None = None,
    port: int | None = None,
    db: str = "rasa.db",
    username: str | None = None,
    password: str | None = None,
    query: dict[str, str] | None = None,
    **_ignored: Any,
) -> str | URL:
    """The database URL Rasa's ``SQLTrackerStore.get_db_url`` builds for these settings
    (``login_db`` only matters for creating the database, so the data is read from ``db``)."""
    if host and "://" in host:
        return host
    if host:
        parsed = urlsplit(f"scheme://{host}")
        port = parsed.port or port
        host = parsed.hostname or host
    return URL.create(
        dialect,
        username=username,
        password=password,
        host=host,
        port=int(port) if port else None,
        database=db,
        query=query or {},
    )


# --- when a conversation is over -----------------------------------------------------------


def idle_seconds(domain: Path = DOMAIN_PATH) -> float:
    """Rasa's session expiry from domain.yml: after this long a conversation is over."""
    try:
        return domain_texts(domain).session_minutes * 60
    except DomainUnreadable:
        return DEFAULT_IDLE_SECONDS
