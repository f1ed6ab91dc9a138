"""The desk's mail out: every ``pending`` row of ``mail_messages`` (auto-replies, bounces,
staff replies, follow-ups) handed to the SMTP relay (``MAIL_RELAY_*``) with its threading
headers, retried with back-off when the relay does not take it. Automatic mail says so
(``Auto-Submitted``), so well-behaved auto-responders do not answer it."""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select

from channels import mail_settings
from tickets import mail_store
from tickets.db import session_scope
from tickets.models import MailMessage, utcnow

logger = logging.getLogger(__name__)
#: Mail the desk sends by itself (not written by a person).
AUTOMATIC_KINDS = ("auto_reply", "bounce", "follow_up")
SMTP_TIMEOUT_SECONDS = 30


def _angle(message_id: str) -> str:
    return f"<{message_id}>"


def compose(row: MailMessage, *, sender: str, name: str) -> EmailMessage:
    """The mail of one queued row."""
    message = EmailMessage()
    local, _, domain = sender.partition("@")
    message["From"] = Address(display_name=name, username=local, domain=domain)
    message["To"] = row.address
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = _angle(row.message_id)
    if row.in_reply_to:
        message["In-Reply-To"] = _angle(row.in_reply_to)
    references = [r for r in (row.references or "").split() if r]
    if references:
        message["References"] = " ".join(_angle(r.strip("<>")) for r in references)
    if row.kind in AUTOMATIC_KINDS:
        message["Auto-Submitted"] = "auto-replied" if row.kind != "follow_up" else "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(row.body, charset="utf-8")
    return message


def _deliver(message: EmailMessage, relay: mail_settings.Relay, envelope_from: str) -> None:
    with smtplib.SMTP(relay.host, relay.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if relay.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if relay.user:
            smtp.login(relay.user, relay.password)
        # automatic mail goes out with an empty envelope sender: a failure of it bounces to
        # nobody, never into a loop of bounces (RFC 3834)
        smtp.send_message(message, from_addr=envelope_from)


def send_due(now: datetime | None = None, *, database_url: str | None = None) -> int:
    """Send every mail whose time has come; how many went out. Without a relay nothing is
    sent (the mail waits, and the console shows it as waiting)."""
    relay = mail_settings.relay()
    if relay is None:
        return 0
    sent = 0
    for mail_id in mail_store.due_outgoing(now, database_url=database_url):
        with session_scope(database_url) as session:
            row = session.execute(
                select(MailMessage).where(MailMessage.id == mail_id).with_for_update()
            ).scalar_one()
            if row.status != "pending":
                continue
            envelope_from = "" if row.kind in AUTOMATIC_KINDS else row.mailbox
            moment = now or utcnow()
            try:
                message = compose(row, sender=row.mailbox, name=mail_settings.display_name())
            except (ValueError, TypeError) as exc:  # a row no mail can be made of: not retried
                row.status, row.problem = "failed", f"邮件无法生成（{type(exc).__name__}）"
                row.next_attempt_at = None
                logger.error("mail %s cannot be composed (%s)", row.id, type(exc).__name__)
                continue
            try:
                _deliver(message, relay, envelope_from)
            except (OSError, smtplib.SMTPException) as exc:
                mail_store.sending_failed_in(session, row, f"{type(exc).__name__}", moment)
                logger.warning(
                    "mail %s not sent (%s); try %s", row.id, type(exc).__name__, row.attempts
                )
                continue
            mail_store.sent_in(session, row, moment)
            sent += 1
            logger.info("mail %s sent (%s)", row.id, row.kind)
    return sent
