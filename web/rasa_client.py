"""The web app's client of Rasa's HTTP API: read a conversation, send an event into it."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import aiohttp
import jwt

logger = logging.getLogger(__name__)
#: A tracker read waits this long, an event sent into a conversation this long (it runs actions).
READ_TIMEOUT = aiohttp.ClientTimeout(total=10)
TRIGGER_TIMEOUT = aiohttp.ClientTimeout(total=20)


class RasaUnavailable(RuntimeError):
    """Rasa did not answer, or answered with an error."""


def rasa_url() -> str:
    """Where Rasa's HTTP API is: RASA_URL, else the local server on RASA_PORT (5005)."""
    return os.environ.get("RASA_URL") or f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"


#: A token for Rasa's HTTP API lives this long (each call makes a new one).
JWT_LIFETIME_SECONDS = 300


def _auth() -> dict[str, str]:
    """Query parameters: Rasa's ``--auth-token``, when that is how Rasa is protected (it
    travels in the URL; the scale-out uses a JWT in a header instead, see :func:`_headers`)."""
    token = os.environ.get("RASA_AUTH_TOKEN")
    return {"token": token} if token else {}


def _headers() -> dict[str, str]:
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


async def conversation_events(sender_id: str) -> list[dict[str, Any]]:
    """The events of one conversation (its tracker); raises :class:`RasaUnavailable`."""
    url = f"{rasa_url()}/conversations/{sender_id}/tracker"
    try:
        async with aiohttp.ClientSession(timeout=READ_TIMEOUT) as session:
            async with session.get(url, params=_auth(), headers=_headers()) as reply:
                if reply.status != 200:
                    raise RasaUnavailable(f"Rasa answered {reply.status}")
                tracker: dict[str, Any] = await reply.json()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise RasaUnavailable(f"Rasa unreachable ({type(exc).__name__})") from None
    return list(tracker.get("events") or [])


async def trigger_intent(sender_id: str, intent: str, entities: dict[str, str]) -> bool:
    """Send an external event into the user's conversation, answered live to an open widget
    (``output_channel=latest``); False when Rasa did not take it."""
    url = f"{rasa_url()}/conversations/{sender_id}/trigger_intent"
    params = {"output_channel": "latest", **_auth()}
    body = {"name": intent, "entities": entities}
    try:
        async with aiohttp.ClientSession(timeout=TRIGGER_TIMEOUT) as session:
            async with session.post(url, params=params, json=body, headers=_headers()) as reply:
                if reply.status != 200:
                    logger.warning("%s: Rasa answered %s", intent, reply.status)
                return reply.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.warning("%s: Rasa unreachable (%s)", intent, type(exc).__name__)
        return False
