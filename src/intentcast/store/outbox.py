"""Repository for the transactional outbox: domain events recorded with their change.

A row the unit of work announces right after commit is written with ``published_at`` set
(optimistically: no second statement after the Redis pipeline); if the announce fails,
``unpublish`` clears it so the relay sends the row within a second. A row written without
it (``add_many``: a scheduler batch) is the relay's to publish. Either way, a row not
processed ``redelivery_seconds`` after ``published_at`` is published again (``claim_stale``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec


class OutboxEvent(msgspec.Struct, frozen=True):
    id: int
    event_type: str
    aggregate_id: str
    payload: dict[str, Any]
    created_at: datetime | None = None
    request_id: str | None = None
    """The API request that recorded the event (for log correlation), if any."""


class Outbox:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(
        self,
        event_type: str,
        aggregate_id: str,
        payload: dict[str, Any],
        request_id: str | None = None,
    ) -> OutboxEvent:
        """Record an event; call inside the transaction that makes the change. The row is
        marked published (the caller announces it after commit, or calls ``unpublish``)."""
        row = await self.conn.fetchrow(
            """INSERT INTO outbox (event_type, aggregate_id, payload, request_id, published_at)
               VALUES ($1, $2, $3, $4, now()) RETURNING id, created_at""",
            event_type,
            aggregate_id,
            payload,
            request_id,
        )
        return OutboxEvent(
            id=row["id"],
            event_type=event_type,
            aggregate_id=aggregate_id,
            payload=payload,
            created_at=row["created_at"],
            request_id=request_id,
        )

    async def claim_stale(
        self, unpublished_age_s: float, unprocessed_age_s: float, limit: int
    ) -> list[OutboxEvent]:
        """Lock (until commit, skipping rows another relay holds) up to ``limit`` unprocessed
        rows, oldest first, that were never published for ``unpublished_age_s`` seconds, or
        published but not processed for ``unprocessed_age_s``. Call inside a transaction."""
        rows = await self.conn.fetch(
            """SELECT id, event_type, aggregate_id, payload, created_at, request_id FROM outbox
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

    async def unpublish(self, outbox_ids: list[int]) -> None:
        """The announce of these rows failed: the relay publishes them again within its
        ``unpublished_age_s`` (unless a matcher processed them meanwhile)."""
        await self.conn.execute(
            """UPDATE outbox SET published_at = NULL
                WHERE id = ANY($1::bigint[]) AND processed_at IS NULL""",
            outbox_ids,
        )

    async def add_many(self, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Rows nobody announces after commit (``published_at`` left NULL): the relay
        publishes them within its ``unpublished_age_s``."""
        await self.conn.executemany(
            "INSERT INTO outbox (event_type, aggregate_id, payload) VALUES ($1, $2, $3)", events
        )

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many rows are unprocessed, and when the oldest of them was recorded."""
        row = await self.conn.fetchrow(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE processed_at IS NULL"
        )
        return row["n"], row["oldest"]

    async def mark_processed(self, outbox_id: int) -> None:
        await self.conn.execute(
            "UPDATE outbox SET processed_at = now() WHERE id = $1 AND processed_at IS NULL",
            outbox_id,
        )

    async def claim_unprocessed(self, outbox_ids: list[int]) -> set[int]:
        """Mark these rows processed, in the caller's transaction, and return those that
        were not yet: the others' effects are committed (a message the relay published
        again). The rows stay locked until commit, so a second matcher holding another
        copy of a message waits, then finds it processed."""
        rows = await self.conn.fetch(
            """UPDATE outbox SET processed_at = now()
                WHERE id = ANY($1::bigint[]) AND processed_at IS NULL RETURNING id""",
            outbox_ids,
        )
        return {r["id"] for r in rows}
