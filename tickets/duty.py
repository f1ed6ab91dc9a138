"""Who is on duty and what they are good at: staff set themselves on duty or away (the account
keeps the state and when it changed), supervisors set each person's skills (problem
categories), and the roster shows everyone who works tickets with their unfinished load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from tickets.db import session_scope
from tickets.models import OPEN_STATUSES, TICKET_ROLES, WAITING_USER, StaffUser, Ticket, utcnow
from tickets.policy import load_policy
from tickets.sla_store import overdue_condition
from tickets.staff import ROLE_LABELS, Staff, StaffError


@dataclass(frozen=True)
class RosterEntry:
    username: str
    display_name: str
    role: str
    available: bool
    available_changed_at: datetime | None
    skills: tuple[str, ...]
    #: Unfinished tickets they own.
    load: int
    #: Of those, how many are past a due time now.
    overdue: int

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


def set_available(
    person: Staff, available: bool, *, now: datetime | None = None, database_url: str | None = None
) -> None:
    """``person`` goes on duty (takes automatically assigned tickets) or away."""
    if not person.works_tickets:
        raise StaffError("内容编辑账号不处理工单，无需设置在岗状态")
    with session_scope(database_url) as session:
        user = session.get(StaffUser, person.id)
        if user is None or not user.active:
            raise StaffError("账号不存在或已停用")
        if bool(user.available) != available:
            user.available = available
            user.available_changed_at = now or utcnow()


def is_available(person: Staff, *, database_url: str | None = None) -> bool:
    """Whether ``person`` is on duty."""
    with session_scope(database_url) as session:
        user = session.get(StaffUser, person.id)
        return bool(user is not None and user.available)


def set_skills(
    actor: Staff, username: str, skills: Iterable[str], *, database_url: str | None = None
) -> tuple[str, ...]:
    """A supervisor sets the problem categories ``username`` is good at (every one must be a
    category of the priority policy); the skills kept, in the policy's order."""
    if not actor.is_supervisor:
        raise StaffError("只有主管可以设置客服擅长的问题类别")
    categories = load_policy().categories
    wanted = {s.strip() for s in skills if s.strip()}
    unknown = sorted(wanted - set(categories))
    if unknown:
        raise StaffError(f"没有这些问题类别：{'、'.join(unknown)}")
    kept = tuple(name for name in categories if name in wanted)
    with session_scope(database_url) as session:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == username.strip().lower())
        ).scalar()
        if user is None or user.role not in TICKET_ROLES:
            raise StaffError(f"找不到客服 {username}")
        user.skills = list(kept)
    return kept


def roster(*, now: datetime | None = None, database_url: str | None = None) -> list[RosterEntry]:
    """Everyone active who works tickets, on duty first, then by name, with their load."""
    now = now or utcnow()
    open_ticket = Ticket.status.in_(OPEN_STATUSES)
    late = (Ticket.status != WAITING_USER) & overdue_condition(now)
    with session_scope(database_url) as session:
        loads = {
            staff_id: (int(n), int(m))
            for staff_id, n, m in session.execute(
                select(
                    Ticket.assignee_id,
                    func.count(),
                    func.count(case((late, 1))),
                )
                .where(open_ticket, Ticket.assignee_id.is_not(None))
                .group_by(Ticket.assignee_id)
            )
        }
        users = session.execute(
            select(StaffUser).where(StaffUser.active.is_(True), StaffUser.role.in_(TICKET_ROLES))
        ).scalars()
        entries = [
            RosterEntry(
                username=user.username,
                display_name=user.display_name,
                role=user.role,
                available=bool(user.available),
                available_changed_at=user.available_changed_at,
                skills=tuple(user.skills or ()),
                load=loads.get(user.id, (0, 0))[0],
                overdue=loads.get(user.id, (0, 0))[1],
            )
            for user in users
        ]
    return sorted(entries, key=lambda e: (not e.available, e.username))
