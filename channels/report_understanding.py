"""What a report is about (a mail, or what a caller said on the hotline), read by the
assistant's own understanding: Rasa's NLU (``/model/parse`` of the running server) reads
its subject and text, the intent names the playbook and so the category, and the urgency
words count as they do in chat.

When the model is not sure (below the mail policy's ``min_confidence``), reads no problem at
all, or Rasa does not answer, the category is ``other`` and marked unsure: a person sets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from channels.rasa_api import auth_params, headers, rasa_url
from playbook.registry import PlaybookRegistry
from tickets.policy import load_policy
from understanding.urgency import genuine_urgency

logger = logging.getLogger(__name__)
#: The most of a mail's text the understanding reads (its first lines say what it is about).
MAX_TEXT = 400
PARSE_TIMEOUT_SECONDS = 10
UNSURE_CATEGORY = "other"


@dataclass(frozen=True)
class Understanding:
    category: str
    #: A person should set the category (the model was not sure, or could not be asked).
    unsure: bool
    urgent: bool
    intent: str | None = None
    confidence: float = 0.0
    #: False: the understanding could not be asked (Rasa did not answer).
    answered: bool = True


#: How a text is parsed: Rasa's NLU over HTTP by default; tests may give the real one too.
Parse = Callable[[str], dict[str, Any]]


def parse_with_rasa(text: str) -> dict[str, Any]:
    """Rasa's parse of ``text`` (raises ``requests.RequestException`` when it does not answer)."""
    reply = requests.post(
        f"{rasa_url()}/model/parse",
        params=auth_params(),
        headers=headers(),
        json={"text": text},
        timeout=PARSE_TIMEOUT_SECONDS,
    )
    reply.raise_for_status()
    parsed: dict[str, Any] = reply.json()
    return parsed


_registry: PlaybookRegistry | None = None


def _playbooks() -> PlaybookRegistry:
    global _registry
    if _registry is None:
        _registry = PlaybookRegistry(priorities=lambda: load_policy().levels)
    return _registry


def _pieces(subject: str, text: str) -> list[str]:
    """What is parsed: the subject, the text's beginning, and both together (a subject such as
    “求助” says nothing; a text may start with greetings)."""
    # a leading "/" would make Rasa read the text as an intent the writer chose
    body = " ".join(text.split())[:MAX_TEXT].lstrip("/ ")
    subject = " ".join(subject.split())[:200].lstrip("/ ")
    pieces = [p for p in (subject, body, f"{subject} {body}".strip()) if p]
    return list(dict.fromkeys(pieces))


def understand(
    subject: str, text: str, *, min_confidence: float, parse: Parse | None = None
) -> Understanding:
    """The category (with whether it is sure) and the urgency of a report."""
    parse = parse or parse_with_rasa
    best: tuple[float, str, str] | None = None  # confidence, intent, category
    urgent = False
    for piece in _pieces(subject, text):
        try:
            parsed = parse(piece)
        except (requests.RequestException, ValueError) as exc:
            logger.warning("the understanding did not answer (%s)", type(exc).__name__)
            return Understanding(UNSURE_CATEGORY, unsure=True, urgent=urgent, answered=False)
        urgent = (
            urgent
            or genuine_urgency(parsed.get("text") or piece, parsed.get("entities") or [])
            is not None
        )
        intent = parsed.get("intent") or {}
        name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
        found = _playbooks().for_intent(name) if isinstance(name, str) else None
        if found is None:
            continue
        playbook, _trigger = found
        if best is None or confidence > best[0]:
            best = (confidence, str(name), playbook.escalation.category)
    if best is None:
        return Understanding(UNSURE_CATEGORY, unsure=True, urgent=urgent)
    confidence, intent_name, category = best
    return Understanding(
        category,
        unsure=confidence < min_confidence,
        urgent=urgent,
        intent=intent_name,
        confidence=confidence,
    )
