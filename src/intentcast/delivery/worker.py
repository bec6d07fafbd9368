"""The delivery worker: attempts webhook deliveries, records each attempt, schedules retries.

Deliveries are rows in PostgreSQL (created with the event they carry). The ``ic:deliver``
stream makes workers attempt new ones at once; a poll of due rows every second covers
retries and anything the stream lost. Each attempt leases its row, so parallel workers
never send the same delivery at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

import asyncpg
import httpx
import redis.asyncio as redis

from intentcast.bus import DELIVER_STREAM, DELIVERY_GROUP
from intentcast.config import Settings
from intentcast.delivery.webhooks import NOT_ALLOWED, Outcome, Resolver, next_delay, send
from intentcast.logs import adopt_request_id, current_request_id, using_request_id
from intentcast.metrics import WEBHOOK_ATTEMPTS, observe_delivery_lag
from intentcast.security import Sealer
from intentcast.store.events import VendorEvents, encode_event
from intentcast.store.webhooks import Webhooks

log = logging.getLogger(__name__)

POLL_S = 1.0
BATCH = 50
CONCURRENCY = 32

RetryDelay = Callable[..., float | None]
"""Seconds before retry ``attempt`` (``retry_after=`` the receiver's hint), ``None`` to stop."""


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
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = client
        self.sealer = sealer
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.http = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.poll_s = poll_s
        self.retry_delay = retry_delay
        self.resolver = resolver  # None: the system resolver (tests inject answers)

    async def attempt(self, delivery_id: str, request_id: str | None = None) -> None:
        """One attempt at ``delivery_id``, logged under ``request_id`` (the request that
        caused the event: carried by the stream message, or recorded with the delivery for
        retries found by the poll)."""
        with using_request_id(request_id):
            await self._attempt(delivery_id)

    async def _attempt(self, delivery_id: str) -> None:
        async with self.slots, self.pool.acquire() as conn:
            store = Webhooks(conn)
            delivery = await store.claim(delivery_id)
            if delivery is None:  # delivered, leased by another worker, or not yet due
                return
            if current_request_id() is None and delivery.request_id:
                adopt_request_id(delivery.request_id)  # this task's context only
            endpoint = await store.endpoint_by_id(delivery.endpoint_id)
            event = await VendorEvents(conn).by_id(delivery.vendor_id, delivery.event_id)
            if endpoint is None or event is None or endpoint.status != "active":
                await store.record_attempt(
                    delivery_id,
                    outcome="failed",
                    status_code=None,
                    duration_ms=0.0,
                    error="endpoint or event no longer exists",
                    next_attempt_in_s=None,
                )
                WEBHOOK_ATTEMPTS.labels("failed").inc()
                log.info(
                    "webhook delivery %s dropped: endpoint or event no longer exists",
                    delivery_id,
                    extra={"delivery_id": delivery_id, "outcome": "failed"},
                )
                return
            secret = self.sealer.open(endpoint.secret_sealed, context=f"{endpoint.id}:secret")
            result = await send(
                self.http,
                url=endpoint.url,
                secret=secret,
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
            if result.outcome == Outcome.DELIVERED:
                observe_delivery_lag("webhook", event.created_at)
            retry_in = None
            if result.outcome == Outcome.RETRY:
                retry_in = self.retry_delay(delivery.attempts + 1, retry_after=result.retry_after)
            async with conn.transaction():
                await store.record_attempt(
                    delivery_id,
                    outcome=str(result.outcome),
                    status_code=result.status_code,
                    error=result.error,
                    duration_ms=result.duration_ms,
                    next_attempt_in_s=retry_in,
                )
                if result.outcome == Outcome.GONE:
                    await store.disable(endpoint.id, "the endpoint answered 410 Gone")

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
