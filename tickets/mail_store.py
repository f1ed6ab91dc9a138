"""The support mailbox's mail: the raw copies on disk and the ``mail_messages`` rows.

A mail that comes in is written to the spool (``incoming/``) before anything reads it, so a
parser error, a database outage or a crash loses nothing: what is in the spool is read again
until it is done, and then moved to ``raw/<day>/`` (its row says where). Attachments are kept
once by content under ``attachments/``. Mail the desk sends is a row queued ``pending`` until
the sender (``channels.mail_sending``) has handed it to the relay.

Every function is synchronous; the ``*_in`` ones work in the caller's session.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tickets import config
from tickets.db import session_scope
from tickets.models import (
    MailMessage,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketMeta,
    utcnow,
)

INCOMING, RAW, ATTACHMENTS = "incoming", "raw", "attachments"
#: ``<arrival in UTC, microseconds>-<when it was kept, ns>-<random>.eml``: the spool's names
#: sort by arrival, and mails of the same arrival (IMAP dates have whole seconds) in the order
#: they were kept, so an original is read before its reply.
_SPOOL_NAME = re.compile(r"^(\d{8}T\d{12})-\d{20}-[0-9a-f]{32}\.eml$")
_STAMP = "%Y%m%dT%H%M%S%f"
#: A mail not sent yet is tried again after 1, 2, 4, ... minutes, this many times.
MAX_SEND_ATTEMPTS = 8
#: Ticket numbers as they appear in a subject (``[DY-20261204-0001]``).
NUMBER_IN_SUBJECT = re.compile(r"DY-\d{8}-\d{4,}")


def store_dir() -> Path:
    return config.mail_store_dir()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def spool(raw: bytes, arrived_at: datetime | None = None) -> Path:
    """Keep a mail that just came in (durably, before it is read); its path in the spool."""
    at = (arrived_at or utcnow()).astimezone(timezone.utc)
    kept = time.time_ns()
    path = store_dir() / INCOMING / f"{at.strftime(_STAMP)}-{kept:020d}-{uuid.uuid4().hex}.eml"
    _write_atomically(path, raw)
    return path


def spooled() -> list[Path]:
    """The mail in the spool not done yet, oldest first."""
    folder = store_dir() / INCOMING
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _SPOOL_NAME.match(p.name))


def arrival_of(path: Path) -> datetime:
    """When the mail in the spool at ``path`` arrived (its clocks start here)."""
    found = _SPOOL_NAME.match(path.name)
    if not found:
        raise ValueError(f"not a spooled mail: {path.name}")
    return datetime.strptime(found.group(1), _STAMP).replace(tzinfo=timezone.utc)


def archived_name(path: Path) -> str:
    """Where the spooled mail at ``path`` is kept once done, relative to the store."""
    at = arrival_of(path)
    return f"{RAW}/{at:%Y/%m/%d}/{path.name}"


def archive(path: Path) -> str:
    """Move a spooled mail to its place in ``raw/`` (where its row points)."""
    name = archived_name(path)
    target = store_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        os.replace(path, target)
    return name


def raw_bytes(name: str) -> bytes:
    """The raw copy of a mail kept at ``name`` (a row's ``raw_path``)."""
    path = (store_dir() / name).resolve()
    if store_dir().resolve() not in path.parents:
        raise ValueError("not a path in the mail store")
    return path.read_bytes()


def keep_attachment(data: bytes) -> str:
    """Store an attachment once by content; its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    path = attachment_file(digest)
    if not path.exists():
        _write_atomically(path, data)
    return digest


def attachment_file(digest: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("not a SHA-256")
    return store_dir() / ATTACHMENTS / digest[:2] / digest


def bare(message_id: str) -> str:
    """A message id as the store keeps it: without its angle brackets."""
    return message_id.strip().strip("<>").strip()


def synthetic_id(raw: bytes) -> str:
    """The Message-ID of a mail that has none: the same bytes get the same one (a mail
    delivered twice is still one ticket)."""
    return f"sha256-{hashlib.sha256(raw).hexdigest()}@dy.invalid"


def new_message_id(mailbox: str) -> str:
    domain = mailbox.rsplit("@", 1)[-1] if "@" in mailbox else "dy.invalid"
    return f"dy.{uuid.uuid4().hex}@{domain}"


# --- mail that came in ----------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    id: int
    #: The mail was read before and is done (delivered twice): nothing more to do.
    duplicate: bool
    #: The ticket an earlier, interrupted reading of it already reached, if any.
    ticket_id: int | None


def begin_incoming(
    *,
    mailbox: str,
    message_id: str,
    raw_path: str,
    size: int,
    address: str | None,
    subject: str,
    arrived_at: datetime,
    database_url: str | None = None,
) -> Incoming:
    """The row of a mail being read: a new one (``received``), the one an interrupted
    reading left (read again), or the one of an earlier delivery (``duplicate``)."""
    for _attempt in range(2):
        try:
            with session_scope(database_url) as session:
                row = _incoming_row(session, mailbox, message_id)
                if row is not None:
                    return Incoming(row.id, row.status != "received", row.ticket_id)
                row = MailMessage(
                    mailbox=mailbox,
                    direction="in",
                    message_id=message_id[:255],
                    kind="new",
                    status="received",
                    address=(address or "")[:254] or None,
                    subject=subject[:1000],
                    raw_path=raw_path,
                    size=size,
                    created_at=arrived_at,
                )
                session.add(row)
                session.flush()
                return Incoming(row.id, False, None)
        except IntegrityError:
            continue  # the same mail, read at the same moment elsewhere: the next loop finds it
    raise RuntimeError("could not record the incoming mail")


def _incoming_row(session: Session, mailbox: str, message_id: str) -> MailMessage | None:
    row: MailMessage | None = session.execute(
        select(MailMessage).where(
            MailMessage.mailbox == mailbox,
            MailMessage.direction == "in",
            MailMessage.message_id == message_id[:255],
        )
    ).scalar_one_or_none()
    return row


def thread_ticket_in(session: Session, mailbox: str, ids: Sequence[str]) -> Ticket | None:
    """The ticket of the nearest mail of this mailbox (in or out) that ``ids`` answer."""
    wanted = [i[:255] for i in ids if i]
    if not wanted:
        return None
    rows = session.execute(
        select(MailMessage.message_id, MailMessage.ticket_id).where(
            MailMessage.mailbox == mailbox,
            MailMessage.message_id.in_(wanted),
            MailMessage.ticket_id.is_not(None),
        )
    ).all()
    by_id = {row.message_id: row.ticket_id for row in rows}
    for wanted_id in wanted:  # nearest first
        if wanted_id in by_id:
            ticket: Ticket | None = session.get(Ticket, by_id[wanted_id])
            return ticket
    return None


def ticket_by_subject_in(session: Session, subject: str, sender: str | None) -> Ticket | None:
    """The ticket whose number the subject carries, when the mail comes from its contact."""
    if not sender:
        return None
    for number in NUMBER_IN_SUBJECT.findall(subject or ""):
        ticket: Ticket | None = session.execute(
            select(Ticket).where(Ticket.number == number)
        ).scalar_one_or_none()
        if ticket is not None and (ticket.contact_email or "").lower() == sender.lower():
            return ticket
    return None


def add_attachment_in(
    session: Session,
    *,
    ticket_id: int,
    mail_id: int,
    filename: str,
    content_type: str,
    data: bytes,
    inline_image: bool,
    refused: str = "",
) -> None:
    """One attachment of a mail on its ticket: stored, or (``refused`` says why) only listed."""
    digest = keep_attachment(data) if not refused else hashlib.sha256(data).hexdigest()
    session.add(
        TicketAttachment(
            ticket_id=ticket_id,
            mail_id=mail_id,
            filename=filename[:255] or "附件",
            content_type=content_type[:100],
            size=len(data),
            sha256=digest,
            stored=not refused,
            inline_image=inline_image and not refused,
            refused=refused[:100],
            created_at=utcnow(),
        )
    )


def finish_incoming_in(
    session: Session,
    mail_id: int,
    *,
    kind: str,
    ticket_id: int | None,
    body: str,
    in_reply_to: str | None,
    references: Sequence[str],
    problem: str = "",
    status: str = "done",
    at: datetime | None = None,
) -> bool:
    """Record what became of a mail; False when another reading finished it first (the
    caller then does nothing more: no second auto-reply)."""
    row = session.execute(
        select(MailMessage).where(MailMessage.id == mail_id).with_for_update()
    ).scalar_one()
    if row.status != "received":
        return False
    row.kind = kind
    row.ticket_id = ticket_id
    row.body = body[:20000]
    row.in_reply_to = (in_reply_to or "")[:255] or None
    row.references = " ".join(references)[:4000]
    row.problem = problem[:2000]
    row.status = status
    row.done_at = at or utcnow()
    return True


def fail_incoming(mail_id: int, problem: str, *, database_url: str | None = None) -> None:
    """A mail that could not be made a ticket: kept (raw), marked for staff to look at."""
    with session_scope(database_url) as session:
        row = session.get(MailMessage, mail_id)
        if row is not None and row.status == "received":
            row.kind, row.status, row.problem, row.done_at = "failed", "done", problem, utcnow()


# --- where the IMAP poller stopped ----------------------------------------------------------


def imap_mark(key: str, *, database_url: str | None = None) -> int | None:
    """The last UID the poller kept of one mailbox folder (``key`` names the server, the
    account, the folder and its UIDVALIDITY), None before its first round."""
    with session_scope(database_url) as session:
        row = session.get(TicketMeta, key[:64])
        return int(row.value) if row is not None else None


def set_imap_mark(key: str, uid: int, *, database_url: str | None = None) -> None:
    with session_scope(database_url) as session:
        row = session.get(TicketMeta, key[:64])
        if row is None:
            session.add(TicketMeta(key=key[:64], value=str(uid), updated_at=utcnow()))
        elif int(row.value) < uid:
            row.value, row.updated_at = str(uid), utcnow()


# --- mail the desk sends --------------------------------------------------------------------


def queue_out_in(
    session: Session,
    *,
    mailbox: str,
    kind: str,
    address: str,
    subject: str,
    body: str,
    ticket_id: int | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    staff_id: int | None = None,
    at: datetime | None = None,
) -> MailMessage:
    """A mail to send (``pending``; the sender hands it to the relay)."""
    moment = at or utcnow()
    row = MailMessage(
        mailbox=mailbox,
        direction="out",
        message_id=new_message_id(mailbox),
        kind=kind,
        status="pending",
        ticket_id=ticket_id,
        address=address[:254],
        subject=subject[:1000],
        body=body,
        in_reply_to=(in_reply_to or "")[:255] or None,
        references=" ".join(references)[:4000],
        staff_id=staff_id,
        next_attempt_at=moment,
        created_at=moment,
    )
    session.add(row)
    session.flush()
    return row


def auto_replies_since_in(session: Session, address: str | None, since: datetime) -> int:
    """How many automatic mails went (or wait to go) to ``address`` (None: to anyone) since
    ``since``."""
    query = select(func.count()).where(
        MailMessage.kind.in_(("auto_reply", "bounce")),
        MailMessage.direction == "out",
        MailMessage.created_at >= since,
    )
    if address is not None:
        query = query.where(MailMessage.address == address[:254])
    count: int = session.execute(query).scalar_one()
    return count


def due_outgoing(
    now: datetime | None = None, *, limit: int = 20, database_url: str | None = None
) -> list[int]:
    """The ids of mail waiting to be sent whose time has come, oldest first."""
    moment = now or utcnow()
    with session_scope(database_url) as session:
        return list(
            session.execute(
                select(MailMessage.id)
                .where(
                    MailMessage.direction == "out",
                    MailMessage.status == "pending",
                    MailMessage.next_attempt_at <= moment,
                )
                .order_by(MailMessage.next_attempt_at, MailMessage.id)
                .limit(limit)
            ).scalars()
        )


def sending_failed_in(session: Session, row: MailMessage, problem: str, now: datetime) -> None:
    """A try at sending failed: try again later, or give up after ``MAX_SEND_ATTEMPTS``."""
    row.attempts = (row.attempts or 0) + 1
    row.problem = problem[:2000]
    if row.attempts >= MAX_SEND_ATTEMPTS:
        row.status = "failed"
        row.next_attempt_at = None
    else:
        row.next_attempt_at = now + timedelta(minutes=2 ** (row.attempts - 1))


def sent_in(session: Session, row: MailMessage, now: datetime) -> None:
    row.status = "sent"
    row.attempts = (row.attempts or 0) + 1
    row.problem = ""
    row.next_attempt_at = None
    row.done_at = now


# --- what the console shows -----------------------------------------------------------------


@dataclass(frozen=True)
class MailLine:
    """One mail of a ticket (or of the mailbox), without its addresses."""

    id: int
    direction: str
    kind: str
    status: str
    subject: str
    problem: str
    at: datetime
    size: int
    attempts: int
    ticket_number: str | None = None
    has_raw: bool = False


@dataclass(frozen=True)
class AttachmentLine:
    id: int
    filename: str
    content_type: str
    size: int
    stored: bool
    inline_image: bool
    refused: str

    @property
    def size_text(self) -> str:
        """The size as people read it (KB under 1 MB)."""
        if self.size >= 1024 * 1024:
            return f"{self.size / (1024 * 1024):.1f} MB"
        return f"{max(1, round(self.size / 1024))} KB"


@dataclass(frozen=True)
class TicketMail:
    channel: str
    category_unsure: bool
    mails: list[MailLine]
    attachments: list[AttachmentLine]


def _line(row: MailMessage, number: str | None = None) -> MailLine:
    return MailLine(
        id=row.id,
        direction=row.direction,
        kind=row.kind,
        status=row.status,
        subject=row.subject,
        problem=row.problem,
        at=row.created_at,
        size=row.size or 0,
        attempts=row.attempts or 0,
        ticket_number=number,
        has_raw=bool(row.raw_path),
    )


def ticket_mail(number: str, *, database_url: str | None = None) -> TicketMail | None:
    """A ticket's channel, its mail in and out (oldest first) and its attachments."""
    with session_scope(database_url) as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar()
        if ticket is None:
            return None
        rows = session.execute(
            select(MailMessage)
            .where(MailMessage.ticket_id == ticket.id)
            .order_by(MailMessage.created_at, MailMessage.id)
        ).scalars()
        files = session.execute(
            select(TicketAttachment)
            .where(TicketAttachment.ticket_id == ticket.id)
            .order_by(TicketAttachment.id)
        ).scalars()
        return TicketMail(
            channel=ticket.channel,
            category_unsure=bool(ticket.category_unsure),
            mails=[_line(row, number) for row in rows],
            attachments=[
                AttachmentLine(
                    id=f.id,
                    filename=f.filename,
                    content_type=f.content_type,
                    size=f.size,
                    stored=f.stored,
                    inline_image=f.inline_image,
                    refused=f.refused,
                )
                for f in files
            ],
        )


def attachment_of(
    number: str, attachment_id: int, *, database_url: str | None = None
) -> tuple[AttachmentLine, str] | None:
    """One stored attachment of ticket ``number`` and its SHA-256 (None: not this ticket's,
    or not stored)."""
    with session_scope(database_url) as session:
        row = session.execute(
            select(TicketAttachment)
            .join(Ticket, Ticket.id == TicketAttachment.ticket_id)
            .where(TicketAttachment.id == attachment_id, Ticket.number == number)
        ).scalar()
        if row is None or not row.stored:
            return None
        line = AttachmentLine(
            id=row.id,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            stored=row.stored,
            inline_image=row.inline_image,
            refused=row.refused,
        )
        return line, row.sha256


#: The kinds of incoming mail that made or joined no ticket and someone should look at.
NEEDS_A_LOOK = ("too_large", "malformed", "no_sender", "failed")


def mailbox_log(
    *, needs_a_look: bool = False, limit: int = 200, database_url: str | None = None
) -> list[MailLine]:
    """The newest mail of the mailbox, in and out, newest first (the console's mail page);
    ``needs_a_look``: only the mail that came in and made no ticket for a reason staff should
    see, and mail the desk could not send."""
    query = select(MailMessage, Ticket.number).outerjoin(Ticket, Ticket.id == MailMessage.ticket_id)
    if needs_a_look:
        query = query.where((MailMessage.kind.in_(NEEDS_A_LOOK)) | (MailMessage.status == "failed"))
    with session_scope(database_url) as session:
        rows = session.execute(
            query.order_by(MailMessage.created_at.desc(), MailMessage.id.desc()).limit(limit)
        ).all()
        return [_line(row, number) for row, number in rows]


def needs_a_look_count(*, database_url: str | None = None) -> int:
    with session_scope(database_url) as session:
        count: int = session.execute(
            select(func.count()).where(
                (MailMessage.kind.in_(NEEDS_A_LOOK)) | (MailMessage.status == "failed")
            )
        ).scalar_one()
        return count


def raw_of(
    mail_id: int, *, actor_id: int | None = None, database_url: str | None = None
) -> bytes | None:
    """The raw copy of an incoming mail (for staff to download), None when there is none. It
    holds the sender's address: the view is audited on the mail's ticket (``contact_view``,
    as showing a contact is) when it has one."""
    with session_scope(database_url) as session:
        row = session.get(MailMessage, mail_id)
        if row is None or not row.raw_path:
            return None
        name = str(row.raw_path)
        if row.ticket_id is not None:
            session.add(
                TicketEvent(
                    ticket_id=row.ticket_id,
                    actor_id=actor_id,
                    kind="contact_view",
                    detail={"raw_mail": mail_id},
                    created_at=utcnow(),
                )
            )
    try:
        return raw_bytes(name)
    except (OSError, ValueError):
        return None
