"""No silent loss when a store fails: the real servers on the scale-out's stores (PostgreSQL
for conversations through channels.trackerstore, Redis for the conversation lock through
channels.lockstore), each a private instance on a spare port so the test can stop it.

Rasa by itself answers 200 ``[]`` when Redis is down, and replies from a fresh tracker (and
keeps the conversation in memory) when the database is down; here the user hears the
apology with a 503, nothing is kept, and the conversation continues where it was once the
store is back, without restarting any server.
"""

from __future__ import annotations

import uuid

import pytest

from playbook.domain import domain_texts
from playbook.registry import PlaybookRegistry
from scripts.servers import MODEL, PostgresServer, RedisServer, Servers
from tests.factories import texts

pytestmark = pytest.mark.integration

PLAYBOOKS = PlaybookRegistry()
APOLOGY = domain_texts().text("utter_action_failed")


def step_text(playbook: str, step: str) -> str:
    return PLAYBOOKS.get(playbook).step(step).message


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model at models/dy.tar.gz: run 'make train' (make test does)")
    postgres = PostgresServer().start()
    postgres.create_database("dy_trackers")
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    endpoints = (
        "tracker_store:\n"
        "  type: channels.trackerstore.DySQLTrackerStore\n"
        "  dialect: postgresql\n"
        "  url: 127.0.0.1\n"
        f"  port: {postgres.port}\n"
        "  db: dy_trackers\n"
        "  username: postgres\n"
        "  pool_size: 2\n"
        "  max_overflow: 2\n"
        "lock_store:\n"
        "  type: channels.lockstore.AtomicRedisLockStore\n"
        "  url: 127.0.0.1\n"
        f"  port: {redis.port}\n"
    )
    servers = Servers(tmp_path_factory.mktemp("faults"), stores=endpoints)
    servers.start()
    yield servers, postgres, redis
    servers.stop()
    redis.stop()
    postgres.remove()


def new_sender() -> str:
    return f"fault-{uuid.uuid4().hex[:12]}"


def user_texts(servers: Servers, sender: str) -> list[str]:
    events = servers.tracker(sender)["events"]
    return [e["text"] for e in events if e["event"] == "user"]


def test_database_down_fails_the_turn_loudly_and_the_conversation_resumes(stores):
    servers, postgres, _ = stores
    sender = new_sender()
    first = servers.say(sender, "网络老是掉线")
    assert step_text("network", "check_network") in texts(first)

    postgres.stop()  # as abruptly as a crash
    try:
        during = servers.post({"sender": sender, "message": "还是不行"})
        assert during.status_code == 503
        assert texts(during.json()) == APOLOGY  # never a reply from a fresh tracker
    finally:
        postgres.start()

    after = servers.say(sender, "还是不行")  # the same step is still open
    assert step_text("network", "restart_device") in texts(after)
    # the failed turn left nothing behind, in the database or in the server's memory
    assert user_texts(servers, sender) == ["网络老是掉线", "还是不行"]


def test_redis_down_answers_503_with_the_apology_and_recovers_by_itself(stores):
    servers, _, redis = stores
    sender = new_sender()
    assert step_text("network", "check_network") in texts(servers.say(sender, "网络老是掉线"))

    redis.stop()
    try:
        during = servers.post({"sender": sender, "message": "还是不行"})
        assert during.status_code == 503
        assert texts(during.json()) == APOLOGY
    finally:
        redis.start()  # the same port; no server is restarted

    after = servers.say(sender, "还是不行")
    assert step_text("network", "restart_device") in texts(after)
    assert user_texts(servers, sender) == ["网络老是掉线", "还是不行"]
