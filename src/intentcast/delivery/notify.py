"""Notifying both sides of a deal: vendor events (log, webhooks, SSE) and buyer events
(log, ``/v1/me/stream``), appended in the caller's transaction and announced after commit."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import redis.asyncio as redis

from intentcast.bus import buyer_channel
from intentcast.delivery.events import EventEmitter, encode_event
from intentcast.store.events import BuyerEvents, VendorEvent

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.vendors = EventEmitter(conn)
        self.buyer_log = BuyerEvents(conn)
        self.buyer_events: list[tuple[str, VendorEvent]] = []

    async def to_vendor(
        self, vendor_id: str, event_type: str, data: dict[str, Any], dedupe_key: str
    ) -> None:
        await self.vendors.emit(vendor_id, event_type, data, dedupe_key)

    async def to_buyer(
        self, buyer_id: str, event_type: str, data: dict[str, Any], dedupe_key: str
    ) -> None:
        event = await self.buyer_log.append(buyer_id, event_type, data, dedupe_key)
        if event is not None:
            self.buyer_events.append((buyer_id, event))

    async def announce(self, client: redis.Redis) -> None:
        await self.vendors.announce(client)
        if not self.buyer_events:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for buyer_id, event in self.buyer_events:
                    pipe.publish(buyer_channel(buyer_id), encode_event(event))
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not announce %d buyer events live: %s", len(self.buyer_events), exc)
