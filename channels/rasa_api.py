"""Where Rasa's HTTP API is and how to authenticate to it: the one home of both for every
client of the API (the console, the mail intake, the hotline form)."""

from __future__ import annotations

import os
import time

import jwt

#: A token for Rasa's HTTP API lives this long (each call makes a new one).
JWT_LIFETIME_SECONDS = 300


def rasa_url() -> str:
    """Where Rasa's HTTP API is: RASA_URL, else the local server on RASA_PORT (5005)."""
    return os.environ.get("RASA_URL") or f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"


def auth_params() -> dict[str, str]:
    """Query parameters: Rasa's ``--auth-token``, when that is how Rasa is protected (it
    travels in the URL; the scale-out uses a JWT in a header instead, see :func:`headers`)."""
    token = os.environ.get("RASA_AUTH_TOKEN")
    return {"token": token} if token else {}


def headers() -> dict[str, str]:
    """``Authorization: Bearer`` with a short-lived HS256 JWT of the admin role when
    ``RASA_JWT_SECRET`` is set (Rasa started with ``--jwt-secret``, see channels/server.py)."""
    secret = os.environ.get("RASA_JWT_SECRET")
    if not secret:
        return {}
    now = int(time.time())
    claims = {
        "user": {"username": "dy-web", "role": "admin"},
        "iat": now,
        "exp": now + JWT_LIFETIME_SECONDS,
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}
