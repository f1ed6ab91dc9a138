"""Whether a message really says it is urgent: an ``urgency`` entity the user wrote (not one
injected as ``/intent{...}``, not negated as in “不是很急”). Pure; the chat actions and the
mail and hotline intake read urgency the same way."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: Entities typed by the user as ``/intent{"entity": "value"}`` come from this extractor;
#: they are never trusted to raise a ticket's priority.
INJECTED = "RegexMessageHandler"
NEGATION_BEFORE = re.compile(r"[不没][是太很]?$")


def genuine_urgency(text: str, entities: Iterable[Any]) -> str | None:
    """The first ``urgency`` entity of the parsed ``text`` that the user really wrote, or None."""
    for entity in entities or []:
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
