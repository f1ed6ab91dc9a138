"""The playbook engine: pure decisions about where a conversation goes next.

It knows nothing of Rasa. Given a playbook, the current step and the user's answer it
returns the replies to send (response keys of ``domain.yml`` or text from the playbook)
and the new state, which the actions store in slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from actions.playbooks import ESCALATE, RESOLVED, Playbook, Step, Trigger

YES, NO, HUMAN = "yes", "no", "human"
STAGE_TROUBLESHOOTING = "troubleshooting"
MAX_BRANCH_HOPS = 20


class EngineError(RuntimeError):
    """The playbook cannot be walked (e.g. a branch loop); the action apologises."""


@dataclass(frozen=True)
class Reply:
    """One message to the user: a domain response (``response`` + ``values``), playbook
    ``text``, or an ``image`` URL."""

    response: Optional[str] = None
    text: Optional[str] = None
    image: Optional[str] = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    replies: List[Reply]
    step: Optional[str] = None
    steps_tried: List[str] = field(default_factory=list)
    resolved: bool = False
    escalate: bool = False


def _resolve_branches(playbook: Playbook, step_id: str, slots: Mapping[str, Any]) -> Step:
    for _hop in range(MAX_BRANCH_HOPS):
        step = playbook.step(step_id)
        if step is None:
            raise EngineError(f"playbook {playbook.id}: unknown step {step_id!r}")
        if not step.branch:
            return step
        value = slots.get(step.branch.slot)
        step_id = step.branch.cases.get(value, step.branch.default) if isinstance(value, str) \
            else step.branch.default
    raise EngineError(f"playbook {playbook.id}: branch loop at {step_id!r}")


def present(step: Step) -> List[Reply]:
    """The messages that show one step: its text, link, video, image and the check question."""
    replies = [Reply(text=step.message)]
    if step.link:
        replies.append(Reply(response="utter_step_link",
                             values={"link_title": step.link.title, "link_url": step.link.url}))
    if step.video:
        replies.append(Reply(response="utter_step_video",
                             values={"video_title": step.video.title, "video_url": step.video.url}))
    if step.image:
        replies.append(Reply(image=step.image))
    replies.append(check_question(step))
    return replies


def check_question(step: Step) -> Reply:
    """Ask whether the step worked, with the 解决了 / 还是不行 / 转人工 buttons."""
    return Reply(response="utter_check_step", values={"check_question": step.check})


def enter(playbook: Playbook, step_id: str, slots: Mapping[str, Any],
          steps_tried: List[str]) -> Outcome:
    """Move to ``step_id`` (following branches) and show it."""
    step = _resolve_branches(playbook, step_id, slots)
    tried = list(steps_tried)
    if step.id not in tried:
        tried.append(step.id)
    return Outcome(replies=present(step), step=step.id, steps_tried=tried)


def start(playbook: Playbook, trigger: Trigger, slots: Mapping[str, Any]) -> Outcome:
    """Begin ``playbook`` at the trigger's start step."""
    outcome = enter(playbook, trigger.start, slots, [])
    outcome.replies.insert(0, Reply(text=playbook.intro_for(trigger.intent)))
    return outcome


def restate(playbook: Playbook, trigger: Trigger, current: str, slots: Mapping[str, Any],
            steps_tried: List[str]) -> Outcome:
    """The user describes the same problem again in the middle of its playbook.

    A trigger that starts at a step not tried yet jumps there (e.g. "忘记密码" while
    checking credentials); otherwise the restatement means the current step did not help.
    """
    start_step = _resolve_branches(playbook, trigger.start, slots)
    if start_step.id not in steps_tried:
        outcome = enter(playbook, start_step.id, slots, steps_tried)
        outcome.replies.insert(0, Reply(response="utter_try_next"))
        return outcome
    return answer(playbook, current, NO, slots, steps_tried)


def answer(playbook: Playbook, current: str, reply: str, slots: Mapping[str, Any],
           steps_tried: List[str]) -> Outcome:
    """Apply the user's answer (yes / no / human) to the current step."""
    step = playbook.step(current)
    if step is None:
        raise EngineError(f"playbook {playbook.id}: unknown step {current!r}")
    target = {YES: step.on_yes, NO: step.on_no, HUMAN: step.on_human}[reply]
    if target == RESOLVED:
        return Outcome(replies=[], step=step.id, steps_tried=list(steps_tried), resolved=True)
    if target == ESCALATE:
        return Outcome(replies=[], step=step.id, steps_tried=list(steps_tried), escalate=True)
    outcome = enter(playbook, target, slots, steps_tried)
    if reply == NO:
        outcome.replies.insert(0, Reply(response="utter_try_next"))
    return outcome


def tried_steps_detail(playbook: Playbook, steps_tried: List[str],
                       unanswered: Optional[str] = None) -> List[Dict[str, str]]:
    """The steps shown to the user, with titles, for the ticket: ``failed`` when the user
    said it did not help, ``unanswered`` for the step open when they asked for a person."""
    detail = []
    for step_id in steps_tried:
        step = playbook.step(step_id)
        if step is not None:
            detail.append({"id": step.id, "title": step.title,
                           "outcome": "unanswered" if step_id == unanswered else "failed"})
    return detail
