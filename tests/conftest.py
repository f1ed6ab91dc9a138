"""Shared fixtures: a real Domain, real trackers and dispatchers, a fresh database per test."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent


def copy_project(copy: Path) -> Path:
    """A copy of everything an editor touches (domain, config, data/, the test stories and the
    NLU test split); the code stays in the repository."""
    (copy / "tests").mkdir(parents=True)
    for name in ("domain.yml", "config.yml"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "data", copy / "data")
    shutil.copy(ROOT / "tests" / "test_stories.yml", copy / "tests" / "test_stories.yml")
    shutil.copytree(ROOT / "tests" / "nlu", copy / "tests" / "nlu")
    return copy


@pytest.fixture()
def database_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite ticket database for one test (DATABASE_URL points at it)."""
    from tickets import db
    from tickets.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade(url)
    yield url
    db.dispose_all()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """domain.yml as the action server receives it."""
    with (ROOT / "domain.yml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture()
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def user_event(
    text: str, intent: str, entities: list[dict] | None = None, timestamp: float | None = None
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp if timestamp is not None else time.time(),
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.99},
            "entities": entities or [],
        },
    }


def make_tracker(
    text: str,
    intent: str,
    *,
    slots: dict[str, Any] | None = None,
    entities: list[dict] | None = None,
    sender_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> Tracker:
    """A tracker whose latest message is ``text`` classified as ``intent``."""
    latest = user_event(text, intent, entities)
    events = list(history or []) + [latest]
    return Tracker(
        sender_id=sender_id or f"test-{uuid.uuid4().hex[:8]}",
        slots=dict(slots or {}),
        latest_message=latest["parse_data"],
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def slot_values(events) -> dict[str, Any]:
    """The slots an action set, as a dict (last write wins)."""
    values = {}
    for event in events:
        if event.get("event") == "slot":
            values[event["name"]] = event["value"]
    return values


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """The response keys (or ``text:...``/``image:...``) the action sent, in order."""
    out = []
    for message in dispatcher.messages:
        if message.get("response"):
            out.append(message["response"])
        elif message.get("image"):
            out.append(f"image:{message['image']}")
        else:
            out.append(f"text:{message.get('text')}")
    return out
