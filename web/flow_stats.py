"""Playbook statistics: a replay of the conversations in Rasa's SQL tracker store.

:func:`flow_stats` reads the tracker store (:mod:`web.trackerstore`: read-only, one query
ordered by conversation and event id) and counts per playbook how often each step was shown
and answered 解决了 / 还是不行 / 转人工, where conversations were resolved, escalated, or given
up; the progress slots are read as the actions read them (:class:`playbook.progress.Progress`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from playbook.engine import HUMAN, NO, YES, answer_for, branch_path, entry_steps
from playbook.engine import target as answer_target
from playbook.model import ESCALATE, RESOLVED, Playbook, Step
from playbook.progress import Progress
from understanding.answers import BUTTON_VERDICTS
from web.trackerstore import (
    DEFAULT_IDLE_SECONDS,
    RESET_ACTIONS,
    EventType,
    Store,
    Wanted,
    event_rows,
    reading,
)

ANSWERS = (YES, NO, HUMAN)
#: The actions that move a conversation through a playbook (actions/troubleshooting.py,
#: actions/escalation.py).
START = "action_start_playbook"
FLOW_ACTIONS = {
    START,
    "action_step_feedback",
    "action_escalate",
    "action_fallback",
    "action_resume_flow",
    "action_save_contact",
    "action_save_rating",
}
#: The actions that moved a playbook by the intent alone, before ``step_answer`` existed.
LEGACY_ANSWERS = {"action_step_feedback", "action_escalate"}
PROGRESS_SLOTS = {"dy_stage", "playbook", "playbook_step", "steps_tried"}
#: The slot events the walker reads: the progress, and how the reply to the open step was read.
READ_SLOTS = PROGRESS_SLOTS | {"step_answer"}
#: The events the replay reads: the user's intents, the actions, and the slot events (only
#: those with ``data``; what users wrote is never read).
READ: Mapping[EventType, Wanted] = {
    "user": Wanted(),
    "slot": Wanted(data=True),
    "action": Wanted(),
}


@dataclass
class StepStats:
    """What happened at one step: how often it was shown and how users answered."""

    shown: int = 0
    answers: dict[str, int] = field(default_factory=lambda: {a: 0 for a in ANSWERS})
    resolved: int = 0  # answers whose target is 已解决
    escalated: int = 0  # answers whose target is 转人工 (a ticket)
    gave_up: int = 0  # the user left while this step was open
    open_now: int = 0  # still open in a conversation that is not over yet


@dataclass
class PlaybookStats:
    """Counts of one playbook over every conversation in the tracker store."""

    conversations: int = 0  # times the playbook was started
    starts: dict[str, int] = field(default_factory=dict)  # trigger intent -> starts
    steps: dict[str, StepStats] = field(default_factory=dict)
    branches: dict[tuple[str, str], int] = field(default_factory=dict)  # (branch, target)

    def step(self, step_id: str) -> StepStats:
        return self.steps.setdefault(step_id, StepStats())

    @property
    def resolved(self) -> int:
        return sum(s.resolved for s in self.steps.values())

    @property
    def escalated(self) -> int:
        return sum(s.escalated for s in self.steps.values())

    @property
    def gave_up(self) -> int:
        return sum(s.gave_up for s in self.steps.values())

    @property
    def open_now(self) -> int:
        return sum(s.open_now for s in self.steps.values())


def _open(progress: Progress) -> tuple[Playbook, Step] | None:
    """The playbook and the step waiting for the user's answer, as the actions accept it."""
    step = progress.open_step
    return None if step is None or progress.playbook is None else (progress.playbook, step)


def _moved(before: Progress, after: Progress) -> bool:
    """The stage, playbook or step changed."""
    return (before.stage, before.playbook and before.playbook.id, before.step_id) != (
        after.stage,
        after.playbook and after.playbook.id,
        after.step_id,
    )


class _Walker:
    """Replays one conversation's events and counts into the playbooks' statistics."""

    def __init__(self, playbooks: Mapping[str, Playbook], stats: dict[str, PlaybookStats]) -> None:
        self.playbooks = playbooks
        self.stats = stats
        self.state: dict[str, Any] = {}  # the progress slots as they stand
        self.intent: str | None = None
        self.action: str | None = None
        self.slots: list[tuple[str, Any]] = []
        self.last_seen = 0.0

    def progress(self, values: Mapping[str, Any]) -> Progress:
        """The progress slots ``values`` as the actions read them."""
        return Progress.read(values, self.playbooks)

    def user(self, intent: str | None) -> None:
        self.finish_action()
        self.intent = intent

    def begin_action(self, name: str | None) -> None:
        self.finish_action()
        self.action = name

    def slot(self, name: str, value: Any) -> None:
        if self.action is None:
            self.state[name] = value
        else:
            self.slots.append((name, value))

    def finish_action(self) -> None:
        """Apply the slots the last action set and count what that action did."""
        action, slots = self.action, self.slots
        self.action, self.slots = None, []
        if action is None:
            return
        before = self.progress(self.state)
        if action in RESET_ACTIONS:  # a new session (or /restart) starts with empty slots
            self.state = {}
        for name, value in slots:
            self.state[name] = value
        after = self.progress(self.state)
        was_open = _open(before)
        if action in RESET_ACTIONS:
            if was_open and _open(after) != was_open:
                self.stats[was_open[0].id].step(was_open[1].id).gave_up += 1
            return
        if action not in FLOW_ACTIONS or not slots:  # nothing moved (or the action failed)
            return
        now_open = _open(after)
        # ``step_answer``: how the actions read the reply to the open step
        judged = [
            answer
            for name, value in slots
            if name == "step_answer" and (answer := answer_for(value)) is not None
        ]
        if was_open is not None and judged:
            self._answer(was_open, judged[-1], now_open)
        elif action == START:
            self._start(was_open, now_open, before, after)
        elif was_open is not None and action in LEGACY_ANSWERS and _moved(before, after):
            # recorded before the actions said how they read the reply: the intent tells
            button = answer_for(BUTTON_VERDICTS.get(self.intent or ""))
            answer = HUMAN if action == "action_escalate" else button or NO
            self._answer(was_open, answer, now_open)

    def _start(
        self,
        was_open: tuple[Playbook, Step] | None,
        now_open: tuple[Playbook, Step] | None,
        before: Progress,
        after: Progress,
    ) -> None:
        playbook = after.playbook
        if playbook is None:
            return
        trigger = playbook.trigger_for(self.intent)
        if trigger is None:
            return
        if was_open is not None and was_open[0].id == playbook.id:
            # the same problem described again: a jump to its start step, or "still not working"
            if (
                now_open is not None
                and now_open[1].id in entry_steps(playbook, trigger.start)
                and now_open[1].id not in before.steps_tried
            ):
                self._shown(playbook, trigger.start, now_open)
            else:
                self._answer(was_open, NO, now_open)
            return
        if now_open is None:
            return
        counts = self.stats[playbook.id]
        counts.conversations += 1
        counts.starts[trigger.intent] = counts.starts.get(trigger.intent, 0) + 1
        self._shown(playbook, trigger.start, now_open)

    def _answer(
        self, was_open: tuple[Playbook, Step], answer: str, now_open: tuple[Playbook, Step] | None
    ) -> None:
        playbook, step = was_open
        counts = self.stats[playbook.id].step(step.id)
        counts.answers[answer] += 1
        target = answer_target(step, answer)
        if target == RESOLVED:
            counts.resolved += 1
        elif target == ESCALATE:
            counts.escalated += 1
        elif now_open is not None and now_open[0].id == playbook.id:
            self._shown(playbook, target, now_open)

    def _shown(self, playbook: Playbook, entered: str, now_open: tuple[Playbook, Step]) -> None:
        counts = self.stats[playbook.id]
        counts.step(now_open[1].id).shown += 1
        for hop in branch_path(playbook, entered, now_open[1].id):
            counts.branches[hop] = counts.branches.get(hop, 0) + 1

    def end(self, now: float, idle_seconds: float) -> None:
        """The conversation's last event: an open step there is given up once it is idle."""
        self.finish_action()
        still_open = _open(self.progress(self.state))
        if still_open is not None:
            counts = self.stats[still_open[0].id].step(still_open[1].id)
            if now - self.last_seen >= idle_seconds:
                counts.gave_up += 1
            else:
                counts.open_now += 1


def count_events(
    playbooks: Iterable[Playbook],
    rows: Iterable[Sequence[Any]],
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
) -> dict[str, PlaybookStats]:
    """Count ``(sender_id, type_name, timestamp, intent_name, action_name, slot data)`` rows,
    ordered by conversation and then by event id, into statistics per playbook."""
    by_id = {p.id: p for p in playbooks}
    stats = {playbook_id: PlaybookStats() for playbook_id in by_id}
    now = time.time() if now is None else now
    walker: _Walker | None = None
    sender = None
    for sender_id, type_name, timestamp, intent, action, data in rows:
        if walker is None or sender_id != sender:
            if walker is not None:
                walker.end(now, idle_seconds)
            walker, sender = _Walker(by_id, stats), sender_id
        walker.last_seen = max(walker.last_seen, timestamp or 0.0)
        if type_name == "user":
            walker.user(intent)
        elif type_name == "action":
            walker.begin_action(action)
        elif type_name == "slot" and data and any(f'"{n}"' in data for n in READ_SLOTS):
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("name") in READ_SLOTS:
                walker.slot(event["name"], event.get("value"))
    if walker is not None:
        walker.end(now, idle_seconds)
    return stats


def flow_stats(
    playbooks: Iterable[Playbook],
    store: Store,
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
) -> dict[str, PlaybookStats]:
    """Statistics per playbook id from Rasa's SQL tracker store at ``store`` (a URL or an
    engine), or ``{}`` when there is no store or no conversation table yet."""
    with reading(store) as engine:
        if engine is None:
            return {}
        rows = event_rows(engine, READ)
        return count_events(playbooks, rows, now=now, idle_seconds=idle_seconds)
