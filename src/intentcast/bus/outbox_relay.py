"""The outbox relay: committed domain events go from PostgreSQL to the Redis work stream.

The unit of work (``services.work``) publishes its own rows right after commit (the
fast path); it writes them already marked ``published_at`` and clears the mark only if
its Redis pipeline fails. The matcher marks each row ``processed_at`` once handled. The
scheduler runs ``relay_pending`` every second: rows not marked published (the fast path
failed, or nobody announces them: ``Outbox.add_many``) after ``unpublished_age_s``, and
rows marked published but not processed after ``unprocessed_age_s`` (Redis lost them or
was wiped, or the process died between commit and announce) are published again. Rows are
claimed with SKIP LOCKED and marked published only after XADD succeeded; consumers are
idempotent, so at-least-once delivery never turns into a duplicate effect.
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


def outbox_fields(event: OutboxEvent) -> dict[str, str | bytes]:
    """An outbox row as a work-stream message (with when it was recorded, for the match
    latency, and the request that recorded it, for the matcher's log lines)."""
    fields: dict[str, str | bytes] = {
        "outbox_id": str(event.id),
        "type": event.event_type,
        "aggregate_id": event.aggregate_id,
        "payload": msgspec.json.encode(event.payload),
    }
    if event.created_at is not None:
        fields["created_at"] = event.created_at.isoformat()
    if event.request_id is not None:
        fields["request_id"] = event.request_id
    return fields


async def _xadd(client: redis.Redis, events: list[OutboxEvent]) -> None:
    if len(events) == 1:  # the common case; a pipeline costs more than it saves here
        await client.xadd(
            WORK_STREAM, outbox_fields(events[0]), maxlen=STREAM_MAXLEN, approximate=True
        )
        return
    async with client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(WORK_STREAM, outbox_fields(event), maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()


async def _publish(outbox: Outbox, client: redis.Redis, events: list[OutboxEvent]) -> int:
    if not events:
        return 0
    await _xadd(client, events)
    await outbox.mark_published([e.id for e in events])
    return len(events)


async def relay_pending(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    unpublished_age_s: float = 1.0,
    unprocessed_age_s: float = 30.0,
) -> int:
    """Publish rows never published, or published but unprocessed for too long."""
    outbox = Outbox(conn)
    total = 0
    while True:
        async with conn.transaction():
            events = await outbox.claim_stale(unpublished_age_s, unprocessed_age_s, RELAY_BATCH)
            total += await _publish(outbox, client, events)
        if len(events) < RELAY_BATCH:
            return total
