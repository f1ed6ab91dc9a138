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
