"""One ticket per problem: an escalation of a sender who already has an unfinished ticket of
the same category joins it (store.create_or_join), whether it comes from a turn or from the
outbox after the database was down; exactly once across retries."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.factories import NOW
from tickets import db, outbox, store
from tickets.models import Ticket, TicketEvent


def escalation(sender: str = "carol", **changes) -> dict:
    values = {
        "idempotency_key": store.escalation_key(sender, uuid.uuid4().hex),
        "sender_id": sender,
        "category": "network",
        "reason": "playbook_exhausted",
        "playbook": "network",
        "playbook_priority": "general",
        "steps_tried": [{"id": "check_network", "title": "检查网络环境"}],
        "urgent_signal": False,
        "transcript": [
            {"role": "user", "text": "网络又断了", "ts": "2026-11-24T10:00:00+00:00"},
            {"role": "bot", "text": "请检查网络", "ts": "2026-11-24T10:00:01+00:00"},
        ],
    }
    values.update(changes)
    return values


def trail(number: str, database_url: str) -> list[tuple[str, dict]]:
    with db.session_scope(database_url) as session:
        rows = session.execute(
            select(TicketEvent.kind, TicketEvent.detail)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == number)
            .order_by(TicketEvent.id)
        ).all()
        return [(kind, dict(detail)) for kind, detail in rows]


def test_a_second_escalation_of_the_same_problem_joins_the_open_ticket(any_database):
    first = store.create_or_join(**escalation(), now=NOW, database_url=any_database)
    again = escalation(reason="user_request")
    joined = store.create_or_join(
        **again, now=NOW + timedelta(minutes=5), database_url=any_database
    )
    assert first.created_now and not joined.created_now
    assert joined.number == first.number
    ((kind, detail),) = trail(first.number, any_database)
    assert kind == store.REPEAT and detail["key"] == again["idempotency_key"]
    assert detail["reason"] == "user_request"
    assert [t["text"] for t in detail["transcript"]] == ["网络又断了", "请检查网络"]
    # the same escalation retried (another action server, the outbox again): nothing new
    retried = store.create_or_join(**again, database_url=any_database)
    assert retried.number == first.number
    assert len(trail(first.number, any_database)) == 1
    assert len(store.list_for_sender("carol", database_url=any_database)) == 1


def test_another_problem_or_a_finished_ticket_gets_a_ticket_of_its_own(any_database):
    network = store.create_or_join(**escalation(), now=NOW, database_url=any_database)
    login = store.create_or_join(
        **escalation(category="login", playbook="login"), now=NOW, database_url=any_database
    )
    assert login.number != network.number and login.created_now
    with db.session_scope(any_database) as session:
        session.execute(
            Ticket.__table__.update().where(Ticket.number == network.number).values(status="closed")
        )
    later = store.create_or_join(**escalation(), now=NOW, database_url=any_database)
    assert later.created_now and later.number not in (network.number, login.number)


def test_a_more_urgent_report_raises_the_priority_and_never_lowers_it(any_database):
    general = store.create_or_join(**escalation(), now=NOW, database_url=any_database)
    assert general.priority == "general"
    soon = NOW + timedelta(minutes=10)
    urgent = store.create_or_join(
        **escalation(urgent_signal=True), now=soon, database_url=any_database
    )
    assert urgent.number == general.number and urgent.priority == "urgent"
    # the urgent promise counts from the report, as when a supervisor raises it
    assert urgent.sla_due_at == NOW + timedelta(hours=1)
    calm = store.create_or_join(**escalation(), now=soon, database_url=any_database)
    assert calm.priority == "urgent" and calm.sla_due_at == urgent.sla_due_at
    kinds = [(kind, detail.get("new")) for kind, detail in trail(general.number, any_database)]
    assert kinds == [(store.REPEAT, None), ("priority", "urgent"), (store.REPEAT, None)]


def test_escalations_that_waited_in_the_outbox_make_one_ticket(tmp_path, database_url):
    folder = tmp_path / "outbox"
    first, second = escalation(), escalation()
    # kept in the other order (two action servers): delivered by the time the user asked
    outbox.keep(second, now=NOW + timedelta(minutes=2), folder=folder)
    outbox.keep(first, now=NOW, folder=folder)
    assert outbox.deliver(folder, database_url=database_url).delivered == 2
    (ticket,) = store.list_for_sender("carol", database_url=database_url)
    assert ticket.created_at == NOW
    keys = [detail["key"] for _kind, detail in trail(ticket.number, database_url)]
    assert keys == [second["idempotency_key"]]
    # a server that died after writing, before removing the file: delivered again, no change
    outbox.keep(second, now=NOW + timedelta(minutes=2), folder=folder)
    assert outbox.deliver(folder, database_url=database_url).delivered == 1
    assert len(store.list_for_sender("carol", database_url=database_url)) == 1
    assert len(trail(ticket.number, database_url)) == 1
