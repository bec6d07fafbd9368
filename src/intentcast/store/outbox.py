"""Repository for the transactional outbox: domain events recorded with their change."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec


class OutboxEvent(msgspec.Struct, frozen=True):
    id: int
    event_type: str
    aggregate_id: str
    payload: dict[str, Any]


class Outbox:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, event_type: str, aggregate_id: str, payload: dict[str, Any]) -> OutboxEvent:
        """Record an event; call inside the transaction that makes the change."""
        outbox_id = await self.conn.fetchval(
            """INSERT INTO outbox (event_type, aggregate_id, payload) VALUES ($1, $2, $3)
               RETURNING id""",
            event_type,
            aggregate_id,
            payload,
        )
        return OutboxEvent(
            id=outbox_id, event_type=event_type, aggregate_id=aggregate_id, payload=payload
        )

    async def mark_published(self, outbox_ids: list[int]) -> None:
        await self.conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", outbox_ids
        )

    async def add_many(self, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        await self.conn.executemany(
            "INSERT INTO outbox (event_type, aggregate_id, payload) VALUES ($1, $2, $3)", events
        )

    async def mark_processed(self, outbox_id: int) -> None:
        await self.conn.execute(
            "UPDATE outbox SET processed_at = now() WHERE id = $1 AND processed_at IS NULL",
            outbox_id,
        )
