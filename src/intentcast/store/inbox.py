"""The buyer's event log (``buyer_events``): offers and messages for ``/v1/me/stream``.

Same discipline as the vendor log: ``seq`` is gap-free per buyer (taken from the buyer's
counter row in the appending transaction) and ``dedupe_key`` makes appends idempotent.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from intentcast.security import new_id
from intentcast.store.events import VendorEvent

BuyerEvent = VendorEvent  # the same shape: {id, seq, type, created_at, data}


class BuyerEvents:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def append(
        self, buyer_id: str, event_type: str, data: dict[str, Any], dedupe_key: str
    ) -> BuyerEvent | None:
        """Append inside a transaction; None if an event with this key is already there."""
        exists = await self.conn.fetchval(
            "SELECT 1 FROM buyer_events WHERE buyer_id = $1 AND dedupe_key = $2",
            buyer_id,
            dedupe_key,
        )
        if exists:
            return None
        seq = await self.conn.fetchval(
            """INSERT INTO buyer_sequences (buyer_id, last_seq) VALUES ($1, 1)
               ON CONFLICT (buyer_id) DO UPDATE SET last_seq = buyer_sequences.last_seq + 1
               RETURNING last_seq""",
            buyer_id,
        )
        row = await self.conn.fetchrow(
            """INSERT INTO buyer_events (buyer_id, seq, id, type, data, dedupe_key)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, seq, type, created_at, data""",
            buyer_id,
            seq,
            new_id("evt"),
            event_type,
            data,
            dedupe_key,
        )
        return BuyerEvent(**dict(row))

    async def after(self, buyer_id: str, after_seq: int, limit: int) -> list[BuyerEvent]:
        rows = await self.conn.fetch(
            """SELECT id, seq, type, created_at, data FROM buyer_events
                WHERE buyer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
            buyer_id,
            after_seq,
            limit,
        )
        return [BuyerEvent(**dict(r)) for r in rows]
