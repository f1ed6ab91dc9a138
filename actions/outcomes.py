"""How a conversation moves on: the replies and progress slots of a playbook step, its
resolution, the escalation to a ticket, the hand-over to a person and the answer to the
follow-up question about a resolved ticket; with the small helpers they share.

Reading the reply to an open check question (:mod:`actions.base`) ends in these moves, and so
do the actions built on it: this module imports none of them (only :mod:`actions.parsing`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
import uuid
from datetime import datetime
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import ratings
from actions.parsing import urgent_signal
from playbook import engine
from playbook.engine import HUMAN, STAGE_TROUBLESHOOTING, YES, Outcome, Reply
from playbook.model import Playbook
from playbook.progress import STAGE_CONTACT, STAGE_RATING, STAGES, Progress
from tickets import config as ticket_config
from tickets import outbox, store, workflow
from tickets.follow_up import FOLLOWUP_PREFIX
from tickets.models import OPEN_STATUSES, utcnow
from tickets.policy import PriorityPolicy, load_policy
from tickets.transcript import build_transcript, last_user_timestamp

logger = logging.getLogger(__name__)

#: Key for the conversation references in logs (set DY_LOG_KEY to correlate across restarts).
_LOG_KEY = (os.environ.get("DY_LOG_KEY") or uuid.uuid4().hex).encode("utf-8")


def policy() -> PriorityPolicy:
    return load_policy()


def conversation_ref(sender_id: str) -> str:
    """A short keyed hash of the sender id for logs (not reversible without the key)."""
    return hmac.new(_LOG_KEY, str(sender_id).encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def format_time(moment: datetime) -> str:
    local = moment.astimezone(ticket_config.DISPLAY_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


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


# --- a playbook step's outcome --------------------------------------------------------------


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
    request: dict[str, Any] = {
        "idempotency_key": store.escalation_key(tracker.sender_id, flow_id),
        "sender_id": tracker.sender_id,
        "category": category,
        "reason": reason,
        "playbook": playbook.id if playbook else None,
        "playbook_priority": playbook.escalation.priority if playbook else None,
        "steps_tried": engine.tried_steps_detail(playbook, steps_tried, unanswered)
        if playbook
        else [],
        "urgent_signal": urgent_signal(tracker),
        "transcript": build_transcript(tracker.events),
    }
    try:
        ticket = (
            known
            if known is not None
            else await asyncio.to_thread(store.create_or_join, **request, policy=current_policy)
        )
    except store.UNAVAILABLE as exc:
        logger.error(
            "ticket database unavailable (%s); ticket kept in the outbox (conversation %s)",
            type(exc).__name__,
            conversation_ref(tracker.sender_id),
        )
        return await queue_ticket(
            dispatcher, request, current_policy, flow_id, playbook, steps_tried
        )
    values = {
        "ticket_number": ticket.number,
        "priority": current_policy.priority_label(ticket.priority),
        "promise": current_policy.priority_promise(ticket.priority),
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


async def queue_ticket(
    dispatcher: CollectingDispatcher,
    request: dict[str, Any],
    current_policy: PriorityPolicy,
    flow_id: str,
    playbook: Playbook | None,
    steps_tried: list[str],
) -> list[EventType]:
    """The database cannot take the ticket now: keep it in the outbox (written as soon as the
    database answers, with the priority and due time of this moment) and tell the user so,
    with the promise that still holds."""
    now = utcnow()
    await asyncio.to_thread(outbox.keep, request, now=now)
    decision = current_policy.decide(
        category=request["category"],
        reason=request["reason"],
        urgent_signal=request["urgent_signal"],
        created_at=now,
        playbook_priority=request["playbook_priority"],
    )
    dispatcher.utter_message(
        response="utter_ticket_queued",
        priority=current_policy.priority_label(decision.priority),
        promise=current_policy.priority_promise(decision.priority),
    )
    return [
        SlotSet("ticket_id", None),
        SlotSet("flow_id", flow_id),
        SlotSet("playbook", playbook.id if playbook else None),
        SlotSet("playbook_step", None),
        SlotSet("steps_tried", steps_tried),
        SlotSet("dy_stage", None),
    ]


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


# --- the follow-up visit after staff resolved a ticket ---------------------------------------


async def followup_answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, state: Progress, answer: str
) -> list[EventType]:
    """解决了 closes the ticket and asks for the three-part rating of the staff's work; 还是不行
    reopens it with a note."""
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
        return ratings.start(dispatcher)
    reopened = await asyncio.to_thread(
        workflow.reopen_by_user, number, tracker.sender_id, "用户回访时表示问题仍未解决"
    )
    dispatcher.utter_message(
        response="utter_followup_reopened" if reopened else "utter_anything_else",
        ticket_number=number,
    )
    return [SlotSet("dy_stage", None)]
