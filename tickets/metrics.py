"""Quality-supervision figures for supervisors (the service guide's "质量监督"): tickets by
category and priority, first responses within the promised time, time to resolve, resolution
rate, how many conversations the bot solved alone, ratings, and per-agent figures."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tickets.db import session_scope
from tickets.models import DONE_STATUSES, Feedback, StaffUser, Ticket, utcnow

DONE = DONE_STATUSES


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def compute(*, now: datetime | None = None, database_url: str | None = None) -> dict[str, Any]:
    now = now or utcnow()
    with session_scope(database_url) as session:
        tickets = session.execute(
            select(Ticket, StaffUser.username).join(
                StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True
            )
        ).all()
        feedback = session.execute(select(Feedback)).scalars().all()
        rows: list[
            tuple[str, str, str, datetime, datetime, datetime | None, datetime | None, str | None]
        ] = [
            (
                t.category,
                t.priority,
                t.status,
                t.created_at,
                t.sla_due_at,
                t.first_response_at,
                t.resolved_at,
                name,
            )
            for t, name in tickets
        ]
        ratings = [(f.ticket_number, f.rating) for f in feedback]

    sla: dict[str, dict[str, int]] = defaultdict(lambda: {"met": 0, "missed": 0, "waiting": 0})
    per_agent: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"assigned": 0, "resolved": 0, "first_response_hours": []}
    )
    resolve_hours: list[float] = []
    for _category, priority, status, created, due, first, resolved, agent in rows:
        bucket = sla[priority]
        if first is not None:
            bucket["met" if first <= due else "missed"] += 1
        elif now > due:
            bucket["missed"] += 1
        else:
            bucket["waiting"] += 1
        if resolved is not None:
            resolve_hours.append(_hours(created, resolved))
        if agent:
            person = per_agent[agent]
            person["assigned"] += 1
            person["resolved"] += status in DONE
            if first is not None:
                person["first_response_hours"].append(_hours(created, first))
    compliance = {
        priority: {
            **counts,
            "compliance_pct": round(100 * counts["met"] / (counts["met"] + counts["missed"]), 1)
            if counts["met"] + counts["missed"]
            else None,
        }
        for priority, counts in sla.items()
    }
    bot_resolved = sum(1 for ticket_number, _ in ratings if ticket_number is None)
    total = len(rows)
    rated = [r for _, r in ratings if r is not None]
    return {
        "tickets": total,
        "by_category": dict(Counter(r[0] for r in rows)),
        "by_priority": dict(Counter(r[1] for r in rows)),
        "by_status": dict(Counter(r[2] for r in rows)),
        "first_response": compliance,
        "mean_hours_to_resolve": _mean(resolve_hours),
        "resolution_rate_pct": round(100 * sum(1 for r in rows if r[2] in DONE) / total, 1)
        if total
        else None,
        "bot_resolved": bot_resolved,
        "containment_pct": round(100 * bot_resolved / (bot_resolved + total), 1)
        if bot_resolved + total
        else None,
        "average_rating": _mean([float(r) for r in rated]),
        "ratings": len(rated),
        "per_agent": {
            name: {
                "assigned": v["assigned"],
                "resolved": v["resolved"],
                "mean_first_response_hours": _mean(v["first_response_hours"]),
            }
            for name, v in sorted(per_agent.items())
        },
    }


def tickets_csv(*, database_url: str | None = None) -> str:
    """Every ticket as CSV (no contact details, no transcript), for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "number",
            "category",
            "priority",
            "status",
            "assignee",
            "created_at",
            "sla_due_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "reason",
        ]
    )
    with session_scope(database_url) as session:
        for t, name in session.execute(
            select(Ticket, StaffUser.username)
            .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
            .order_by(Ticket.id)
        ):
            writer.writerow(
                [
                    t.number,
                    t.category,
                    t.priority,
                    t.status,
                    name or "",
                    *[
                        (m.isoformat() if m else "")
                        for m in (
                            t.created_at,
                            t.sla_due_at,
                            t.first_response_at,
                            t.resolved_at,
                            t.closed_at,
                        )
                    ],
                    t.reason,
                ]
            )
    return out.getvalue()
