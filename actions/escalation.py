"""Tickets and people: the hand-over a user asks for, the contact for the ticket, the rating
of a fix, the status of one's tickets, the follow-up visit after staff resolved a ticket and
the messages staff send into a conversation.

Making the ticket itself (:func:`actions.outcomes.escalate`, :func:`~actions.outcomes.hand_over`)
sits in :mod:`actions.outcomes`: a reply to an open step can hand over or exhaust a playbook too.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import DyAction, ask_open_question, flow_state
from actions.outcomes import conversation_ref, format_time, hand_over, policy
from actions.parsing import external_entity, parse_contact, parse_rating
from playbook.progress import STAGE_CONTACT, STAGE_FOLLOWUP, STAGE_RATING
from tickets import outbox, store
from tickets.follow_up import FOLLOWUP_PREFIX
from tickets.models import OPEN_STATUSES, WAITING_USER, utcnow
from tickets.privacy import mask_email, mask_phone
from understanding.urgency import INJECTED

logger = logging.getLogger(__name__)

MAX_STAFF_MESSAGE_CHARS = 2000


class ActionEscalate(DyAction):
    """The user asked for a person: hand over with a ticket, whatever step they were at."""

    reads_step_answers = True

    def name(self) -> str:
        return "action_escalate"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return await hand_over(dispatcher, tracker, flow_state(tracker))


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
        phone, email = parse_contact(tracker.latest_message.get("text") or "")
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
            resolved_step=state.step_id,
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
        queued = await asyncio.to_thread(outbox.waiting_for, tracker.sender_id)
        try:
            tickets = await asyncio.to_thread(store.list_for_sender, tracker.sender_id, limit=5)
        except store.UNAVAILABLE:
            if not queued:
                raise  # the apology: nothing to say about tickets the database holds
            tickets = []
        if queued:
            dispatcher.utter_message(response="utter_ticket_still_queued")
        if not tickets:
            if not queued:
                dispatcher.utter_message(response="utter_no_tickets")
            return []
        current = policy()
        now = utcnow()
        dispatcher.utter_message(response="utter_ticket_status_header", count=len(tickets))
        for ticket in tickets:
            name, values = promise_of(ticket, now)
            dispatcher.utter_message(
                response="utter_ticket_status_item",
                ticket_number=ticket.number,
                category=current.category_label(ticket.category),
                status=current.status_label(ticket.status),
                priority=current.priority_label(ticket.priority),
                created_time=format_time(ticket.created_at),
                promise=response_text(domain, name, values),
            )
        return []


def promise_of(ticket: store.TicketView, now: datetime) -> tuple[str, dict[str, str]]:
    """What the service promises the user about the ticket now: the response (and its values)
    of ``domain.yml`` that says it."""
    if ticket.status == "closed":
        return "utter_ticket_promise_closed", {}
    if ticket.status == "resolved":
        return "utter_ticket_promise_resolved", {}
    if ticket.status == WAITING_USER or ticket.paused_since is not None:
        return "utter_ticket_promise_paused", {}
    if ticket.first_response_at is None:
        due = {"due_time": format_time(ticket.sla_due_at)}
        late = ticket.sla_due_at < now
        return ("utter_ticket_promise_late" if late else "utter_ticket_promise_response"), due
    resolution = ticket.resolution_due_at
    values = {"resolution_time": format_time(resolution) if resolution else "尽快"}
    if ticket.update_due_at is not None and ticket.update_due_at > now:
        return "utter_ticket_promise_working_updates", values | {
            "update_time": format_time(ticket.update_due_at)
        }
    return "utter_ticket_promise_working", values


def response_text(domain: DomainDict, name: str, values: dict[str, str]) -> str:
    """The first text of response ``name`` in the domain, its ``{slots}`` filled in (an unknown
    one left as written); "" when the domain has no such response."""
    variants = (domain.get("responses") or {}).get(name) or []
    text = next((v.get("text") for v in variants if isinstance(v, dict) and v.get("text")), "")
    return str(text).format_map(_Kept(values))


class _Kept(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# --- messages from support staff ------------------------------------------------------------


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
