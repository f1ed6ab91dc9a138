"""The inbox of misunderstandings: what users wrote that the assistant did not understand or
was corrected on, for content editors to file as training data.

Read from Rasa's SQL tracker store like the flow statistics (:mod:`web.trackerstore`:
read-only, one query ordered by conversation and event id). A user message is in the inbox when

- **fallback**: its intent was ``nlu_fallback``, or ``out_of_scope`` while a playbook step
  was open (slot ``dy_stage`` was ``troubleshooting`` at that moment);
- **asked again**: among the assistant's next utterances (before the user's next message) is
  one of :data:`REASK_RESPONSES` (a bot event's ``metadata.utter_action`` names the response);
- **corrected**: the user's next message is a correction (「不对」「不是」「错了」「我不是这个
  意思」「不是这个问题」…) right after the assistant moved (an action set ``playbook``,
  ``playbook_step`` or ``dy_stage``, e.g. started a playbook): the message *before* the
  correction is the misunderstood one.

Texts are masked (:func:`tickets.privacy.redact`: phone numbers, e-mail addresses, passwords)
the moment they are read; nothing unmasked leaves this module and nothing here logs a text.
Messages with the same normal form (:func:`understanding.normalize.normalize`) or
near-duplicates (Jaccard >= 0.8 of the character bigrams of the normal form without spaces and
punctuation) form one group; newest groups first.

No SQL here (the store is read through :mod:`web.trackerstore`); the console
(``web/console/inbox_pages.py``) renders the page.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Engine

from playbook.engine import STAGE_TROUBLESHOOTING
from playbook.model import Playbook
from playbook.progress import Progress
from tickets.privacy import redact
from understanding.normalize import normalize
from web.trackerstore import (
    RESET_ACTIONS,
    EventType,
    Store,
    Wanted,
    event_rows,
    reading,
    stamp,
)

#: The responses with which the assistant asks again: the message before them was not understood.
REASK_RESPONSES = (
    "utter_not_understood_in_flow",
    "utter_default",
    "utter_offer_human",
    "utter_answer_unsure",
    "utter_answer_unsure_worked",
    "utter_answer_unsure_failed",
    "utter_step_question",
)
FALLBACK = "fallback"
OUT_OF_SCOPE = "out_of_scope"
ASKED_AGAIN = "asked_again"
CORRECTED = "corrected"
REASONS = (FALLBACK, OUT_OF_SCOPE, ASKED_AGAIN, CORRECTED)
#: The slots whose change means the assistant moved the conversation on.
MOVE_SLOTS = ("playbook", "playbook_step", "dy_stage")
#: Messages whose near-duplicate similarity reaches this (character bigrams) share a group.
JACCARD = (4, 5)  # 0.8 as a fraction, so the comparisons stay exact
PAGE_SIZE = 20
EXAMPLES_SHOWN = 5

#: The response a bot event came from (its ``metadata``; the group keeps the validator's
#: code check from reading the key as a response name).
_UTTER_ACTION = re.compile(r'"(?:utter_action)"\s*:\s*"([A-Za-z0-9_]+)"')
#: A slot event as Rasa writes it (``json.dumps`` of ``SlotSet.as_dict``): name, then value.
_SLOT = re.compile(
    r'"name": "(playbook|playbook_step|dy_stage)", '
    r'"value": (null|"(?:[^"\\]|\\.)*")'
)
_SLOT_NAME = re.compile(r'"name"\s*:\s*"(playbook|playbook_step|dy_stage)"')
#: The text of a user event as Rasa writes it (the top-level key just before ``parse_data``).
_USER_TEXT = re.compile(r'"text": ("(?:[^"\\]|\\.)*"), "parse_data"')

# --- corrections -----------------------------------------------------------------------------

_PARTICLES = "啊呀吧啦呢嘛哦哈的了噢喔"
_HEAD = r"(?:你|您)?(?:不是|不对|错了|搞错了|弄错了|理解错了|说错了|错啦)"
_STRONG = (
    r"(?:不是这个意思|不是这个问题|不是问这个|没问这个|问的不是|说的不是|理解错了|搞错了|弄错了|"
    r"答非所问|牛头不对马嘴|文不对题|不是我要的)"
)
_CORRECTIONS = [
    re.compile(rf"^{_HEAD}[{_PARTICLES}]*$"),  # 「不对」「不是的」「你搞错了吧」
    # 「不是，我是登录不上」「不对，我说的是……」 (not 「不对，还是不行」: that answers the step)
    re.compile(rf"^{_HEAD}[{_PARTICLES}]*[，,。.!！~～、 ]+(?:我|是|而是|不是|应该是)"),
    re.compile(rf"^.{{0,4}}?{_STRONG}"),  # 「哎我不是这个意思」「我说的不是网络」
    re.compile(r"^不是.{1,12}(?:的问题|问题|的意思)"),  # 「不是网络问题」
    re.compile(r"^不是[^，,。]{1,15}[，,]\s*(?:而)?是"),  # 「不是网络，是登录」
    re.compile(
        r"^(?:no[,.! ]+)?(?:that'?s |this is |you'?re )?(?:wrong|not what i meant|"
        r"not what i asked|not it|not this)\b"
    ),
]
_TRAILING = re.compile(r"[\s，,。.!！?？~～…、]+$")


@lru_cache(maxsize=8192)
def is_correction(text: str) -> bool:
    """True when ``text`` says the assistant got the previous message wrong."""
    if len(text) > 80:
        return False
    norm = _TRAILING.sub("", normalize(text))
    return bool(norm) and len(norm) <= 40 and any(p.search(norm) for p in _CORRECTIONS)


# --- what is read from the tracker store -------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One misunderstood user message (the text already masked)."""

    text: str
    norm: str
    intent: str | None
    confidence: float | None
    guess: tuple[str, float] | None  # the best intent other than nlu_fallback
    playbook: str | None  # the step open when it was written
    step: str | None
    reasons: tuple[str, ...]
    asked: tuple[str, ...]  # the responses with which the assistant asked again
    correction: str | None  # the user's correction (masked)
    at: datetime
    conversation: int  # a number within this reading, never the sender id

    @property
    def open_step(self) -> str | None:
        return f"{self.playbook}/{self.step}" if self.playbook and self.step else None


@dataclass
class _Pending:
    """A user message whose turn is still being read."""

    data: str | None
    intent: str | None
    timestamp: float
    progress: Progress  # as the actions read the slots when it was written
    reasons: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    moved: bool = False
    correction: str | None = None
    _event: Any = None

    def event(self) -> dict[str, Any] | None:
        if self._event is None:
            try:
                parsed = json.loads(self.data or "")
            except ValueError:
                parsed = None
            self._event = parsed if isinstance(parsed, dict) else {}
        return self._event or None

    def quick_text(self) -> str | None:
        """What the user typed, read without decoding the whole event where Rasa's layout
        allows (only to look for a correction)."""
        match = _USER_TEXT.search(self.data or "")
        if match is None:
            return self.text()
        try:
            text = json.loads(match.group(1))
        except ValueError:
            return self.text()
        return text if isinstance(text, str) and text.strip() else None

    def text(self) -> str | None:
        """What the user typed, or None for an empty message, a button payload
        (``/intent``) or a message another system injected."""
        event = self.event()
        if event is None:
            return None
        text = event.get("text")
        if not isinstance(text, str) or not text.strip() or text.lstrip().startswith("/"):
            return None
        metadata = event.get("metadata")
        if (isinstance(metadata, dict) and metadata.get("is_external")) or text.startswith(
            "EXTERNAL: "
        ):
            return None
        return text


def _ranking(event: dict[str, Any]) -> tuple[float | None, tuple[str, float] | None]:
    raw_parse = event.get("parse_data")
    parse: dict[str, Any] = raw_parse if isinstance(raw_parse, dict) else {}
    raw_intent = parse.get("intent")
    intent: dict[str, Any] = raw_intent if isinstance(raw_intent, dict) else {}
    confidence = intent.get("confidence")
    confidence = float(confidence) if isinstance(confidence, (int, float)) else None
    guess = None
    for entry in parse.get("intent_ranking") or []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and entry["name"] != "nlu_fallback"
            and isinstance(entry.get("confidence"), (int, float))
        ):
            guess = (entry["name"], float(entry["confidence"]))
            break
    return confidence, guess


def _moment(timestamp: float | None) -> datetime:
    try:
        return datetime.fromtimestamp(float(timestamp or 0.0), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0, tz=timezone.utc)


class _Reader:
    """Replays one conversation's events and collects its misunderstood messages."""

    def __init__(
        self, conversation: int, found: list[Message], playbooks: Mapping[str, Playbook]
    ) -> None:
        self.conversation = conversation
        self.found = found
        self.playbooks = playbooks
        self.slots: dict[str, Any] = {}  # the progress slots' values so far
        self.progress = Progress()
        self.action: str | None = None
        self.pending: _Pending | None = None

    def user(self, intent: str | None, timestamp: float | None, data: str | None) -> None:
        incoming = _Pending(
            data=data,
            intent=intent,
            timestamp=timestamp or 0.0,
            progress=self.progress,
        )
        before = self.pending
        if before is not None and before.moved:
            text = incoming.quick_text()
            if text is not None and is_correction(text.strip()):
                before.reasons.add(CORRECTED)
                before.correction = redact(text)
        self.finish()
        if intent == "nlu_fallback":
            incoming.reasons.add(FALLBACK)
        elif intent == "out_of_scope" and self.progress.stage == STAGE_TROUBLESHOOTING:
            incoming.reasons.add(OUT_OF_SCOPE)
        self.pending = incoming
        self.action = None

    def begin_action(self, name: str | None) -> None:
        self.action = name
        if name in RESET_ACTIONS:  # a new session (or /restart) starts with empty slots, and
            self.finish()  # what the user says then corrects nothing said before it
            self.slots, self.progress = {}, Progress()

    def bot(self, data: str | None) -> None:
        match = _UTTER_ACTION.search(data or "")
        if match and self.pending is not None and match.group(1) in REASK_RESPONSES:
            self.pending.reasons.add(ASKED_AGAIN)
            if match.group(1) not in self.pending.asked:
                self.pending.asked.append(match.group(1))

    def slot(self, data: str | None) -> None:
        if not data:
            return
        match = _SLOT.search(data)
        if match is not None:  # Rasa's own layout: no need to decode the whole event
            name, raw = match.group(1), match.group(2)
            value = None if raw == "null" else raw[1:-1] if "\\" not in raw else json.loads(raw)
        elif _SLOT_NAME.search(data):
            try:
                event = json.loads(data)
            except ValueError:
                return
            if not isinstance(event, dict) or event.get("name") not in MOVE_SLOTS:
                return
            name, value = event["name"], event.get("value")
            value = value if isinstance(value, str) else None
        else:
            return
        self.slots[name] = value
        self.progress = Progress.read(self.slots, self.playbooks)
        if (
            self.pending is not None
            and self.action not in (None, "action_listen")
            and self.action not in RESET_ACTIONS
        ):
            self.pending.moved = True

    def finish(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None or not pending.reasons:
            return
        text = pending.text()
        if text is None:
            return
        masked = redact(text).strip()
        confidence, guess = _ranking(pending.event() or {})
        progress = pending.progress
        in_step = progress.stage == STAGE_TROUBLESHOOTING and progress.playbook is not None
        self.found.append(
            Message(
                text=masked,
                norm=normalize(masked),
                intent=pending.intent,
                confidence=confidence,
                guess=guess,
                playbook=progress.playbook.id if in_step and progress.playbook else None,
                step=progress.step_id if in_step else None,
                reasons=tuple(r for r in REASONS if r in pending.reasons),
                asked=tuple(pending.asked),
                correction=pending.correction,
                at=_moment(pending.timestamp),
                conversation=self.conversation,
            )
        )


def read_messages(
    rows: Iterable[Sequence[Any]], playbooks: Mapping[str, Playbook]
) -> list[Message]:
    """The misunderstood messages in ``(sender_id, type_name, timestamp, intent_name,
    action_name, data)`` rows ordered by conversation and then by event id; the open step is
    read against the ``playbooks`` that exist (by id)."""
    found: list[Message] = []
    reader: _Reader | None = None
    sender = None
    conversations = 0
    for sender_id, type_name, timestamp, intent, action, data in rows:
        if reader is None or sender_id != sender:
            if reader is not None:
                reader.finish()
            conversations += 1
            reader, sender = _Reader(conversations, found, playbooks), sender_id
        if type_name == "user":
            reader.user(intent, timestamp, data)
        elif type_name == "action":
            reader.begin_action(action)
        elif type_name == "bot":
            reader.bot(data)
        elif type_name == "slot":
            reader.slot(data)
    if reader is not None:
        reader.finish()
    return found


#: The events :func:`read_messages` needs: every conversation's user and action events, its
#: bot events that may ask again and its slot events that may move the conversation (with
#: ``data`` for all but the actions).
READ: Mapping[EventType, Wanted] = {
    "user": Wanted(data=True),
    "action": Wanted(),
    "bot": Wanted(data=True, containing=tuple(f'"{name}"' for name in REASK_RESPONSES)),
    "slot": Wanted(data=True, containing=('"playbook', '"dy_stage"')),
}


# --- groups ----------------------------------------------------------------------------------


@dataclass
class Example:
    """One distinct text of a group, as it was last written, with how often it was written."""

    message: Message
    count: int


@dataclass
class Group:
    """Messages with the same normal form or near-duplicates of each other."""

    key: str
    examples: list[Example]
    count: int
    conversations: int
    first: datetime
    last: datetime
    reasons: dict[str, int]
    asked: dict[str, int]
    intents: dict[str, int]
    steps: dict[str, int]
    forms: tuple[str, ...]  # the normal forms in the group

    @property
    def text(self) -> str:
        return self.examples[0].message.text

    @property
    def latest(self) -> Message:
        return max((e.message for e in self.examples), key=lambda m: m.at)

    @property
    def open_step(self) -> str | None:
        return max(self.steps, key=lambda step: self.steps[step]) if self.steps else None

    @property
    def guess(self) -> tuple[str, float] | None:
        return self.latest.guess


_NOT_LETTERS = re.compile(r"[\W_]+")


def bigrams(norm: str) -> frozenset[str]:
    """The character bigrams of a normal form, without its spaces and punctuation (a text of
    one character is its own token; a text of punctuation only is compared as it is)."""
    norm = _NOT_LETTERS.sub("", norm) or norm
    if len(norm) < 2:
        return frozenset([norm]) if norm else frozenset()
    return frozenset(norm[i : i + 2] for i in range(len(norm) - 1))


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Jaccard(a, b) >= 0.8, exactly."""
    if not a or not b:
        return False
    shared = len(a & b)
    return JACCARD[1] * shared >= JACCARD[0] * (len(a) + len(b) - shared)


def _prefix_length(size: int) -> int:
    """How many of a set's rarest tokens two sets with Jaccard >= 0.8 must share one of."""
    return size - (JACCARD[0] * size + JACCARD[1] - 1) // JACCARD[1] + 1


def group_messages(messages: Sequence[Message]) -> list[Group]:
    """Group by normal form, then join near-duplicate forms; newest group first.

    Forms are taken most frequent first; each joins the most similar group leader with
    Jaccard >= 0.8, or leads a new group. Candidate leaders are found through an index of
    their rarest bigrams (prefix filtering), so this stays fast with thousands of forms.
    """
    by_form: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        by_form[message.norm].append(message)
    newest = {form: max(m.at for m in found).timestamp() for form, found in by_form.items()}
    forms = sorted(by_form, key=lambda f: (-len(by_form[f]), -newest[f], f))
    tokens = {form: bigrams(form) for form in forms}
    rarity = Counter(token for form in forms for token in tokens[form])
    order = {form: sorted(tokens[form], key=lambda t: (rarity[t], t)) for form in forms}
    index: dict[str, list[str]] = defaultdict(list)
    leaders: dict[str, list[str]] = {}  # in the order they became leaders
    rank: dict[str, int] = {}
    for form in forms:
        mine = tokens[form]
        best, best_score = None, (-1.0, 0)
        if mine:
            candidates = {
                leader
                for token in order[form][: _prefix_length(len(mine))]
                for leader in index.get(token, ())
            }
            for leader in candidates:
                theirs = tokens[leader]
                if similar(mine, theirs):
                    score = (len(mine & theirs) / len(mine | theirs), -rank[leader])
                    if score > best_score:  # the most similar; on a tie the earliest leader
                        best, best_score = leader, score
        if best is not None:
            leaders[best].append(form)
            continue
        leaders[form] = [form]
        rank[form] = len(rank)
        for token in order[form][: _prefix_length(len(mine))] if mine else ():
            index[token].append(form)
    groups = [_group(leader, members, by_form) for leader, members in leaders.items()]
    groups.sort(key=lambda g: (g.last, g.count), reverse=True)
    return groups


def _group(leader: str, members: list[str], by_form: dict[str, list[Message]]) -> Group:
    messages = [m for form in members for m in by_form[form]]
    texts: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        texts[message.text].append(message)
    examples = sorted(
        (Example(max(ms, key=lambda m: m.at), len(ms)) for ms in texts.values()),
        key=lambda e: (-e.count, -e.message.at.timestamp()),
    )
    reasons: Counter[str] = Counter(r for m in messages for r in m.reasons)
    return Group(
        key=hashlib.sha1(leader.encode("utf-8")).hexdigest()[:12],
        examples=examples,
        count=len(messages),
        conversations=len({m.conversation for m in messages}),
        first=min(m.at for m in messages),
        last=max(m.at for m in messages),
        reasons={r: reasons[r] for r in REASONS if reasons[r]},
        asked=dict(Counter(a for m in messages for a in m.asked).most_common()),
        intents=dict(Counter(m.intent or "?" for m in messages).most_common()),
        steps=dict(Counter(m.open_step for m in messages if m.open_step).most_common()),
        forms=tuple(members),
    )


# --- the inbox ---------------------------------------------------------------------------------


@dataclass
class Inbox:
    groups: list[Group]
    messages: int
    conversations: int

    def pages(self, size: int = PAGE_SIZE) -> int:
        return max(1, -(-len(self.groups) // size))

    def page(self, number: int, size: int = PAGE_SIZE) -> list[Group]:
        number = min(max(1, number), self.pages(size))
        return self.groups[(number - 1) * size : number * size]

    def find(self, key: str) -> Group | None:
        return next((g for g in self.groups if g.key == key), None)


def build(rows: Iterable[Sequence[Any]], playbooks: Mapping[str, Playbook]) -> Inbox:
    messages = read_messages(rows, playbooks)
    return Inbox(
        groups=group_messages(messages),
        messages=len(messages),
        conversations=len({m.conversation for m in messages}),
    )


_cache: dict[str, tuple[tuple[Any, ...], Inbox]] = {}
_cache_lock = threading.Lock()


def _outline(playbooks: Mapping[str, Playbook]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The playbooks and their steps: an edit that adds or removes one changes the open
    steps the inbox shows."""
    return tuple(sorted((key, tuple(sorted(p.steps))) for key, p in playbooks.items()))


def inbox(store: Store, playbooks: Mapping[str, Playbook]) -> Inbox:
    """The inbox of the SQL tracker store at ``store`` (empty without a store or events),
    with the open steps read against the ``playbooks`` that exist (by id).

    The result is kept until the store has new events (its event count or newest id
    changes) or a playbook gains or loses a step, so paging through it does not read the
    store again. :class:`web.trackerstore.StoreUnreadable` when the store cannot be read.
    """
    with reading(store) as engine:
        if engine is None:
            return Inbox(groups=[], messages=0, conversations=0)
        key = str(store.url if isinstance(store, Engine) else store)
        now = (stamp(engine), _outline(playbooks))
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None and cached[0] == now:
            return cached[1]
        result = build(event_rows(engine, READ), playbooks)
        with _cache_lock:
            _cache[key] = (now, result)
        return result
