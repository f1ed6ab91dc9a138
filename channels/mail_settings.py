"""The mail channel's settings, read from the environment (one home for every ``MAIL_*``).

- ``MAIL_ADDRESS``: the support address (default ``support@dy.example``); mail to it makes
  tickets, mail from it is never answered (no loops). ``MAIL_DISPLAY_NAME`` is its name
  (default: mail.yml's ``wording.sender_name``).
- ``MAIL_SMTP_PORT``: the embedded SMTP intake on 127.0.0.1 (default 2525; 0: none);
  ``MAIL_SMTP_HOST`` where it listens (default 127.0.0.1).
- ``MAIL_RELAY_HOST`` / ``MAIL_RELAY_PORT`` (25) / ``MAIL_RELAY_USER`` / ``MAIL_RELAY_PASSWORD``
  / ``MAIL_RELAY_STARTTLS`` (``1``): where the desk's mail goes out. No host: mail waits.
- ``MAIL_IMAP_HOST`` / ``MAIL_IMAP_PORT`` (993) / ``MAIL_IMAP_USER`` / ``MAIL_IMAP_PASSWORD`` /
  ``MAIL_IMAP_SSL`` (``1``) / ``MAIL_IMAP_FOLDER`` (INBOX) / ``MAIL_IMAP_SECONDS`` (60): the
  production mailbox the poller fetches from (no host: no poller).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tickets.mail_policy import load_mail_policy

DEFAULT_ADDRESS = "support@dy.example"


def _flag(name: str, default: str) -> bool:
    return (os.environ.get(name) or default).strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


def address() -> str:
    return (os.environ.get("MAIL_ADDRESS") or DEFAULT_ADDRESS).strip().lower()


def display_name() -> str:
    """The name the desk's mail comes from: ``MAIL_DISPLAY_NAME``, else mail.yml's."""
    return os.environ.get("MAIL_DISPLAY_NAME") or load_mail_policy().wording["sender_name"]


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    user: str
    password: str
    starttls: bool


def relay() -> Relay | None:
    host = os.environ.get("MAIL_RELAY_HOST")
    if not host:
        return None
    return Relay(
        host=host,
        port=_int("MAIL_RELAY_PORT", 25),
        user=os.environ.get("MAIL_RELAY_USER") or "",
        password=os.environ.get("MAIL_RELAY_PASSWORD") or "",
        starttls=_flag("MAIL_RELAY_STARTTLS", "0"),
    )


@dataclass(frozen=True)
class Imap:
    host: str
    port: int
    user: str
    password: str
    ssl: bool
    folder: str
    seconds: float


def imap() -> Imap | None:
    host = os.environ.get("MAIL_IMAP_HOST")
    if not host:
        return None
    ssl = _flag("MAIL_IMAP_SSL", "1")
    return Imap(
        host=host,
        port=_int("MAIL_IMAP_PORT", 993 if ssl else 143),
        user=os.environ.get("MAIL_IMAP_USER") or "",
        password=os.environ.get("MAIL_IMAP_PASSWORD") or "",
        ssl=ssl,
        folder=os.environ.get("MAIL_IMAP_FOLDER") or "INBOX",
        seconds=float(_int("MAIL_IMAP_SECONDS", 60)),
    )


def smtp_port() -> int:
    return _int("MAIL_SMTP_PORT", 2525)


def smtp_host() -> str:
    return os.environ.get("MAIL_SMTP_HOST") or "127.0.0.1"
