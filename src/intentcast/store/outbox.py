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

    async def claim_stale(
        self, unpublished_age_s: float, unprocessed_age_s: float, limit: int
    ) -> list[OutboxEvent]:
        """Lock (until commit, skipping rows another relay holds) up to ``limit`` unprocessed
        rows, oldest first, that were never published for ``unpublished_age_s`` seconds, or
        published but not processed for ``unprocessed_age_s``. Call inside a transaction."""
        rows = await self.conn.fetch(
            """SELECT id, event_type, aggregate_id, payload FROM outbox
                WHERE processed_at IS NULL
                  AND ((published_at IS NULL
                        AND created_at < now() - make_interval(secs => $1))
                       OR published_at < now() - make_interval(secs => $2))
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED""",
            unpublished_age_s,
            unprocessed_age_s,
            limit,
        )
        return [OutboxEvent(**dict(r)) for r in rows]

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
