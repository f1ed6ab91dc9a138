"""The actions that walk a playbook: start the playbook of a problem, move on after a yes or
no, resume it after small talk, and the fallback for a message not understood (inside a
playbook it repeats the open question).
"""

from __future__ import annotations

import logging
import uuid

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import base
from actions.base import DyAction, ask_open_question, flow_state, latest_intent
from actions.digressions import business_request, consecutive_fallbacks, second_problem
from actions.outcomes import conversation_ref, engine_slots, finish_outcome, progress_events, send
from playbook import engine
from playbook.engine import NO, STAGE_TROUBLESHOOTING, YES
from playbook.progress import STAGE_CONTACT, STAGE_FOLLOWUP, STAGE_RATING

logger = logging.getLogger(__name__)


class ActionStartPlaybook(DyAction):
    """Start the playbook whose trigger is the latest intent (any problem type, no Python)."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_start_playbook"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if business_request(tracker):
            dispatcher.utter_message(response="utter_business_elsewhere")
            ask_open_question(dispatcher, flow_state(tracker), tracker)
            return []
        found = base.registry().for_intent(latest_intent(tracker))
        if not found:
            dispatcher.utter_message(response="utter_playbook_unavailable")
            return progress_events(None, None, None)
        playbook, trigger = found
        state = flow_state(tracker)
        slots = engine_slots(tracker)
        if state.in_playbook:
            # Progress.read gives the troubleshooting stage a playbook and a step
            assert state.playbook is not None and state.step_id is not None
            if state.playbook.id == playbook.id:
                outcome = engine.restate(playbook, trigger, state.step_id, slots, state.steps_tried)
                return await finish_outcome(dispatcher, tracker, playbook, outcome, state.flow_id)
        outcome = engine.start(playbook, trigger, slots)
        logger.info(
            "playbook %s started at %s (conversation %s)",
            playbook.id,
            outcome.step,
            conversation_ref(tracker.sender_id),
        )
        send(dispatcher, outcome.replies)
        second = second_problem(tracker, playbook)
        if second is not None:
            dispatcher.utter_message(
                response="utter_second_problem",
                other_problem=second[0].title,
                other_intent=second[1],
            )
        # a new problem: a new flow, and urgency said about an earlier problem no longer counts
        return progress_events(playbook, outcome, STAGE_TROUBLESHOOTING, uuid.uuid4().hex) + [
            SlotSet("ticket_id", None),
            SlotSet("urgency", None),
        ]


class ActionStepFeedback(DyAction):
    """The user answered yes or no: move through the playbook, the contact or rating question."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_step_feedback"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        answer = YES if latest_intent(tracker) == "affirm" else NO
        state = flow_state(tracker)
        if state.in_playbook or state.stage == STAGE_FOLLOWUP:
            # the reply was judged not to answer the open question (answer_open_step)
            dispatcher.utter_message(response="utter_not_understood_in_flow")
            ask_open_question(dispatcher, state, tracker)
            return []
        if state.stage == STAGE_CONTACT:
            if answer == NO:
                dispatcher.utter_message(response="utter_contact_skipped")
                return [SlotSet("dy_stage", None)]
            dispatcher.utter_message(response="utter_ask_contact")
            return []
        if state.stage == STAGE_RATING:
            if answer == NO:
                dispatcher.utter_message(response="utter_rating_skipped")
                return [SlotSet("dy_stage", None)]
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionFallback(DyAction):
    """Not understood: ask again once (re-asking the open question), then offer a person."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_fallback"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        state = flow_state(tracker)
        if not (tracker.latest_message.get("text") or "").strip():
            dispatcher.utter_message(response="utter_empty_message")
            if state.stage is None:
                dispatcher.utter_message(response="utter_describe_problem")
            ask_open_question(dispatcher, state, tracker)
            return []
        if state.stage == STAGE_CONTACT:
            dispatcher.utter_message(response="utter_contact_invalid")
            return []
        if state.stage == STAGE_RATING:
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        if state.stage == STAGE_FOLLOWUP:
            dispatcher.utter_message(response="utter_not_understood_in_flow")
            ask_open_question(dispatcher, state, tracker)
            return []
        if business_request(tracker):
            dispatcher.utter_message(response="utter_business_elsewhere")
            ask_open_question(dispatcher, state, tracker)
            return []
        if consecutive_fallbacks(tracker) >= 2:
            dispatcher.utter_message(response="utter_offer_human")
            return []
        if state.in_playbook:
            dispatcher.utter_message(response="utter_not_understood_in_flow")
            ask_open_question(dispatcher, state)
            return []
        dispatcher.utter_message(
            response="utter_out_of_scope"
            if latest_intent(tracker) == "out_of_scope"
            else "utter_default"
        )
        return []


class ActionResumeFlow(DyAction):
    """After small talk in the middle of a playbook, repeat the open question."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_resume_flow"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        state = flow_state(tracker)
        if state.in_playbook or state.stage == STAGE_FOLLOWUP:
            dispatcher.utter_message(response="utter_resume")
            ask_open_question(dispatcher, state, tracker)
        return []
