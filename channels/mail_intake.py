"""A support mail, from the moment it arrives to its ticket: kept raw in the spool first, read
(``channels.mail_reading``), deduplicated on its Message-ID per mailbox, threaded to its
ticket (In-Reply-To / References, or the ticket number in the subject from the ticket's own
address), else made a new ``email`` ticket that the understanding categorises and the
priority policy dates from the arrival; its attachments stored within the limits; an
auto-reply queued (never to an automatic mail, a bounce or our own address, and at most so
many an hour per sender). A mail too large or unreadable gets a clear answer instead, its raw
copy kept for staff.

Every step can be read again: a reading cut short (a crash, the database down) leaves the
mail in the spool and :meth:`MailIntake.process_spool` finishes it, with one ticket and one
auto-reply. Logs hold no addresses and no mail text.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.mail_reading import ReadMail, read_mail
from channels.report_understanding import Understanding, understand
from tickets import mail_store, store, workflow
from tickets.config import DISPLAY_TZ
from tickets.db import session_scope
from tickets.mail_policy import MB, MailPolicy, load_mail_policy
from tickets.models import Ticket, utcnow
from tickets.policy import load_policy
from tickets.privacy import mask_email

logger = logging.getLogger(__name__)

#: What became of a mail (``mail_messages.kind`` of one that came in; duplicate and waiting
#: are outcomes only).
NEW, REPLY, AUTOMATIC, OWN, TOO_LARGE, MALFORMED, NO_SENDER, FAILED = (
    "new",
    "reply",
    "automatic",
    "own",
    "too_large",
    "malformed",
    "no_sender",
    "failed",
)
DUPLICATE, WAITING = "duplicate", "waiting"
#: How long a new mail waits for the understanding (Rasa starting, restarting) before its
#: ticket is made without it (category left to staff, urgency unknown).
UNDERSTANDING_WAIT = timedelta(minutes=10)
#: How a report is understood: subject and text in, category and urgency out.
Understand = Callable[[str, str, float], Understanding]


def _understand_with_rasa(subject: str, text: str, min_confidence: float) -> Understanding:
    return understand(subject, text, min_confidence=min_confidence)


@dataclass(frozen=True)
class Outcome:
    kind: str
    ticket_number: str | None = None
    #: An automatic answer (auto-reply or bounce) was queued.
    answered: str | None = None
    mail_id: int | None = None


def _headers_only(raw: bytes) -> bytes:
    """The header block of a raw mail (a mail too large to read is answered from it)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in raw:
            return raw.split(separator, 1)[0] + separator
    return raw[:65536]


def _read_headers(raw: bytes) -> ReadMail:
    try:
        return read_mail(_headers_only(raw))
    except Exception:  # noqa: BLE001 - not even the headers: a row with no sender
        return ReadMail(None, None, (), None, "", "", "", problems=("邮件头无法读取",))


class NotYet(Exception):
    """The mail cannot be read well now (the understanding does not answer): it stays in the
    spool and is read again by the next round, its clocks still dated from its arrival."""


def mail_key(mailbox: str, message_id: str) -> str:
    """The idempotency key of the ticket a mail makes."""
    return hashlib.sha256(f"mail\x1f{mailbox}\x1f{message_id}".encode()).hexdigest()


def sender_id_of(address: str) -> str:
    """The conversation id of a mail sender's tickets."""
    return f"email:{address.lower()}"


class MailIntake:
    """The intake of one support mailbox (``mailbox``: its address)."""

    def __init__(
        self,
        mailbox: str,
        *,
        own_addresses: tuple[str, ...] = (),
        understand_report: Understand | None = None,
        database_url: str | None = None,
    ) -> None:
        self.mailbox = mailbox.lower()
        self.own = {self.mailbox, *(a.lower() for a in own_addresses)}
        self.understand = understand_report or _understand_with_rasa
        self.database_url = database_url

    # --- the entry points ---------------------------------------------------------------

    def receive(self, raw: bytes, arrived_at: datetime | None = None) -> Outcome | None:
        """A mail that just arrived: kept, then read. None when it could not be read now (the
        database is down): it stays in the spool for :meth:`process_spool`."""
        path = mail_store.spool(raw, arrived_at)
        try:
            return self.process(path)
        except store.UNAVAILABLE as exc:
            logger.error(
                "mail kept in the spool, the ticket database is unavailable (%s)",
                type(exc).__name__,
            )
            return None

    def process_spool(self) -> list[Outcome]:
        """Read every mail still in the spool (oldest first); stops at a database outage."""
        done = []
        for path in mail_store.spooled():
            try:
                done.append(self.process(path))
            except store.UNAVAILABLE:
                break
        return done

    # --- one mail -----------------------------------------------------------------------

    def process(self, path: Path) -> Outcome:
        raw = path.read_bytes()
        arrived_at = mail_store.arrival_of(path)
        policy = load_mail_policy()
        too_large = len(raw) > policy.max_mail_bytes
        read, unreadable = self._read(raw, too_large)
        message_id = mail_store.bare(read.message_id or "") or mail_store.synthetic_id(raw)
        incoming = mail_store.begin_incoming(
            mailbox=self.mailbox,
            message_id=message_id,
            raw_path=mail_store.archived_name(path),
            size=len(raw),
            address=read.sender,
            subject=read.subject,
            arrived_at=arrived_at,
            database_url=self.database_url,
        )
        if incoming.duplicate:
            mail_store.archive(path)
            logger.info("mail %s was read before: no second ticket", incoming.id)
            return Outcome(DUPLICATE, mail_id=incoming.id)
        try:
            outcome = self._handle(
                read,
                message_id,
                incoming.id,
                arrived_at,
                policy,
                too_large=too_large,
                raw_size=len(raw),
                unreadable=unreadable,
            )
        except NotYet:
            logger.info("mail %s waits for the understanding (kept in the spool)", incoming.id)
            return Outcome(WAITING, mail_id=incoming.id)
        except store.UNAVAILABLE:
            raise  # kept in the spool: read again when the database is back
        except Exception as exc:
            logger.exception(
                "mail %s could not be made a ticket (%s)", incoming.id, type(exc).__name__
            )
            mail_store.fail_incoming(
                incoming.id,
                f"处理时出错（{type(exc).__name__}），请打开原始邮件人工处理",
                database_url=self.database_url,
            )
            mail_store.archive(path)
            return Outcome(FAILED, mail_id=incoming.id)
        mail_store.archive(path)
        logger.info(
            "mail %s: %s%s",
            incoming.id,
            outcome.kind,
            f" -> {outcome.ticket_number}" if outcome.ticket_number else "",
        )
        return outcome

    def _read(self, raw: bytes, too_large: bool) -> tuple[ReadMail, bool]:
        """The mail as read (only its headers when too large) and whether nothing of its
        content could be read. Never raises: a mail whose very headers cannot be read is
        recorded with what little is known (no sender), for staff to look at."""
        if too_large:
            return _read_headers(raw), False
        try:
            read = read_mail(raw)
        except Exception as exc:  # noqa: BLE001 - any parser failure: answer from the headers
            logger.warning("mail unreadable (%s): answered from its headers", type(exc).__name__)
            return _read_headers(raw), True
        nothing = not read.text.strip() and not read.attachments
        return read, nothing and bool(read.problems or not read.subject.strip())

    def _handle(
        self,
        read: ReadMail,
        message_id: str,
        mail_id: int,
        arrived_at: datetime,
        policy: MailPolicy,
        *,
        too_large: bool,
        raw_size: int,
        unreadable: bool,
    ) -> Outcome:
        sender = read.sender
        if sender is None:
            return self._finish(
                mail_id,
                read,
                NO_SENDER,
                None,
                arrived_at,
                problem="发件人地址缺失或无法识别，无法回复",
            )
        if sender in self.own:
            return self._finish(
                mail_id,
                read,
                OWN,
                None,
                arrived_at,
                problem="来自本客服邮箱自己的地址，已忽略（防止循环）",
            )
        with session_scope(self.database_url) as session:
            threaded = mail_store.thread_ticket_in(
                session, self.mailbox, [mail_store.bare(i) for i in read.thread_ids]
            )
            if threaded is None:
                threaded = mail_store.ticket_by_subject_in(session, read.subject, sender)
            thread = (
                (threaded.number, threaded.status, (threaded.contact_email or "").lower())
                if threaded is not None
                else None
            )
        if read.automatic:
            return self._finish(
                mail_id,
                read,
                AUTOMATIC,
                thread[0] if thread else None,
                arrived_at,
                problem=f"自动邮件（{read.automatic}），不回复",
            )
        if too_large:
            return self._answer(
                mail_id,
                read,
                TOO_LARGE,
                arrived_at,
                policy,
                "mail_too_large",
                problem=f"邮件约 {raw_size / MB:.1f} MB，超过 {policy.max_mail_bytes / MB:g} MB",
                size_mb=f"{raw_size / MB:.1f}",
                max_mb=f"{policy.max_mail_bytes / MB:g}",
                ticket=thread[0] if thread else None,
            )
        if unreadable:
            return self._answer(
                mail_id,
                read,
                MALFORMED,
                arrived_at,
                policy,
                "mail_unreadable",
                problem="；".join(read.problems) or "邮件内容无法读取",
                ticket=thread[0] if thread else None,
            )
        if thread is not None and thread[1] != "closed":
            report = self._report(read)
            if sender != thread[2]:  # a colleague on copy, say: staff see it is not the contact
                report = f"（发件人：{mask_email(sender)}）{report}"
            workflow.user_wrote_on(
                thread[0],
                report,
                channel="email",
                source=f"mail:{mail_id}",
                now=arrived_at,
                database_url=self.database_url,
            )
            return self._finish(
                mail_id,
                read,
                REPLY,
                thread[0],
                arrived_at,
                policy=policy,
                problem="；".join(read.problems),
            )
        return self._new_ticket(
            read, message_id, mail_id, arrived_at, policy, earlier=thread[0] if thread else None
        )

    @staticmethod
    def _report(read: ReadMail) -> str:
        return read.text.strip() or f"（邮件无正文，{len(read.attachments)} 个附件）"

    def _new_ticket(
        self,
        read: ReadMail,
        message_id: str,
        mail_id: int,
        arrived_at: datetime,
        policy: MailPolicy,
        *,
        earlier: str | None,
    ) -> Outcome:
        assert read.sender is not None
        report = read.body or self._report(read)  # a new report keeps what it forwarded
        understood = self.understand(read.subject, report, policy.min_confidence)
        if not understood.answered and utcnow() - arrived_at < UNDERSTANDING_WAIT:
            raise NotYet
        text = f"{read.subject}\n\n{report}".strip()
        if earlier:
            text = f"（接续已关闭的工单 {earlier}）\n{text}"
        ticket = store.create_or_join(
            idempotency_key=mail_key(self.mailbox, message_id),
            sender_id=sender_id_of(read.sender),
            category=understood.category,
            reason="user_request",
            urgent_signal=understood.urgent,
            transcript=[
                {"role": "user", "text": text, "ts": arrived_at.isoformat(), "channel": "email"}
            ],
            now=arrived_at,
            join=False,
            channel="email",
            category_unsure=understood.unsure,
            contact_email=read.sender,
            database_url=self.database_url,
        )
        priority = load_policy()
        values = {
            "ticket_number": ticket.number,
            "subject": read.subject or policy.wording["no_subject"],
            "category": policy.wording["category_unsure"]
            if ticket.category_unsure
            else priority.category_label(ticket.category),
            "priority": priority.priority_label(ticket.priority),
            "promise": priority.priority_promise(ticket.priority),
            "due_time": ticket.sla_due_at.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M"),
        }
        return self._finish(
            mail_id,
            read,
            NEW,
            ticket.number,
            arrived_at,
            policy=policy,
            problem="；".join(read.problems),
            reply=("mail_ticket_created", values),
        )

    def _answer(
        self,
        mail_id: int,
        read: ReadMail,
        kind: str,
        arrived_at: datetime,
        policy: MailPolicy,
        template: str,
        *,
        problem: str,
        ticket: str | None,
        **values: str,
    ) -> Outcome:
        values = {"subject": read.subject or policy.wording["no_subject"], **values}
        return self._finish(
            mail_id,
            read,
            kind,
            ticket,
            arrived_at,
            policy=policy,
            problem=problem,
            reply=(template, values),
        )

    def _finish(
        self,
        mail_id: int,
        read: ReadMail,
        kind: str,
        ticket_number: str | None,
        arrived_at: datetime,
        *,
        policy: MailPolicy | None = None,
        problem: str = "",
        reply: tuple[str, dict[str, str]] | None = None,
    ) -> Outcome:
        """One transaction: what became of the mail, its attachments on the ticket, and the
        automatic answer (within the rate limit) queued."""
        answered = None
        with session_scope(self.database_url) as session:
            ticket = None
            if ticket_number:
                ticket = session.execute(
                    select(Ticket).where(Ticket.number == ticket_number)
                ).scalar_one()
            first = mail_store.finish_incoming_in(
                session,
                mail_id,
                kind=kind,
                ticket_id=ticket.id if ticket is not None else None,
                body=read.text,
                in_reply_to=mail_store.bare(read.in_reply_to or "") or None,
                references=[mail_store.bare(r) for r in read.references],
                problem=problem,
            )
            if not first:
                return Outcome(kind, ticket_number, None, mail_id)
            if ticket is not None and policy is not None and kind in (NEW, REPLY):
                self._attach(session, ticket.id, mail_id, read, policy)
            if reply is not None and read.sender and not read.automatic and not read.quiet:
                answered = self._queue_answer(
                    session, read, mail_id, arrived_at, policy, reply, ticket
                )
        return Outcome(kind, ticket_number, answered, mail_id)

    @staticmethod
    def _attach(
        session: Session, ticket_id: int, mail_id: int, read: ReadMail, policy: MailPolicy
    ) -> None:
        for index, attachment in enumerate(read.attachments):
            refused = ""
            if index >= policy.max_attachments:
                refused = f"超过每封邮件 {policy.max_attachments} 个附件的上限，未保存"
            elif len(attachment.data) > policy.max_attachment_bytes:
                refused = f"超过单个附件 {policy.max_attachment_bytes / MB:g} MB 的上限，未保存"
            mail_store.add_attachment_in(
                session,
                ticket_id=ticket_id,
                mail_id=mail_id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                data=attachment.data,
                inline_image=attachment.inline_image,
                refused=refused,
            )

    def _queue_answer(
        self,
        session: Session,
        read: ReadMail,
        mail_id: int,
        arrived_at: datetime,
        policy: MailPolicy | None,
        reply: tuple[str, dict[str, str]],
        ticket: Ticket | None,
    ) -> str | None:
        assert read.sender is not None and policy is not None
        since = arrived_at - timedelta(hours=1)
        if mail_store.auto_replies_since_in(session, None, since) >= policy.auto_replies_total:
            logger.warning(
                "mail %s: no auto-reply, the hourly limit of all of them is reached", mail_id
            )
            return None
        if mail_store.auto_replies_since_in(session, read.sender, since) >= (
            policy.auto_replies_per_hour
        ):
            logger.info("mail %s: no auto-reply, the sender's hourly limit is reached", mail_id)
            return None
        template, values = reply
        subject, text = policy.template(template).render(**values)
        own_id = mail_store.bare(read.message_id or "")
        mail_store.queue_out_in(
            session,
            mailbox=self.mailbox,
            kind="auto_reply" if template == "mail_ticket_created" else "bounce",
            address=read.sender,
            subject=subject,
            body=text,
            ticket_id=ticket.id if ticket is not None else None,
            in_reply_to=own_id,
            references=[mail_store.bare(r) for r in read.references] + ([own_id] if own_id else []),
            at=arrived_at,
        )
        return template
