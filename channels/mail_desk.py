"""Mail the desk writes on an e-mail ticket: a staff reply (sent as the agent wrote it, in
the ticket's thread, its number in the subject) and the follow-up of a resolved ticket (a
signed link to confirm the fix and rate the service). Both are queued rows of
``mail_messages``; ``channels.mail_sending`` sends them."""

from __future__ import annotations

import os
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels import mail_settings
from tickets import follow_up_links, mail_store
from tickets.db import session_scope
from tickets.mail_policy import load_mail_policy
from tickets.models import MailMessage, Ticket
from tickets.staff import Staff

#: What clients put before a subject they answer or forward, and the ticket number.
_PREFIXES = re.compile(r"^\s*((re|fw|fwd|答复|回复|转发)\s*[:：]\s*|\[DY-\d{8}-\d{4,}\]\s*)+", re.I)


def public_url() -> str:
    """Where users reach the web pages (``DY_PUBLIC_URL``; default the local web server)."""
    return (
        os.environ.get("DY_PUBLIC_URL") or f"http://localhost:{os.environ.get('WEB_PORT', '8000')}"
    ).rstrip("/")


def _thread(session: Session, ticket: Ticket) -> tuple[str, str | None, list[str]]:
    """The ticket's subject (as the user first wrote it), the id to answer and the chain."""
    mails = list(
        session.execute(
            select(MailMessage)
            .where(MailMessage.ticket_id == ticket.id)
            .order_by(MailMessage.created_at, MailMessage.id)
        ).scalars()
    )
    first_in = next((m for m in mails if m.direction == "in"), None)
    subject = _PREFIXES.sub("", first_in.subject).strip() if first_in else ""
    latest = mails[-1] if mails else None
    if latest is None:
        return subject, None, []
    chain = [r for r in (latest.references or "").split() if r]
    return subject, latest.message_id, [*chain, latest.message_id][-20:]


def _queue_in_thread(
    session: Session,
    ticket: Ticket,
    kind: str,
    template: str,
    *,
    staff_id: int | None = None,
    **values: object,
) -> None:
    """Queue ``template`` (filled with ``values``, the ticket's number and subject) to the
    ticket's contact, answering the newest mail of its thread."""
    policy = load_mail_policy()
    subject, answered, chain = _thread(session, ticket)
    title, body = policy.template(template).render(
        ticket_number=ticket.number,
        subject=subject or policy.wording["your_problem"],
        **values,
    )
    mail_store.queue_out_in(
        session,
        mailbox=mail_settings.address(),
        kind=kind,
        address=ticket.contact_email,
        subject=title,
        body=body,
        ticket_id=ticket.id,
        in_reply_to=answered,
        references=chain,
        staff_id=staff_id,
    )


def queue_staff_reply(
    number: str, actor: Staff, text: str, *, database_url: str | None = None
) -> bool:
    """Queue a staff reply to the ticket's contact; False when the ticket has no address."""
    with session_scope(database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        if not ticket.contact_email:
            return False
        _queue_in_thread(
            session,
            ticket,
            "staff_reply",
            "mail_staff_reply",
            staff_id=actor.id,
            text=text.strip(),
            staff=actor.display_name,
        )
        return True


def queue_follow_up(number: str, *, database_url: str | None = None) -> bool:
    """Queue the follow-up mail of a resolved e-mail ticket (once per resolution); False when
    it has no address or one is already waiting to be answered."""
    days = load_mail_policy().link_days
    with session_scope(database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        if not ticket.contact_email or ticket.resolved_at is None:
            return False
        already = session.execute(
            select(MailMessage.id).where(
                MailMessage.ticket_id == ticket.id,
                MailMessage.kind == "follow_up",
                MailMessage.created_at >= ticket.resolved_at,
            )
        ).first()
        if already is not None:
            return False
        token = follow_up_links.make_token(number, days)
        _queue_in_thread(
            session,
            ticket,
            "follow_up",
            "mail_follow_up",
            link=f"{public_url()}/feedback/{token}",
            days=days,
        )
        return True
