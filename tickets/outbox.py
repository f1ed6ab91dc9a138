"""The durable outbox: a ticket that cannot be written now (the database is down) is kept on
disk and written later, exactly once.

Each escalation is one file in ``DY_OUTBOX_DIR`` (default ``var/outbox/``), named by its
idempotency key and holding the arguments of :func:`tickets.store.create_ticket` with the
moment of the escalation, so the ticket's priority and due time count from when the user
asked, not from when the database came back. A file is written to a temporary name, flushed
to disk and renamed, so a crash never leaves half a ticket. The folder and the files are
readable by their owner only (they hold the conversation).

:func:`deliver` writes what is waiting: a file is claimed by renaming it (so two action
servers sharing the folder never work on the same file at once), the ticket is created with
its idempotency key (so a retry, or the other server, never makes a second one) or joins the
sender's unfinished ticket of the same category (:func:`tickets.store.create_or_join`, as a
turn does when the database answers), and the file goes only once it is in the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from playbook.sourcefile import PROJECT_ROOT
from tickets import config, store

logger = logging.getLogger(__name__)

DEFAULT_OUTBOX = PROJECT_ROOT / "var" / "outbox"
#: A file claimed longer ago than this was claimed by a server that died: it is taken again
#: (the claim time is set when a file is claimed).
STALE_CLAIM_SECONDS = 120
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def outbox_dir() -> Path:
    return Path(os.environ.get("DY_OUTBOX_DIR") or DEFAULT_OUTBOX)


def _file_name(idempotency_key: str) -> str:
    return _SAFE.sub("_", idempotency_key)[:180] + ".json"


@dataclass(frozen=True)
class Delivery:
    delivered: int
    waiting: int


def database_mark(database_url: str | None = None) -> str:
    """Which ticket database a kept ticket belongs to (a digest of its URL, never the URL,
    which may hold a password): servers sharing a folder deliver only their own."""
    url = database_url or config.database_url()
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def keep(
    request: dict[str, Any],
    *,
    now: datetime,
    folder: Path | None = None,
    database_url: str | None = None,
) -> Path:
    """Keep one ticket request (``create_ticket``'s keyword arguments, JSON-serialisable) for
    the ticket database at ``database_url`` (default ``DATABASE_URL``); ``now`` is the moment
    of the escalation. Returns the file."""
    folder = folder or outbox_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / _file_name(str(request["idempotency_key"]))
    body = json.dumps(
        {
            "request": request,
            "at": now.astimezone(timezone.utc).isoformat(),
            "database": database_mark(database_url),
        },
        ensure_ascii=False,
    )
    temporary = path.with_suffix(f".tmp-{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, body.encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    logger.warning("ticket kept in the outbox until the database answers")
    return path


def waiting(folder: Path | None = None) -> list[Path]:
    """The tickets waiting, the earliest escalation first (so a user's first escalation makes
    the ticket and a later one of the same problem joins it)."""
    folder = folder or outbox_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.json"), key=lambda path: (_kept_at(path), path.name))


def _kept_at(path: Path) -> str:
    """When the escalation kept in ``path`` happened (UTC ISO, as keep writes it), or "" for
    a file gone or unreadable (sorted first, and set aside by deliver)."""
    try:
        at = json.loads(path.read_text(encoding="utf-8")).get("at")
    except (OSError, ValueError, AttributeError):
        return ""
    return at if isinstance(at, str) else ""


def waiting_for(sender_id: str, folder: Path | None = None) -> int:
    """How many tickets of ``sender_id`` are still waiting to be written."""
    count = 0
    for path in waiting(folder) + _claimed(folder):
        try:
            if json.loads(path.read_text(encoding="utf-8"))["request"]["sender_id"] == sender_id:
                count += 1
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return count


def _claimed(folder: Path | None = None) -> list[Path]:
    folder = folder or outbox_dir()
    return sorted(folder.glob("*.json.claimed-*")) if folder.is_dir() else []


def _reclaim_stale(folder: Path) -> None:
    for path in _claimed(folder):
        try:
            if time.time() - path.stat().st_mtime > STALE_CLAIM_SECONDS:
                os.replace(path, folder / path.name.split(".claimed-")[0])
        except OSError:
            continue


def deliver(
    folder: Path | None = None,
    create: Callable[..., store.TicketView] = store.create_or_join,
    database_url: str | None = None,
) -> Delivery:
    """Write every waiting ticket that the database takes now; the rest keep waiting."""
    folder = folder or outbox_dir()
    if not folder.is_dir():
        return Delivery(delivered=0, waiting=0)
    _reclaim_stale(folder)
    mine = database_mark(database_url)
    delivered = 0
    for path in waiting(folder):
        claim = path.with_name(f"{path.name}.claimed-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(path, claim)  # only one server gets it
            os.utime(claim)  # claimed now (a rename keeps the time the ticket was kept)
        except FileNotFoundError:
            continue
        try:
            kept = json.loads(claim.read_text(encoding="utf-8"))
            request = dict(kept["request"])
            at = datetime.fromisoformat(kept["at"])
            belongs = kept.get("database", mine) == mine
        except (OSError, ValueError, KeyError, TypeError):
            logger.error("outbox file %s is unreadable; left for a person to look at", path.name)
            os.replace(claim, path.with_suffix(".unreadable"))
            continue
        if not belongs:  # another ticket database's: its own servers deliver it
            os.replace(claim, path)
            continue
        try:
            ticket = create(**request, now=at, database_url=database_url)
        except store.UNAVAILABLE as exc:  # still down: this one and the rest wait
            os.replace(claim, path)
            logger.info("outbox: the database still refuses tickets (%s)", type(exc).__name__)
            break
        except Exception as exc:  # noqa: BLE001 - this request cannot be written: set aside
            logger.error(
                "outbox file %s cannot be written (%s); left for a person to look at",
                path.name,
                type(exc).__name__,
            )
            os.replace(claim, path.with_suffix(".failed"))
            continue
        claim.unlink(missing_ok=True)
        delivered += 1
        logger.info("outbox: ticket %s written (%s)", ticket.number, ticket.priority)
    return Delivery(delivered=delivered, waiting=len(waiting(folder)))
