"""Bearer token → ``Principal``, remembered for a few seconds by each API process.

Resolving a token costs a PostgreSQL round trip, on every authenticated request. Each API
process therefore keeps what it resolved for ``TTL_S`` seconds (at most ``CAPACITY``
tokens; unknown and revoked tokens are never remembered), and forgets an account's tokens
at once when something changes what they say:

- a token revoked (``DELETE /v1/me/tokens/{id}``, ``DELETE /v1/vendor/tokens/{id}``);
- a buyer erased (every token revoked);
- a vendor verified, suspended or reinstated (``Principal.status``).

A token with an expiry (``Principal.expires_at``) is never answered from the cache once
that moment has passed: ``get`` drops it, and PostgreSQL refuses it (401).

The change's service calls ``principals_changed`` (or ``Work.principals_changed``, announced
after its commit). That forgets the account in every cache of this process before the
answer is sent, so the caller's next request is judged on the new state, and publishes the
account's id on ``PRINCIPALS_CHANNEL``; every API process listens to it (``follow``) and
forgets the account too, within a Redis round trip.

**A lost message costs at most** ``TTL_S``: every remembered principal is dropped
``TTL_S`` seconds after it was read from PostgreSQL, whatever Redis says, so a revoked token
(or a suspended vendor) can stay usable in another process for at most ``TTL_S`` seconds if
Redis loses the invalidation (Redis down, a listener between reconnects). A listener that
(re)connects clears its cache, as it may have missed messages. A lookup that raced a change
(read before the change committed, stored after it was forgotten) is not stored: the cache
counts invalidations, and a lookup stores only if none happened while it read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime

import redis.asyncio as redis

from intentcast.store.accounts import Principal

log = logging.getLogger(__name__)

__all__ = [
    "CAPACITY",
    "PRINCIPALS_CHANNEL",
    "TTL_S",
    "PrincipalCache",
    "forget_here",
    "principals_changed",
]

TTL_S = 5.0
"""How long a resolved token is trusted without asking PostgreSQL again — and so the
longest a revoked token stays usable if its invalidation message is lost."""
CAPACITY = 10_000
"""Tokens remembered per process; beyond it, expired ones go, then all."""
PRINCIPALS_CHANNEL = "ic:principals"
"""Redis pub/sub channel: the id of an account whose tokens every API process must forget."""
STOP_TIMEOUT_S = 2.0

_here: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()
"""Every cache of this process (tests run several apps in one process)."""


class PrincipalCache:
    """One API process's remembered tokens; ``start`` follows ``PRINCIPALS_CHANNEL``."""

    def __init__(
        self, client: redis.Redis, *, ttl_s: float = TTL_S, capacity: int = CAPACITY
    ) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.capacity = capacity
        self.entries: dict[str, tuple[Principal, float]] = {}
        self.generation = 0
        """Counts invalidations; a lookup stores its answer only if this did not move."""
        self.messages = 0
        """Invalidation messages received from Redis (a fence for tests)."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        _here.add(self)

    def get(self, token: str) -> Principal | None:
        entry = self.entries.get(token)
        if entry is None:
            return None
        if entry[1] <= time.monotonic() or entry[0].expired(datetime.now(UTC)):
            self.entries.pop(token, None)
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, generation: int) -> None:
        """Remember ``principal``, read from PostgreSQL when ``generation`` was current."""
        if generation != self.generation:
            return
        now = time.monotonic()
        if len(self.entries) >= self.capacity:
            self.entries = {k: e for k, e in self.entries.items() if e[1] > now}
            if len(self.entries) >= self.capacity:
                self.entries.clear()
        self.entries[token] = (principal, now + self.ttl_s)

    def forget(self, subject_ids: Iterable[str]) -> None:
        """Drop every remembered token of these accounts."""
        subjects = set(subject_ids)
        self.generation += 1
        if subjects:
            self.entries = {
                k: e for k, e in self.entries.items() if e[0].subject_id not in subjects
            }

    def clear(self) -> None:
        self.generation += 1
        self.entries.clear()

    # ---- following Redis ----------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="principal-cache")

    async def stop(self) -> None:
        self._stopping = True
        _here.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)

    async def _run(self) -> None:
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(PRINCIPALS_CHANNEL)
                self.clear()  # messages may have been missed while not subscribed
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    self.forget(message["data"].decode().split(","))
                    self.messages += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: the TTL bounds what is missed
                log.warning("principal cache lost Redis (%s); reconnecting", exc)
                self.clear()
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def forget_here(subject_ids: Iterable[str]) -> None:
    """Forget these accounts' tokens in every cache of this process, now."""
    subjects = list(subject_ids)
    for cache in list(_here):
        cache.forget(subjects)


def invalidation_message(subject_ids: Iterable[str]) -> str:
    """What ``PRINCIPALS_CHANNEL`` carries: account ids, comma-separated."""
    return ",".join(subject_ids)


async def principals_changed(subject_ids: Iterable[str], client: redis.Redis | None = None) -> None:
    """After a committed change to these accounts' tokens or status: forget them in this
    process now, and tell every other API process (through ``client``, else the Redis
    client of this process's cache; a process without one caches nothing and has no API
    process to tell but through ``client``). Never raises: a lost message costs at most
    ``TTL_S``."""
    subjects = list(subject_ids)
    if not subjects:
        return
    forget_here(subjects)
    if client is None:
        client = next((cache.redis for cache in list(_here)), None)
        if client is None:
            return
    try:
        await client.publish(PRINCIPALS_CHANNEL, invalidation_message(subjects))
    except (redis.RedisError, OSError) as exc:
        log.warning("could not announce revoked tokens (%s); other processes wait %ss", exc, TTL_S)
