"""Playbook statistics of Rasa's SQL tracker store, kept up to date by reading new events only.

:func:`flow_stats` is what the console's playbook pages show. The first view replays every
conversation (:class:`web.flow_replay.Tally`: read-only, one query ordered by conversation
and event id); later views read only the events with a larger id (:mod:`web.event_cursor`)
and fold them into what the process kept: the counts, and per conversation the little its
next events need (about 250 bytes; ``make bench`` prints the figure). The result is what one
full replay gives. The kept state starts again from scratch when the playbooks' content
changes (an editor's edit) or when the store no longer holds the events read before (the
database was replaced). Whether an open step was given up is decided at each view, from the
time the conversation's user was last seen.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy.engine import Engine

from playbook.model import Playbook
from web.event_cursor import LATE_EVENTS, SETTLE_SECONDS, EventCursor
from web.flow_replay import PlaybookStats, Tally
from web.trackerstore import (
    DEFAULT_IDLE_SECONDS,
    EventType,
    Store,
    Wanted,
    events_after,
    newest_event,
    reading,
)

#: The events the replay reads: the user's intents, the actions, and the slot events (only
#: those with ``data``; what users wrote is never read).
READ: Mapping[EventType, Wanted] = {
    "user": Wanted(),
    "slot": Wanted(data=True),
    "action": Wanted(),
}
#: Tracker stores kept per process (the console reads one; tests make more).
STORES = 4


def playbooks_digest(playbooks: Iterable[Playbook]) -> str:
    """A digest of the playbooks' content: it changes with any edit to one of them."""
    text = repr(sorted(playbooks, key=lambda playbook: playbook.id))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FlowAggregator:
    """The statistics of one tracker store, kept by one process between page views.

    A lock lets one view at a time read and fold: two views at once never fold the same
    events twice (the second waits, then finds nothing new). A read that fails part way
    leaves nothing half folded: the next view replays from scratch.
    """

    def __init__(
        self,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        late_events: int = LATE_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cursor_settings = (settle_seconds, late_events, clock)
        self._lock = threading.Lock()
        self._digest: str | None = None
        self._tally: Tally | None = None
        self._cursor = EventCursor(*self._cursor_settings)
        #: How many times the statistics were replayed from scratch.
        self.replays = 0

    @property
    def conversations(self) -> int:
        """How many conversations are kept."""
        return len(self._tally.conversations) if self._tally is not None else 0

    def stats(
        self, engine: Engine, playbooks: Iterable[Playbook], *, now: float, idle_seconds: float
    ) -> dict[str, PlaybookStats]:
        """The statistics of the events in ``engine``'s store as a full replay at ``now``
        counts them, reading only what was not read before."""
        playbooks = list(playbooks)
        digest = playbooks_digest(playbooks)
        with self._lock:
            newest, anchor = newest_event(engine, self._cursor.newest)
            tally = self._tally
            if (
                tally is None
                or digest != self._digest
                or not self._cursor.still_there(newest, anchor)
            ):
                tally = self._tally = Tally(playbooks)
                self._digest, self._cursor = digest, EventCursor(*self._cursor_settings)
                self.replays += 1
            if not self._cursor.up_to_date(newest):
                rows = events_after(engine, READ, self._cursor.settled, newest or 0)
                try:
                    tally.fold(self._cursor.unread(rows, newest or 0))
                except BaseException:
                    self._tally = None  # folded in part: start again at the next view
                    raise
                self._cursor.advance()
            return tally.view(now, idle_seconds)


_aggregators: dict[str, FlowAggregator] = {}
_aggregators_lock = threading.Lock()


def aggregator(engine: Engine) -> FlowAggregator:
    """This process's aggregator of the tracker store ``engine`` reads (the last
    :data:`STORES` stores are kept)."""
    key = engine.url.render_as_string(hide_password=True)
    with _aggregators_lock:
        found = _aggregators.pop(key, None) or FlowAggregator()
        _aggregators[key] = found
        while len(_aggregators) > STORES:
            del _aggregators[next(iter(_aggregators))]
        return found


def flow_stats(
    playbooks: Iterable[Playbook],
    store: Store,
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
) -> dict[str, PlaybookStats]:
    """Statistics per playbook id from Rasa's SQL tracker store at ``store`` (a URL or an
    engine), or ``{}`` when there is no store or no conversation table yet;
    :class:`web.trackerstore.StoreUnreadable` when it cannot be read."""
    with reading(store) as engine:
        if engine is None:
            return {}
        return aggregator(engine).stats(
            engine,
            playbooks,
            now=time.time() if now is None else now,
            idle_seconds=idle_seconds,
        )
