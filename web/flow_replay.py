"""Playbook statistics replayed from conversations' events, one fold at a time.

A :class:`Tally` folds rows of Rasa's tracker store (ordered by conversation and event id)
into counts per playbook: how often each step was shown and answered 解决了 / 还是不行 /
转人工, where conversations were resolved, escalated, or given up; the progress slots are
read as the actions read them (:class:`playbook.progress.Progress`). It keeps, per
conversation, only what the next events need to go on (:class:`Conversation`), so rows
folded in any number of pieces, each cut anywhere, count the same as all of them at once.
Whether an open step was given up depends on the time: :meth:`Tally.view` decides that
when the counts are read, never when the events are folded.
"""

from __future__ import annotations

import json
import sys
import time
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from playbook.engine import HUMAN, NO, YES, answer_for, branch_path, entry_steps
from playbook.engine import target as answer_target
from playbook.model import ESCALATE, RESOLVED, Playbook, Step
from playbook.progress import Progress
from understanding.answers import BUTTON_VERDICTS
from web.trackerstore import DEFAULT_IDLE_SECONDS, RESET_ACTIONS

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
#: The progress slots, in the order a :data:`State` holds them.
PROGRESS_SLOTS = ("dy_stage", "playbook", "playbook_step", "steps_tried")
#: The slot events the replay reads: the progress, and how the reply to the open step was read.
READ_SLOTS = {*PROGRESS_SLOTS, "step_answer"}
_NEEDLES = tuple(f'"{name}"' for name in READ_SLOTS)
#: Distinct progress states remembered with their reading; past this they are read afresh.
KNOWN_STATES = 100_000

#: The progress slots of a conversation as :meth:`Progress.read` looks at them: stage,
#: playbook and step (a text or None) and the tried steps (the texts of the list).
State: TypeAlias = tuple[Any, Any, Any, tuple[str, ...]]
EMPTY: State = (None, None, None, ())
#: A step of a playbook, by ids.
StepKey: TypeAlias = tuple[str, str]
_Open: TypeAlias = tuple[Playbook, Step]


@dataclass
class StepStats:
    """What happened at one step: how often it was shown and how users answered."""

    shown: int = 0
    answers: dict[str, int] = field(default_factory=lambda: {a: 0 for a in ANSWERS})
    resolved: int = 0  # answers whose target is 已解决
    escalated: int = 0  # answers whose target is 转人工 (a ticket)
    gave_up: int = 0  # the user left while this step was open
    open_now: int = 0  # still open in a conversation that is not over yet

    def copy(self) -> StepStats:
        return StepStats(
            self.shown,
            dict(self.answers),
            self.resolved,
            self.escalated,
            self.gave_up,
            self.open_now,
        )


@dataclass
class PlaybookStats:
    """Counts of one playbook over every conversation in the tracker store."""

    conversations: int = 0  # times the playbook was started
    starts: dict[str, int] = field(default_factory=dict)  # trigger intent -> starts
    steps: dict[str, StepStats] = field(default_factory=dict)
    branches: dict[tuple[str, str], int] = field(default_factory=dict)  # (branch, target)

    def step(self, step_id: str) -> StepStats:
        return self.steps.setdefault(step_id, StepStats())

    def copy(self) -> PlaybookStats:
        return PlaybookStats(
            self.conversations,
            dict(self.starts),
            {step_id: counts.copy() for step_id, counts in self.steps.items()},
            dict(self.branches),
        )

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


class Conversation:
    """Where one conversation's replay stands: its progress slots (a :data:`State`, shared
    between conversations), the last intent, the action whose slot events are still coming
    and the slots it set so far, and when its user was last seen."""

    __slots__ = ("state", "intent", "action", "pending", "last_seen")

    def __init__(self) -> None:
        self.state: State = EMPTY
        self.intent: str | None = None
        self.action: str | None = None
        self.pending: tuple[tuple[str, Any], ...] = ()
        self.last_seen = 0.0

    def copy(self) -> Conversation:
        twin = Conversation()
        twin.state, twin.intent, twin.action = self.state, self.intent, self.action
        twin.pending, twin.last_seen = self.pending, self.last_seen
        return twin

    @property
    def settled(self) -> bool:
        """The pending action (if any) changes nothing when it ends: its state is final."""
        return self.action is None or (not self.pending and self.action not in RESET_ACTIONS)


def kept(name: str, value: Any) -> Any:
    """A progress slot's value as far as :meth:`Progress.read` looks at it (texts only, the
    tried steps a list of texts), interned: many conversations hold the same values."""
    if name == "steps_tried":
        if not isinstance(value, list):
            return ()
        return tuple(sys.intern(s) for s in value if isinstance(s, str))
    if name == "step_answer":
        return answer_for(value)  # yes / no / human, or None: how the actions read the reply
    return sys.intern(value) if isinstance(value, str) else None


def _with(state: State, name: str, value: Any) -> State:
    index = PROGRESS_SLOTS.index(name)
    return (*state[:index], value, *state[index + 1 :])


class _IdleIndex:
    """When the users of the conversations left at each open step were last seen, sorted,
    so that :meth:`split` counts the idle ones (given up) and the others at read time."""

    #: More changes than this to one step in one fold rebuild its list instead of editing it.
    EDITS = 64

    def __init__(self) -> None:
        self._seen: dict[StepKey, list[float]] = {}
        self._added: dict[StepKey, list[float]] = {}
        self._removed: dict[StepKey, list[float]] = {}

    def add(self, key: StepKey, at: float) -> None:
        self._added.setdefault(key, []).append(at)

    def remove(self, key: StepKey, at: float) -> None:
        self._removed.setdefault(key, []).append(at)

    def flush(self) -> None:
        """Apply the changes since the last flush."""
        for key in self._added.keys() | self._removed.keys():
            seen = self._seen.get(key, [])
            gone = Counter(self._removed.get(key, ()))
            added = []
            for at in self._added.get(key, ()):
                if gone[at] > 0:
                    gone[at] -= 1  # added and removed again in the same fold
                else:
                    added.append(at)
            gone = +gone
            if sum(gone.values()) <= self.EDITS:
                for at in gone.elements():
                    del seen[bisect_left(seen, at)]
            else:
                kept_times = []
                for at in seen:
                    if gone[at] > 0:
                        gone[at] -= 1
                    else:
                        kept_times.append(at)
                seen = kept_times
            if len(added) <= self.EDITS:
                for at in added:
                    insort(seen, at)
            else:
                seen.extend(added)
                seen.sort()
            if seen:
                self._seen[key] = seen
            else:
                self._seen.pop(key, None)
        self._added, self._removed = {}, {}

    def split(self, now: float, idle_seconds: float) -> Iterable[tuple[StepKey, int, int]]:
        """Per step: how many of its conversations are idle for ``idle_seconds`` at ``now``
        (given up), and how many are not."""
        for key, seen in self._seen.items():
            idle = bisect_left(seen, 1, key=lambda at: 0 if now - at >= idle_seconds else 1)
            yield key, idle, len(seen) - idle


class Tally:
    """The statistics of the rows folded so far, and each conversation's replay state."""

    def __init__(self, playbooks: Iterable[Playbook]) -> None:
        self.playbooks = {p.id: p for p in playbooks}
        #: Counts of everything that has happened for good (not the idle-time ones).
        self.stats = {playbook_id: PlaybookStats() for playbook_id in self.playbooks}
        self.conversations: dict[str, Conversation] = {}
        #: The conversations whose pending action is not over (its slots may still come).
        self.unsettled: set[str] = set()
        self._idle = _IdleIndex()
        self._states: dict[State, tuple[State, _Open | None, Progress]] = {}

    # --- folding rows ------------------------------------------------------------------

    def fold(self, rows: Iterable[Sequence[Any]]) -> None:
        """Count ``(sender_id, type_name, timestamp, intent_name, action_name, slot data)``
        rows, ordered by conversation and then by event id, that follow the ones before."""
        conversation: Conversation | None = None
        sender: Any = None
        for sender_id, type_name, timestamp, intent, action, data in rows:
            if conversation is None or sender_id != sender:
                if conversation is not None:
                    self._settle(sender, conversation)
                sender, conversation = sender_id, self._take(sender_id)
            if timestamp and timestamp > conversation.last_seen:
                conversation.last_seen = timestamp
            if type_name == "user":
                self._finish(conversation, self.stats)
                conversation.intent = sys.intern(intent) if isinstance(intent, str) else None
            elif type_name == "action":
                self._finish(conversation, self.stats)
                conversation.action = sys.intern(action) if isinstance(action, str) else None
            elif type_name == "slot" and data and any(n in data for n in _NEEDLES):
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("name") in READ_SLOTS:
                    self._slot(conversation, event["name"], event.get("value"))
        if conversation is not None:
            self._settle(sender, conversation)
        self._idle.flush()

    def _take(self, sender: str) -> Conversation:
        """The conversation ``sender`` to go on with, out of the indexes until it is settled."""
        conversation = self.conversations.get(sender)
        if conversation is None:
            conversation = self.conversations[sender] = Conversation()
        elif sender in self.unsettled:
            self.unsettled.discard(sender)
        else:
            still_open = self._reading(conversation.state)[1]
            if still_open is not None:
                self._idle.remove((still_open[0].id, still_open[1].id), conversation.last_seen)
        return conversation

    def _settle(self, sender: str, conversation: Conversation) -> None:
        if not conversation.settled:
            self.unsettled.add(sender)
            return
        still_open = self._reading(conversation.state)[1]
        if still_open is not None:
            self._idle.add((still_open[0].id, still_open[1].id), conversation.last_seen)

    def _slot(self, conversation: Conversation, name: str, value: Any) -> None:
        value = kept(name, value)
        if conversation.action is not None:
            conversation.pending += ((sys.intern(name), value),)
        elif name in PROGRESS_SLOTS:
            conversation.state = self._reading(_with(conversation.state, name, value))[0]

    def _reading(self, state: State) -> tuple[State, _Open | None, Progress]:
        """``state`` (shared with the conversations in the same state), the playbook and
        step waiting for the user's answer there, and its progress."""
        known = self._states.get(state)
        if known is None:
            values = dict(zip(PROGRESS_SLOTS, state, strict=True))
            values["steps_tried"] = list(state[3])
            progress = Progress.read(values, self.playbooks)
            step = progress.open_step
            still_open = (
                None if step is None or progress.playbook is None else (progress.playbook, step)
            )
            known = (state, still_open, progress)
            if len(self._states) < KNOWN_STATES:
                self._states[state] = known
        return known

    # --- what one action did -----------------------------------------------------------

    def _finish(self, conversation: Conversation, stats: dict[str, PlaybookStats]) -> None:
        """Apply the slots the last action set and count what that action did."""
        action, slots = conversation.action, conversation.pending
        conversation.action, conversation.pending = None, ()
        reset = action in RESET_ACTIONS  # a new session (or /restart) starts with empty slots
        if action is None or not (reset or slots):
            return
        before = conversation.state
        state = EMPTY if reset else before
        for name, value in slots:
            if name in PROGRESS_SLOTS:
                state = _with(state, name, value)
        _, was_open, before_progress = self._reading(before)
        conversation.state, now_open, after_progress = self._reading(state)
        if reset:
            if was_open and _key(now_open) != _key(was_open):
                stats[was_open[0].id].step(was_open[1].id).gave_up += 1
            return
        if action not in FLOW_ACTIONS:  # nothing moved (or the action failed)
            return
        count = _Counting(stats, conversation.intent)
        # ``step_answer``: how the actions read the reply to the open step
        judged = [value for name, value in slots if name == "step_answer" and value is not None]
        if was_open is not None and judged:
            count.answer(was_open, judged[-1], now_open)
        elif action == START:
            count.start(was_open, now_open, before_progress, after_progress)
        elif (
            was_open is not None
            and action in LEGACY_ANSWERS
            and _moved(before_progress, after_progress)
        ):
            # recorded before the actions said how they read the reply: the intent tells
            button = answer_for(BUTTON_VERDICTS.get(conversation.intent or ""))
            answer = HUMAN if action == "action_escalate" else button or NO
            count.answer(was_open, answer, now_open)

    # --- reading the counts ------------------------------------------------------------

    def view(self, now: float, idle_seconds: float) -> dict[str, PlaybookStats]:
        """The statistics as a replay ending at ``now`` counts them (a fresh copy): a step
        still open in a conversation idle for ``idle_seconds`` was given up."""
        stats = {playbook_id: counts.copy() for playbook_id, counts in self.stats.items()}
        for (playbook_id, step_id), idle, active in self._idle.split(now, idle_seconds):
            counts = stats[playbook_id].step(step_id)
            counts.gave_up += idle
            counts.open_now += active
        for sender in self.unsettled:
            ended = self.conversations[sender].copy()
            self._finish(ended, stats)  # as if its last event were the last one
            still_open = self._reading(ended.state)[1]
            if still_open is not None:
                counts = stats[still_open[0].id].step(still_open[1].id)
                if now - ended.last_seen >= idle_seconds:
                    counts.gave_up += 1
                else:
                    counts.open_now += 1
        return stats


def _key(still_open: _Open | None) -> StepKey | None:
    return None if still_open is None else (still_open[0].id, still_open[1].id)


def _moved(before: Progress, after: Progress) -> bool:
    """The stage, playbook or step changed."""
    return (before.stage, before.playbook and before.playbook.id, before.step_id) != (
        after.stage,
        after.playbook and after.playbook.id,
        after.step_id,
    )


@dataclass(frozen=True)
class _Counting:
    """Counts what one action did into ``stats``; ``intent`` is the user's last intent."""

    stats: dict[str, PlaybookStats]
    intent: str | None

    def start(
        self, was_open: _Open | None, now_open: _Open | None, before: Progress, after: Progress
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
                self.shown(playbook, trigger.start, now_open)
            else:
                self.answer(was_open, NO, now_open)
            return
        if now_open is None:
            return
        counts = self.stats[playbook.id]
        counts.conversations += 1
        counts.starts[trigger.intent] = counts.starts.get(trigger.intent, 0) + 1
        self.shown(playbook, trigger.start, now_open)

    def answer(self, was_open: _Open, answer: str, now_open: _Open | None) -> None:
        playbook, step = was_open
        counts = self.stats[playbook.id].step(step.id)
        counts.answers[answer] += 1
        target = answer_target(step, answer)
        if target == RESOLVED:
            counts.resolved += 1
        elif target == ESCALATE:
            counts.escalated += 1
        elif now_open is not None and now_open[0].id == playbook.id:
            self.shown(playbook, target, now_open)

    def shown(self, playbook: Playbook, entered: str, now_open: _Open) -> None:
        counts = self.stats[playbook.id]
        counts.step(now_open[1].id).shown += 1
        for hop in branch_path(playbook, entered, now_open[1].id):
            counts.branches[hop] = counts.branches.get(hop, 0) + 1


def count_events(
    playbooks: Iterable[Playbook],
    rows: Iterable[Sequence[Any]],
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
) -> dict[str, PlaybookStats]:
    """Count ``(sender_id, type_name, timestamp, intent_name, action_name, slot data)`` rows,
    ordered by conversation and then by event id, into statistics per playbook: one full
    replay."""
    tally = Tally(playbooks)
    tally.fold(rows)
    return tally.view(time.time() if now is None else now, idle_seconds)
