"""The web app's client of Rasa's HTTP API: read a conversation, send an event into it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from channels.rasa_api import auth_params as _auth
from channels.rasa_api import headers as _headers
from channels.rasa_api import rasa_url

logger = logging.getLogger(__name__)
#: A tracker read waits this long, an event sent into a conversation this long (it runs actions).
READ_TIMEOUT = aiohttp.ClientTimeout(total=10)
TRIGGER_TIMEOUT = aiohttp.ClientTimeout(total=20)


class RasaUnavailable(RuntimeError):
    """Rasa did not answer, or answered with an error."""


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
