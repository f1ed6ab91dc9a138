"""The base class of every action, :class:`DyAction`, and what it needs: the conversation's
progress as the slots hold it (checked against the playbook registry), the reply to an open
check question read and answered first, and the timeout / apology around the action's work.

The action modules (troubleshooting, escalation, digressions) build on this one; it imports
none of them, only :mod:`actions.outcomes`, :mod:`actions.parsing` and :mod:`actions.registry`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import ratings
from actions.outcomes import (
    conversation_ref,
    engine_slots,
    finish_outcome,
    followup_answer,
    hand_over,
    send,
)
from actions.parsing import genuine_urgency
from actions.registry import default_registry
from playbook import engine
from playbook.progress import (
    STAGE_COMMENT,
    STAGE_CONTACT,
    STAGE_FOLLOWUP,
    STAGE_RATING,
    Progress,
)
from playbook.registry import PlaybookRegistry
from understanding.answers import Judgement, StepContext, Verdict, read_reply
from understanding.ratings import ASPECTS

logger = logging.getLogger(__name__)

#: Questions with these intents have their own answers (「我的工单呢？」, 「你是机器人吗？」).
NOT_STEP_QUESTIONS = {
    "ticket_status",
    "bot_challenge",
    "request_human",
    "greet",
    "thank",
    "goodbye",
}
UNSURE_RESPONSES = {
    Verdict.WORKED: "utter_answer_unsure_worked",
    Verdict.FAILED: "utter_answer_unsure_failed",
    None: "utter_answer_unsure",
}
#: An action gives up (and apologises) well inside Rasa's 60 s conversation lock.
ACTION_TIMEOUT_SECONDS = 20.0


def registry() -> PlaybookRegistry:
    """The playbooks, loaded on first use and reloaded when a file changes.

    The action modules call it as ``base.registry()``, so one patch of it reaches every use."""
    return default_registry()


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


# --- reading the conversation state safely -------------------------------------------------


def flow_state(tracker: Tracker) -> Progress:
    """The playbook progress held in slots, checked against the playbooks on disk."""
    return Progress.read(tracker.get_slot, registry().get)


def ask_open_question(
    dispatcher: CollectingDispatcher, state: Progress, tracker: Tracker | None = None
) -> None:
    """Repeat whatever the assistant is waiting for: the step check, contact, rating or the
    follow-up question about a resolved ticket."""
    if state.stage == STAGE_FOLLOWUP and tracker is not None:
        dispatcher.utter_message(
            response="utter_followup_ask", ticket_number=tracker.get_slot("ticket_id")
        )
    elif state.in_playbook:
        step = state.step
        assert step is not None  # Progress.read: the troubleshooting stage is at a step
        send(dispatcher, [engine.check_question(step)])
    elif state.stage == STAGE_CONTACT:
        dispatcher.utter_message(response="utter_ask_contact")
    elif ratings.rates_staff(state):
        ratings.ask_aspect(dispatcher, ratings.asking(tracker) if tracker else ASPECTS[0])
    elif state.stage == STAGE_RATING:
        dispatcher.utter_message(response="utter_ask_rating")
    elif state.stage == STAGE_COMMENT:
        dispatcher.utter_message(response="utter_ask_rating_comment")


# --- the reply to an open check question ------------------------------------------------


def step_context(state: Progress) -> StepContext:
    step = state.step
    if step is None:
        return StepContext()
    return StepContext(question=step.check, phrases=step.answers)


def read_step_answer(tracker: Tracker, state: Progress) -> Judgement:
    """The latest message as the answer to the open question, in the step's context
    (:func:`understanding.answers.read_reply`)."""
    intent = latest_intent(tracker)
    found = registry().for_intent(intent)
    return read_reply(
        tracker.latest_message.get("text") or "",
        step_context(state),
        intent=intent,
        confidence=(tracker.latest_message.get("intent") or {}).get("confidence") or 0.0,
        starts_other_playbook=found is not None
        and (state.playbook is None or found[0].id != state.playbook.id),
    )


async def answer_open_step(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[EventType] | None:
    """Apply the latest message to the open check question, or return None when it is not
    an answer (the action then handles it as what the NLU says it is).

    Worked / failed / a person move the playbook (or the follow-up of a resolved ticket);
    an uncertain reading is said back to the user with the buttons, and nothing moves.
    """
    state = flow_state(tracker)
    if not (state.in_playbook or state.stage == STAGE_FOLLOWUP):
        return None
    judgement = read_step_answer(tracker, state)
    if state.in_playbook:
        assert state.playbook is not None  # Progress.read: the stage is in a playbook
        step = f"{state.playbook.id}/{state.step_id}"
    else:
        step = STAGE_FOLLOWUP
    logger.info(
        "answer to %s read as %s (%s) (conversation %s)",
        step,
        judgement.verdict.value,
        judgement.cue.split(":")[0],
        conversation_ref(tracker.sender_id),
    )
    if judgement.verdict == Verdict.UNSURE:
        dispatcher.utter_message(
            response=UNSURE_RESPONSES.get(judgement.lean, "utter_answer_unsure")
        )
        if state.stage == STAGE_FOLLOWUP:
            ask_open_question(dispatcher, state, tracker)
        return []
    if judgement.verdict == Verdict.OTHER:
        if judgement.pending:
            dispatcher.utter_message(response="utter_step_pending")
            return []
        if (
            judgement.question
            and state.in_playbook
            and latest_intent(tracker) not in NOT_STEP_QUESTIONS
        ):
            dispatcher.utter_message(response="utter_step_question")
            ask_open_question(dispatcher, state, tracker)
            return []
        return None
    if state.stage == STAGE_FOLLOWUP:
        if judgement.verdict == Verdict.HUMAN:
            return None
        answer = engine.answer_for(judgement.verdict) or engine.NO
        return await followup_answer(dispatcher, tracker, state, answer)
    recorded = SlotSet("step_answer", judgement.verdict.value)
    if judgement.verdict == Verdict.HUMAN:
        return await hand_over(dispatcher, tracker, state) + [recorded]
    answer = engine.answer_for(judgement.verdict) or engine.NO
    # in the playbook (not the follow-up): Progress.read gives that stage a playbook and a step
    assert state.playbook is not None and state.step_id is not None
    outcome = engine.answer(
        state.playbook, state.step_id, answer, engine_slots(tracker), state.steps_tried
    )
    return await finish_outcome(dispatcher, tracker, state.playbook, outcome, state.flow_id) + [
        recorded
    ]


async def answer_open_question(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[EventType] | None:
    """The latest message as the answer to whatever is open: a step's check, the follow-up of
    a resolved ticket, an aspect of its rating or the rating's comment; None when it answers
    none of them (the action handles it as what the NLU says it is)."""
    state = flow_state(tracker)
    if ratings.rates_staff(state):
        return await ratings.answer_rating(dispatcher, tracker, state)
    if state.stage == STAGE_COMMENT:
        return await ratings.answer_comment(dispatcher, tracker, state)
    return await answer_open_step(dispatcher, tracker)


# --- the base class -------------------------------------------------------------------------


class DyAction(Action, abc.ABC):  # type: ignore[misc]  # rasa_sdk has no type information
    """Runs :meth:`handle`; on any error the user gets an apology instead of silence.

    It also records a genuine urgency word from the latest message in the ``urgency`` slot
    (the slot has no automatic mapping, so ``/intent{"urgency": ...}`` cannot set it).
    """

    #: True for the actions a user message can reach while a check question is open: the
    #: reply is then judged as an answer to that question first (see :func:`answer_open_step`).
    reads_step_answers: bool = False

    @abc.abstractmethod
    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Do the action's work and return its events."""

    async def _answer_or_handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if self.reads_step_answers:
            events = await answer_open_question(dispatcher, tracker)
            if events is not None:
                return events
        return await self.handle(dispatcher, tracker, domain)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        started = time.perf_counter()
        try:
            events = await asyncio.wait_for(
                self._answer_or_handle(dispatcher, tracker, domain), timeout=ACTION_TIMEOUT_SECONDS
            )
        except Exception:
            logger.exception(
                "%s failed (conversation %s)", self.name(), conversation_ref(tracker.sender_id)
            )
            dispatcher.messages.clear()
            dispatcher.utter_message(response="utter_action_failed")
            return []
        urgency = genuine_urgency(tracker)
        if urgency:
            events = list(events) + [SlotSet("urgency", urgency)]
        logger.info(
            "%s done in %.1f ms (conversation %s)",
            self.name(),
            (time.perf_counter() - started) * 1000,
            conversation_ref(tracker.sender_id),
        )
        return events
