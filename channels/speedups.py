"""Measured speed-ups for Rasa 3.6's server, applied when the channel module is loaded.

Each keeps Rasa's behaviour (same answers, same errors, same stored events); each is tested
against Rasa's own function in tests/channels/test_speedups.py. Figures in the README
("Performance").

- The action result check. Rasa 3.6 checks every action server response with
  ``jsonschema.validate(result, spec)``, which with the pinned jsonschema 4.17 first
  re-validates the (constant) schema against the meta-schema, on every call. Here the
  validator is built once, and a response is first checked by a plain-Python check compiled
  from the same schema (:func:`_compile`), which only ever answers "valid" when jsonschema
  would; anything else goes to jsonschema, which raises the very error Rasa raises
  (``best_match``, as ``jsonschema.validate`` does).
- The event class lookup. ``Event.resolve_by_type`` walks every subclass of ``Event`` (with
  ``inspect.isabstract`` on each) for every stored event read; here a map.
- The SQLite tracker store (the embedded default). With SQLAlchemy 1.4 a file database gets
  no connection pool, so every retrieve and save opens the file anew, and each commit in
  SQLite's rollback-journal mode syncs the journal and the database. Here Rasa's
  ``SQLTrackerStore`` keeps one connection per thread and the database is in WAL mode with
  ``synchronous=FULL`` (one sync per commit, as durable). Same queries, same stored rows.
  Its ``save`` (on SQLite) counts the stored events and inserts the new ones with
  SQLAlchemy Core (one ``INSERT`` for all, not one ORM object each): the same count, the
  same rows in the same order (:func:`_sql_store_save`).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.utils.common import all_subclasses

logger = logging.getLogger("rasa.core.tracker_store")  # where Rasa's save logs

#: A compiled check: True only when jsonschema would find the instance valid. False means
#: "not shown valid here" (invalid, or a case the check leaves to jsonschema).
Check = Callable[[Any], bool]

_rasas_validate_action_result = RemoteAction._validate_action_result
_validator: Any = None
_fast_check: Check | None = None

# jsonschema's types, narrowed where it is simpler to leave a case to jsonschema (a float
# such as 1.0 is left to it for "integer", a Number other than int/float for "number").
_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "number": lambda x: type(x) is int or type(x) is float,
    "integer": lambda x: type(x) is int,
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}
_KNOWN = {"type", "properties", "required", "items", "oneOf", "const"}


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def _compile_type(spec: Any) -> Check:
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not all(name in _TYPES for name in names):
        return _never
    checks = [_TYPES[name] for name in names]
    return lambda x: any(check(x) for check in checks)


def _compile_properties(spec: dict[str, Any]) -> Check:
    checks = [(key, _compile(sub)) for key, sub in spec.items()]

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True  # "properties" says nothing about other types
        return all(key not in x or sub(x[key]) for key, sub in checks)

    return check


def _compile_required(spec: list[str]) -> Check:
    return lambda x: not isinstance(x, dict) or all(key in x for key in spec)


def _compile_items(spec: Any) -> Check:
    if not isinstance(spec, dict):
        return _never
    sub = _compile(spec)
    return lambda x: not isinstance(x, list) or all(sub(item) for item in x)


def _compile_const(spec: Any) -> Check:
    if not isinstance(spec, str):
        return _never
    return lambda x: isinstance(x, str) and x == spec


def _dispatch_key(branches: list[Any]) -> str | None:
    """The property every branch pins to a string of its own (``{"const": "..."}``), if any."""
    if not branches or not all(isinstance(b, dict) for b in branches):
        return None
    first: dict[str, Any] = branches[0].get("properties") or {}
    for key in first:
        consts = []
        for branch in branches:
            sub = (branch.get("properties") or {}).get(key)
            if not (isinstance(sub, dict) and set(sub) == {"const"}):
                break
            consts.append(sub["const"])
        else:
            if all(isinstance(c, str) for c in consts) and len(set(consts)) == len(consts):
                return key
    return None


def _compile_one_of(spec: Any) -> Check:
    """``oneOf`` whose branches each pin one property to a distinct string: when the instance
    has that property as a string, every other branch fails on it, so exactly one branch
    matches when, and only when, the branch named by the value does. Other shapes are left to
    jsonschema."""
    key = _dispatch_key(spec) if isinstance(spec, list) else None
    if key is None:
        return _never
    by_value = {branch["properties"][key]["const"]: _compile(branch) for branch in spec}

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return False
        value = x.get(key)
        if not isinstance(value, str):
            return False
        branch = by_value.get(value)
        return branch is not None and branch(x)

    return check


_COMPILERS: dict[str, Callable[[Any], Check]] = {
    "type": _compile_type,
    "properties": _compile_properties,
    "required": _compile_required,
    "items": _compile_items,
    "oneOf": _compile_one_of,
    "const": _compile_const,
}


def _compile(schema: Any) -> Check:
    """A check of ``schema``'s keywords ``type``, ``properties``, ``required``, ``items``,
    ``oneOf`` (dispatched on a constant) and ``const`` (strings): True only when jsonschema
    would find an instance valid. A schema with any other keyword always answers False (it
    is left to jsonschema)."""
    if not isinstance(schema, dict) or not set(schema) <= _KNOWN:
        return _never
    if not schema:
        return _always
    checks = [_COMPILERS[keyword](spec) for keyword, spec in schema.items()]
    return lambda x: all(check(x) for check in checks)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    global _validator, _fast_check
    if _validator is None:
        spec = RemoteAction.action_response_format_spec()
        cls = validator_for(spec)
        cls.check_schema(spec)
        _validator = cls(spec)
        _fast_check = _compile(spec)
    if _fast_check is not None and _fast_check(result):
        return True
    error = best_match(_validator.iter_errors(result))  # as jsonschema.validate picks it
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, "
        "make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


_event_classes: dict[str, type[Event]] = {}


def _build_event_classes() -> None:
    """Each type name's first class in ``all_subclasses(Event)`` order, as Rasa searches."""
    _event_classes.clear()
    for cls in all_subclasses(Event):
        _event_classes.setdefault(cls.type_name, cls)


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """Rasa's ``Event.resolve_by_type`` without walking every subclass of ``Event`` (with
    ``inspect.isabstract`` on each) for every stored event: a map built once and rebuilt when
    a name is missing (an event class imported later). Same answers, same errors."""
    found = _event_classes.get(type_name)
    if found is None:
        _build_event_classes()
        found = _event_classes.get(type_name)
    if found is not None:
        return found
    if type_name == "topic":
        return None  # Rasa's backwards compatibility for old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


_rasas_sql_init = SQLTrackerStore.__init__


def _sqlite_connected(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _sql_store_init(self: SQLTrackerStore, *args: Any, **kwargs: Any) -> None:
    """Rasa's ``SQLTrackerStore.__init__``; then, for a SQLite file, the same database through
    one kept connection per thread, in WAL mode (other dialects untouched)."""
    _rasas_sql_init(self, *args, **kwargs)
    engine: sa.engine.Engine = self.engine
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    engine.dispose()
    self.engine = sa.create_engine(engine.url, poolclass=sa.pool.SingletonThreadPool)
    sa.event.listen(self.engine, "connect", _sqlite_connected)
    self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)


_rasas_sql_save = SQLTrackerStore.save
_rasas_additional_events = SQLTrackerStore._additional_events


def _stored_since_session_start(self: SQLTrackerStore, session: Any, sender_id: str) -> int:
    """What Rasa's ``_event_query(session, sender_id, False).count()`` counts: the sender's
    events from the latest ``session_started`` on (all of them when there is none)."""
    table = self.SQLEvent.__table__
    session_start = (
        sa.select(sa.func.max(table.c.timestamp))
        .where(table.c.sender_id == sender_id, table.c.type_name == SessionStarted.type_name)
        .scalar_subquery()
    )
    query = (
        sa.select(sa.func.count())
        .select_from(table)
        .where(
            table.c.sender_id == sender_id,
            sa.or_(table.c.timestamp >= session_start, session_start.is_(None)),
        )
    )
    count: int = session.execute(query).scalar()
    return count


async def _sql_store_save(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
    """Rasa's ``SQLTrackerStore.save`` with the count and the inserts in SQLAlchemy Core,
    on SQLite (other dialects, and a subclass with its own ``_additional_events``, get
    Rasa's own ``save``)."""
    if (
        self.engine.dialect.name != "sqlite"
        or type(self)._additional_events is not _rasas_additional_events
    ):
        await _rasas_sql_save(self, tracker)
        return
    await self.stream_events(tracker)
    with self.session_scope() as session:
        stored = _stored_since_session_start(self, session, tracker.sender_id)
        rows = []
        for event in itertools.islice(tracker.events, stored, len(tracker.events)):
            data = event.as_dict()
            rows.append(
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {})
                    .get("intent", {})
                    .get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                }
            )
        if rows:
            session.execute(self.SQLEvent.__table__.insert(), rows)
        session.commit()
    logger.debug(f"Tracker with sender_id '{tracker.sender_id}' stored to database")


def install() -> None:
    """Replace RemoteAction's per-call schema check with the cached, fast-path one, and the
    event class lookup with the map (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    SQLTrackerStore.__init__ = _sql_store_init
    SQLTrackerStore.save = _sql_store_save
