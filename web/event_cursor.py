"""Which of the tracker store's events a reader has read, so that it next asks for newer ones.

Event ids grow, but on PostgreSQL with several Rasa replicas an event may become visible
after one with a larger id (its transaction took its ids first and committed later). So the
cursor asks again for the last few ids it has read (at most :data:`LATE_EVENTS`, and only
those read less than :data:`SETTLE_SECONDS` ago) and skips the rows it already has: an event
committed that late is still read once. Rasa writes a turn's events in one short
transaction, far shorter than either bound.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

#: A read's newest id is taken as final this long afterwards (seconds).
SETTLE_SECONDS = 30.0
#: ... and once this many newer ids have been read.
LATE_EVENTS = 1_000


class EventCursor:
    """The event ids read so far: every id up to :attr:`settled`, and a few above it."""

    def __init__(
        self,
        settle_seconds: float = SETTLE_SECONDS,
        late_events: int = LATE_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle_seconds, self.late_events, self._clock = settle_seconds, late_events, clock
        #: Every event up to this id has been read: the next read asks for larger ids.
        self.settled = 0
        #: The largest id in the store at the last read (of any event, read or not).
        self.top = 0
        #: The largest id read, and the conversation of that event.
        self.newest = 0
        self.anchor: str | None = None
        self._read: set[int] = set()  # ids above ``settled`` already read
        self._marks: deque[tuple[float, int]] = deque()  # (when, top id) of each read

    def still_there(self, newest: int | None, anchor: str | None) -> bool:
        """Whether the store still holds what was read: its newest id (``newest``) is not
        smaller than before, and the event with id :attr:`newest` is still in conversation
        ``anchor``. Not so when the database was replaced, emptied or cut short."""
        if not self.top:
            return True
        return newest is not None and newest >= self.top and anchor == self.anchor

    def up_to_date(self, newest: int | None) -> bool:
        """Nothing can be left to read: no id above the newest read, none being awaited."""
        return (newest or 0) <= self.top and self.settled >= self.top

    def unread(self, rows: Iterable[Sequence[Any]], newest: int) -> Iterator[Sequence[Any]]:
        """The rows ``(id, sender_id, ...)`` not read before, without their id; each is
        marked read as it is passed on. ``newest`` is the store's newest id before the read:
        the ids far below it are final after this read and are not remembered one by one."""
        self.top = max(self.top, newest)
        remembered = newest - self.late_events
        for row in rows:
            event_id = row[0]
            if event_id <= self.settled or event_id in self._read:
                continue
            if event_id > remembered:
                self._read.add(event_id)
            if event_id > self.newest:
                self.newest, self.anchor = event_id, row[1]
                self.top = max(self.top, event_id)
            yield row[1:]

    def advance(self) -> None:
        """After a read: the ids that are final now need not be asked for again."""
        now = self._clock()
        self._marks.append((now, self.top))
        while self._marks and self._marks[0][0] <= now - self.settle_seconds:
            self.settled = max(self.settled, self._marks.popleft()[1])
        self.settled = max(self.settled, self.top - self.late_events)
        self._read = {event_id for event_id in self._read if event_id > self.settled}
