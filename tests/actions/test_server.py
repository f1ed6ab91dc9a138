"""The action server's guard (actions.server) on rasa_sdk's real app, in process."""

from __future__ import annotations

import time

import pytest
from sanic import Sanic

from actions.server import SECRET_HEADER, build_app
from tests.factories import PHONE

SECRET = "s3cret-for-the-test"


@pytest.fixture(autouse=True)
def test_mode():
    Sanic.test_mode = True  # one rasa_sdk app per test in this process
    yield


def client(secret: str | None = SECRET):
    return build_app(secret).test_client


def test_liveness_needs_no_secret(database_url):
    _, answer = client().get("/health")
    assert answer.status == 200 and answer.json == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: b"\xfc" * 4}])
def test_without_the_shared_secret_nothing_runs(database_url, headers):
    _, answer = client().post(
        "/webhook", json={"next_action": "action_ticket_status"}, headers=headers
    )
    assert answer.status == 401 and answer.json == {"error": "unauthorized"}
    _, listing = client().get("/actions", headers=headers)
    assert listing.status == 401


def test_with_the_secret_the_actions_answer(database_url):
    _, listing = client().get("/actions", headers={SECRET_HEADER: SECRET})
    assert listing.status == 200
    assert {"name": "action_start_playbook"} in listing.json


def test_without_a_configured_secret_the_server_is_open(database_url):
    _, listing = client(secret=None).get("/actions")
    assert listing.status == 200


def test_an_error_never_echoes_the_tracker(database_url, caplog):
    body = {
        "next_action": "action_ticket_status",
        "sender_id": "echo-test",
        "tracker": {"sender_id": "echo-test", "latest_message": f"我的手机号 {PHONE}"},
        "domain": "not a domain",
        "version": "3.6.21",
    }
    _, answer = client().post("/webhook", json=body, headers={SECRET_HEADER: SECRET})
    assert answer.status == 500 and answer.json == {"error": "internal error"}
    assert PHONE not in answer.text and "echo-test" not in answer.text
    assert PHONE not in caplog.text


def test_ready_when_the_ticket_database_answers(database_url):
    _, answer = client().get("/ready", headers={SECRET_HEADER: SECRET})
    assert answer.status == 200 and answer.json == {"ready": True, "database": "ok"}


def test_not_ready_within_a_second_when_the_database_is_gone(monkeypatch):
    from tickets import db

    # a PostgreSQL port nothing listens on
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    db.dispose_all()
    started = time.monotonic()
    _, answer = client().get("/ready", headers={SECRET_HEADER: SECRET})
    assert answer.status == 503 and answer.json["ready"] is False
    assert time.monotonic() - started < 3
    db.dispose_all()


def domain_dict() -> dict:
    from rasa.shared.core.domain import Domain

    from tests.factories import ROOT

    return Domain.load(str(ROOT / "domain.yml")).as_dict()


def test_each_call_is_logged_with_its_conversation_and_times(database_url, tmp_path, monkeypatch):
    from actions import call_log

    path = tmp_path / "actions.calls"
    monkeypatch.setenv(call_log.CALL_LOG_ENV, str(path))
    body = {
        "next_action": "action_ticket_status",
        "sender_id": "call-log-test",
        "tracker": {
            "sender_id": "call-log-test",
            "slots": {},
            "latest_message": {"text": f"我的工单怎么样了 {PHONE}", "intent": {}},
            "events": [],
        },
        "domain": domain_dict(),
        "version": "3.6.21",
    }
    before = call_log.now_ns()
    _, answer = client().post("/webhook", json=body, headers={SECRET_HEADER: SECRET})
    assert answer.status == 200, answer.text
    client().post("/webhook", json={"next_action": "x"}, headers={SECRET_HEADER: "wrong"})
    calls = list(call_log.read_calls([path]))
    assert [(c.sender, c.action) for c in calls] == [("call-log-test", "action_ticket_status")]
    assert before <= calls[0].entered <= calls[0].left <= call_log.now_ns()
    assert PHONE not in path.read_text(encoding="utf-8")


def test_overlapping_calls_of_one_conversation_are_found():
    from actions.call_log import Call, overlaps

    a = Call("s1", "x", 1, entered=0, left=10)
    b = Call("s1", "y", 2, entered=5, left=12)
    c = Call("s1", "z", 1, entered=12, left=20)  # starts as b leaves: not at once
    other = Call("s2", "x", 2, entered=1, left=30)
    assert overlaps([c, other, b, a]) == [(a, b)]
    assert overlaps([a, c, other]) == []
