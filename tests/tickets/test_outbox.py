"""The durable outbox (tickets.outbox): a ticket the database cannot take now is kept on disk
and written later, exactly once, with the priority and due time of the moment it was asked."""

from __future__ import annotations

import concurrent.futures
import json
import os
import stat
import time
import uuid
from datetime import timedelta

import pytest

from tests.factories import NOW, fresh_sqlite
from tickets import db, outbox, store


def request(sender: str = "alice", key: str | None = None) -> dict:
    return {
        "idempotency_key": key or store.escalation_key(sender, uuid.uuid4().hex),
        "sender_id": sender,
        "category": "network",
        "reason": "playbook_exhausted",
        "playbook": "network",
        "playbook_priority": "general",
        "steps_tried": [{"id": "check_network", "title": "检查网络环境"}],
        "urgent_signal": False,
        "transcript": [{"role": "user", "text": "网络老掉线，电话 13812345678", "ts": "x"}],
    }


@pytest.fixture()
def folder(tmp_path):
    return tmp_path / "outbox"


def test_a_kept_ticket_is_written_once_with_the_time_it_was_asked(folder, database_url):
    kept = outbox.keep(request(), now=NOW, folder=folder)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert outbox.waiting_for("alice", folder) == 1 and outbox.waiting_for("bob", folder) == 0

    result = outbox.deliver(folder, database_url=database_url)
    assert result == outbox.Delivery(delivered=1, waiting=0)
    (ticket,) = store.list_for_sender("alice", database_url=database_url)
    assert ticket.created_at == NOW  # not the moment the database came back
    assert ticket.sla_due_at - NOW == timedelta(hours=6)  # general: 3-6 h from the escalation
    assert ticket.transcript[0]["text"].endswith("13812345678")
    assert outbox.waiting(folder) == []
    assert outbox.deliver(folder, database_url=database_url).delivered == 0


def test_while_the_database_is_down_the_ticket_keeps_waiting(folder, tmp_path, migrated_sqlite):
    # a SQLite file in a folder that is not there yet: "unable to open database file"
    path = tmp_path / "later" / "tickets.db"
    url = f"sqlite:///{path}"
    outbox.keep(request(), now=NOW, folder=folder, database_url=url)
    outbox.keep(request(), now=NOW, folder=folder, database_url=url)
    assert outbox.deliver(folder, database_url=url) == outbox.Delivery(delivered=0, waiting=2)
    path.parent.mkdir(exist_ok=True)
    db.dispose_all()
    fresh_sqlite(migrated_sqlite, path)  # the database is back
    assert outbox.deliver(folder, database_url=url).delivered == 2


def test_a_ticket_for_another_database_is_left_to_its_own_servers(folder, database_url, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    outbox.keep(request(sender="elsewhere"), now=NOW, folder=folder, database_url=other)
    outbox.keep(request(), now=NOW, folder=folder, database_url=database_url)
    assert outbox.deliver(folder, database_url=database_url) == outbox.Delivery(1, 1)
    assert store.list_for_sender("elsewhere", database_url=database_url) == []


def test_a_request_that_cannot_be_written_is_set_aside_and_the_rest_go(folder, database_url):
    broken = {**request(sender="aaa-first"), "no_such_field": 1}  # first in name order
    outbox.keep(broken, now=NOW, folder=folder, database_url=database_url)
    outbox.keep(request(), now=NOW, folder=folder, database_url=database_url)
    assert outbox.deliver(folder, database_url=database_url).delivered == 1
    assert len(list(folder.glob("*.failed"))) == 1


def test_the_same_escalation_kept_twice_makes_one_ticket(folder, database_url):
    key = store.escalation_key("alice", "flow-1")
    outbox.keep(request(key=key), now=NOW, folder=folder)
    outbox.keep(request(key=key), now=NOW, folder=folder)
    assert len(outbox.waiting(folder)) == 1
    # and a ticket the database took before (a retry after a lost answer) is not doubled
    store.create_ticket(**request(key=key), now=NOW, database_url=database_url)
    assert outbox.deliver(folder, database_url=database_url).delivered == 1
    assert len(store.list_for_sender("alice", database_url=database_url)) == 1


def test_two_servers_delivering_at_once_write_each_ticket_once(folder, database_url):
    for n in range(20):
        outbox.keep(request(sender=f"user-{n}"), now=NOW, folder=folder)
    delivered = 0
    for _round in range(10):  # SQLite may refuse a write while the other writes: next round
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            rounds = list(
                pool.map(lambda _: outbox.deliver(folder, database_url=database_url), [1, 2])
            )
        delivered += sum(r.delivered for r in rounds)
        if not outbox.waiting(folder):
            break
    assert delivered == 20 and outbox.waiting(folder) == []
    for n in range(20):
        assert len(store.list_for_sender(f"user-{n}", database_url=database_url)) == 1


def test_an_unreadable_file_is_set_aside_and_the_rest_are_written(folder, database_url):
    outbox.keep(request(), now=NOW, folder=folder)
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    assert outbox.deliver(folder, database_url=database_url).delivered == 1
    assert (folder / "broken.unreadable").exists()


def test_a_claim_left_by_a_server_that_died_is_taken_again(folder, database_url):
    path = outbox.keep(request(), now=NOW, folder=folder)
    claimed = path.with_name(f"{path.name}.claimed-99999")
    os.replace(path, claimed)
    assert outbox.deliver(folder, database_url=database_url).delivered == 0  # still claimed
    old = time.time() - outbox.STALE_CLAIM_SECONDS - 1
    os.utime(claimed, (old, old))
    assert outbox.deliver(folder, database_url=database_url).delivered == 1


def test_the_file_is_json_with_the_moment_of_the_escalation(folder):
    path = outbox.keep(request(), now=NOW, folder=folder)
    kept = json.loads(path.read_text(encoding="utf-8"))
    assert kept["at"] == NOW.isoformat() and kept["request"]["sender_id"] == "alice"
