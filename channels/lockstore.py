"""A conversation lock that holds across Rasa replicas: a fair ticket lock in Redis whose every
step is one atomic Lua script.

Rasa 3.6's own ``RedisLockStore`` reads the conversation's lock as JSON, adds a ticket in
Python and writes it back (GET, then SET, no TTL): two replicas that take a ticket at the same
moment both see the lock free and process the same conversation at once (RasaHQ/rasa#9213;
the fix in PR #11256 was reverted from open source). Here:

- a ticket is taken with one ``HINCRBY`` inside a script, so two replicas never get the same
  number, and turns are served in the order their messages arrived;
- each ticket has a *liveness* key that expires after the lock lifetime
  (:data:`LOCK_LIFETIME_SECONDS`, 20 s): a replica killed while it waits or holds the lock
  stops renewing it, and the next ticket is served after at most one lifetime instead of
  never;
- the holder renews its liveness every quarter lifetime while the turn runs, so a turn of any
  length keeps its lock (Rasa's own lock simply expires after 60 s, while Rasa waits up to
  300 s for an action server; here an action call is bounded as well, see
  :mod:`channels.action_calls`);
- everything a conversation leaves in Redis expires after the lifetime.

Loaded by module path from ``endpoints.yml`` (``lock_store: type: channels.lockstore.
AtomicRedisLockStore``) with the same keys as Rasa's (``url``, ``port``, ``password``,
``db``, ``key_prefix``, ``use_ssl``). When Redis cannot be reached, taking the lock raises
:class:`LockUnavailable` and the channel answers 503 with the domain's apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

#: How long a ticket lives without being renewed (seconds; ``DY_LOCK_LIFETIME``): the holder
#: renews it every quarter of that while its turn runs, so a turn of any length keeps the lock,
#: and the lock of a replica killed mid-turn is free again after at most this long.
LOCK_LIFETIME_SECONDS = float(os.environ.get("DY_LOCK_LIFETIME", "") or 20)
#: How long a message waits for its turn before it is refused (seconds): less than nginx
#: waits for an answer (90 s), so the user hears the apology rather than a gateway error.
WAIT_SECONDS = float(os.environ.get("DY_LOCK_WAIT", "") or 80)
#: Between two looks at the lock while waiting (seconds): first quick, then up to the cap.
POLL_FIRST, POLL_CAP = 0.005, 0.05
DEFAULT_PREFIX = "dy:lock:"

#: KEYS[1] the conversation's hash (fields ``next`` and ``serving``); ARGV[1] the liveness
#: key prefix, ARGV[2] the lifetime in ms, ARGV[3] this holder's token. Takes the next ticket
#: and marks it alive; returns the ticket number.
_ISSUE = """
local ticket = redis.call('HINCRBY', KEYS[1], 'next', 1)
if ticket == 1 then redis.call('HSET', KEYS[1], 'serving', 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', ARGV[1] .. ticket, ARGV[3], 'PX', ARGV[2])
return ticket
"""

#: KEYS[1] the hash; ARGV[1] the liveness prefix, ARGV[2] the lifetime in ms, ARGV[3] the
#: ticket, ARGV[4] the token. Skips tickets whose holder is gone, renews this ticket, and
#: returns 1 when it is this ticket's turn, 0 while others come first, -1 when this ticket
#: was lost (its liveness expired and the lock moved past it).
_TRY = """
local ticket = tonumber(ARGV[3])
local serving = tonumber(redis.call('HGET', KEYS[1], 'serving') or '0')
local newest = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if serving == 0 or newest < ticket then return -1 end
while serving < ticket and redis.call('EXISTS', ARGV[1] .. serving) == 0 do
  serving = serving + 1
end
redis.call('HSET', KEYS[1], 'serving', serving)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if serving > ticket or redis.call('GET', ARGV[1] .. ticket) ~= ARGV[4] then return -1 end
redis.call('SET', ARGV[1] .. ticket, ARGV[4], 'PX', ARGV[2])
if serving == ticket then return 1 end
return 0
"""

#: KEYS[1] the hash; ARGV[1] the liveness prefix, ARGV[2] the lifetime in ms, ARGV[3] the
#: ticket, ARGV[4] the token. The holder's renewal: its liveness *and* the conversation's hash
#: (which otherwise expires under a long turn that nobody waits behind, and the next message
#: would start afresh at ticket 1 while this turn still runs). 0 when the ticket was lost.
_RENEW = """
if redis.call('GET', ARGV[1] .. ARGV[3]) ~= ARGV[4] then return 0 end
redis.call('SET', ARGV[1] .. ARGV[3], ARGV[4], 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: KEYS[1] the hash; ARGV[1] the liveness prefix, ARGV[2] the ticket, ARGV[3] the token.
#: Gives the turn to the next ticket; the hash goes when nobody is waiting.
_RELEASE = """
local ticket = tonumber(ARGV[2])
if redis.call('GET', ARGV[1] .. ticket) == ARGV[3] then redis.call('DEL', ARGV[1] .. ticket) end
local serving = tonumber(redis.call('HGET', KEYS[1], 'serving') or '0')
if serving == ticket then
  local newest = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
  if newest <= ticket then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 'serving', ticket + 1)
  end
end
return 1
"""


class LockUnavailable(LockError):  # type: ignore[misc]  # rasa has no type information
    """Redis could not be reached (or refused), so the conversation cannot be locked."""


class AtomicRedisLockStore(LockStore):  # type: ignore[misc]  # rasa has no type information
    """A ticket lock per conversation in Redis, atomic across replicas (see the module)."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        lifetime: float = LOCK_LIFETIME_SECONDS,
        wait: float = WAIT_SECONDS,
    ) -> None:
        settings: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        url = (endpoint_config.url if endpoint_config else None) or host or "127.0.0.1"
        self.lifetime = float(settings.pop("lifetime", lifetime))
        self.wait = float(settings.pop("wait", wait))
        prefix = str(settings.pop("key_prefix", "") or "")
        self.prefix = f"{prefix}:{DEFAULT_PREFIX}" if prefix.isalnum() else DEFAULT_PREFIX
        self._settings: dict[str, Any] = {
            "host": url,
            "port": int(settings.pop("port", port or 6379)),
            "db": int(settings.pop("db", 0)),
            "password": settings.pop("password", None),
            "ssl": bool(settings.pop("use_ssl", False)),
            "socket_timeout": float(settings.pop("socket_timeout", 2)),
            "socket_connect_timeout": float(settings.pop("socket_connect_timeout", 1)),
        }
        self._red: aioredis.Redis | None = None  # made in the event loop that uses it

    @property
    def red(self) -> aioredis.Redis:
        if self._red is None:
            self._red = aioredis.Redis(**self._settings)
            self._issue = self._red.register_script(_ISSUE)
            self._try = self._red.register_script(_TRY)
            self._release = self._red.register_script(_RELEASE)
            self._renew_script = self._red.register_script(_RENEW)
        return self._red

    # Rasa's LockStore keeps a JSON TicketLock per conversation; this store keeps its state in
    # Redis scripts, so the JSON methods are not used (lock() below replaces them).
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None

    def delete_lock(self, conversation_id: str) -> None:
        return None

    def _keys(self, conversation_id: str) -> tuple[str, str]:
        base = f"{self.prefix}{conversation_id}"
        return base, f"{base}:alive:"

    async def ping(self) -> bool:
        """Whether Redis answers (the readiness check)."""
        try:
            return bool(await self.red.ping())
        except (RedisError, OSError):
            return False

    @contextlib.asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float | None = None,
        wait_time_in_seconds: float | None = None,
    ) -> AsyncIterator[None]:
        """Hold ``conversation_id``'s lock for the block: wait (in arrival order) for the
        turns before this one, renew the ticket while the block runs, then pass the turn on.
        ``lock_lifetime`` and ``wait_time_in_seconds`` (Rasa's arguments) are ignored: the
        lifetime is this store's, and waiting polls far more often than once a second."""
        lifetime_ms = str(int(self.lifetime * 1000))
        key, alive = self._keys(conversation_id)
        token = uuid.uuid4().hex
        try:
            ticket = int(await self.issue(key, alive, lifetime_ms, token))
        except (RedisError, OSError) as exc:
            raise LockUnavailable(f"lock store unreachable ({type(exc).__name__})") from exc
        try:
            await self._wait_for_turn(key, alive, ticket, token, lifetime_ms)
            renewer = asyncio.create_task(self._renew(key, alive, ticket, token, lifetime_ms))
            try:
                yield None
            finally:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
        finally:
            await self._give_up(key, alive, ticket, token)

    async def _call(self, script: Any, keys: list[str], args: list[Any], *, again: bool) -> Any:
        """Run ``script``. A connection error drops every pooled connection (after a Redis
        restart each of them is dead and would fail a turn of its own) and, when ``again``
        (a script that can safely run twice), runs it once more on a new connection."""
        try:
            return await script(keys=keys, args=args)
        except (RedisConnectionError, OSError):
            await self.red.connection_pool.disconnect()
            if not again:
                raise
            return await script(keys=keys, args=args)

    async def issue(self, key: str, alive: str, lifetime_ms: str, token: str) -> int:
        """Take the next ticket of the conversation at ``key`` and mark it alive."""
        self.red  # noqa: B018 - makes the client and its scripts
        # not run again: a first run that reached Redis took a ticket the turns after it wait for
        return int(await self._call(self._issue, [key], [alive, lifetime_ms, token], again=False))

    async def _wait_for_turn(
        self, key: str, alive: str, ticket: int, token: str, lifetime_ms: str
    ) -> None:
        deadline = time.monotonic() + self.wait
        pause = POLL_FIRST
        while True:
            try:
                state = int(
                    await self._call(
                        self._try, [key], [alive, lifetime_ms, ticket, token], again=True
                    )
                )
            except (RedisError, OSError) as exc:
                raise LockUnavailable(f"lock store unreachable ({type(exc).__name__})") from exc
            if state == 1:
                return
            if state == -1:
                raise LockError(f"lock ticket {ticket} expired while waiting")
            if time.monotonic() > deadline:
                raise LockError(f"waited {self.wait:.0f} s for the conversation lock")
            await asyncio.sleep(pause)
            pause = min(POLL_CAP, pause * 2)

    async def _renew(self, key: str, alive: str, ticket: int, token: str, lifetime_ms: str) -> None:
        """Keep the held ticket and its conversation alive (a quarter of the lifetime between
        renewals)."""
        while True:
            await asyncio.sleep(self.lifetime / 4)
            try:
                kept = await self._call(
                    self._renew_script, [key], [alive, lifetime_ms, ticket, token], again=True
                )
            except (RedisError, OSError) as exc:
                logger.warning("conversation lock not renewed (%s)", type(exc).__name__)
                continue
            if not int(kept):
                logger.error("conversation lock lost while its turn ran (its ticket expired)")
                return

    async def _give_up(self, key: str, alive: str, ticket: int, token: str) -> None:
        try:
            await self._call(self._release, [key], [alive, ticket, token], again=True)
        except (RedisError, OSError) as exc:  # the ticket expires after the lifetime
            logger.warning("conversation lock not released (%s)", type(exc).__name__)
