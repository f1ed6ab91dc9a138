"""The signed link of a follow-up mail: it names one ticket and when it expires, under an
HMAC-SHA256 of ``DY_LINK_SECRET`` (else ``DY_SESSION_SECRET``), so nobody can make one up
for another ticket. Opening it only shows a form; the ratings count once the user confirms
(a POST), so mail scanners that open every link cannot vote."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime, timedelta, timezone

from tickets.models import utcnow
from tickets.store import NUMBER_RE

SECRET_ENVS = ("DY_LINK_SECRET", "DY_SESSION_SECRET")
MIN_SECRET_LENGTH = 16


class NoLinkSecret(RuntimeError):
    """Neither DY_LINK_SECRET nor DY_SESSION_SECRET is set (``make run`` sets the latter)."""


def _secret() -> bytes:
    for name in SECRET_ENVS:
        value = os.environ.get(name) or ""
        if len(value) >= MIN_SECRET_LENGTH:
            return value.encode()
    raise NoLinkSecret("set DY_LINK_SECRET (16 characters or more) to send follow-up links")


def _mac(number: str, expires: int) -> str:
    return hmac.new(
        _secret(), f"follow-up\x1f{number}\x1f{expires}".encode(), hashlib.sha256
    ).hexdigest()[:40]


def make_token(number: str, days: int, now: datetime | None = None) -> str:
    expires = int(((now or utcnow()) + timedelta(days=days)).timestamp())
    return f"{number}.{expires}.{_mac(number, expires)}"


def read_token(token: str, now: datetime | None = None) -> str | None:
    """The ticket number a valid, unexpired token names; None for anything else."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not NUMBER_RE.match(parts[0]) or not parts[1].isdigit():
        return None
    number, expires_text, mac = parts
    expires = int(expires_text)
    if not hmac.compare_digest(mac, _mac(number, expires)):
        return None
    if datetime.fromtimestamp(expires, tz=timezone.utc) < (now or utcnow()):
        return None
    return number
