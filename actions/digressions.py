"""Messages beside the problem at hand: a business request (handled by people, never by a
playbook), a second problem named in the same message, and messages the assistant keeps
not understanding. Helpers the playbook actions (:mod:`actions.troubleshooting`) consult
before they walk a playbook.
"""

from __future__ import annotations

import re

from rasa_sdk import Tracker

from actions import base
from playbook.model import Playbook
from understanding.normalize import normalize
from understanding.urgency import INJECTED

FALLBACK_INTENTS = {"nlu_fallback", "out_of_scope"}
#: The clauses of a message (「网络老是掉线，而且密码也忘了」): a second problem is looked for in
#: the clauses after the first.
CLAUSE_BREAK = re.compile(r"[，,；;。.!！?？、\n]|而且|还有|另外|并且|同时|以及|\band\b|\balso\b")
NEGATED_MENTION = re.compile(r"(?:不是|没有|没|不)$")


def business_request(tracker: Tracker) -> bool:
    """The user asks about commission, ad spend, shop qualifications, withdrawals, … (the
    ``business`` entity of data/nlu/entities.yml, really written): handled by people, never
    by a playbook."""
    return any(
        isinstance(e, dict) and e.get("entity") == "business" and e.get("extractor") != INJECTED
        for e in tracker.latest_message.get("entities") or []
    )


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
        for playbook in base.registry().all():
            if playbook.id == first.id:
                continue
            for trigger in playbook.triggers:
                for mention in trigger.mentions:
                    at = clause.find(_bare_words(mention))
                    if at >= 0 and not NEGATED_MENTION.search(clause[:at]):
                        return playbook, trigger.intent
    return None


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
