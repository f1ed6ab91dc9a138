"""A Rasa tracker's events as the turns people read: the transcript stored with a ticket, and
(through ``conversation_turns``) the widget's history of a reloaded page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


def _number(timestamp: Any) -> float | None:
    try:
        return float(timestamp)
    except (TypeError, ValueError):
        return None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def is_external(event: dict[str, Any]) -> bool:
    """A user event that another system (e.g. a staff member via the HTTP API) injected."""
    return bool((event.get("metadata") or {}).get("is_external")) or str(
        event.get("text") or ""
    ).startswith("EXTERNAL: ")


@dataclass(frozen=True)
class Turn:
    """One user or bot message of a conversation, as people read it."""

    role: str  # "user" | "bot"
    #: What was said; for a tapped button, the button's title.
    text: str
    timestamp: float | None
    #: User turns: the intent Rasa recognised, and the payload of a tapped button.
    intent: str | None = None
    payload: str | None = None
    #: Bot turns: the quick replies offered, as (title, payload), and an image URL.
    buttons: tuple[tuple[str | None, str | None], ...] = ()
    image: str | None = None


def conversation_turns(events: Iterable[dict[str, Any]]) -> list[Turn]:
    """The user and bot turns of a tracker's events, in order: messages other systems injected
    are left out, and a button payload the user sent reads as the button's title."""
    turns: list[Turn] = []
    titles: dict[str, str | None] = {}  # payload -> title of the latest quick replies
    for event in events:
        kind = event.get("event")
        if kind == "user" and not is_external(event):
            text = str(event.get("text") or "")
            intent = (event.get("parse_data") or {}).get("intent") or {}
            tapped = text in titles
            turns.append(
                Turn(
                    role="user",
                    text=(titles[text] or text) if tapped else text,
                    timestamp=_number(event.get("timestamp")),
                    intent=intent.get("name"),
                    payload=text if tapped else None,
                )
            )
        elif kind == "bot":
            data = event.get("data") or {}
            buttons = tuple(
                (b.get("title"), b.get("payload"))
                for b in data.get("buttons") or []
                if isinstance(b, dict)
            )
            if buttons:
                titles = {payload: title for title, payload in buttons if payload}
            turns.append(
                Turn(
                    role="bot",
                    text=str(event.get("text") or ""),
                    timestamp=_number(event.get("timestamp")),
                    buttons=buttons,
                    image=data.get("image") or None,
                )
            )
    return turns


def build_transcript(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transcript stored with a ticket: the turns with UTC ISO timestamps; user turns carry
    their intent (and a tapped button's payload), bot turns the titles of their buttons."""
    transcript: list[dict[str, Any]] = []
    for turn in conversation_turns(events):
        entry: dict[str, Any] = {"role": turn.role, "text": turn.text, "ts": _iso(turn.timestamp)}
        if turn.role == "user":
            entry["intent"] = turn.intent
            if turn.payload is not None:
                entry["payload"] = turn.payload  # the user tapped a button: staff read its title
        if turn.buttons:
            entry["buttons"] = [title for title, _payload in turn.buttons]
        if turn.image:
            entry["image"] = turn.image
        transcript.append(entry)
    return transcript


def last_user_timestamp(events: Iterable[dict[str, Any]]) -> float | None:
    """The timestamp of the latest user message (stable when an action is retried)."""
    stamp = None
    for event in events:
        if event.get("event") == "user":
            stamp = event.get("timestamp")
    return stamp
