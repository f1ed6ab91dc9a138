"""The action server's call log: one line per action call with the conversation, the action,
the process and the moments it entered and left, so that two calls of one conversation
overlapping (two Rasa servers taking the same conversation at once) can be seen afterwards.

Written only when ``DY_ACTION_CALL_LOG`` names a file (the local scale-out sets one per action
server, ``var/scale/logs/actions-N.calls``). A line is JSON, appended in one ``write`` to a
file opened with ``O_APPEND``; it holds the sender id and the action's name, never what the
user wrote or any slot. Reading is :func:`read_calls`, checking is :func:`overlaps`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALL_LOG_ENV = "DY_ACTION_CALL_LOG"


@dataclass(frozen=True)
class Call:
    sender: str
    action: str
    pid: int
    #: Wall-clock nanoseconds (one machine: the processes share the clock).
    entered: int
    left: int


def log_path() -> Path | None:
    value = os.environ.get(CALL_LOG_ENV, "").strip()
    return Path(value) if value else None


def now_ns() -> int:
    return time.time_ns()


def who(body: Any) -> tuple[str, str]:
    """The conversation and the action of an action call's JSON body ("?" where missing)."""
    if not isinstance(body, dict):
        return "?", "?"
    tracker = body.get("tracker")
    sender = tracker.get("sender_id") if isinstance(tracker, dict) else None
    action = body.get("next_action")
    return (
        str(sender)[:128] if isinstance(sender, str) else "?",
        str(action)[:64] if isinstance(action, str) else "?",
    )


def record(path: Path, sender: str, action: str, entered: int, left: int) -> None:
    line = json.dumps(
        {"sender": sender, "action": action, "pid": os.getpid(), "entered": entered, "left": left}
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def read_calls(paths: Iterable[Path]) -> Iterator[Call]:
    """Every call the files hold (a torn last line of a killed server is skipped)."""
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                data = json.loads(line)
                yield Call(
                    sender=str(data["sender"]),
                    action=str(data["action"]),
                    pid=int(data["pid"]),
                    entered=int(data["entered"]),
                    left=int(data["left"]),
                )
            except (ValueError, KeyError, TypeError):
                continue


def overlaps(calls: Iterable[Call]) -> list[tuple[Call, Call]]:
    """The pairs of calls of one conversation that ran at the same time."""
    by_sender: dict[str, list[Call]] = {}
    for call in calls:
        by_sender.setdefault(call.sender, []).append(call)
    found: list[tuple[Call, Call]] = []
    for own in by_sender.values():
        own.sort(key=lambda c: c.entered)
        for before, after in zip(own, own[1:], strict=False):
            if after.entered < before.left:
                found.append((before, after))
    return found
