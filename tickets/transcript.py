"""Turn a Rasa tracker's events into the transcript stored with a ticket."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any


def _iso(timestamp: Any) -> str | None:
    try:
        return datetime.fromtimestamp(float(timestamp), tz=timezone.utc).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def is_external(event: dict[str, Any]) -> bool:
    """A user event that another system (e.g. a staff member via the HTTP API) injected."""
    return bool((event.get("metadata") or {}).get("is_external")) or str(
        event.get("text") or ""
    ).startswith("EXTERNAL: ")


def build_transcript(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """User and bot turns with UTC timestamps, in order; user turns carry their intent."""
    turns: list[dict[str, Any]] = []
    buttons: dict[str, str | None] = {}  # payload -> title of the latest quick replies
    for event in events:
        kind = event.get("event")
        if kind == "user" and is_external(event):
            continue
        if kind == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            text = event.get("text") or ""
            turn = {
                "role": "user",
                "text": buttons.get(text, text),
                "ts": _iso(event.get("timestamp")),
                "intent": intent.get("name"),
            }
            if text in buttons:
                turn["payload"] = text  # the user tapped a button: staff read its title
            turns.append(turn)
        elif kind == "bot":
            data = event.get("data") or {}
            if data.get("buttons"):
                buttons = {
                    b["payload"]: b.get("title")
                    for b in data["buttons"]
                    if isinstance(b, dict) and b.get("payload")
                }
            turn = {
                "role": "bot",
                "text": event.get("text") or "",
                "ts": _iso(event.get("timestamp")),
            }
            if data.get("buttons"):
                turn["buttons"] = [b.get("title") for b in data["buttons"] if isinstance(b, dict)]
            if data.get("image"):
                turn["image"] = data["image"]
            turns.append(turn)
    return turns


def last_user_timestamp(events: Iterable[dict[str, Any]]) -> float | None:
    """The timestamp of the latest user message (stable when an action is retried)."""
    stamp = None
    for event in events:
        if event.get("event") == "user":
            stamp = event.get("timestamp")
    return stamp
