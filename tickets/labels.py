"""The audit of the misunderstanding inbox: every message an editor filed as training data,
written or refused, with its author, the file and line, and the validator's message.

The console writes here only through :func:`record_label` and reads through
:func:`latest_labels` (no ORM in the console).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from tickets.db import session_scope
from tickets.models import StaffUser, TrainingLabel, utcnow
from tickets.staff import Staff

KINDS = ("intent", "answer")
OUTCOMES = ("written", "refused")
#: The phrase as filed is kept up to this many characters (an overlong input is cut).
MAX_TEXT = 200
MAX_MESSAGE = 4000


@dataclass(frozen=True)
class LabelRecord:
    """One audited label, with its author's names."""

    id: int
    author: str  # display name
    username: str
    kind: str
    target: str
    text: str
    file: str | None
    line: int | None
    outcome: str
    message: str
    created_at: datetime

    @property
    def written(self) -> bool:
        return self.outcome == "written"


def _cut(text: str, limit: int) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_label(
    actor: Staff,
    *,
    kind: str,
    target: str,
    text: str,
    outcome: str,
    message: str = "",
    file: str | None = None,
    line: int | None = None,
    database_url: str | None = None,
) -> int:
    """Audit one label by ``actor``; returns its id. ``text`` must already be masked."""
    if kind not in KINDS:
        raise ValueError(f"unknown label kind {kind!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown label outcome {outcome!r}")
    with session_scope(database_url) as session:
        row = TrainingLabel(
            actor_id=actor.id,
            kind=kind,
            target=_cut(target, 160),
            text=_cut(text, MAX_TEXT),
            file=_cut(file, 255) if file else None,
            line=line,
            outcome=outcome,
            message=_cut(message, MAX_MESSAGE),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        row_id: int = row.id
        return row_id


def _view(row: TrainingLabel, user: StaffUser) -> LabelRecord:
    return LabelRecord(
        id=row.id,
        author=user.display_name,
        username=user.username,
        kind=row.kind,
        target=row.target,
        text=row.text,
        file=row.file,
        line=row.line,
        outcome=row.outcome,
        message=row.message,
        created_at=row.created_at,
    )


def latest_labels(limit: int = 20, *, database_url: str | None = None) -> list[LabelRecord]:
    """The newest labels first, each with its author."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(TrainingLabel, StaffUser)
            .join(StaffUser, TrainingLabel.actor_id == StaffUser.id)
            .order_by(TrainingLabel.id.desc())
            .limit(max(1, min(limit, 500)))
        ).all()
        return [_view(row, user) for row, user in rows]


def get_label(label_id: int, *, database_url: str | None = None) -> LabelRecord | None:
    with session_scope(database_url) as session:
        found = session.execute(
            select(TrainingLabel, StaffUser)
            .join(StaffUser, TrainingLabel.actor_id == StaffUser.id)
            .where(TrainingLabel.id == label_id)
        ).first()
        return _view(*found) if found else None
