"""The conversation store without silent loss, and the SQL tracker store for scale-out.

Rasa's ``Agent`` always wraps the tracker store in ``FailSafeTrackerStore``: when the
database fails, ``retrieve`` answers None (Rasa then starts a *fresh* tracker and replies
from it, as if the user had never written) and ``save`` keeps the tracker in process memory
(RasaHQ/rasa#3243), so the conversation silently restarts and its events are lost when the
process ends. :func:`install` replaces that wrapper with :class:`LoudTrackerStore`, which
lets the failure through: the turn fails, the channel apologises (REST: 503), nothing is kept
in memory, and the next turn after the database is back continues from what was stored.

:class:`DySQLTrackerStore` is Rasa's SQL store with what several replicas on one PostgreSQL
need: connections checked before use (a restarted database costs no turn), a pool of the
size set in ``endpoints.yml`` (Rasa's default, 50 + 100 overflow per replica, is more than
PostgreSQL's default 100 connections for two replicas), and the index on
``(sender_id, id)`` that reading one conversation's events in order uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import rasa.core.agent
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

#: Connections per replica when endpoints.yml does not say (pool, overflow).
DEFAULT_POOL = (5, 10)
EVENTS_INDEX = "ix_events_sender_id_id"


class TrackerStoreUnavailable(RuntimeError):
    """The conversation store could not be read or written; the turn does not go on."""


class LoudTrackerStore(FailSafeTrackerStore):  # type: ignore[misc]  # rasa has no type information
    """Rasa's wrapper without the fallback: a store error fails the turn, loudly."""

    def _failed(self, doing: str, error: Exception) -> TrackerStoreUnavailable:
        logger.error(
            "tracker store %s failed (%s); the turn fails instead of using a fresh tracker",
            doing,
            type(error).__name__,
        )
        return TrackerStoreUnavailable(f"tracker store {doing} failed ({type(error).__name__})")

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            return await self._tracker_store.retrieve(sender_id)
        except Exception as error:
            raise self._failed("retrieve", error) from error

    async def retrieve_full_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            return await self._tracker_store.retrieve_full_tracker(sender_id)
        except Exception as error:
            raise self._failed("retrieve", error) from error

    async def save(self, tracker: DialogueStateTracker) -> None:
        try:
            await self._tracker_store.save(tracker)
        except Exception as error:
            raise self._failed("save", error) from error

    async def keys(self) -> Iterable[str]:
        try:
            keys: Iterable[str] = await self._tracker_store.keys()
            return keys
        except Exception as error:
            raise self._failed("keys", error) from error


def install() -> None:
    """Make Rasa's Agent wrap its tracker store in :class:`LoudTrackerStore` (idempotent;
    done when a channel module is loaded, before Rasa loads the agent)."""
    rasa.core.agent.FailSafeTrackerStore = LoudTrackerStore


class DySQLTrackerStore(SQLTrackerStore):  # type: ignore[misc]  # rasa has no type information
    """Rasa's SQL tracker store with pre-pinged, bounded connections and the events index.

    ``endpoints.yml``: ``type: channels.trackerstore.DySQLTrackerStore`` with Rasa's keys
    (``dialect``, ``url``, ``port``, ``db``, ``username``, ``password``) and ``pool_size``,
    ``max_overflow``.
    """

    engine: sa.engine.Engine

    def __init__(
        self,
        domain: Any = None,
        *,
        pool_size: int | str | None = None,
        max_overflow: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            super().__init__(domain, **kwargs)
            rasas: sa.engine.Engine = self.engine
            engine_kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
            if rasas.dialect.name != "sqlite":
                engine_kwargs["pool_size"] = int(pool_size or DEFAULT_POOL[0])
                engine_kwargs["max_overflow"] = int(max_overflow or DEFAULT_POOL[1])
            rasas.dispose()
            self.engine = sa.create_engine(rasas.url, **engine_kwargs)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        except AttributeError as exc:  # Rasa would take it for "no such class" and fall
            raise RuntimeError(f"tracker store not created: {exc}") from exc  # back to memory
        event = SQLTrackerStore.SQLEvent
        try:
            sa.Index(EVENTS_INDEX, event.sender_id, event.id).create(self.engine, checkfirst=True)
        except sa.exc.SQLAlchemyError as exc:  # another replica made it at the same moment
            logger.info("events index not created here (%s)", type(exc).__name__)
