"""What the actions read out of the latest message: a rating, a contact, a genuine urgency
word, an entity another system sent. Pure functions of the message (and, for the urgency
signal, the slot); they send nothing and store nothing.
"""

from __future__ import annotations

import re

from rasa_sdk import Tracker

from tickets.privacy import EMAIL_IN_TEXT, EMAIL_RE, PHONE_IN_TEXT
from understanding import urgency
from understanding.urgency import INJECTED

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


# --- urgency --------------------------------------------------------------------------------


def genuine_urgency(tracker: Tracker) -> str | None:
    """An urgency word the user really wrote in the latest message (not injected, not negated
    as in “不是很急”), or None."""
    message = tracker.latest_message
    return urgency.genuine_urgency(message.get("text") or "", message.get("entities") or [])


def urgent_signal(tracker: Tracker) -> bool:
    """True when the user said, in this flow, that it is urgent or business is interrupted."""
    return bool(tracker.get_slot("urgency")) or genuine_urgency(tracker) is not None


# --- entities sent by other systems ---------------------------------------------------------


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


# --- ratings and contacts -------------------------------------------------------------------


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


def parse_contact(text: str) -> tuple[str | None, str | None]:
    """The mobile number and the e-mail address in the text, each None when there is none (an
    address the ticket store would refuse counts as none)."""
    phone_match = PHONE_IN_TEXT.search(text)
    email_match = EMAIL_IN_TEXT.search(text)
    phone = phone_match.group(1) if phone_match else None
    email = email_match.group(0) if email_match and EMAIL_RE.match(email_match.group(0)) else None
    return phone, email
