"""No silent loss when a store fails: the real servers on the scale-out's stores (PostgreSQL
for conversations through channels.trackerstore, Redis for the conversation lock through
channels.lockstore), each a private instance on a spare port so the test can stop it.

Rasa by itself answers 200 ``[]`` when Redis is down, and replies from a fresh tracker (and
keeps the conversation in memory) when the database is down; here the user hears the
apology with a 503, nothing is kept, and the conversation continues where it was once the
store is back, without restarting any server.
"""

from __future__ import annotations

import time
import uuid

import pytest

from playbook.domain import domain_texts
from playbook.registry import PlaybookRegistry
from scripts.servers import MODEL, PostgresServer, RedisServer, Servers
from tests.factories import texts
from tickets import store

pytestmark = pytest.mark.integration

PLAYBOOKS = PlaybookRegistry()
APOLOGY = domain_texts().text("utter_action_failed")
QUEUED = domain_texts().text("utter_ticket_queued")


def step_text(playbook: str, step: str) -> str:
    return PLAYBOOKS.get(playbook).step(step).message


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model at models/dy.tar.gz: run 'make train' (make test does)")
    postgres = PostgresServer().start()
    postgres.create_database("dy_trackers")
    tickets = PostgresServer().start()  # its own server: stopping it leaves the turns running
    tickets_url = tickets.create_database("dy_tickets")
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
    workdir = tmp_path_factory.mktemp("faults")
    env = {
        "DATABASE_URL": tickets_url,
        "DY_OUTBOX_DIR": str(workdir / "outbox"),
        "DY_OUTBOX_RETRY_SECONDS": "1",
    }
    servers = Servers(workdir, stores=endpoints, env=env)
    servers.database_url = tickets_url
    servers.start()
    yield servers, postgres, redis, tickets
    servers.stop()
    redis.stop()
    postgres.remove()
    tickets.remove()


def new_sender() -> str:
    return f"fault-{uuid.uuid4().hex[:12]}"


def user_texts(servers: Servers, sender: str) -> list[str]:
    events = servers.tracker(sender)["events"]
    return [e["text"] for e in events if e["event"] == "user"]


def test_database_down_fails_the_turn_loudly_and_the_conversation_resumes(stores):
    servers, postgres, _, _ = stores
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
    servers, _, redis, _ = stores
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


def test_a_ticket_the_database_cannot_take_is_written_once_it_is_back(stores):
    servers, _, _, tickets = stores
    sender = new_sender()
    servers.say(sender, "网络老是掉线")
    servers.say(sender, "还是不行")
    assert step_text("network", "contact_isp") in texts(servers.say(sender, "没用"))

    tickets.stop()
    try:
        final = servers.post({"sender": sender, "message": "/deny"})
        assert final.status_code == 200
        said = texts(final.json())
        assert QUEUED.split("，", 1)[0] in said and "优先级：一般" in said
        status = texts(servers.say(sender, "我的工单怎么样了"))
        assert status == domain_texts().text("utter_ticket_still_queued")
    finally:
        tickets.start()

    deadline = time.monotonic() + 30
    while not (written := store.list_for_sender(sender, database_url=servers.database_url)):
        assert time.monotonic() < deadline, "the kept ticket was not written"
        time.sleep(0.5)
    assert len(written) == 1 and written[0].priority == "general"
    assert written[0].number in texts(servers.say(sender, "我的工单怎么样了"))
    time.sleep(2)  # another round of the outbox: still one ticket
    assert len(store.list_for_sender(sender, database_url=servers.database_url)) == 1
