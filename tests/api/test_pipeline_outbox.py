"""The outbox fast path without a second statement: a row the unit of work announces is
written marked published; if the announce fails the mark is cleared and the relay publishes
the row within a second (not after the redelivery delay). And the one-statement log append
keeps each owner's numbering gap-free and in the order given."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from intentcast.bus import WORK_STREAM
from intentcast.store.db import create_pool
from intentcast.store.events import VendorEvents
from tests.helpers import create_vendor, feed, publish, settled, subscribe


def _announces_work(pipe: Pipeline) -> bool:
    return any(args[:2] == ("XADD", WORK_STREAM) for args, _ in pipe.command_stack if len(args) > 1)


async def test_a_publish_is_marked_published_in_its_own_transaction(client, buyer, db) -> None:
    intent = await publish(client, buyer)
    row = await db.fetchrow(
        "SELECT created_at, published_at FROM outbox WHERE aggregate_id = $1", intent["id"]
    )
    assert row["published_at"] == row["created_at"]  # the same transaction's now()


async def test_a_failed_announce_leaves_the_row_to_the_relay_at_once(
    client, buyer, db, make_pipeline, monkeypatch
) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    execute = Pipeline.execute
    failed: list[int] = []

    async def redis_down_for_the_work_stream(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        if _announces_work(self):
            failed.append(1)
            raise redis.ConnectionError("Redis is down")
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", redis_down_for_the_work_stream)
    intent = await publish(client, buyer)  # still 201: the intent is committed
    monkeypatch.setattr(Pipeline, "execute", execute)
    assert failed == [1]
    assert (
        await db.fetchval("SELECT published_at FROM outbox WHERE aggregate_id = $1", intent["id"])
        is None
    )
    # the relay (every second, rows unpublished for 1 s) sends it long before the 30 s
    # redelivery delay that a row marked published would wait for
    await make_pipeline(roles=["matcher", "scheduler"])
    events = await feed(client, vendor, at_least=1, within=10)
    assert [e["data"]["intent"]["id"] for e in events] == [intent["id"]]
    await settled(db)
    row = await db.fetchrow(
        "SELECT published_at, processed_at FROM outbox WHERE aggregate_id = $1", intent["id"]
    )
    assert row["published_at"] is not None and row["processed_at"] is not None


async def test_one_statement_appends_number_each_owner_in_order(client, db, settings) -> None:
    first = await create_vendor(client, db)
    second = await create_vendor(client, db)
    pool = await create_pool(settings.database_url, max_size=1)  # with the JSON codecs
    try:
        async with pool.acquire() as conn:
            await _append_in_order(conn, first.id, second.id)
    finally:
        await pool.close()
    stored = await db.fetch(
        "SELECT vendor_id, seq FROM vendor_events WHERE vendor_id = ANY($1) ORDER BY 1, 2",
        [first.id, second.id],
    )
    by_owner = {v: [r["seq"] for r in stored if r["vendor_id"] == v] for v in (first.id, second.id)}
    assert by_owner == {first.id: [1, 2, 3, 4], second.id: [1, 2]}


async def _append_in_order(db: Any, first: str, second: str) -> None:
    log = VendorEvents(db)
    async with db.transaction():
        assert await log.append(first, "test.event", {"n": 0}, "k0") is not None
    items = [
        (second, "test.event", {"n": 1}, "k1"),
        (first, "test.event", {"n": 2}, "k2"),
        (first, "test.event", {"n": 3}, "k0"),  # already in the log
        (second, "test.event", {"n": 4}, "k4"),
        (first, "test.event", {"n": 5}, "k5"),
        (second, "test.event", {"n": 6}, "k1"),  # repeated in the call
    ]
    async with db.transaction():
        appended = await log.append_indexed(items)
    assert [(i, owner, e.seq, e.data["n"]) for i, owner, e in appended] == [
        (0, second, 1, 1),
        (1, first, 2, 2),
        (3, second, 2, 4),
        (4, first, 3, 5),
    ]
    async with db.transaction():
        assert await log.append(first, "test.event", {"n": 7}, "k5") is None
        assert await log.append_indexed(items) == []
        again = await log.append(first, "test.event", {"n": 8}, "k8")
    assert again is not None and again.seq == 4
