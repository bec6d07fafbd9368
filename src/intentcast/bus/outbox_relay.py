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
from intentcast.store.outbox import Outbox, OutboxEvent

log = logging.getLogger(__name__)

RELAY_BATCH = 500


def _fields(event: OutboxEvent) -> dict[str, str | bytes]:
    return {
        "outbox_id": str(event.id),
        "type": event.event_type,
        "aggregate_id": event.aggregate_id,
        "payload": msgspec.json.encode(event.payload),
    }


async def _xadd(client: redis.Redis, events: list[OutboxEvent]) -> None:
    if len(events) == 1:  # the common case; a pipeline costs more than it saves here
        await client.xadd(WORK_STREAM, _fields(events[0]), maxlen=STREAM_MAXLEN, approximate=True)
        return
    async with client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(WORK_STREAM, _fields(event), maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()


async def _publish(
    conn: asyncpg.Connection, client: redis.Redis, rows: list[asyncpg.Record]
) -> int:
    if not rows:
        return 0
    await _xadd(client, [OutboxEvent(**dict(r)) for r in rows])
    await Outbox(conn).mark_published([r["id"] for r in rows])
    return len(rows)


async def publish_now(
    conn: asyncpg.Connection, client: redis.Redis, events: list[OutboxEvent]
) -> None:
    """Fast path right after commit: XADD the events just written, then mark them published
    (one statement, no transaction). Runs on the caller's own connection: taking a second
    pool connection while holding one would deadlock the pool under load. On any failure
    the relay publishes the rows later; a rare double publish is harmless (idempotent
    consumers)."""
    try:
        await _xadd(client, events)
        await Outbox(conn).mark_published([e.id for e in events])
    except (redis.RedisError, OSError, asyncpg.PostgresError) as exc:
        log.warning("outbox fast path failed (%s); the relay will publish", exc)


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
