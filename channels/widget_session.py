"""Widget sessions: issued by the web server, verified by it and by the socket.io channel.

A session is a random 32-hex id (the conversation id) and a token the web server signed:
``<issued>.<hmac>``, where ``issued`` is the Unix time it was made and ``hmac`` the hex
HMAC-SHA256 of the id and that time under ``DY_SESSION_SECRET``. A client cannot make up an
id the servers accept, nor keep a token for ever: a token older than ``LIFETIME_SECONDS``
(30 days) is refused and the widget asks for a new session. No state is kept: any web server
or Rasa server with the same secret verifies any session.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

SECRET_ENV = "DY_SESSION_SECRET"
#: The request header that carries the token (never the URL: URLs end up in access logs).
TOKEN_HEADER = "X-Dy-Session"
LIFETIME_SECONDS = 30 * 24 * 3600
#: How far ahead of this server's clock another server's issue time may be.
CLOCK_SKEW_SECONDS = 300
MIN_SECRET_LENGTH = 16
SESSION_ID_RE = re.compile(r"[a-f0-9]{32}")
TOKEN_RE = re.compile(r"([0-9]{1,12})\.([a-f0-9]{64})")
MAX_TOKEN_LENGTH = 80
_PURPOSE = b"dy-widget-session\x00"


class SessionSecretMissing(RuntimeError):
    """The process cannot issue or verify widget sessions: it has no usable secret."""


@dataclass(frozen=True)
class IssuedSession:
    session_id: str
    token: str


def is_session_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` has the shape of a widget session id (32 lowercase hex digits)."""
    return isinstance(value, str) and SESSION_ID_RE.fullmatch(value) is not None


class WidgetSessions:
    """Issues and verifies widget sessions under one secret."""

    def __init__(self, secret: str, lifetime: int = LIFETIME_SECONDS) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise SessionSecretMissing(
                f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters long"
            )
        self._key = secret.encode("utf-8")
        self.lifetime = lifetime

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> WidgetSessions:
        """The sessions of ``DY_SESSION_SECRET``; a clear error at start when it is unset."""
        secret = (os.environ if environ is None else environ).get(SECRET_ENV, "").strip()
        if not secret:
            raise SessionSecretMissing(
                f"{SECRET_ENV} is not set: the web server and every Rasa server need the same "
                "secret to issue and verify widget sessions (make run and make scale-up make "
                "one; see README.md)"
            )
        return cls(secret)

    def _signature(self, session_id: str, issued: str) -> str:
        message = _PURPOSE + f"{session_id}.{issued}".encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def token_for(self, session_id: str, issued: int) -> str:
        """The token of ``session_id`` issued at ``issued`` (Unix seconds)."""
        return f"{issued}.{self._signature(session_id, str(issued))}"

    def issue(self, now: float | None = None) -> IssuedSession:
        """A new session: a random id and its token."""
        session_id = secrets.token_hex(16)
        issued = int(time.time() if now is None else now)
        return IssuedSession(session_id, self.token_for(session_id, issued))

    def verify(self, session_id: object, token: object, now: float | None = None) -> bool:
        """Whether ``token`` was issued for ``session_id`` under this secret and is within its
        lifetime. Anything a client sends is answered True or False, never an error."""
        if not is_session_id(session_id) or not isinstance(token, str):
            return False
        if len(token) > MAX_TOKEN_LENGTH:
            return False
        match = TOKEN_RE.fullmatch(token)
        if match is None:
            return False
        issued, signature = match.groups()
        age = (time.time() if now is None else now) - int(issued)
        if age > self.lifetime or age < -CLOCK_SKEW_SECONDS:
            return False
        return hmac.compare_digest(signature, self._signature(session_id, issued))
