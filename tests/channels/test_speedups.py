"""The speed-ups of channels/speedups.py give Rasa's own answers."""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    EntitiesAdded,
    Event,
    FollowupAction,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from channels import speedups

ROOT = Path(__file__).resolve().parents[2]


def rasas_answer(type_name: str, default=None):
    for cls in all_subclasses(Event):
        if cls.type_name == type_name:
            return cls
    if type_name == "topic":
        return None
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


def test_every_event_type_resolves_to_rasas_class():
    speedups.install()
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) > 15
    for name in names:
        assert Event.resolve_by_type(name) is rasas_answer(name)


def test_unknown_names_answer_as_rasa_does():
    speedups.install()
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no-such-event", UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name 'no-such-event'"):
        Event.resolve_by_type("no-such-event")


def test_an_event_class_defined_later_is_found():
    speedups.install()

    class LateEvent(UserUttered):
        type_name = "dy_late_event_for_test"

    assert Event.resolve_by_type("dy_late_event_for_test") is LateEvent


def test_events_round_trip_through_the_map():
    speedups.install()
    event = UserUttered("你好", {"name": "greet", "confidence": 1.0})
    assert Event.from_parameters(event.as_dict()) == event


# --- the action result check -------------------------------------------------------------


def real_events() -> list[dict[str, Any]]:
    """Events as an action server sends them (Rasa's own serialisation of each kind)."""
    parse_data = {
        "text": "网络老是掉线",
        "intent": {"name": "network_problem", "confidence": 0.98},
        "intent_ranking": [
            {"name": "network_problem", "confidence": 0.98},
            {"name": "greet", "confidence": 0.01},
        ],
        "entities": [
            {"start": 0, "end": 2, "entity": "feature", "value": "网络", "confidence": 0.9},
            {"entity": "urgency", "value": None, "extractor": None, "role": None},
        ],
    }
    events: list[Event] = [
        UserUttered("网络老是掉线", parse_data, input_channel="rest", message_id="m1"),
        UserUttered("/deny", {"intent": {"name": "deny", "confidence": 1.0}, "entities": []}),
        BotUttered("请检查网络", {"buttons": [{"title": "解决了", "payload": "/affirm"}]}),
        BotUttered(None, {}, {"utter_action": "utter_greet"}),
        SlotSet("playbook", "network"),
        SlotSet("steps_tried", ["check_network", "restart_device"]),
        SlotSet("ticket_id", None),
        SlotSet("urgency", {"level": 1}),
        ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
        ActionExecuted("action_step_feedback", hide_rule_turn=True),
        ActionExecuted(action_text="end-to-end"),
        EntitiesAdded([{"entity": "feature", "value": "搜索", "start": 0, "end": 2}]),
        SessionStarted(),
        Restarted(),
        AllSlotsReset(),
        UserUtteranceReverted(),
        FollowupAction("action_start_playbook"),
        ConversationPaused(),
        ConversationResumed(),
        ActiveLoop("ticket_form"),
        ActiveLoop(None),
        LoopInterrupted(True),
        ActionExecutionRejected("action_x", "RulePolicy", 0.5),
        ReminderScheduled("remind", __import__("datetime").datetime(2025, 1, 1), name="r"),
        ReminderCancelled(name="r"),
    ]
    out = [event.as_dict() for event in events]
    out.append({"event": "slot", "name": "flow_id", "value": "abc", "timestamp": None})
    out.append({"event": "bot", "text": "x", "metadata": None})
    return out


def responses() -> list[dict[str, Any]]:
    events = real_events()
    return [
        {"events": events, "responses": [{"text": "您好"}, {"response": "utter_greet"}]},
        {"events": [], "responses": []},
        {"events": events[:3]},
        {"responses": [{}]},
        {},
        {"events": [{"event": "slot", "name": "x", "value": 1}], "other": 1},
    ]


ODD_VALUES: list[Any] = [None, 0, 1, 1.0, 2.5, True, "", "x", [], [1], {}, {"a": 1}, -3]


def mutants() -> list[Any]:
    """Real responses broken in every way one value can be wrong (most of them invalid)."""
    found: list[Any] = [None, [], "x", 1, {"events": {}}, {"events": "x"}, {"responses": {}}]
    found += [{"responses": ["x"]}, {"events": [None]}, {"events": [[]]}, {"events": [{}]}]
    for event in real_events():
        for key in [*event, "event", "text", "name", "value", "parse_data", "entities"]:
            for value in ODD_VALUES:
                changed = copy.deepcopy(event)
                changed[key] = value
                found.append({"events": [changed]})
            removed = copy.deepcopy(event)
            removed.pop(key, None)
            found.append({"events": [removed]})
        parse_data = event.get("parse_data")
        if isinstance(parse_data, dict):
            for key in ["text", "intent", "intent_ranking", "entities"]:
                for value in ODD_VALUES:
                    changed = copy.deepcopy(event)
                    changed["parse_data"][key] = value
                    found.append({"events": [changed]})
            for value in ODD_VALUES:
                changed = copy.deepcopy(event)
                changed["parse_data"]["entities"] = [{"entity": "x", "value": 1, "start": value}]
                found.append({"events": [changed]})
                changed = copy.deepcopy(event)
                changed["parse_data"]["intent"] = {"name": value, "confidence": value}
                found.append({"events": [changed]})
    # response selector answers, which the fast check leaves to jsonschema
    selector = {"all_retrieval_intents": ["faq"], "faq": {"response": {"responses": []}}}
    for value in [selector, {"default": {"ranking": [{"id": 1}]}}, {"x": 1}, []]:
        found.append({"events": [{"event": "user", "parse_data": {"response_selector": value}}]})
    # several errors at once: the error reported must be the one jsonschema.validate picks
    found.append({"events": [{"event": "slot"}, {"event": "nope"}], "responses": [1]})
    found.append({"events": [{"event": 1, "timestamp": "x"}, {"event": "user", "text": 5}]})
    return found


def outcome(validate, action: RemoteAction, response: Any) -> Any:
    try:
        return validate(action, copy.deepcopy(response))
    except ValidationError as error:
        return (
            "invalid",
            error.message,
            list(error.path),
            list(error.schema_path),
            error.validator,
            error.instance,
        )


def test_the_check_gives_rasas_answer_and_error_on_every_response(monkeypatch):
    from jsonschema.validators import validator_for

    speedups.install()
    action = RemoteAction("action_step_feedback", None)
    # Rasa's function re-checks the constant schema on each call (the slow part): checked once
    # here, then skipped, which changes no answer and no error (it raises only for a bad schema)
    cls = validator_for(RemoteAction.action_response_format_spec())
    cls.check_schema(RemoteAction.action_response_format_spec())
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda cls, schema: None))
    rasas = speedups._rasas_validate_action_result
    cases = responses() + mutants()
    invalid = 0
    for response in cases:
        expected = outcome(rasas, action, response)
        assert outcome(speedups._validate_action_result, action, response) == expected, response
        invalid += expected is not True
    assert invalid > 500  # the mutants really exercise the error path


def test_the_fast_check_says_valid_only_when_jsonschema_does():
    """What makes it safe: a "valid" from the compiled check is never wrong."""
    from jsonschema.validators import validator_for

    spec = RemoteAction.action_response_format_spec()
    validator = validator_for(spec)(spec)
    check = speedups._compile(spec)
    shown_valid = 0
    for response in responses() + mutants():
        if check(response):
            shown_valid += 1
            assert validator.is_valid(response), response
    assert shown_valid > 100
    for response in responses():  # and the real responses take the fast path
        assert check(response), response


def test_the_fast_check_leaves_unknown_keywords_to_jsonschema():
    assert speedups._compile({"type": "string", "maxLength": 2})("abc") is False
    assert speedups._compile({"oneOf": [{"type": "string"}, {"type": "number"}]})("a") is False
    assert speedups._compile({"const": 1})(1) is False
    assert speedups._compile({"type": "integer"})(1.0) is False  # left to jsonschema
    assert speedups._compile({"type": "number"})(True) is False
    assert speedups._compile({})(object()) is True


def test_an_invalid_response_raises_with_rasas_message():
    speedups.install()
    action = RemoteAction("action_step_feedback", None)
    with pytest.raises(ValidationError) as raised:
        action._validate_action_result({"events": [{"event": "no-such-event"}]})
    assert raised.value.message.endswith(
        "For more information about the format visit https://rasa.com/docs/rasa/custom-actions"
    )


# --- the SQLite tracker store ------------------------------------------------------------


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def rasas_store(domain: Domain, path: Path) -> SQLTrackerStore:
    store = SQLTrackerStore.__new__(SQLTrackerStore)
    speedups._rasas_sql_init(store, domain, dialect="sqlite", db=str(path))
    return store


def conversation(domain: Domain, sender: str) -> list[DialogueStateTracker]:
    """The tracker after each turn of a conversation over two sessions, as Rasa saves it."""
    tracker = DialogueStateTracker(sender, domain.slots)
    turns: list[list[Event]] = [
        [ActionExecuted("action_session_start", timestamp=100.0), SessionStarted(timestamp=100.0)],
        [
            ActionExecuted("action_listen", timestamp=101.0),
            UserUttered(
                "网络老是掉线",
                {"intent": {"name": "network_problem", "confidence": 0.9}, "entities": []},
                timestamp=102.0,
            ),
            ActionExecuted("action_start_playbook", timestamp=103.0),
            BotUttered("请检查网络", {"buttons": []}, timestamp=103.5),
            SlotSet("playbook", "network", timestamp=103.5),
            SlotSet("steps_tried", ["check_network"], timestamp=103.5),
        ],
        [ActionExecuted("action_listen", timestamp=104.0)],
        [
            UserUttered(
                "还是不行", {"intent": {"name": "deny", "confidence": 1.0}}, timestamp=105.0
            ),
            ActionExecuted("action_step_feedback", timestamp=None),
            SlotSet("ticket_id", "DY-20250101-0001", timestamp=106.0),
        ],
        [ActionExecuted("action_session_start", timestamp=200.0), SessionStarted(timestamp=200.0)],
        [SlotSet("playbook", "network", timestamp=200.5), ActionExecuted("action_listen")],
        [UserUttered("你好", {"intent": {"name": "greet", "confidence": 0.7}}, timestamp=201.0)],
        [],
    ]
    states = []
    for turn in turns:
        for event in turn:
            tracker.update(event)
        states.append(tracker.copy())
    return states


def rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM events ORDER BY id").fetchall()


def test_the_store_saves_and_reads_exactly_what_rasas_does(domain, tmp_path):
    speedups.install()
    ours = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "ours.db"))
    theirs = rasas_store(domain, tmp_path / "rasas.db")
    loop = asyncio.new_event_loop()
    try:
        for sender in ["alice", "bob"]:
            for tracker in conversation(domain, sender):
                loop.run_until_complete(ours.save(tracker))
                loop.run_until_complete(speedups._rasas_sql_save(theirs, tracker))
                assert rows(tmp_path / "ours.db") == rows(tmp_path / "rasas.db")
                for all_sessions in (False, True):
                    mine = loop.run_until_complete(ours._retrieve(sender, all_sessions))
                    rasas = loop.run_until_complete(
                        speedups._rasas_sql_retrieve(theirs, sender, all_sessions)
                    )
                    assert mine.current_state() == rasas.current_state()
                    assert [e.as_dict() for e in mine.events] == [e.as_dict() for e in rasas.events]
                mine = loop.run_until_complete(ours.retrieve(sender))
                assert mine.current_state() == rasas_latest(theirs, sender, loop)
        assert len(rows(tmp_path / "ours.db")) > 2 * 17  # Rasa re-stores some: same rows
    finally:
        loop.close()


def rasas_latest(store: SQLTrackerStore, sender: str, loop: Any) -> dict[str, Any]:
    tracker = loop.run_until_complete(speedups._rasas_sql_retrieve(store, sender, False))
    state: dict[str, Any] = tracker.current_state()
    return state


def test_a_conversation_not_stored_reads_as_none(domain, tmp_path):
    speedups.install()
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    assert asyncio.run(store.retrieve("nobody")) is None
    assert asyncio.run(store.retrieve_full_tracker("nobody")) is None


def test_events_without_a_timestamp_are_read_as_rasa_reads_them(domain, tmp_path):
    """A stored event with no timestamp (NULL) is in the latest session only when there is
    no session start, as in Rasa's query; a sender id with SQL in it is only a value."""
    speedups.install()
    ours = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "ours.db"))
    theirs = rasas_store(domain, tmp_path / "rasas.db")
    loop = asyncio.new_event_loop()
    try:
        for sender in ["x' OR '1'='1", "plain"]:
            tracker = DialogueStateTracker(sender, domain.slots)
            tracker.update(ActionExecuted("action_listen", timestamp=None))
            tracker.update(UserUttered("hi", timestamp=5.0))
            for store in (ours, theirs):
                loop.run_until_complete(speedups._rasas_sql_save(store, tracker))
            with sqlite3.connect(tmp_path / "ours.db") as db:
                db.execute("UPDATE events SET timestamp = NULL WHERE type_name = 'action'")
            with sqlite3.connect(tmp_path / "rasas.db") as db:
                db.execute("UPDATE events SET timestamp = NULL WHERE type_name = 'action'")
            mine = loop.run_until_complete(ours._retrieve(sender, False))
            assert mine.current_state() == rasas_latest(theirs, sender, loop)
            tracker.update(SessionStarted(timestamp=6.0))
            tracker.update(ActionExecuted("action_listen", timestamp=None))
            for store in (ours, theirs):
                loop.run_until_complete(speedups._rasas_sql_save(store, tracker))
            for db_path in ("ours.db", "rasas.db"):
                with sqlite3.connect(tmp_path / db_path) as db:
                    db.execute("UPDATE events SET timestamp = NULL WHERE type_name = 'action'")
            mine = loop.run_until_complete(ours._retrieve(sender, False))
            assert mine.current_state() == rasas_latest(theirs, sender, loop)
            assert [e.type_name for e in mine.events] == ["session_started"]
        assert len(rows(tmp_path / "ours.db")) == 8
    finally:
        loop.close()


def test_the_count_is_rasas_count(domain, tmp_path):
    speedups.install()
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    loop = asyncio.new_event_loop()
    try:
        with store.engine.connect() as connection:
            assert speedups._stored_since_session_start(store, connection, "nobody") == 0
        no_session = DialogueStateTracker("plain", domain.slots)
        no_session.update(ActionExecuted("action_listen", timestamp=None))
        no_session.update(UserUttered("hi", timestamp=5.0))
        loop.run_until_complete(store.save(no_session))
        for tracker in conversation(domain, "carol"):
            loop.run_until_complete(store.save(tracker))
            for sender in ["carol", "plain"]:
                with store.session_scope() as session:
                    rasas = store._event_query(session, sender, False).count()
                with store.engine.connect() as connection:
                    ours = speedups._stored_since_session_start(store, connection, sender)
                assert ours == rasas
    finally:
        loop.close()


def test_the_sqlite_store_keeps_one_connection_in_wal_mode(domain, tmp_path):
    speedups.install()
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert type(store.engine.pool).__name__ == "SingletonThreadPool"
    # a read-only reader (the console's) sees what the store committed
    asyncio.run(store.save(conversation(domain, "dave")[1]))
    reader = sqlite3.connect(f"file:{tmp_path / 't.db'}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM events").fetchone() == (8,)
    reader.close()


def test_other_stores_keep_rasas_save_and_retrieve(monkeypatch):
    speedups.install()
    called = []

    async def rasas_save(store, tracker):
        called.append(("save", store))

    async def rasas_retrieve(store, sender_id, all_sessions):
        called.append(("retrieve", store))

    class Engine:
        class dialect:
            name = "postgresql"

    class Postgres(SQLTrackerStore):
        def __init__(self) -> None:
            self.engine = Engine()

    class OwnAdditionalEvents(SQLTrackerStore):
        def __init__(self) -> None:
            self.engine = type("E", (), {"dialect": type("D", (), {"name": "sqlite"})})()

        def _additional_events(self, session, tracker):
            return iter(())

    class OwnEventQuery(OwnAdditionalEvents):
        _additional_events = SQLTrackerStore._additional_events

        def _event_query(self, session, sender_id, fetch_events_from_all_sessions):
            raise AssertionError("not reached")

    monkeypatch.setattr(speedups, "_rasas_sql_save", rasas_save)
    monkeypatch.setattr(speedups, "_rasas_sql_retrieve", rasas_retrieve)
    stores = (Postgres(), OwnAdditionalEvents(), OwnEventQuery())
    for store in stores:
        asyncio.run(store.save(DialogueStateTracker("x", [])))
        asyncio.run(store.retrieve("x"))
    assert called == [(kind, store) for store in stores for kind in ("save", "retrieve")]


def test_stored_data_is_rasas_json(domain, tmp_path):
    speedups.install()
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    tracker = conversation(domain, "erin")[1]
    asyncio.run(store.save(tracker))
    stored = [json.loads(row[6]) for row in rows(tmp_path / "t.db")]
    assert stored == [event.as_dict() for event in tracker.events]


# --- the dialogue states of a tracker ------------------------------------------------------


def rasas_states(domain: Domain, tracker: DialogueStateTracker, **kwargs: Any) -> list[Any]:
    states: list[Any] = speedups._rasas_states_for_tracker_history(domain, tracker, **kwargs)
    return states


def test_the_states_are_rasas_for_every_turn_and_every_argument(domain):
    speedups.install()
    rule_only = {"rule_only_slots": ["urgency"], "rule_only_loops": []}
    for tracker in conversation(domain, "frank"):
        for kwargs in (
            {},
            {"omit_unset_slots": True},
            {"ignore_rule_only_turns": True, "rule_only_data": rule_only},
            {"rule_only_data": rule_only},
        ):
            for _ in range(2):  # computed, then kept
                assert tracker.past_states(domain, **kwargs) == rasas_states(
                    domain, tracker, **kwargs
                )


def test_each_caller_gets_its_own_copy_of_the_states(domain):
    speedups.install()
    tracker = conversation(domain, "gina")[3]
    first = tracker.past_states(domain)
    expected = copy.deepcopy(first)
    first[-1].clear()  # as a featurizer changes the last state in place
    with_action = next(state for state in first if "prev_action" in state)
    with_action["prev_action"]["action_name"] = "changed"
    assert tracker.past_states(domain) == expected == rasas_states(domain, tracker)


def test_a_tracker_that_changed_gets_new_states(domain):
    speedups.install()
    tracker = conversation(domain, "hugo")[1]
    before = tracker.past_states(domain)
    tracker.update(ActionExecuted("action_listen", timestamp=110.0))
    after = tracker.past_states(domain)
    assert after != before and after == rasas_states(domain, tracker)
    copied = tracker.copy()
    copied.update(UserUttered("你好", {"intent": {"name": "greet", "confidence": 1.0}}))
    copied.update(ActionExecuted("utter_greet", timestamp=111.0))
    assert copied.past_states(domain) == rasas_states(domain, copied) != after
    assert tracker.past_states(domain) == after


def test_another_domain_gets_its_own_states(domain):
    speedups.install()
    tracker = conversation(domain, "iris")[3]
    tracker.past_states(domain)
    other = Domain.from_dict({**domain.as_dict(), "slots": {}})
    assert tracker.past_states(other) == rasas_states(other, tracker)


def test_turns_only_rules_predict_are_left_out_as_rasa_leaves_them_out(domain):
    """Hidden rule turns, a follow-up action, an active loop and a rule-only slot: for every
    prefix of the conversation, both variants are Rasa's."""
    speedups.install()
    rule_only = {"rule_only_slots": ["urgency", "dy_stage"], "rule_only_loops": ["dy_loop"]}
    tracker = DialogueStateTracker("jack", domain.slots)
    greet = {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}
    deny = {"intent": {"name": "deny", "confidence": 1.0}, "entities": []}
    steps: list[Event] = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("你好", greet),
        ActionExecuted("utter_greet", hide_rule_turn=True),
        SlotSet("urgency", "urgent"),
        ActionExecuted("action_listen", hide_rule_turn=True),
        UserUttered("还是不行", deny),
        ActionExecuted("action_step_feedback"),
        SlotSet("dy_stage", "contact"),
        FollowupAction("action_listen"),
        ActionExecuted("action_listen"),
        UserUttered("你好", greet),
        ActiveLoop("dy_loop"),
        ActionExecuted("dy_loop", hide_rule_turn=True),
        ActiveLoop(None),
        ActionExecuted("utter_greet", hide_rule_turn=True),
        ActionExecuted("action_listen"),
        UserUttered("还是不行", deny),
        ActionExecuted("action_step_feedback", hide_rule_turn=True),
    ]
    for event in steps:
        tracker.update(event)
        for ignore in (True, False):
            for data in (rule_only, None):
                kwargs = {"ignore_rule_only_turns": ignore, "rule_only_data": data}
                assert tracker.past_states(domain, **kwargs) == rasas_states(
                    domain, tracker, **kwargs
                ), (event, kwargs)
