"""The SLA sweeper: records each warning and breach when its moment comes, even when no one
touches the ticket, and recomputes the open tickets' clocks after the policy's SLA settings
changed. The web server runs it every ``SLA_SWEEP_SECONDS`` (30 by default); with several web
servers on PostgreSQL one sweeps at a time (an advisory lock), and a sweep twice over the same
moment stores nothing twice (``sla_events``' unique key). After a restart the first sweep
stores what came due in the meantime, each at the moment it happened.

``python -m tickets.sla_sweeper`` sweeps once and prints what it did (``make sla-sweep``).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from tickets.db import round_lock, session_scope
from tickets.models import OPEN_STATUSES, Ticket, utcnow
from tickets.policy import load_policy
from tickets.sla_store import fingerprint, refresh, store_fingerprint, stored_fingerprint

logger = logging.getLogger(__name__)

#: Tickets refreshed per transaction.
BATCH = 200


@dataclass(frozen=True)
class SweepReport:
    #: Tickets whose clocks were recomputed.
    refreshed: int = 0
    #: Warnings and breaches stored by this sweep.
    recorded: int = 0
    #: All open tickets were recomputed (the policy's SLA settings changed).
    policy_changed: bool = False
    #: Another server was sweeping: this one did nothing.
    skipped: bool = False


def sweep(*, now: datetime | None = None, database_url: str | None = None) -> SweepReport:
    """Refresh every open ticket whose next check has come (all open ones when the policy
    changed), ``BATCH`` per transaction under the sweep's lock."""
    now = now or utcnow()
    policy = load_policy()
    current = fingerprint(policy)
    refreshed = recorded = 0
    changed = False
    last_id = 0
    while True:
        with session_scope(database_url) as session:
            if not round_lock(session, "sla_sweep"):
                return SweepReport(skipped=True)
            if last_id == 0:
                changed = stored_fingerprint(session) != current
            query = select(Ticket).where(Ticket.status.in_(OPEN_STATUSES), Ticket.id > last_id)
            if not changed:
                query = query.where(Ticket.sla_check_at <= now)
            tickets = list(
                session.execute(query.order_by(Ticket.id).limit(BATCH).with_for_update()).scalars()
            )
            for ticket in tickets:
                recorded += refresh(session, ticket, now, policy)
            refreshed += len(tickets)
            if len(tickets) < BATCH:
                if changed:
                    store_fingerprint(session, current, now)
                break
            last_id = tickets[-1].id
    if recorded or changed:
        logger.info(
            "SLA sweep: %d tickets refreshed, %d warnings/breaches recorded%s",
            refreshed,
            recorded,
            " (policy changed)" if changed else "",
        )
    return SweepReport(refreshed=refreshed, recorded=recorded, policy_changed=changed)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = sweep()
    if report.skipped:
        print("另一个服务正在执行 SLA 检查，本次跳过。")
    else:
        print(
            f"SLA 检查完成：重新计算 {report.refreshed} 个工单，记录预警/超时 {report.recorded} 条"
            + ("（策略已变更，已重算全部未完成工单）" if report.policy_changed else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
