"""The console's read layer (queue, ticket detail, audit trail) on a real database."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.factories import NOW, new_ticket
from tickets import queries, staff, store, workflow
from tickets.models import CHANNELS, TICKET_STATUSES, utcnow

PASSWORD = "correct horse battery"
UNKNOWN = "DY-20000101-0001"


@pytest.fixture()
def people(any_database):
    accounts = {
        "agent": ("wang.agent", "agent"),
        "other": ("li.agent", "agent"),
        "supervisor": ("zhao.sup", "supervisor"),
        "editor": ("chen.editor", "editor"),
    }
    return {
        key: staff.create_staff(name, PASSWORD, role, database_url=any_database)
        for key, (name, role) in accounts.items()
    }


def ticket_in(url, boss, status, assignee="wang.agent", **overrides):
    """A ticket walked by the supervisor from open to ``status``."""
    number = new_ticket(url, **overrides).number
    for step in TICKET_STATUSES[1 : TICKET_STATUSES.index(status) + 1]:
        if step == "assigned":
            workflow.assign(number, boss, assignee, database_url=url)
        else:
            workflow.transition(number, boss, step, database_url=url)
    return number


def numbers(url, **filters):
    found = queries.queue(queries.QueueFilters(**filters), database_url=url)
    return [ticket.number for ticket in found.tickets]


def test_queue_lists_open_tickets_urgent_then_general_then_complex_then_by_due_time(
    people, any_database
):
    boss = people["supervisor"]
    complex_ = new_ticket(any_database, category="feature", playbook_priority=None).number
    later = new_ticket(any_database, now=NOW + timedelta(hours=1)).number  # general, due +7 h
    sooner = new_ticket(any_database).number  # general, due +6 h
    urgent = new_ticket(any_database, category="login", now=NOW + timedelta(hours=2)).number
    ticket_in(any_database, boss, "resolved")
    found = queries.queue(queries.QueueFilters(), database_url=any_database)
    assert [t.number for t in found.tickets] == [urgent, sooner, later, complex_]
    assert [t.priority for t in found.tickets] == ["urgent", "general", "general", "complex"]
    assert found.tickets[1].sla_due_at == NOW + timedelta(hours=6)


def test_each_filter_narrows_the_queue_and_an_unknown_value_filters_nothing(people, any_database):
    boss = people["supervisor"]
    plain = ticket_in(any_database, boss, "open")
    login = ticket_in(any_database, boss, "assigned", category="login")
    feature = ticket_in(
        any_database, boss, "in_progress", "li.agent", category="feature", playbook_priority=None
    )
    done = ticket_in(any_database, boss, "resolved")
    every_open = [login, plain, feature]
    for filters, expected in [
        ({}, every_open),
        ({"status": "resolved"}, [done]),
        ({"status": "assigned"}, [login]),
        ({"status": "bogus"}, every_open),
        ({"priority": "urgent"}, [login]),
        ({"priority": "bogus"}, every_open),
        ({"category": "network"}, [plain]),
        ({"category": "bogus"}, every_open),
        ({"assignee": "li.agent"}, [feature]),
        ({"assignee": "wang.agent"}, [login]),
        ({"assignee": "wang.agent", "status": "resolved"}, [done]),
    ]:
        assert numbers(any_database, **filters) == expected, filters


def test_filters_from_a_request_are_strings_clipped_to_64_characters():
    filters = queries.QueueFilters.from_mapping({"status": None, "priority": "x" * 100})
    assert filters == queries.QueueFilters(status="", priority="x" * 64)
    assert queries.QueueFilters.from_mapping({"channel": "email"}).channel == "email"
    assert "channel" in queries.FILTER_KEYS


def test_every_channel_has_a_label_in_the_channels_order():
    assert tuple(queries.CHANNEL_LABELS) == CHANNELS
    assert queries.CHANNEL_LABELS == {"chat": "在线聊天", "email": "邮件", "phone": "电话热线"}


def test_the_channel_filter_narrows_the_queue_and_an_unknown_channel_filters_nothing(
    people, any_database
):
    """Tickets as each channel makes them (``store.create_or_join``); each queue line says its
    channel and whether its category is a guess."""
    made = {
        channel: store.create_or_join(
            idempotency_key=f"queue-{channel}",
            sender_id=f"user-{channel}",
            category="network",
            reason="user_request",
            now=NOW + timedelta(minutes=n),
            database_url=any_database,
            join=False,
            channel=channel,
            category_unsure=channel != "chat",
        ).number
        for n, channel in enumerate(CHANNELS)
    }
    called = new_ticket(any_database, channel="phone", now=NOW + timedelta(hours=1)).number
    done = ticket_in(any_database, people["supervisor"], "resolved", channel="email")
    every = [made["chat"], made["email"], made["phone"], called]
    for filters, expected in [
        ({}, every),
        ({"channel": "chat"}, [made["chat"]]),
        ({"channel": "email"}, [made["email"]]),
        ({"channel": "phone"}, [made["phone"], called]),
        ({"channel": "email", "status": "resolved"}, [done]),
        ({"channel": "phone", "status": "resolved"}, []),
        ({"channel": "fax"}, every),
        ({"channel": "EMAIL"}, every),
    ]:
        assert numbers(any_database, **filters) == expected, filters
    lines = {
        t.number: t
        for t in queries.queue(queries.QueueFilters(), database_url=any_database).tickets
    }
    assert [(lines[n].channel, lines[n].category_unsure) for n in every] == [
        ("chat", False),
        ("email", True),
        ("phone", True),
        ("phone", False),
    ]


def test_counts_cover_every_status_not_only_those_shown(people, any_database):
    for status in TICKET_STATUSES:
        ticket_in(any_database, people["supervisor"], status)
    ticket_in(any_database, people["supervisor"], "closed")
    found = queries.queue(queries.QueueFilters(), database_url=any_database)
    assert found.counts == {
        "open": 1,
        "assigned": 1,
        "in_progress": 1,
        "waiting_user": 1,
        "resolved": 1,
        "closed": 2,
    }
    assert len(found.tickets) == 4


def test_only_an_open_ticket_past_its_due_time_is_overdue(people, any_database):
    long_ago = utcnow() - timedelta(hours=7)  # general: due an hour ago
    late = new_ticket(any_database, now=long_ago).number
    fresh = new_ticket(any_database, now=utcnow()).number
    done = ticket_in(any_database, people["supervisor"], "resolved", now=long_ago)
    shown = {
        t.number: t.overdue
        for t in queries.queue(queries.QueueFilters(), database_url=any_database).tickets
    }
    assert shown == {late: True, fresh: False}
    resolved = queries.queue(queries.QueueFilters(status="resolved"), database_url=any_database)
    assert [(t.number, t.overdue) for t in resolved.tickets] == [(done, False)]
    assert queries.ticket_detail(late, database_url=any_database).overdue is True
    assert queries.ticket_detail(done, database_url=any_database).overdue is False


def test_ticket_detail_says_the_channel_and_keeps_the_contact_the_channel_gave(any_database):
    """A mail's ticket: its channel, its guessed category, the sender's address as the
    contact, masked until revealed (as any contact)."""
    number = store.create_or_join(
        idempotency_key="mail-1",
        sender_id="mail:zhang.wei@example.com",
        category="other",
        reason="user_request",
        database_url=any_database,
        join=False,
        channel="email",
        category_unsure=True,
        contact_email="zhang.wei@example.com",
    ).number
    detail = queries.ticket_detail(number, database_url=any_database)
    assert (detail.channel, detail.category_unsure) == ("email", True)
    assert detail.contact == queries.Contact(phone=None, email="z***@example.com", masked=True)
    shown = queries.ticket_detail(number, reveal=True, database_url=any_database)
    assert shown.contact.email == "zhang.wei@example.com" and not shown.contact.masked
    plain = queries.ticket_detail(new_ticket(any_database).number, database_url=any_database)
    assert (plain.channel, plain.category_unsure) == ("chat", False)


def test_ticket_detail_masks_the_contact_unless_revealed(any_database):
    number = new_ticket(any_database).number
    store.set_contact(
        number,
        "alice",
        phone="13812345678",
        email="zhang.wei@example.com",
        database_url=any_database,
    )
    masked = queries.ticket_detail(number, database_url=any_database).contact
    assert masked == queries.Contact(phone="138****5678", email="z***@example.com", masked=True)
    assert masked.given
    shown = queries.ticket_detail(number, reveal=True, database_url=any_database).contact
    assert shown == queries.Contact(
        phone="13812345678", email="zhang.wei@example.com", masked=False
    )


def test_ticket_detail_without_contact_says_none_was_given(any_database):
    number = new_ticket(any_database).number
    detail = queries.ticket_detail(number, reveal=True, database_url=any_database)
    assert detail.contact.phone is None and detail.contact.email is None
    assert not detail.contact.given


def test_ticket_detail_carries_the_ticket_and_its_trail(people, any_database):
    number = new_ticket(any_database).number
    workflow.claim(number, people["agent"], database_url=any_database)
    detail = queries.ticket_detail(number, database_url=any_database)
    assert (detail.number, detail.sender_id, detail.category) == (number, "alice", "network")
    assert (detail.status, detail.assignee, detail.priority) == (
        "assigned",
        "wang.agent",
        "general",
    )
    assert detail.steps_tried == [{"id": "check_network", "title": "检查网络环境"}]
    assert detail.transcript[0]["text"] == "网络老掉线"
    assert [(e.kind, e.actor, e.detail) for e in detail.trail] == [
        ("assign", "wang.agent", {"assignee": "wang.agent", "reason": "本人认领"}),
        ("status", "wang.agent", {"old": "open", "new": "assigned", "note": ""}),
    ]


def test_next_statuses_follow_the_workflow_transitions(people, any_database):
    boss = people["supervisor"]
    expected = {
        "open": ["assigned"],
        "assigned": ["in_progress", "open", "waiting_user"],
        "in_progress": ["resolved", "waiting_user"],
        "waiting_user": ["in_progress", "resolved"],
        "resolved": ["closed", "in_progress"],
        "closed": [],
    }
    for status in TICKET_STATUSES:
        number = ticket_in(any_database, boss, status)
        detail = queries.ticket_detail(number, database_url=any_database)
        assert detail.status == status
        assert detail.next_statuses == expected[status] == sorted(workflow.TRANSITIONS[status])


def test_an_unknown_ticket_has_no_detail_and_an_empty_trail(any_database):
    new_ticket(any_database)
    assert queries.ticket_detail(UNKNOWN, database_url=any_database) is None
    assert queries.audit_trail(UNKNOWN, database_url=any_database) == []


def test_revealing_the_contact_is_audited_with_the_actor(people, any_database):
    number = new_ticket(any_database).number
    workflow.reveal_contact(number, people["other"], database_url=any_database)
    trail = queries.audit_trail(number, database_url=any_database)
    assert [(e.kind, e.actor, e.detail) for e in trail] == [("contact_view", "li.agent", {})]
    assert abs(trail[0].at - utcnow()) < timedelta(minutes=1)


def test_an_editor_may_not_reveal_a_contact_and_nothing_is_audited(people, any_database):
    number = new_ticket(any_database).number
    with pytest.raises(workflow.WorkflowError, match="内容编辑账号"):
        workflow.reveal_contact(number, people["editor"], database_url=any_database)
    assert queries.audit_trail(number, database_url=any_database) == []


def test_revealing_the_contact_of_an_unknown_ticket_raises_ticket_not_found(people, any_database):
    with pytest.raises(workflow.TicketNotFound, match=UNKNOWN):
        workflow.reveal_contact(UNKNOWN, people["agent"], database_url=any_database)
    assert issubclass(workflow.TicketNotFound, workflow.WorkflowError)


def test_what_queries_return_is_frozen(people, any_database):
    number = new_ticket(any_database).number
    workflow.claim(number, people["agent"], database_url=any_database)
    found = queries.queue(queries.QueueFilters(), database_url=any_database)
    detail = queries.ticket_detail(number, database_url=any_database)
    for value, name in [
        (found, "counts"),
        (found.tickets[0], "status"),
        (detail, "status"),
        (detail.contact, "phone"),
        (detail.trail[0], "actor"),
        (queries.QueueFilters(), "status"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, "closed")
    assert queries.ticket_detail(number, database_url=any_database).status == "assigned"


def test_sender_of_names_the_tickets_conversation(any_database):
    ticket = new_ticket(any_database, sender_id="bob-conversation")
    assert queries.sender_of(ticket.number, database_url=any_database) == "bob-conversation"
    assert queries.sender_of("DY-19990101-0001", database_url=any_database) is None
