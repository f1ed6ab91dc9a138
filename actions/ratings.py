"""The user's rating of a ticket staff resolved, in the follow-up visit: service attitude,
expertise and result (1-5 each, the service guide's 服务态度、专业水平、问题解决效果), by
buttons one aspect at a time or in free text, several at once ("态度很好，都给5分"); then an
optional comment. The scores given so far live in the feedback row, so a conversation that
pauses, or a server that restarts, goes on with the aspect still missing. (A fix the bot
gave keeps its single 1-5 rating: ``actions.escalation.ActionSaveRating``.)
"""

from __future__ import annotations

import asyncio
import re

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from playbook.progress import STAGE_COMMENT, STAGE_RATING, Progress
from tickets import store
from tickets.follow_up import FOLLOWUP_PREFIX
from understanding.ratings import ASPECTS, read_aspect_ratings

#: The question of each aspect (with its buttons), in domain.yml.
ASK_ASPECT = {
    "attitude": "utter_ask_rating_attitude",
    "expertise": "utter_ask_rating_expertise",
    "result": "utter_ask_rating_result",
}
#: What a user says to skip the comment.
NO_COMMENT = re.compile(
    r"^\s*(没有了?|没了|无|不用了?|没有意见|没什么|暂时没有|不需要|算了|没)[。.！!]*\s*$"
)
#: Intents that start something new: the rating or comment question is left, not answered.
NEW_TOPIC = frozenset(
    {
        "network_problem",
        "login_problem",
        "forgot_password",
        "feature_problem",
        "data_loss",
        "request_human",
        "ticket_status",
    }
)


def ticket_of(state: Progress) -> str | None:
    """The ticket whose follow-up this flow is, or None (a fix the bot gave)."""
    flow = state.flow_id or ""
    return flow[len(FOLLOWUP_PREFIX) :] if flow.startswith(FOLLOWUP_PREFIX) else None


def rates_staff(state: Progress) -> bool:
    return state.stage == STAGE_RATING and ticket_of(state) is not None


def asking(tracker: Tracker) -> str:
    """The aspect the open rating question is about."""
    aspect = tracker.get_slot("rating_aspect")
    return aspect if aspect in ASPECTS else ASPECTS[0]


def ask_aspect(dispatcher: CollectingDispatcher, aspect: str) -> None:
    dispatcher.utter_message(response=ASK_ASPECT.get(aspect, ASK_ASPECT[ASPECTS[0]]))


def start(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Ask for the three scores (the first aspect's buttons; free text may give them all)."""
    dispatcher.utter_message(response="utter_ask_staff_rating")
    ask_aspect(dispatcher, ASPECTS[0])
    return [SlotSet("dy_stage", STAGE_RATING), SlotSet("rating_aspect", ASPECTS[0])]


def _intent(tracker: Tracker) -> str | None:
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    return intent if isinstance(intent, str) else None


def _button_score(tracker: Tracker) -> int | None:
    for entity in tracker.latest_message.get("entities") or []:
        if isinstance(entity, dict) and entity.get("entity") == "rating":
            value = str(entity.get("value"))
            if value in ("1", "2", "3", "4", "5"):
                return int(value)
    return None


async def answer_rating(
    dispatcher: CollectingDispatcher, tracker: Tracker, state: Progress
) -> list[EventType] | None:
    """The reply to the open aspect question: its scores stored and the next missing aspect
    asked, or, all three given, thanks and the comment question. None when the user moved on
    to something new (the action then does what the message asks)."""
    number = ticket_of(state)
    assert number is not None and state.flow_id is not None  # rates_staff(state)
    intent = _intent(tracker)
    aspect = asking(tracker)
    scores = dict(read_aspect_ratings(tracker.latest_message.get("text") or "", aspect).scores)
    button = _button_score(tracker)
    if button is not None and not scores:
        scores[aspect] = button
    if not scores:
        if intent in NEW_TOPIC:
            return None
        if intent == "deny":
            dispatcher.utter_message(response="utter_rating_skipped")
            return [SlotSet("dy_stage", None), SlotSet("rating_aspect", None)]
        dispatcher.utter_message(response="utter_staff_rating_invalid")
        ask_aspect(dispatcher, aspect)
        return []
    key = store.escalation_key(tracker.sender_id, state.flow_id)
    try:
        given = await asyncio.to_thread(
            store.record_staff_rating,
            idempotency_key=key,
            sender_id=tracker.sender_id,
            ticket_number=number,
            scores=scores,
        )
    except LookupError:  # not this user's ticket (damaged slots): nothing to rate
        dispatcher.utter_message(response="utter_rating_not_expected")
        return [SlotSet("dy_stage", None), SlotSet("rating_aspect", None)]
    missing = [a for a in ASPECTS if a not in given]
    if missing:
        ask_aspect(dispatcher, missing[0])
        return [SlotSet("rating_aspect", missing[0]), SlotSet("rating", None)]
    dispatcher.utter_message(response="utter_thanks_for_staff_rating", **given)
    dispatcher.utter_message(response="utter_ask_rating_comment")
    return [
        SlotSet("dy_stage", STAGE_COMMENT),
        SlotSet("rating_aspect", None),
        SlotSet("rating", None),
    ]


async def answer_comment(
    dispatcher: CollectingDispatcher, tracker: Tracker, state: Progress
) -> list[EventType] | None:
    """The reply to "anything else to tell us?": kept as the rating's comment, or skipped
    ("没有了"); None when the user moved on to something new."""
    intent = _intent(tracker)
    text = (tracker.latest_message.get("text") or "").strip()
    if intent in NEW_TOPIC:
        return None
    done = [SlotSet("dy_stage", None)]
    if not text or text.startswith("/") or intent == "deny" or NO_COMMENT.match(text):
        dispatcher.utter_message(response="utter_comment_skipped")
        return done
    if state.flow_id:
        key = store.escalation_key(tracker.sender_id, state.flow_id)
        await asyncio.to_thread(store.record_comment, key, tracker.sender_id, text)
    dispatcher.utter_message(response="utter_thanks_for_comment")
    return done
