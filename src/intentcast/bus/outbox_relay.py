"""The outbox relay: committed domain events go from PostgreSQL to the Redis work stream.

The API publishes its own rows right after commit (the fast path). The matcher marks each
row ``processed_at`` once handled. The scheduler runs ``relay_pending`` every second: rows
never published (the fast path failed) and rows published but not processed for a while
(Redis lost them, or was wiped) are published again. Rows are claimed with SKIP LOCKED and
marked published only after XADD succeeded; consumers are idempotent, so at-least-once
delivery never turns into a duplicate effect.
"""

from __future__ import annotations

import logging

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.bus import STREAM_MAXLEN, WORK_STREAM

log = logging.getLogger(__name__)

RELAY_BATCH = 500


async def _publish(
    conn: asyncpg.Connection, client: redis.Redis, rows: list[asyncpg.Record]
) -> int:
    if not rows:
        return 0
    async with client.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.xadd(
                WORK_STREAM,
                {
                    "outbox_id": str(row["id"]),
                    "type": row["event_type"],
                    "aggregate_id": row["aggregate_id"],
                    "payload": msgspec.json.encode(row["payload"]),
                },
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
        await pipe.execute()
    await conn.execute(
        "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
        [r["id"] for r in rows],
    )
    return len(rows)


async def publish_now(
    db: asyncpg.Pool | asyncpg.Connection, client: redis.Redis, outbox_ids: list[int]
) -> None:
    """Fast path after commit; on any failure the relay publishes the rows later.

    ``db`` is a pool, or — better, in a request handler that already holds one — the
    request's own connection (outside any transaction): taking a second connection from the
    pool while holding the first deadlocks the pool once every connection is held by a
    request waiting for another."""
    try:
        if isinstance(db, asyncpg.Pool):
            async with db.acquire() as conn:
                await _publish_ids(conn, client, outbox_ids)
        else:
            await _publish_ids(db, client, outbox_ids)
    except (redis.RedisError, OSError, asyncpg.PostgresError) as exc:
        log.warning("outbox fast path failed (%s); the relay will publish", exc)


async def _publish_ids(
    conn: asyncpg.Connection, client: redis.Redis, outbox_ids: list[int]
) -> None:
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT id, event_type, aggregate_id, payload FROM outbox
                WHERE id = ANY($1::bigint[]) AND published_at IS NULL
                  AND processed_at IS NULL
                ORDER BY id FOR UPDATE SKIP LOCKED""",
            outbox_ids,
        )
        await _publish(conn, client, rows)


async def relay_pending(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    unpublished_age_s: float = 1.0,
    unprocessed_age_s: float = 30.0,
) -> int:
    """Publish rows never published, or published but unprocessed for too long."""
    total = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                """SELECT id, event_type, aggregate_id, payload FROM outbox
                    WHERE processed_at IS NULL
                      AND ((published_at IS NULL
                            AND created_at < now() - make_interval(secs => $1))
                           OR published_at < now() - make_interval(secs => $2))
                    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED""",
                unpublished_age_s,
                unprocessed_age_s,
                RELAY_BATCH,
            )
            total += await _publish(conn, client, rows)
        if len(rows) < RELAY_BATCH:
            return total
