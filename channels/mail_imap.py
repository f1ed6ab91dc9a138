"""The production mailbox's poller: fetch the unread mail of an IMAP folder (``MAIL_IMAP_*``),
keep each one in the spool, mark it read, then read it into its ticket. A mail fetched twice
(the poller stopped between keeping and marking) is one ticket: the Message-ID dedupes it."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import logging
import ssl
import time
from datetime import datetime, timezone

from channels.mail_intake import MailIntake
from channels.mail_settings import Imap
from tickets import mail_store, store

logger = logging.getLogger(__name__)
#: The most mails one round fetches (the rest wait for the next round).
BATCH = 50
IMAP_TIMEOUT_SECONDS = 60


def _connect(settings: Imap) -> imaplib.IMAP4:
    if settings.ssl:
        return imaplib.IMAP4_SSL(
            settings.host,
            settings.port,
            ssl_context=ssl.create_default_context(),
            timeout=IMAP_TIMEOUT_SECONDS,
        )
    return imaplib.IMAP4(settings.host, settings.port, timeout=IMAP_TIMEOUT_SECONDS)


def mailbox_name(folder: str) -> str:
    """The folder as an IMAP command names it: quoted, in modified UTF-7 (RFC 3501 5.1.3).
    imaplib sends the name as it is given (ASCII only, unquoted), so a folder ``客服`` failed
    to encode and ``Support Inbox`` selected a folder ``Support``."""
    encoded: list[str] = []
    other: list[str] = []

    def close_other() -> None:
        if other:
            utf16 = "".join(other).encode("utf-16-be")
            encoded.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ","))
            encoded.append("-")
            other.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            close_other()
            encoded.append("&-" if char == "&" else char)
        else:
            other.append(char)
    close_other()
    name = "".join(encoded).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{name}"'


def _arrival(meta: bytes) -> datetime | None:
    """When the mailbox received the mail (its INTERNALDATE): the ticket's clocks start then."""
    moment = imaplib.Internaldate2tuple(meta)
    if moment is None:
        return None
    return datetime.fromtimestamp(time.mktime(moment), tz=timezone.utc)


def _mark(
    settings: Imap, connection: imaplib.IMAP4, intake: MailIntake
) -> tuple[str | None, int | None]:
    """The key of this folder's mark and the last UID kept (None, None: the database does not
    answer, the round goes by the unread flag alone)."""
    _status, validity = connection.response("UIDVALIDITY")
    stamp = (validity[0] or b"0").decode() if validity and validity[0] else "0"
    digest = hashlib.sha256(
        f"{settings.host}\x1f{settings.user}\x1f{settings.folder}\x1f{stamp}".encode()
    ).hexdigest()[:40]
    key = f"imap:{digest}"
    try:
        return key, mail_store.imap_mark(key, database_url=intake.database_url)
    except store.UNAVAILABLE:
        return None, None


def poll_once(settings: Imap, intake: MailIntake) -> int:
    """One round: how many mails were fetched and kept."""
    connection = _connect(settings)
    kept = []
    try:
        connection.login(settings.user, settings.password)
        status, _ = connection.select(mailbox_name(settings.folder))
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot open folder {settings.folder}")
        mark_key, last = _mark(settings, connection, intake)
        # after the first round: every mail past the last one kept, read or not (someone may
        # have opened the mailbox in a mail program first); the first round takes the unread
        criteria = f"UID {last + 1}:*" if last is not None else "UNSEEN"
        status, found = connection.uid("SEARCH", None, criteria)  # type: ignore[arg-type]
        uids = [u for u in (found[0] or b"").split() if last is None or int(u) > last]
        uids = sorted(uids, key=int)[:BATCH] if status == "OK" else []
        for uid in uids:
            status, parts = connection.uid("FETCH", uid.decode(), "(INTERNALDATE BODY.PEEK[])")
            piece = next((p for p in parts if isinstance(p, tuple)), None)
            if status != "OK" or piece is None:
                continue
            meta, raw = piece
            kept.append(mail_store.spool(raw, _arrival(meta)))
            if mark_key is not None:
                try:
                    mail_store.set_imap_mark(mark_key, int(uid), database_url=intake.database_url)
                except store.UNAVAILABLE:
                    mark_key = None  # the read flag and the Message-ID keep it once
            status, _ = connection.uid("STORE", uid.decode(), "+FLAGS", "(\\Seen)")
            if status != "OK":
                # kept all the same: fetched again next round, its Message-ID makes it a
                # duplicate there (no second ticket); a read-only folder would do this always
                logger.warning("IMAP mail %s could not be flagged read", uid.decode())
    finally:
        try:
            connection.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    for path in kept:
        try:
            intake.process(path)
        except store.UNAVAILABLE as exc:
            # kept in the spool (and read on the server): the spool round reads it when the
            # database is back, the mailbox does not hand it out again
            logger.error(
                "fetched mail kept in the spool, the ticket database is unavailable (%s)",
                type(exc).__name__,
            )
            break
    if kept:
        logger.info("fetched %s mail(s) from the IMAP mailbox", len(kept))
    return len(kept)
