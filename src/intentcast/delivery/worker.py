"""The delivery worker: attempts webhook deliveries, records each attempt, schedules retries.

Deliveries are rows in PostgreSQL (created with the event they carry). The ``ic:deliver``
stream makes workers attempt new ones at once; a poll of due rows every second covers
retries and anything the stream lost. Each attempt leases its row, so parallel workers
never send the same delivery at the same time.

Per webhook, the database sees a share of two statements: the attempts started together
(one stream read, one poll) lease their rows and read their endpoints and events in one
statement, and the results that come in while the previous ones are being written are
written together in one statement (the attempt log and the delivery's new state, and the
endpoint's failure streak, which the scheduler reads to disable endpoints failing for days).
No database connection is held while a receiver answers.

During a secret rotation's grace period each delivery is signed with both secrets; a test
delivery carries its synthetic event and is signed and sent like any other.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Generic, TypeVar

import asyncpg
import httpx
import redis.asyncio as redis

from intentcast.bus import DELIVER_STREAM, DELIVERY_GROUP
from intentcast.config import Settings
from intentcast.delivery.webhooks import (
    NOT_ALLOWED,
    CachingResolver,
    Outcome,
    Resolver,
    next_delay,
    send,
)
from intentcast.domain.webhooks import GONE_REASON, signs_with_previous
from intentcast.logs import adopt_request_id, current_request_id, using_request_id
from intentcast.metrics import WEBHOOK_ATTEMPTS, observe_delivery_lag
from intentcast.security import Sealer
from intentcast.store.events import encode_event
from intentcast.store.webhooks import AttemptResultRow, ClaimedDelivery, Webhooks

log = logging.getLogger(__name__)

POLL_S = 1.0
BATCH = 50
CONCURRENCY = 32

RetryDelay = Callable[..., float | None]
"""Seconds before retry ``attempt`` (``retry_after=`` the receiver's hint), ``None`` to stop."""


T = TypeVar("T")
R = TypeVar("R")


class _Batches(Generic[T, R]):
    """Coalesces concurrent calls into one call of ``run`` on the list of their items.

    A call queues its item and waits for its result. One drain task at a time runs ``run``
    on everything queued: calls made in the same event-loop turn (the tasks spawned for one
    stream read) share a batch, and calls made while a batch is in flight form the next one
    (as group commit does). ``run`` returns one result per item, in order; its exception goes
    to every call of the batch."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._run = run
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drain_task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drain_task is None:
            # a context of its own: the batch belongs to no single request (log lines)
            self._drain_task = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                batch = []
        finally:
            self._drain_task = None
            for _, future in batch + self._queue:  # cancelled: nobody waits forever
                future.cancel()
            self._queue = []


def delivery_client(**options: Any) -> httpx.AsyncClient:
    """The worker's HTTP client: no redirects, no proxy from the environment, and no
    cookies — a receiver's ``Set-Cookie`` is never stored, so nothing one endpoint sets
    reaches another endpoint (requests go to the checked IP, so endpoints of different
    vendors can share a cookie domain)."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        **options,
    )


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        client: redis.Redis,
        sealer: Sealer,
        *,
        poll_s: float = POLL_S,
        retry_delay: RetryDelay = next_delay,
        resolver: Resolver | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = client
        self.sealer = sealer
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        # one client per worker: its connection pool keeps connections to receivers alive
        self.http = delivery_client()
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.poll_s = poll_s
        self.retry_delay = retry_delay
        # None: the system resolver, its answers reused for a few seconds (tests inject
        # answers); every answer is checked before each attempt either way
        self.resolver = resolver or CachingResolver()
        # now, for a rotated secret's grace period and the end of an attempt in the
        # endpoint's failure streak (tests move it by days)
        self.clock = clock or (lambda: datetime.now(UTC))
        # a batch of claims (the deliveries of one stream read) is one statement, and so is
        # a batch of attempt results (those finished while the previous batch was written)
        self._claims = _Batches(self._claim_batch)
        self._records = _Batches(self._record_batch)

    async def _claim_batch(self, delivery_ids: list[str]) -> list[ClaimedDelivery | None]:
        async with self.pool.acquire() as conn:
            claimed = {c.delivery.id: c for c in await Webhooks(conn).claim_many(delivery_ids)}
        # an id queued twice (announced and polled at once) is attempted once
        return [claimed.pop(delivery_id, None) for delivery_id in delivery_ids]

    async def _record_batch(self, results: list[AttemptResultRow]) -> list[None]:
        async with self.pool.acquire() as conn:
            store = Webhooks(conn)
            try:
                await store.record_attempts(results)
            except asyncpg.PostgresError:
                if len(results) == 1:
                    raise
                # one bad row (its delivery deleted meanwhile) must not cost the others
                # their result: each on its own, as if never batched
                for result in results:
                    try:
                        await store.record_attempts([result])
                    except asyncpg.PostgresError:
                        log.exception("recording the attempt of %s failed", result.delivery_id)
        return [None] * len(results)

    async def attempt(self, delivery_id: str, request_id: str | None = None) -> None:
        """One attempt at ``delivery_id``, logged under ``request_id`` (the request that
        caused the event: carried by the stream message, or recorded with the delivery for
        retries found by the poll)."""
        with using_request_id(request_id):
            await self._attempt(delivery_id)

    async def _attempt(self, delivery_id: str) -> None:
        # the slot is taken before the lease, so a lease never waits for a slot; no database
        # connection is held while the receiver answers
        async with self.slots:
            claimed = await self._claims(delivery_id)
            if claimed is None:  # delivered, leased by another worker, or not yet due
                return
            delivery, endpoint, event = claimed.delivery, claimed.endpoint, claimed.event
            if current_request_id() is None and delivery.request_id:
                adopt_request_id(delivery.request_id)  # this task's context only
            if endpoint is None or event is None or endpoint.status != "active":
                await self._records(
                    AttemptResultRow(
                        delivery_id, "failed", None, "endpoint or event no longer exists", 0.0, None
                    )
                )
                WEBHOOK_ATTEMPTS.labels("failed").inc()
                log.info(
                    "webhook delivery %s dropped: endpoint or event no longer exists",
                    delivery_id,
                    extra={"delivery_id": delivery_id, "outcome": "failed"},
                )
                return
            context = f"{endpoint.id}:secret"
            secret = self.sealer.open(endpoint.secret_sealed, context=context)
            previous = None  # a replaced secret signs until its grace period ends
            if signs_with_previous(endpoint.previous_secret_expires_at, self.clock()):
                previous = self.sealer.open_optional(
                    endpoint.previous_secret_sealed, context=context
                )
            result = await send(
                self.http,
                url=endpoint.url,
                secret=secret,
                previous_secret=previous,
                msg_id=event.id,
                payload=encode_event(event),
                allow_loopback=self.settings.webhook_allow_loopback,
                resolver=self.resolver,
            )
            # The vendor's log gets only result.error (generic); the operator gets the
            # reason. Never the URL (its path or query may hold the vendor's token).
            log.log(
                logging.WARNING if result.error == NOT_ALLOWED else logging.INFO,
                "webhook delivery %s of %s to endpoint %s (attempt %d): %s%s",
                delivery_id,
                event.id,
                endpoint.id,
                delivery.attempts + 1,
                result.outcome,
                f": {result.detail}" if result.detail else "",
                extra={
                    "delivery_id": delivery_id,
                    "event_id": event.id,
                    "endpoint_id": endpoint.id,
                    "vendor_id": delivery.vendor_id,
                    "attempt": delivery.attempts + 1,
                    "outcome": str(result.outcome),
                    "status_code": result.status_code,
                    "duration_ms": round(result.duration_ms, 1),
                },
            )
            WEBHOOK_ATTEMPTS.labels(str(result.outcome)).inc()
            if result.outcome == Outcome.DELIVERED and not delivery.test:
                # a test event was made on request, not by a change: no delivery lag
                observe_delivery_lag("webhook", event.created_at)
            retry_in = None
            if result.outcome == Outcome.RETRY:
                retry_in = self.retry_delay(delivery.attempts + 1, retry_after=result.retry_after)
            recorded = AttemptResultRow(
                delivery_id,
                str(result.outcome),
                result.status_code,
                result.error,
                result.duration_ms,
                retry_in,
                endpoint_id=endpoint.id,
                finished_at=self.clock(),
            )
            if result.outcome != Outcome.GONE:
                await self._records(recorded)
                return
            async with self.pool.acquire() as conn, conn.transaction():
                store = Webhooks(conn)
                await store.record_attempts([recorded])
                await store.disable(endpoint.id, GONE_REASON)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(DELIVER_STREAM, DELIVERY_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stopping: asyncio.Event) -> None:
        await self.ensure_group()
        tasks: set[asyncio.Task[None]] = set()

        def spawn(delivery_id: str, request_id: str | None = None) -> None:
            task = asyncio.create_task(self.attempt(delivery_id, request_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop = asyncio.get_running_loop()
        last_poll = 0.0
        try:
            while not stopping.is_set():
                try:
                    if loop.time() - last_poll >= self.poll_s:
                        last_poll = loop.time()
                        async with self.pool.acquire() as conn:
                            for delivery_id in await Webhooks(conn).due(BATCH):
                                spawn(delivery_id)
                    response = await self.redis.xreadgroup(
                        DELIVERY_GROUP, self.consumer, {DELIVER_STREAM: ">"}, count=BATCH, block=500
                    )
                    for _, entries in response or []:
                        for _, fields in entries:
                            request_id = fields.get(b"request_id")
                            spawn(
                                fields[b"delivery_id"].decode(),
                                request_id.decode() if request_id else None,
                            )
                        if entries:
                            # the row, not the message, is the durable record: ack at once
                            # (the whole read in one command)
                            await self.redis.xack(
                                DELIVER_STREAM, DELIVERY_GROUP, *(m for m, _ in entries)
                            )
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    log.warning("delivery worker lost Redis (%s); polling PostgreSQL", exc)
                    await asyncio.sleep(self.poll_s)
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    await self.ensure_group()
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await self.http.aclose()
