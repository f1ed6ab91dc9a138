"""Supervisor figures computed on a real database."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.factories import NOW, new_ticket
from tickets import metrics, staff, store, workflow


def test_figures_follow_the_work_done(any_database):
    agent = staff.create_staff("m.agent", "a long password", "agent", database_url=any_database)
    fast = new_ticket(any_database)  # general, due NOW+6h
    slow = new_ticket(any_database, category="data_loss")  # urgent, due NOW+1h
    new_ticket(any_database, category="feature", playbook_priority="complex")  # complex, waiting
    for ticket, minutes in ((fast, 30), (slow, 180)):
        workflow.claim(ticket.number, agent, database_url=any_database)
        workflow.transition(ticket.number, agent, "in_progress", database_url=any_database)
        workflow.record_reply(
            ticket.number,
            agent,
            "正在处理",
            now=NOW + timedelta(minutes=minutes),
            database_url=any_database,
        )
    workflow.transition(fast.number, agent, "resolved", database_url=any_database)
    store.record_feedback(
        idempotency_key="bot-1",
        sender_id="u1",
        playbook="network",
        resolved_step="check_network",
        rating=5,
        database_url=any_database,
    )
    store.record_feedback(
        idempotency_key="bot-2",
        sender_id="u2",
        playbook="login",
        resolved_step="reset_password",
        rating=3,
        database_url=any_database,
    )

    figures = metrics.compute(now=NOW + timedelta(hours=2), database_url=any_database)
    assert figures["tickets"] == 3
    assert figures["by_category"] == {"network": 1, "data_loss": 1, "feature": 1}
    assert figures["by_priority"] == {"general": 1, "urgent": 1, "complex": 1}
    assert figures["first_response"]["general"]["compliance_pct"] == 100.0
    assert figures["first_response"]["urgent"] == {
        "met": 0,
        "missed": 1,
        "waiting": 0,
        "compliance_pct": 0.0,
    }
    assert figures["first_response"]["complex"]["waiting"] == 1
    assert figures["resolution_rate_pct"] == round(100 / 3, 1)
    assert figures["bot_resolved"] == 2 and figures["containment_pct"] == 40.0
    assert figures["average_rating"] == 4.0
    assert figures["per_agent"]["m.agent"] == {
        "assigned": 2,
        "resolved": 1,
        "mean_first_response_hours": 1.75,
    }

    rows = list(csv.reader(io.StringIO(metrics.tickets_csv(database_url=any_database))))
    assert rows[0][0] == "number" and len(rows) == 4
    assert "13800138000" not in metrics.tickets_csv(database_url=any_database)
