"""Builders of the ticket tests: a ticket with its columns set exactly, and the SQL a piece of
code sends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event, update

from tests.factories import new_ticket
from tickets import db
from tickets.models import Ticket


def ticket_with(
    url: str,
    category: str,
    created: datetime,
    *,
    reason: str = "playbook_exhausted",
    urgent: bool = False,
    **columns: Any,
) -> str:
    """A ticket (its priority and due time from the policy), then ``columns`` written as they
    stand (status, assignee and times set exactly, which the workflow stamps with the clock);
    its number."""
    number: str = new_ticket(
        url,
        category=category,
        reason=reason,
        urgent_signal=urgent,
        playbook_priority=None,
        now=created,
    ).number
    if columns:
        with db.session_scope(url) as session:
            session.execute(update(Ticket).where(Ticket.number == number).values(**columns))
    return number


def statements_during(url: str, run: Callable[[], object]) -> list[str]:
    """The SQL statements sent to the database at ``url`` while ``run()`` runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen
