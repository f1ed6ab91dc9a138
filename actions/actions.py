"""Rasa custom actions of Dy 客服助手.

Every action is async: database work runs in a worker thread. Every slot an action reads
is checked first; a slot never selects another user's data. Everything the user reads is a
response in ``domain.yml`` or text from a playbook.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import hmac
import logging
import os
import re
import time
import uuid
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.registry import default_registry
from playbook import engine
from playbook.engine import HUMAN, NO, STAGE_TROUBLESHOOTING, YES, Outcome, Reply
from playbook.model import Playbook
from playbook.progress import STAGE_CONTACT, STAGE_FOLLOWUP, STAGE_RATING, STAGES, Progress
from playbook.registry import PlaybookRegistry
from tickets import config as ticket_config
from tickets import store, workflow
from tickets.models import OPEN_STATUSES
from tickets.policy import PriorityPolicy, load_policy
from tickets.privacy import mask_email, mask_phone
from tickets.transcript import build_transcript, last_user_timestamp
from understanding.answers import Judgement, StepContext, Verdict, read_reply
from understanding.normalize import normalize

logger = logging.getLogger(__name__)

FOLLOWUP_PREFIX = "ticket-"
FALLBACK_INTENTS = {"nlu_fallback", "out_of_scope"}
#: Questions with these intents have their own answers (「我的工单呢？」, 「你是机器人吗？」).
#: The clauses of a message (「网络老是掉线，而且密码也忘了」): a second problem is looked for in
#: the clauses after the first.
CLAUSE_BREAK = re.compile(r"[，,；;。.!！?？、\n]|而且|还有|另外|并且|同时|以及|\band\b|\balso\b")
NEGATED_MENTION = re.compile(r"(?:不是|没有|没|不)$")
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
#: Entities typed by the user as ``/intent{"entity": "value"}`` come from this extractor;
#: they are never trusted to raise a ticket's priority.
INJECTED = "RegexMessageHandler"
PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
EMAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
)
NUMERALS = {
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
    "5": 5,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
}
RATING_ALONE = re.compile(r"^\s*([1-5一二两三四五])\s*[分星]?\s*[吧啦了！!。.]*\s*$")
RATING_IN_TEXT = re.compile(r"(?<![\d一二两三四五六七八九十])([1-5一二两三四五])\s*(?:分|星|颗星)")
NEGATION_BEFORE = re.compile(r"[不没][是太很]?$")
#: An action gives up (and apologises) well inside Rasa's 60 s conversation lock.
ACTION_TIMEOUT_SECONDS = 20.0
#: Key for the conversation references in logs (set DY_LOG_KEY to correlate across restarts).
_LOG_KEY = (os.environ.get("DY_LOG_KEY") or uuid.uuid4().hex).encode("utf-8")


def registry() -> PlaybookRegistry:
    """The playbooks, loaded on first use and reloaded when a file changes."""
    return default_registry()


def policy() -> PriorityPolicy:
    return load_policy()


def conversation_ref(sender_id: str) -> str:
    """A short keyed hash of the sender id for logs (not reversible without the key)."""
    return hmac.new(_LOG_KEY, str(sender_id).encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def format_time(moment: datetime) -> str:
    local = moment.astimezone(ticket_config.DISPLAY_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


# --- reading the conversation state safely -------------------------------------------------


def flow_state(tracker: Tracker) -> Progress:
    """The playbook progress held in slots, checked against the playbooks on disk."""
    return Progress.read(tracker.get_slot, registry().get)


def engine_slots(tracker: Tracker) -> dict[str, Any]:
    """Slot values a playbook branch may look at: the latest message's entities first,
    then the slot as it stands (e.g. a feature named a few turns ago)."""
    values: dict[str, Any] = {}
    for entity in tracker.latest_message.get("entities") or []:
        if isinstance(entity, dict):
            name = entity.get("entity")
            if isinstance(name, str) and isinstance(entity.get("value"), str):
                values.setdefault(name, entity["value"])
    feature = tracker.get_slot("feature")
    if isinstance(feature, str):
        values.setdefault("feature", feature)
    return values


def genuine_urgency(tracker: Tracker) -> str | None:
    """An urgency word the user really wrote in the latest message (not injected, not negated
    as in “不是很急”), or None."""
    text = tracker.latest_message.get("text") or ""
    for entity in tracker.latest_message.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("entity") != "urgency":
            continue
        value = entity.get("value")
        if entity.get("extractor") == INJECTED or not isinstance(value, str):
            continue
        start = entity.get("start")
        if isinstance(start, int) and NEGATION_BEFORE.search(text[max(0, start - 3) : start]):
            continue
        return value
    return None


def business_request(tracker: Tracker) -> bool:
    """The user asks about commission, ad spend, shop qualifications, withdrawals, … (the
    ``business`` entity of data/nlu/entities.yml, really written): handled by people, never
    by a playbook."""
    return any(
        isinstance(e, dict) and e.get("entity") == "business" and e.get("extractor") != INJECTED
        for e in tracker.latest_message.get("entities") or []
    )


def urgent_signal(tracker: Tracker) -> bool:
    """True when the user said, in this flow, that it is urgent or business is interrupted."""
    return bool(tracker.get_slot("urgency")) or genuine_urgency(tracker) is not None


def send(dispatcher: CollectingDispatcher, replies: list[Reply]) -> None:
    for reply in replies:
        if reply.response:
            dispatcher.utter_message(response=reply.response, **dict(reply.values))
        elif reply.image:
            dispatcher.utter_message(image=reply.image)
        elif reply.text:
            dispatcher.utter_message(text=reply.text)


def progress_events(
    playbook: Playbook | None,
    outcome: Outcome | None,
    stage: str | None,
    flow_id: str | None = None,
) -> list[EventType]:
    events: list[EventType] = [
        SlotSet("dy_stage", stage),
        SlotSet("playbook", playbook.id if playbook else None),
        SlotSet("playbook_step", outcome.step if outcome else None),
        SlotSet("steps_tried", outcome.steps_tried if outcome else []),
    ]
    if flow_id is not None:
        events.append(SlotSet("flow_id", flow_id))
    return events


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
    elif state.stage == STAGE_RATING:
        dispatcher.utter_message(response="utter_ask_rating")


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
        answer = YES if judgement.verdict == Verdict.WORKED else NO
        return await followup_answer(dispatcher, tracker, state, answer)
    recorded = SlotSet("step_answer", judgement.verdict.value)
    if judgement.verdict == Verdict.HUMAN:
        return await hand_over(dispatcher, tracker, state) + [recorded]
    answer = YES if judgement.verdict == Verdict.WORKED else NO
    # in the playbook (not the follow-up): Progress.read gives that stage a playbook and a step
    assert state.playbook is not None and state.step_id is not None
    outcome = engine.answer(
        state.playbook, state.step_id, answer, engine_slots(tracker), state.steps_tried
    )
    return await finish_outcome(dispatcher, tracker, state.playbook, outcome, state.flow_id) + [
        recorded
    ]


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
            events = await answer_open_step(dispatcher, tracker)
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


# --- playbooks ------------------------------------------------------------------------------


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
        found = registry().for_intent(latest_intent(tracker))
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


def _bare_words(text: str) -> str:
    """A phrase without the adverbs people slip into it: 密码也忘了 names 密码忘了."""
    return re.sub(r"[也都还又]", "", text.lower())


def second_problem(tracker: Tracker, first: Playbook) -> tuple[Playbook, str] | None:
    """Another problem named in the same message (「网络老掉线，而且密码也忘了」): a trigger of
    another playbook whose ``mentions`` stand, not negated, in a later clause that names
    nothing of the first problem. (The NLU gives a message one intent; its ranking puts the
    others near 0, so it cannot tell.)"""
    text = normalize(tracker.latest_message.get("text") or "")
    if text.startswith("/"):
        return None
    own = [_bare_words(m) for t in first.triggers for m in t.mentions]
    for clause in [_bare_words(c) for c in CLAUSE_BREAK.split(text) if c.strip()][1:]:
        if any(m in clause for m in own):
            continue
        for playbook in registry().all():
            if playbook.id == first.id:
                continue
            for trigger in playbook.triggers:
                for mention in trigger.mentions:
                    at = clause.find(_bare_words(mention))
                    if at >= 0 and not NEGATED_MENTION.search(clause[:at]):
                        return playbook, trigger.intent
    return None


async def finish_outcome(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    playbook: Playbook,
    outcome: Outcome,
    flow_id: str | None,
) -> list[EventType]:
    """Send an engine outcome: next step, resolution (ask for a rating) or escalation."""
    if outcome.resolved:
        dispatcher.utter_message(response="utter_resolved")
        dispatcher.utter_message(response="utter_ask_rating")
        flow = flow_id or f"flow-{uuid.uuid4().hex}"
        await asyncio.to_thread(
            store.record_feedback,
            idempotency_key=store.escalation_key(tracker.sender_id, flow),
            sender_id=tracker.sender_id,
            playbook=playbook.id,
            resolved_step=outcome.step,
        )
        logger.info(
            "playbook %s resolved at %s (conversation %s)",
            playbook.id,
            outcome.step,
            conversation_ref(tracker.sender_id),
        )
        return progress_events(playbook, outcome, STAGE_RATING, flow)
    if outcome.escalate:
        if playbook.escalation.message:
            dispatcher.utter_message(text=playbook.escalation.message)
        return await escalate(
            dispatcher,
            tracker,
            reason="playbook_exhausted",
            playbook=playbook,
            steps_tried=outcome.steps_tried,
            unanswered=None,
            flow_id=flow_id,
        )
    send(dispatcher, outcome.replies)
    return progress_events(playbook, outcome, STAGE_TROUBLESHOOTING, flow_id)


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


# --- escalation and tickets -----------------------------------------------------------------


async def escalate(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    *,
    reason: str,
    playbook: Playbook | None,
    steps_tried: list[str],
    unanswered: str | None,
    flow_id: str | None,
    known: store.TicketView | None = None,
) -> list[EventType]:
    """Create (or find) the ticket of this escalation and tell the user its number and SLA.

    One escalation makes one ticket (idempotent key from sender and flow), and a sender who
    already has an unfinished ticket for the same category is pointed to it instead of
    getting a second one.
    """
    if not flow_id:
        stamp = last_user_timestamp(tracker.events) or time.time()
        flow_id = f"req-{stamp:.6f}"
    category = playbook.escalation.category if playbook else "other"
    current_policy = policy()
    ticket = known or await asyncio.to_thread(
        store.find_unfinished, tracker.sender_id, category, statuses=OPEN_STATUSES
    )
    if ticket is None:
        ticket = await asyncio.to_thread(
            store.create_ticket,
            idempotency_key=store.escalation_key(tracker.sender_id, flow_id),
            sender_id=tracker.sender_id,
            category=category,
            reason=reason,
            playbook=playbook.id if playbook else None,
            playbook_priority=playbook.escalation.priority if playbook else None,
            steps_tried=engine.tried_steps_detail(playbook, steps_tried, unanswered)
            if playbook
            else [],
            urgent_signal=urgent_signal(tracker),
            transcript=build_transcript(tracker.events),
            policy=current_policy,
        )
    level = current_policy.levels.get(ticket.priority)
    values = {
        "ticket_number": ticket.number,
        "priority": level.label if level else ticket.priority,
        "promise": level.promise if level else "",
        "due_time": format_time(ticket.sla_due_at),
    }
    if ticket.created_now:
        logger.info(
            "ticket %s created: %s/%s (conversation %s)",
            ticket.number,
            ticket.category,
            ticket.priority,
            conversation_ref(tracker.sender_id),
        )
        dispatcher.utter_message(response="utter_ticket_created", **values)
    else:
        dispatcher.utter_message(response="utter_ticket_exists", **values)
    events = [
        SlotSet("ticket_id", ticket.number),
        SlotSet("flow_id", flow_id),
        SlotSet("playbook", playbook.id if playbook else None),
        SlotSet("playbook_step", None),
        SlotSet("steps_tried", steps_tried),
    ]
    if ticket.contact_phone or ticket.contact_email:
        return events + [SlotSet("dy_stage", None)]
    dispatcher.utter_message(response="utter_ask_contact")
    return events + [SlotSet("dy_stage", STAGE_CONTACT)]


class ActionEscalate(DyAction):
    """The user asked for a person: hand over with a ticket, whatever step they were at."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_escalate"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return await hand_over(dispatcher, tracker, flow_state(tracker))


async def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, state: Progress
) -> list[EventType]:
    """The user asked for a person: hand over with a ticket, whatever step they were at."""
    if state.in_playbook:
        # Progress.read gives the troubleshooting stage a playbook and a step
        assert state.playbook is not None and state.step_id is not None
        outcome = engine.answer(
            state.playbook, state.step_id, HUMAN, engine_slots(tracker), state.steps_tried
        )
        if not outcome.escalate:  # an editor routed 转人工 to another step
            return await finish_outcome(dispatcher, tracker, state.playbook, outcome, state.flow_id)
    # this conversation's unfinished ticket (e.g. the user chases it after the contact step)
    known: store.TicketView | None = None
    number = tracker.get_slot("ticket_id")
    if not state.in_playbook and isinstance(number, str):
        known = await asyncio.to_thread(store.get_for_sender, number, tracker.sender_id)
        if known is not None and known.status not in OPEN_STATUSES:
            known = None
    if known is None:
        dispatcher.utter_message(response="utter_handover")
    # the problem being worked on (or just resolved / escalated) stays the ticket's subject
    playbook = state.playbook if state.stage in STAGES else None
    return await escalate(
        dispatcher,
        tracker,
        reason="user_request",
        playbook=playbook,
        steps_tried=list(state.steps_tried) if playbook else [],
        unanswered=state.step_id if state.in_playbook else None,
        flow_id=state.flow_id if playbook else None,
        known=known,
    )


class ActionSaveContact(DyAction):
    """Attach a validated phone number or e-mail address to this user's ticket."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_save_contact"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        state = flow_state(tracker)
        if state.in_playbook:  # digits typed while a step is open: not a contact answer
            dispatcher.utter_message(response="utter_not_understood_in_flow")
            ask_open_question(dispatcher, state)
            return []
        ticket = await asyncio.to_thread(self._ticket, tracker)
        if ticket is None:
            dispatcher.utter_message(response="utter_contact_no_ticket")
            return [SlotSet("dy_stage", None)] if state.stage == STAGE_CONTACT else []
        text = tracker.latest_message.get("text") or ""
        phone_match = PHONE_IN_TEXT.search(text)
        email_match = EMAIL_IN_TEXT.search(text)
        phone = phone_match.group(1) if phone_match else None
        email = (
            email_match.group(0)
            if email_match and store.EMAIL_RE.match(email_match.group(0))
            else None
        )
        if not phone and not email:
            dispatcher.utter_message(response="utter_contact_invalid")
            return [SlotSet("dy_stage", STAGE_CONTACT)]
        await asyncio.to_thread(
            store.set_contact, ticket.number, tracker.sender_id, phone=phone, email=email
        )
        shown = "、".join(
            v for v in (phone and mask_phone(phone), email and mask_email(email)) if v
        )
        dispatcher.utter_message(
            response="utter_contact_saved", contact=shown, ticket_number=ticket.number
        )
        return [SlotSet("dy_stage", None), SlotSet("ticket_id", ticket.number)]

    @staticmethod
    def _ticket(tracker: Tracker) -> store.TicketView | None:
        """This conversation's ticket, or the sender's newest unfinished one (e.g. after the
        session expired); always one of the sender's own."""
        number = tracker.get_slot("ticket_id")
        if isinstance(number, str):
            ticket = store.get_for_sender(number, tracker.sender_id)
            if ticket is not None:
                return ticket
        return next(
            (
                t
                for t in store.list_for_sender(tracker.sender_id, limit=5)
                if t.status in OPEN_STATUSES
            ),
            None,
        )


def parse_rating(tracker: Tracker) -> int | None:
    """A 1-5 rating from the rating button or the text (“4”, “5分”, “给你打3分吧”, “五星”,
    “满分”); anything vague (“一般”, “不满意”) or out of range is None."""
    for entity in tracker.latest_message.get("entities") or []:
        if (
            isinstance(entity, dict)
            and entity.get("entity") == "rating"
            and str(entity.get("value")) in ("1", "2", "3", "4", "5")
        ):
            return int(entity["value"])
    text = (tracker.latest_message.get("text") or "").strip()
    if "满分" in text:
        return 5
    alone = RATING_ALONE.match(text)
    if alone:
        return NUMERALS[alone.group(1)]
    found = {NUMERALS[m.group(1)] for m in RATING_IN_TEXT.finditer(text)}
    if len(found) == 1 and not re.search(r"\d{2,}\s*[分星]", text):
        return found.pop()
    return None


class ActionSaveRating(DyAction):
    """Record the user's 1-5 rating of a fix the bot gave."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_save_rating"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        state = flow_state(tracker)
        if state.in_playbook:  # a number typed while a step is open
            dispatcher.utter_message(response="utter_not_understood_in_flow")
            ask_open_question(dispatcher, state)
            return []
        if state.stage == STAGE_CONTACT:
            dispatcher.utter_message(response="utter_contact_invalid")
            return []
        if state.stage != STAGE_RATING or not state.flow_id:
            dispatcher.utter_message(response="utter_rating_not_expected")
            return []
        rating = parse_rating(tracker)
        if rating is None:
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        ticket_number = (
            state.flow_id[len(FOLLOWUP_PREFIX) :]
            if state.flow_id.startswith(FOLLOWUP_PREFIX)
            else None
        )
        await asyncio.to_thread(
            store.record_feedback,
            idempotency_key=store.escalation_key(tracker.sender_id, state.flow_id),
            sender_id=tracker.sender_id,
            playbook=state.playbook.id if state.playbook else None,
            resolved_step=tracker.get_slot("playbook_step"),
            rating=rating,
            ticket_number=ticket_number,
        )
        dispatcher.utter_message(response="utter_thanks_for_rating", rating=rating)
        return [SlotSet("dy_stage", None), SlotSet("rating", None)]


class ActionTicketStatus(DyAction):
    """Tell the user the status of their own tickets (looked up by sender, never by a slot)."""

    def name(self) -> str:
        return "action_ticket_status"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        tickets = await asyncio.to_thread(store.list_for_sender, tracker.sender_id, limit=5)
        if not tickets:
            dispatcher.utter_message(response="utter_no_tickets")
            return []
        current = policy()
        dispatcher.utter_message(response="utter_ticket_status_header", count=len(tickets))
        for ticket in tickets:
            level = current.levels.get(ticket.priority)
            dispatcher.utter_message(
                response="utter_ticket_status_item",
                ticket_number=ticket.number,
                category=current.category_label(ticket.category),
                status=current.status_label(ticket.status),
                priority=level.label if level else ticket.priority,
                created_time=format_time(ticket.created_at),
                due_time=format_time(ticket.sla_due_at),
            )
        return []


# --- digressions ----------------------------------------------------------------------------


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many user messages in a row, ending with the latest, were not understood.

    Empty messages are not counted: they get their own prompt.
    """
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user" or not (event.get("text") or "").strip():
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent in FALLBACK_INTENTS:
            count += 1
        else:
            break
    return count


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


# --- messages from support staff ------------------------------------------------------------

MAX_STAFF_MESSAGE_CHARS = 2000


class ActionRelayStaffMessage(DyAction):
    """Deliver a support agent's message into the user's conversation.

    Staff send it through Rasa's HTTP API (``POST /conversations/<id>/trigger_intent`` with
    intent ``EXTERNAL_staff_message`` and entity ``staff_message``); with
    ``output_channel=latest`` it reaches the user's open widget live. The same intent typed
    by a user (``/EXTERNAL_staff_message{...}``) is refused: it would let anyone put words in
    the staff's mouth.
    """

    def name(self) -> str:
        return "action_relay_staff_message"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = None
        for entity in tracker.latest_message.get("entities") or []:
            if (
                isinstance(entity, dict)
                and entity.get("entity") == "staff_message"
                and entity.get("extractor") != INJECTED
            ):
                message = entity.get("value")
        if not isinstance(message, str) or not message.strip():
            dispatcher.utter_message(response="utter_default")
            return []
        dispatcher.utter_message(
            response="utter_staff_message", staff_message=message.strip()[:MAX_STAFF_MESSAGE_CHARS]
        )
        logger.info("staff message relayed (conversation %s)", conversation_ref(tracker.sender_id))
        return []


# --- the follow-up visit after staff resolved a ticket ---------------------------------------


def external_entity(tracker: Tracker, name: str) -> str | None:
    """An entity sent by another system through Rasa's HTTP API (never one a user typed)."""
    for entity in tracker.latest_message.get("entities") or []:
        if (
            isinstance(entity, dict)
            and entity.get("entity") == name
            and entity.get("extractor") != INJECTED
        ):
            value = entity.get("value")
            if isinstance(value, str):
                return value
    return None


class ActionTicketFollowup(DyAction):
    """Staff resolved a ticket (the console sends ``EXTERNAL_ticket_resolved``): ask the user
    whether it is really fixed. Only a resolved ticket of this very user is asked about."""

    def name(self) -> str:
        return "action_ticket_followup"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = external_entity(tracker, "ticket_number")
        ticket = (
            await asyncio.to_thread(store.get_for_sender, number, tracker.sender_id)
            if number
            else None
        )
        if ticket is None or ticket.status != "resolved":
            logger.warning("follow-up refused: no resolved ticket of this conversation")
            return []
        dispatcher.utter_message(response="utter_followup_ask", ticket_number=ticket.number)
        return [
            SlotSet("dy_stage", STAGE_FOLLOWUP),
            SlotSet("ticket_id", ticket.number),
            SlotSet("flow_id", FOLLOWUP_PREFIX + ticket.number),
            SlotSet("playbook", None),
            SlotSet("playbook_step", None),
        ]


async def followup_answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, state: Progress, answer: str
) -> list[EventType]:
    """解决了 closes the ticket and asks for a rating; 还是不行 reopens it with a note."""
    number = tracker.get_slot("ticket_id")
    if not isinstance(number, str):
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("dy_stage", None)]
    if answer == YES:
        closed = await asyncio.to_thread(workflow.close_by_user, number, tracker.sender_id)
        if not closed:
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("dy_stage", None)]
        await asyncio.to_thread(
            store.record_feedback,
            idempotency_key=store.escalation_key(tracker.sender_id, FOLLOWUP_PREFIX + number),
            sender_id=tracker.sender_id,
            playbook=None,
            resolved_step=None,
            ticket_number=number,
        )
        dispatcher.utter_message(response="utter_followup_closed", ticket_number=number)
        dispatcher.utter_message(response="utter_ask_rating")
        return [SlotSet("dy_stage", STAGE_RATING)]
    reopened = await asyncio.to_thread(
        workflow.reopen_by_user, number, tracker.sender_id, "用户回访时表示问题仍未解决"
    )
    dispatcher.utter_message(
        response="utter_followup_reopened" if reopened else "utter_anything_else",
        ticket_number=number,
    )
    return [SlotSet("dy_stage", None)]
