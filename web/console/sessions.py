"""The console's signed session cookies and the CSRF tokens derived from them."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time

from playbook.sourcefile import PROJECT_ROOT

#: The session cookie, and how long a login lasts.
COOKIE = "dy_console"
SESSION_SECONDS = 8 * 3600


def _secret() -> bytes:
    """CONSOLE_SECRET, or a random one kept in var/ (so sessions survive a restart)."""
    if os.environ.get("CONSOLE_SECRET"):
        return os.environ["CONSOLE_SECRET"].encode("utf-8")
    path = PROJECT_ROOT / "var" / "console_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _sign(text: str) -> str:
    return hmac.new(_secret(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def make_session(staff_id: int) -> str:
    """A cookie value naming the staff member, valid for SESSION_SECONDS."""
    body = f"{staff_id}.{int(time.time()) + SESSION_SECONDS}"
    return f"{body}.{_sign(body)}"


def read_session(value: str | None) -> int | None:
    """The staff id of a valid, unexpired session cookie, else None."""
    try:
        staff_id, expires, signature = (value or "").split(".")
        if not same_token(signature, _sign(f"{staff_id}.{expires}")):
            return None
        if int(expires) < time.time():
            return None
        return int(staff_id)
    except ValueError:
        return None


def csrf_token(session_value: str) -> str:
    """The forms' token for one session: only pages served to that session carry it."""
    return _sign("csrf:" + session_value)


def same_token(given: str, expected: str | None) -> bool:
    """``given`` is the expected token (compared in constant time, as bytes: any text a
    visitor sends is compared, never an error); never true without an expected token."""
    if not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
