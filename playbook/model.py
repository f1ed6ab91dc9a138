"""What a troubleshooting playbook is: its triggers, steps, branches and escalation.

Plain frozen data, built by :mod:`playbook.parse` from ``data/playbooks/*.yml`` and walked by
:mod:`playbook.engine`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The two ends of a playbook: an answer may lead to a step or to one of these.
RESOLVED = "resolved"
ESCALATE = "escalate"
TERMINALS = {RESOLVED, ESCALATE}
#: A step's own answer phrases: ``answers: {worked: [...], failed: [...], human: [...]}``.
MAX_ANSWER_PHRASE_CHARS = 40
#: A playbook's ``mentions:`` are words or short phrases, not sentences.
MAX_MENTION_CHARS = 20
#: Playbook and step ids: lower-case letters, digits and underscores, starting with a letter.
ID_FORMAT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Branch:
    slot: str
    cases: Mapping[str, str]
    default: str


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    message: str = ""
    check: str = ""
    link: Link | None = None
    image: str | None = None
    video: Link | None = None
    on_yes: str = RESOLVED
    on_no: str = ESCALATE
    on_human: str = ESCALATE
    branch: Branch | None = None
    #: the editor's answer phrases for this step, by label
    #: (:data:`understanding.answers.VERDICT_KEYS`)
    answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    line: int = field(default=1, compare=False)  # where the editor wrote the step's id


@dataclass(frozen=True)
class Trigger:
    intent: str
    start: str
    #: words that show a message mentions this problem (「密码也忘了」): when a message starts
    #: another playbook and names this problem too, this trigger is offered after it
    mentions: tuple[str, ...] = ()
    line: int = field(default=1, compare=False)  # where the editor wrote it, for messages


@dataclass(frozen=True)
class Escalation:
    category: str
    priority: str
    message: str = ""
    line: int = field(default=1, compare=False)  # the line of its category


@dataclass(frozen=True)
class Playbook:
    id: str
    title: str
    category: str
    triggers: tuple[Trigger, ...]
    intro: str
    steps: Mapping[str, Step]
    escalation: Escalation
    intros: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    line: int = field(default=1, compare=False)  # the line of its id, for messages

    def step(self, step_id: str | None) -> Step | None:
        return self.steps.get(step_id) if step_id else None

    def trigger_for(self, intent: str | None) -> Trigger | None:
        return next((t for t in self.triggers if t.intent == intent), None)

    def intro_for(self, intent: str | None) -> str:
        return self.intros.get(intent or "", self.intro)
