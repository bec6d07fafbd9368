"""The unit of work: one transaction and everything it must announce once committed.

A state change may have to append to a vendor's or buyer's event log, queue webhook
deliveries, write outbox rows for the matcher and hint the matchers that a subscription
changed. The appends and rows are written in the transaction (PostgreSQL is the truth);
``Work`` remembers them and, after commit, announces them in one Redis pipeline: live
pub/sub for SSE readers, the delivery stream, the outbox fast path and the subscription
hint. Announcing is best effort: SSE readers and delivery workers catch up from PostgreSQL,
and the outbox relay publishes any row the fast path missed.

The outbox fast path costs no statement after commit: its rows are written already marked
``published_at`` (``Outbox.add``, the publish statement in ``store/intents.py``). If the
pipeline fails, ``announce`` clears the mark and the relay publishes the rows within a
second; if the process dies between commit and announce, the relay publishes them once
they have gone unprocessed for ``redelivery_seconds``. At least once either way, and the
matcher is idempotent.

Services open it explicitly, so "committed before the answer" stays visible in the code::

    async with unit_of_work(conn, redis) as work:
        ...  # reads and writes on work.conn, work.tell_vendor(...), work.record(...)
    # committed and announced here
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import redis.asyncio as redis

from intentcast.bus import (
    DELIVER_STREAM,
    STREAM_CLOSE,
    STREAM_MAXLEN,
    SUBS_STREAM,
    WORK_STREAM,
    buyer_channel,
    vendor_channel,
)
from intentcast.bus.outbox_relay import outbox_fields
from intentcast.domain.events import BuyerEventType, OutboxEventType, VendorEventType
from intentcast.logs import current_request_id
from intentcast.metrics import INTENTS_PUBLISHED
from intentcast.services.token_cache import (
    PRINCIPALS_CHANNEL,
    forget_here,
    invalidation_message,
)
from intentcast.store.events import BuyerEvents, LogEvent, VendorEvents, encode_event
from intentcast.store.outbox import Outbox, OutboxEvent
from intentcast.store.webhooks import Webhooks

log = logging.getLogger(__name__)

__all__ = ["Work", "unit_of_work"]


class Work:
    """Writes on ``conn`` inside the transaction; ``announce`` after commit."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.outbox: list[OutboxEvent] = []
        self.vendor_events: list[tuple[str, LogEvent]] = []
        self.buyer_events: list[tuple[str, LogEvent]] = []
        self.deliveries: list[str] = []
        self.delivery_request_ids: dict[str, str] = {}
        """Deliveries caused by another request than the current one (a matcher batch)."""
        self.subscription_hints: list[tuple[str, int]] = []
        self.closed_vendor_streams: list[str] = []
        self.changed_principals: list[str] = []

    # ---- in the transaction ----------------------------------------------------------------

    async def record(
        self, event: OutboxEventType, aggregate_id: str, payload: dict[str, Any]
    ) -> OutboxEvent:
        """An outbox row for the matcher, published right after commit (written marked
        published; see the module docstring). It carries the current request id, so the
        matcher's log lines about it name the same request."""
        row = await Outbox(self.conn).add(event, aggregate_id, payload, current_request_id())
        self.outbox.append(row)
        return row

    def recorded(self, row: OutboxEvent) -> None:
        """An outbox row the caller wrote, marked published, in its own statement (a
        publish writes the intent and its event in one); published after commit like
        ``record``'s."""
        self.outbox.append(row)

    async def record_many(self, events: list[tuple[OutboxEventType, str, dict[str, Any]]]) -> None:
        """Many outbox rows in one statement (a scheduler batch). They are not published
        after commit: the outbox relay picks them up within a second."""
        if events:
            await Outbox(self.conn).add_many(events)  # type: ignore[arg-type]

    async def tell_vendor(
        self, vendor_id: str, event: VendorEventType, data: dict[str, Any], key: str
    ) -> LogEvent | None:
        """Append to the vendor's log and queue its webhooks; None if ``key`` was seen."""
        appended = await VendorEvents(self.conn).append(vendor_id, event, data, key)
        if appended is None:
            return None
        self.vendor_events.append((vendor_id, appended))
        self.deliveries += await Webhooks(self.conn).enqueue(
            vendor_id, event, appended.seq, appended.id, current_request_id()
        )
        return appended

    async def tell_vendors(
        self,
        items: list[tuple[str, VendorEventType, dict[str, Any], str]],
        request_ids: list[str | None] | None = None,
    ) -> int:
        """``tell_vendor`` for many ``(vendor_id, event, data, key)`` in a handful of
        statements (the matcher's hot path); returns how many were appended. A matcher
        batch passes the request that caused each item (``request_ids``, aligned with
        ``items``); otherwise it is the current one."""
        appended = await VendorEvents(self.conn).append_indexed(items)
        if not appended:
            return 0
        self.vendor_events += [(vendor_id, event) for _, vendor_id, event in appended]
        current = current_request_id()
        queued = await Webhooks(self.conn).enqueue_events(
            [
                (vendor_id, event, current if request_ids is None else request_ids[i])
                for i, vendor_id, event in appended
            ]
        )
        for delivery_id, request_id in queued:
            self.deliveries.append(delivery_id)
            if request_id is not None and request_id != current:
                self.delivery_request_ids[delivery_id] = request_id
        return len(appended)

    async def tell_buyer(
        self, buyer_id: str, event: BuyerEventType, data: dict[str, Any], key: str
    ) -> LogEvent | None:
        appended = await BuyerEvents(self.conn).append(buyer_id, event, data, key)
        if appended is not None:
            self.buyer_events.append((buyer_id, appended))
        return appended

    def hint_subscription(self, subscription_id: str, version: int) -> None:
        """Wake every matcher's index (a missed hint is caught by their version check)."""
        self.subscription_hints.append((subscription_id, version))

    def close_vendor_streams(self, vendor_id: str) -> None:
        """Tell every API process to end the vendor's live SSE connections (suspended)."""
        self.closed_vendor_streams.append(vendor_id)

    def principals_changed(self, subject_id: str) -> None:
        """The account's tokens were revoked or its status changed: every API process forgets
        its cached tokens (``services/token_cache.py``)."""
        self.changed_principals.append(subject_id)

    def redeliver(self, delivery_ids: list[str]) -> None:
        """Deliveries queued outside ``tell_vendor`` (a replay) to hand to the workers."""
        self.deliveries += delivery_ids

    # ---- after commit ----------------------------------------------------------------------

    async def announce(self, client: redis.Redis) -> None:
        """One pipeline for everything. The outbox rows were written marked published;
        if the pipeline fails, the mark is cleared so the relay publishes them soon."""
        INTENTS_PUBLISHED.inc(
            sum(1 for row in self.outbox if row.event_type == OutboxEventType.INTENT_PUBLISHED)
        )
        request_id = current_request_id()
        request_fields = {"request_id": request_id} if request_id else {}
        if self.changed_principals:
            forget_here(self.changed_principals)  # this process: before the answer
        if not (
            self.outbox
            or self.vendor_events
            or self.buyer_events
            or self.deliveries
            or self.subscription_hints
            or self.closed_vendor_streams
            or self.changed_principals
        ):
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for subscription_id, version in self.subscription_hints:
                    pipe.xadd(
                        SUBS_STREAM,
                        {"id": subscription_id, "version": str(version)},
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                for row in self.outbox:
                    pipe.xadd(
                        WORK_STREAM, outbox_fields(row), maxlen=STREAM_MAXLEN, approximate=True
                    )
                for vendor_id, event in self.vendor_events:
                    pipe.publish(vendor_channel(vendor_id), encode_event(event))
                for buyer_id, event in self.buyer_events:
                    pipe.publish(buyer_channel(buyer_id), encode_event(event))
                for vendor_id in self.closed_vendor_streams:
                    pipe.publish(vendor_channel(vendor_id), STREAM_CLOSE)
                if self.changed_principals:
                    pipe.publish(PRINCIPALS_CHANNEL, invalidation_message(self.changed_principals))
                for delivery_id in self.deliveries:
                    caused_by = self.delivery_request_ids.get(delivery_id)
                    pipe.xadd(
                        DELIVER_STREAM,
                        {"delivery_id": delivery_id, "request_id": caused_by}
                        if caused_by
                        else {"delivery_id": delivery_id, **request_fields},
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not announce after commit (%s); consumers will catch up", exc)
            await self._unpublish()

    async def _unpublish(self) -> None:
        """The outbox rows' announce failed: clear their ``published_at`` so the relay
        publishes them within a second, not after ``redelivery_seconds``. On the caller's
        own connection, outside the transaction: taking a second pool connection while
        holding one would deadlock the pool under load. If this fails too, the relay still
        publishes them, later."""
        if not self.outbox:
            return
        try:
            await Outbox(self.conn).unpublish([row.id for row in self.outbox])
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning(
                "could not mark outbox rows unpublished (%s); the relay republishes them "
                "after the redelivery delay",
                exc,
            )


@asynccontextmanager
async def unit_of_work(conn: asyncpg.Connection, client: redis.Redis) -> AsyncIterator[Work]:
    """Open a transaction on ``conn``; after it commits, announce what it produced."""
    work = Work(conn)
    async with conn.transaction():
        yield work
    await work.announce(client)
