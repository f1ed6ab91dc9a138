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
  On SQLite its ``retrieve`` and ``save`` run Rasa's own queries as plain SQL on that
  connection: the events of the latest session (their ``data`` only, no ORM object per
  row), and for a save the count of stored events and one ``INSERT`` for all new ones: the
  same events, the same count, the same rows in the same order (:func:`_sql_store_retrieve`,
  :func:`_sql_store_save`).
- The dialogue states of a tracker. Each policy turns the whole tracker into its list of
  dialogue states for every prediction, by replaying every event
  (``Domain.states_for_tracker_history``): RulePolicy with the turns only rules predict,
  up to twice per prediction, MemoizationPolicy without them. Here both lists come from one
  replay, once for a tracker as it is (the same events), and each caller gets its own copy
  (callers change the last state in place).
"""

from __future__ import annotations

import itertools
import json
import logging
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
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
_rasas_sql_retrieve = SQLTrackerStore._retrieve
_rasas_additional_events = SQLTrackerStore._additional_events
_rasas_event_query = SQLTrackerStore._event_query

#: Rasa's ``_event_query`` for the latest session, as SQL: the sender's events from the
#: latest ``session_started`` on (all of them when there is none), in stored order.
#: Parameters: sender, "session_started", sender.
_LATEST_SESSION = (
    "FROM {table}, (SELECT max(timestamp) AS at FROM {table}"
    " WHERE sender_id = ? AND type_name = ?) AS session_start"
    " WHERE {table}.sender_id = ?"
    " AND ({table}.timestamp >= session_start.at OR session_start.at IS NULL)"
)


def _plain_sqlite(store: SQLTrackerStore) -> bool:
    """Whether ``store`` is Rasa's SQL store on SQLite with Rasa's own queries (a subclass
    that changes which events it reads keeps Rasa's code)."""
    cls = type(store)
    return (
        store.engine.dialect.name == "sqlite"
        and cls._additional_events is _rasas_additional_events
        and cls._event_query is _rasas_event_query
        and store.SQLEvent is SQLTrackerStore.SQLEvent
    )


def _table(store: SQLTrackerStore) -> str:
    name: str = store.SQLEvent.__table__.name
    return name


def _stored_since_session_start(store: SQLTrackerStore, connection: Any, sender_id: str) -> int:
    """What Rasa's ``_event_query(session, sender_id, False).count()`` counts: the sender's
    events from the latest ``session_started`` on (all of them when there is none)."""
    sql = "SELECT count(*) " + _LATEST_SESSION.format(table=_table(store))
    count: int = connection.exec_driver_sql(
        sql, (sender_id, SessionStarted.type_name, sender_id)
    ).scalar()
    return count


async def _sql_store_retrieve(
    self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
) -> DialogueStateTracker | None:
    """Rasa's ``SQLTrackerStore._retrieve`` with its query as plain SQL, on SQLite."""
    if not _plain_sqlite(self):
        tracker: DialogueStateTracker | None = await _rasas_sql_retrieve(
            self, sender_id, fetch_events_from_all_sessions
        )
        return tracker
    table = _table(self)
    if fetch_events_from_all_sessions:
        sql = f"SELECT data FROM {table} WHERE sender_id = ? ORDER BY id"
        parameters: tuple[str, ...] = (sender_id,)
    else:
        latest = _LATEST_SESSION.format(table=table)
        sql = f"SELECT {table}.data {latest} ORDER BY {table}.id"
        parameters = (sender_id, SessionStarted.type_name, sender_id)
    with self.engine.connect() as connection:
        events = [json.loads(data) for (data,) in connection.exec_driver_sql(sql, parameters)]
    if self.domain and events:
        logger.debug(f"Recreating tracker from sender id '{sender_id}'")
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
    logger.debug(
        f"Can't retrieve tracker matching sender id '{sender_id}' from SQL storage. "
        f"Returning `None` instead."
    )
    return None


async def _sql_store_save(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
    """Rasa's ``SQLTrackerStore.save`` with the count and the inserts as plain SQL, on
    SQLite (other dialects, and a subclass with its own queries, get Rasa's own ``save``)."""
    if not _plain_sqlite(self):
        await _rasas_sql_save(self, tracker)
        return
    await self.stream_events(tracker)
    table = _table(self)
    with self.engine.begin() as connection:  # one commit for all
        stored = _stored_since_session_start(self, connection, tracker.sender_id)
        rows = []
        for event in itertools.islice(tracker.events, stored, len(tracker.events)):
            data = event.as_dict()
            rows.append(
                (
                    tracker.sender_id,
                    event.type_name,
                    data.get("timestamp"),
                    data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    data.get("name"),
                    json.dumps(data),
                )
            )
        if rows:
            connection.exec_driver_sql(
                f"INSERT INTO {table} (sender_id, type_name, timestamp, intent_name,"
                " action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
    logger.debug(f"Tracker with sender_id '{tracker.sender_id}' stored to database")


_rasas_states_for_tracker_history = Domain.states_for_tracker_history

#: The states last computed, by tracker: (the tracker, the domain, its last event then, the
#: states by the rest of their key). Kept apart from the tracker (a tracker copied for an
#: action would copy them too) and bounded: trackers predicted for at once are few.
_States = dict[tuple[Any, ...], list[State]]
_states: dict[int, tuple[weakref.ref[Any], weakref.ref[Domain], Any, _States]] = {}
_STATES_KEPT = 64


def _copy_states(states: list[State]) -> list[State]:
    """Copies of the states and their sub-states (whose values are strings and tuples)."""
    return [{kind: dict(sub_state) for kind, sub_state in state.items()} for state in states]


def _variant(
    size: int,
    omit_unset_slots: bool,
    ignore_rule_only_turns: bool,
    rule_only_data: dict[str, Any] | None,
) -> tuple[Any, ...]:
    """What the states depend on besides the domain and the last event: the number of
    events and the arguments (``rule_only_data`` only counts when rule-only turns are left
    out)."""
    data = (
        json.dumps(rule_only_data, sort_keys=True, default=str)
        if ignore_rule_only_turns and rule_only_data
        else None
    )
    return (size, omit_unset_slots, ignore_rule_only_turns, data)


def _both_variants(
    domain: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool,
    rule_only_data: dict[str, Any] | None,
) -> tuple[list[State], list[State]]:
    """Rasa's ``states_for_tracker_history`` with rule-only turns kept and left out (what
    RulePolicy and MemoizationPolicy each ask for), from one replay of the tracker: the same
    loop as Rasa's, run for both at once."""
    kept: list[State] = []
    left_out: list[State] = []
    last_ml_action_sub_state = None
    turn_was_hidden = False
    for prior, hide_rule_turn in tracker.generate_all_prior_trackers():
        active = domain.get_active_state(prior, omit_unset_slots=omit_unset_slots)
        if not turn_was_hidden:
            last_ml_action_sub_state = domain._get_prev_action_sub_state(prior)
        if not prior.followup_action and not prior.latest_action_name == prior.active_loop_name:
            turn_was_hidden = hide_rule_turn
        if not turn_was_hidden:
            state = {kind: dict(sub_state) for kind, sub_state in active.items()}
            domain._remove_rule_only_features(state, rule_only_data)
            if left_out:
                domain._substitute_rule_only_user_input(state, left_out[-1])
            if last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = last_ml_action_sub_state
            left_out.append(domain._clean_state(state))
        kept.append(domain._clean_state(active))
    return kept, left_out


def _states_for_tracker_history(
    self: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[State]:
    """Rasa's ``Domain.states_for_tracker_history``, computed once for a tracker as it is,
    with and without rule-only turns from one replay (:func:`_both_variants`).

    The states depend only on the domain, the tracker's events and the arguments; a tracker
    is "as it was" when it has as many events and the same last event (events are only ever
    appended; a copied tracker has copies of its events and computes its own)."""
    events = tracker.events
    last = events[-1] if events else None
    size = len(events)
    variant = _variant(size, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    entry = _states.get(id(tracker))
    if (
        entry is not None
        and entry[0]() is tracker
        and entry[1]() is self
        and entry[2] is last
        and variant in entry[3]
    ):
        return _copy_states(entry[3][variant])
    kept, left_out = _both_variants(self, tracker, omit_unset_slots, rule_only_data)
    if len(_states) >= _STATES_KEPT:
        _states.pop(next(iter(_states)))  # the oldest
    computed = {
        _variant(size, omit_unset_slots, False, rule_only_data): kept,
        _variant(size, omit_unset_slots, True, rule_only_data): left_out,
    }
    _states[id(tracker)] = (weakref.ref(tracker), weakref.ref(self), last, computed)
    return _copy_states(computed[variant])


def install() -> None:
    """Replace RemoteAction's per-call schema check with the cached, fast-path one, the
    event class lookup with the map, the SQLite tracker store's connection and queries, and
    the dialogue states of a tracker with states computed once (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    SQLTrackerStore.__init__ = _sql_store_init
    SQLTrackerStore.save = _sql_store_save
    SQLTrackerStore._retrieve = _sql_store_retrieve
    Domain.states_for_tracker_history = _states_for_tracker_history
