"""Where a conversation stands in its playbook: the one reading of the progress slots.

The action server keeps the progress in slots (:data:`SLOTS`) of Rasa's tracker, so a
conversation continues after a restart. Slots outlive playbook edits and may be damaged, so
they are never trusted: :meth:`Progress.read` checks them against the playbooks that exist.
The actions, the console's flow statistics and anything else that replays a conversation
read the slots through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from playbook.engine import STAGE_TROUBLESHOOTING
from playbook.model import Playbook, Step

#: The progress slots (domain.yml), as the actions set them.
SLOTS = ("dy_stage", "playbook", "playbook_step", "steps_tried", "flow_id")
#: What the assistant waits for (``dy_stage``): a step's check question, contact details,
#: a rating (and its comment), or the user's word on a ticket staff resolved.
STAGE_CONTACT = "contact"
STAGE_RATING = "rating"
STAGE_FOLLOWUP = "followup"
#: After the three-part rating of a ticket staff resolved: the user's optional comment.
STAGE_COMMENT = "comment"
STAGES = {STAGE_TROUBLESHOOTING, STAGE_CONTACT, STAGE_RATING, STAGE_FOLLOWUP, STAGE_COMMENT}
#: A flow id names one problem's flow (the idempotency key of its ticket and its rating).
FLOW_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")

#: Slot values: a mapping of slot name to value, or a getter such as ``tracker.get_slot``.
SlotValues = Mapping[str, Any] | Callable[[str], Any]
#: The playbooks that exist: by id, or a lookup such as ``PlaybookRegistry.get``.
KnownPlaybooks = Mapping[str, Playbook] | Callable[[str | None], Playbook | None]


@dataclass(frozen=True)
class Progress:
    """The playbook progress held in slots, checked against the playbooks that exist:
    an unknown playbook or step is dropped, tried steps the playbook does not have are left
    out, a malformed flow id is None, and a troubleshooting stage without a playbook and a
    step (damaged slots, or the playbook is gone) is no stage."""

    stage: str | None = None
    playbook: Playbook | None = None
    step_id: str | None = None
    steps_tried: tuple[str, ...] = ()
    flow_id: str | None = None

    @classmethod
    def read(cls, slots: SlotValues, playbooks: KnownPlaybooks) -> Progress:
        """Decode the progress slots (``slots``) against the known ``playbooks``."""
        get: Callable[[str], Any] = slots if callable(slots) else slots.get
        stage = get("dy_stage")
        playbook = _find(playbooks, get("playbook"))
        step_id = get("playbook_step")
        step_id = (
            step_id if playbook and isinstance(step_id, str) and playbook.step(step_id) else None
        )
        tried = get("steps_tried")
        steps_tried = tuple(
            s
            for s in (tried if isinstance(tried, list) else [])
            if isinstance(s, str) and playbook and playbook.step(s)
        )
        flow_id = get("flow_id")
        flow_id = flow_id if isinstance(flow_id, str) and FLOW_ID_RE.match(flow_id) else None
        stage = stage if isinstance(stage, str) and stage in STAGES else None
        if stage == STAGE_TROUBLESHOOTING and not (playbook and step_id):
            stage = None  # progress slots were damaged or the playbook is gone
        return cls(
            stage=stage,
            playbook=playbook,
            step_id=step_id,
            steps_tried=steps_tried,
            flow_id=flow_id,
        )

    @property
    def in_playbook(self) -> bool:
        """A step of a playbook is on screen (its check question is open)."""
        return self.stage == STAGE_TROUBLESHOOTING

    @property
    def step(self) -> Step | None:
        """The step the conversation is at, while it is in its playbook."""
        if not self.in_playbook or self.playbook is None:
            return None
        return self.playbook.step(self.step_id)

    @property
    def open_step(self) -> Step | None:
        """The step waiting for the user's answer, as the actions accept one: None outside a
        playbook and for a branch step (a branch is a choice, never shown)."""
        step = self.step
        return step if step is not None and step.branch is None else None


def _find(playbooks: KnownPlaybooks, playbook_id: Any) -> Playbook | None:
    if callable(playbooks):
        return playbooks(playbook_id)
    return playbooks.get(playbook_id) if isinstance(playbook_id, str) else None
