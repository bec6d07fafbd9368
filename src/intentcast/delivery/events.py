"""Emitting vendor events: append to the vendor's log, queue webhook deliveries, and after
commit announce them live (pub/sub for SSE, a stream for delivery workers).

Every vendor-facing event goes through ``EventEmitter``; the log in PostgreSQL is the truth,
the Redis side only makes delivery immediate.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.bus import DELIVER_STREAM, STREAM_MAXLEN, vendor_channel
from intentcast.store.events import VendorEvent, VendorEvents
from intentcast.store.webhooks import Webhooks

log = logging.getLogger(__name__)


def encode_event(event: VendorEvent) -> bytes:
    """The wire form of an event: the same bytes on the feed, SSE and webhooks."""
    return msgspec.json.encode(event)


class EventEmitter:
    """Collects the events appended in one transaction; ``announce`` after commit."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.events: list[tuple[str, VendorEvent]] = []
        self.deliveries: list[str] = []

    async def emit(
        self, vendor_id: str, event_type: str, data: dict[str, Any], dedupe_key: str
    ) -> VendorEvent | None:
        event = await VendorEvents(self.conn).append(vendor_id, event_type, data, dedupe_key)
        if event is None:
            return None
        self.events.append((vendor_id, event))
        self.deliveries += await Webhooks(self.conn).enqueue(
            vendor_id, event_type, event.seq, event.id
        )
        return event

    async def emit_many(self, items: list[tuple[str, str, dict[str, Any], str]]) -> int:
        """``emit`` for several ``(vendor_id, type, data, dedupe_key)``, vendors sorted, in a
        handful of statements (the matcher's hot path); returns how many were appended."""
        appended = await VendorEvents(self.conn).append_many(items)
        if not appended:
            return 0
        self.events += appended
        rows = await self.conn.fetch(
            """INSERT INTO webhook_deliveries (id, endpoint_id, vendor_id, event_seq, event_id)
               SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), e.id,
                      t.vendor_id, t.seq, t.event_id
                 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
                      AS t(vendor_id, type, seq, event_id)
                 JOIN webhook_endpoints e ON e.vendor_id = t.vendor_id
                WHERE e.status = 'active' AND e.deleted_at IS NULL
                  AND (e.events IS NULL OR t.type = ANY(e.events))
               ON CONFLICT (endpoint_id, event_id) DO NOTHING
               RETURNING id""",
            [v for v, _ in appended],
            [e.type for _, e in appended],
            [e.seq for _, e in appended],
            [e.id for _, e in appended],
        )
        self.deliveries += [r["id"] for r in rows]
        return len(appended)

    async def announce(self, client: redis.Redis) -> None:
        """Best effort: SSE readers and delivery workers also catch up from PostgreSQL."""
        if not self.events and not self.deliveries:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for vendor_id, event in self.events:
                    pipe.publish(vendor_channel(vendor_id), encode_event(event))
                for delivery_id in self.deliveries:
                    pipe.xadd(
                        DELIVER_STREAM,
                        {"delivery_id": delivery_id},
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not announce %d events live: %s", len(self.events), exc)
