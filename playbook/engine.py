"""The playbook engine: pure decisions about where a conversation goes next.

It knows nothing of Rasa. Given a playbook, the current step and the user's answer it
returns the replies to send (response keys of ``domain.yml`` or text from the playbook)
and the new state, which the actions store in slots. The console's flow statistics and the
editors' coverage report walk playbooks with the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from playbook.model import ESCALATE, RESOLVED, Playbook, Step, Trigger
from understanding.answers import Verdict

YES, NO, HUMAN = "yes", "no", "human"
#: The buttons under every check question, as the user reads them.
ANSWER_TITLES = {YES: "解决了", NO: "还是不行", HUMAN: "转人工"}
#: How the reply to a check question was read (:class:`understanding.answers.Verdict`)
#: -> the answer that moves the playbook; other verdicts move nothing.
VERDICT_ANSWERS = {Verdict.WORKED.value: YES, Verdict.FAILED.value: NO, Verdict.HUMAN.value: HUMAN}

STAGE_TROUBLESHOOTING = "troubleshooting"
MAX_BRANCH_HOPS = 20


class EngineError(RuntimeError):
    """The playbook cannot be walked (e.g. a branch loop); the action apologises."""


@dataclass(frozen=True)
class Reply:
    """One message to the user: a domain response (``response`` + ``values``), playbook
    ``text``, or an ``image`` URL."""

    response: str | None = None
    text: str | None = None
    image: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    replies: list[Reply]
    step: str | None = None
    steps_tried: list[str] = field(default_factory=list)
    resolved: bool = False
    escalate: bool = False


# --- the map of a playbook ---------------------------------------------------------------


def answer_for(verdict: Verdict | str | None) -> str | None:
    """The answer (yes / no / human) a verdict gives the open step, None if it gives none."""
    value = verdict.value if isinstance(verdict, Verdict) else verdict
    return VERDICT_ANSWERS.get(value) if isinstance(value, str) else None


def target(step: Step, answer: str) -> str:
    """Where ``answer`` (yes / no / human) leads from ``step``: a step id, resolved or escalate."""
    return {YES: step.on_yes, NO: step.on_no, HUMAN: step.on_human}[answer]


def branch_case(step: Step, slots: Mapping[str, Any]) -> str | None:
    """The case of the branch step ``step`` that the slot values select, None for its
    default (and for a step without a branch)."""
    branch = step.branch
    if branch is None:
        return None
    value = slots.get(branch.slot)
    return value if isinstance(value, str) and value in branch.cases else None


@dataclass(frozen=True)
class Landing:
    """Where a conversation lands at a step id: the step shown, and the branch steps passed on
    the way with the case each took (None for its default)."""

    step: Step
    hops: tuple[tuple[Step, str | None], ...] = ()


def land(playbook: Playbook, step_id: str, slots: Mapping[str, Any]) -> Landing:
    """Follow the branches from ``step_id`` by the slot values until a step that is shown."""
    hops: list[tuple[Step, str | None]] = []
    for _hop in range(MAX_BRANCH_HOPS):
        step = playbook.step(step_id)
        if step is None:
            raise EngineError(f"playbook {playbook.id}: unknown step {step_id!r}")
        if not step.branch:
            return Landing(step=step, hops=tuple(hops))
        case = branch_case(step, slots)
        hops.append((step, case))
        step_id = step.branch.cases[case] if case is not None else step.branch.default
    raise EngineError(f"playbook {playbook.id}: branch loop at {step_id!r}")


def resolve_branches(playbook: Playbook, step_id: str, slots: Mapping[str, Any]) -> Step:
    """The step a conversation lands on at ``step_id`` (see :func:`land`)."""
    return land(playbook, step_id, slots).step


def branch_path(playbook: Playbook, start: str, shown: str) -> list[tuple[str, str]]:
    """The branch hops from ``start`` to the step ``shown`` ([] when ``start`` is a step)."""
    frontier: list[tuple[str, list[tuple[str, str]]]] = [(start, [])]
    seen: set[str] = set()
    while frontier:
        current, path = frontier.pop(0)
        if current == shown:
            return path
        step = playbook.step(current)
        if current in seen or step is None or step.branch is None:
            continue
        seen.add(current)
        targets = list(dict.fromkeys([*step.branch.cases.values(), step.branch.default]))
        frontier.extend((t, path + [(current, t)]) for t in targets)
    return []


def entry_steps(playbook: Playbook, start: str) -> set[str]:
    """The steps a conversation can land on when it enters at ``start`` (through branches)."""
    found: set[str] = set()
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        current = frontier.pop()
        step = playbook.step(current)
        if current in seen or step is None:
            continue
        seen.add(current)
        if step.branch is None:
            found.add(current)
        else:
            frontier.extend([*step.branch.cases.values(), step.branch.default])
    return found


# --- moving a conversation ---------------------------------------------------------------


def present(step: Step) -> list[Reply]:
    """The messages that show one step: its text, link, video, image and the check question."""
    replies = [Reply(text=step.message)]
    if step.link:
        replies.append(
            Reply(
                response="utter_step_link",
                values={"link_title": step.link.title, "link_url": step.link.url},
            )
        )
    if step.video:
        replies.append(
            Reply(
                response="utter_step_video",
                values={"video_title": step.video.title, "video_url": step.video.url},
            )
        )
    if step.image:
        replies.append(Reply(image=step.image))
    replies.append(check_question(step))
    return replies


def check_question(step: Step) -> Reply:
    """Ask whether the step worked, with the 解决了 / 还是不行 / 转人工 buttons."""
    return Reply(response="utter_check_step", values={"check_question": step.check})


def enter(
    playbook: Playbook, step_id: str, slots: Mapping[str, Any], steps_tried: Sequence[str]
) -> Outcome:
    """Move to ``step_id`` (following branches) and show it."""
    step = resolve_branches(playbook, step_id, slots)
    tried = list(steps_tried)
    if step.id not in tried:
        tried.append(step.id)
    return Outcome(replies=present(step), step=step.id, steps_tried=tried)


def start(playbook: Playbook, trigger: Trigger, slots: Mapping[str, Any]) -> Outcome:
    """Begin ``playbook`` at the trigger's start step."""
    outcome = enter(playbook, trigger.start, slots, [])
    outcome.replies.insert(0, Reply(text=playbook.intro_for(trigger.intent)))
    return outcome


def restate(
    playbook: Playbook,
    trigger: Trigger,
    current: str,
    slots: Mapping[str, Any],
    steps_tried: Sequence[str],
) -> Outcome:
    """The user describes the same problem again in the middle of its playbook.

    A trigger that starts at a step not tried yet jumps there (e.g. "忘记密码" while
    checking credentials); otherwise the restatement means the current step did not help.
    """
    start_step = resolve_branches(playbook, trigger.start, slots)
    if start_step.id not in steps_tried:
        outcome = enter(playbook, start_step.id, slots, steps_tried)
        outcome.replies.insert(0, Reply(response="utter_try_next"))
        return outcome
    return answer(playbook, current, NO, slots, steps_tried)


def answer(
    playbook: Playbook,
    current: str,
    reply: str,
    slots: Mapping[str, Any],
    steps_tried: Sequence[str],
) -> Outcome:
    """Apply the user's answer (yes / no / human) to the current step."""
    step = playbook.step(current)
    if step is None:
        raise EngineError(f"playbook {playbook.id}: unknown step {current!r}")
    to = target(step, reply)
    if to == RESOLVED:
        return Outcome(replies=[], step=step.id, steps_tried=list(steps_tried), resolved=True)
    if to == ESCALATE:
        return Outcome(replies=[], step=step.id, steps_tried=list(steps_tried), escalate=True)
    outcome = enter(playbook, to, slots, steps_tried)
    if reply == NO:
        outcome.replies.insert(0, Reply(response="utter_try_next"))
    return outcome


def tried_steps_detail(
    playbook: Playbook, steps_tried: Sequence[str], unanswered: str | None = None
) -> list[dict[str, str]]:
    """The steps shown to the user, with titles, for the ticket: ``failed`` when the user
    said it did not help, ``unanswered`` for the step open when they asked for a person."""
    detail = []
    for step_id in steps_tried:
        step = playbook.step(step_id)
        if step is not None:
            detail.append(
                {
                    "id": step.id,
                    "title": step.title,
                    "outcome": "unanswered" if step_id == unanswered else "failed",
                }
            )
    return detail
