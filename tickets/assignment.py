"""Automatic assignment: unassigned tickets, most urgent and earliest due first, go to the staff
on duty that the rules of ``data/policy/assignment.yml`` allow (skills: the ticket's category
among theirs), the one with the fewest unfinished tickets first (ties: whoever waited longest
since their last ticket). Nobody suitable on duty: the ticket waits for the next round.

The web server runs :func:`assign_waiting` every few seconds and at once when someone comes on
duty; with several web servers on PostgreSQL one assigns at a time (an advisory lock).
Each assignment is in the ticket's audit trail with the rule and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tickets.assignment_policy import AssignmentPolicy, AssignmentRule, load_assignment_policy
from tickets.db import round_lock, session_scope
from tickets.models import OPEN_STATUSES, StaffUser, Ticket, utcnow
from tickets.policy import PriorityPolicy, load_policy
from tickets.workflow import give

#: Unassigned tickets looked at per priority and round.
ROUND_LIMIT = 200
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Candidate:
    """A member of staff on duty who may take tickets."""

    id: int
    username: str
    display_name: str
    skills: frozenset[str]
    #: Unfinished tickets they own now.
    load: int
    last_assigned_at: datetime | None


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class Assigned:
    number: str
    username: str
    reason: str


def choose(
    category: str,
    waited: timedelta,
    rule: AssignmentRule,
    candidates: Sequence[Candidate],
    limit: int,
    category_label: str,
) -> Choice | None:
    """The candidate the rule gives a ticket of ``category`` that has waited ``waited``, with
    the reason; None when nobody suitable is on duty (or everyone is at ``limit``)."""
    free = [c for c in candidates if c.load < limit]
    skilled = [c for c in free if category in c.skills]
    fallback = rule.fallback_minutes is not None and waited >= timedelta(
        minutes=rule.fallback_minutes
    )
    if rule.skill == "ignored":
        pool, why = free, "未完成工单最少"
    elif skilled:
        pool, why = skilled, f"擅长「{category_label}」，未完成工单最少"
    elif rule.skill == "preferred" or fallback:
        pool = free
        why = (
            f"等待超过 {rule.fallback_minutes:g} 分钟仍无擅长「{category_label}」的客服在岗，"
            "交给未完成工单最少的在岗客服"
            if rule.skill == "required"
            else f"无擅长「{category_label}」的客服在岗，交给未完成工单最少的在岗客服"
        )
    else:
        return None
    if not pool:
        return None
    best = min(pool, key=lambda c: (c.load, c.last_assigned_at or EPOCH, c.id))
    return Choice(best, f"{rule.name}：{why}（当时负责 {best.load} 个）")


def candidates(session: Session, policy: AssignmentPolicy) -> list[Candidate]:
    """Staff on duty in the rules' roles, with their unfinished tickets counted."""
    load = (
        select(Ticket.assignee_id, func.count().label("n"))
        .where(Ticket.status.in_(OPEN_STATUSES), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
        .subquery()
    )
    rows = session.execute(
        select(StaffUser, func.coalesce(load.c.n, 0))
        .join(load, load.c.assignee_id == StaffUser.id, isouter=True)
        .where(
            StaffUser.active.is_(True),
            StaffUser.available.is_(True),
            StaffUser.role.in_(policy.roles),
        )
    ).all()
    return [
        Candidate(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            skills=frozenset(str(s) for s in (user.skills or [])),
            load=int(n),
            last_assigned_at=user.last_assigned_at,
        )
        for user, n in rows
    ]


def _waiting(session: Session, priorities: PriorityPolicy) -> list[Ticket]:
    """Unassigned open tickets, most urgent priority first, each priority by due time (the
    queue index's range per priority)."""
    found: list[Ticket] = []
    ranked = sorted(priorities.levels, key=lambda name: priorities.levels[name].rank)
    known = set(ranked)
    for priority in [*ranked, None]:
        query = select(Ticket).where(Ticket.status == "open", Ticket.assignee_id.is_(None))
        if priority is None:  # a priority the policy no longer knows: last
            query = query.where(Ticket.priority.not_in(known))
        else:
            query = query.where(Ticket.priority == priority)
        found += session.execute(
            query.order_by(Ticket.sla_due_at).limit(ROUND_LIMIT).with_for_update(skip_locked=True)
        ).scalars()
    return found


def assign_waiting(
    *, now: datetime | None = None, database_url: str | None = None
) -> list[Assigned]:
    """One round: every waiting ticket that someone suitable on duty can take is assigned (in
    one transaction); what was assigned, in order."""
    rules = load_assignment_policy()
    if not rules.enabled:
        return []
    priorities = load_policy()
    now = now or utcnow()
    done: list[Assigned] = []
    with session_scope(database_url) as session:
        if not round_lock(session, "assignment"):
            return []
        pool = {c.id: c for c in candidates(session, rules)}
        if not pool:
            return []
        for ticket in _waiting(session, priorities):
            rule = rules.rule_for(ticket.priority, ticket.category)
            choice = choose(
                ticket.category,
                now - ticket.created_at,
                rule,
                list(pool.values()),
                rules.max_open_per_person,
                priorities.category_label(ticket.category),
            )
            if choice is None:
                continue
            person = session.get(StaffUser, choice.candidate.id)
            give(session, ticket, person, None, choice.reason, auto=True, now=now)
            pool[person.id] = replace(
                choice.candidate, load=choice.candidate.load + 1, last_assigned_at=now
            )
            done.append(Assigned(ticket.number, person.username, choice.reason))
    return done
