"""The delivery worker claims the deliveries of one stream read in one statement (with their
endpoints and events) and records a batch of attempt results in one statement, without
sending anything twice or losing a result: real worker, real PostgreSQL, real receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from intentcast.delivery.worker import DeliveryWorker
from intentcast.security import Keys
from intentcast.store import webhooks as webhook_store
from intentcast.store.db import create_pool
from intentcast.store.webhooks import AttemptResultRow
from tests.helpers import create_vendor, feed, publish, subscribe, suspend_vendor
from tests.webhook_receiver import WebhookReceiver


async def register(client, vendor, url):
    response = await client.post("/v1/vendor/webhooks", json={"url": url}, headers=vendor.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def pending_deliveries(client, db, buyer, vendor, url, count):
    """``count`` pending deliveries to a new endpoint at ``url`` (no delivery worker runs)."""
    hook = await register(client, vendor, url)
    for _ in range(count):
        await publish(client, buyer)
    await feed(client, vendor, at_least=count)
    ids = [
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY event_seq",
            hook["id"],
        )
    ]
    assert len(ids) == count
    return hook, ids


class Worker:
    """A real delivery worker, its store calls counted."""

    def __init__(self, settings, monkeypatch) -> None:
        self.settings = settings
        self.claims: list[list[str]] = []
        self.records: list[list[str]] = []
        claim_many = webhook_store.Webhooks.claim_many
        record_attempts = webhook_store.Webhooks.record_attempts

        async def counted_claim(store, delivery_ids):
            self.claims.append(list(delivery_ids))
            return await claim_many(store, delivery_ids)

        async def counted_record(store, results):
            self.records.append([r.delivery_id for r in results])
            return await record_attempts(store, results)

        monkeypatch.setattr(webhook_store.Webhooks, "claim_many", counted_claim)
        monkeypatch.setattr(webhook_store.Webhooks, "record_attempts", counted_record)

    async def __aenter__(self) -> DeliveryWorker:
        self.pool = await create_pool(self.settings.database_url, max_size=4)
        self.redis = redis.from_url(self.settings.redis_url)
        self.worker = DeliveryWorker(
            self.settings, self.pool, self.redis, Keys.from_settings(self.settings).sealer
        )
        return self.worker

    async def __aexit__(self, *exc_info: object) -> None:
        await self.worker.http.aclose()
        await self.pool.close()
        await self.redis.aclose()


async def attempts_of(db, delivery_ids):
    return await db.fetch(
        """SELECT d.id, d.status, d.attempts, d.locked_until, d.last_status_code,
                  (SELECT count(*) FROM webhook_attempts a WHERE a.delivery_id = d.id) AS logged
             FROM webhook_deliveries d WHERE d.id = ANY($1) ORDER BY d.event_seq""",
        delivery_ids,
    )


async def test_one_read_is_one_claim_and_each_delivery_is_sent_once(
    client, buyer, db, settings, make_pipeline, monkeypatch
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])  # no delivery worker: the one below
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        hook, ids = await pending_deliveries(client, db, buyer, vendor, receiver.url, 3)
        counted = Worker(settings, monkeypatch)
        async with counted as worker:
            # as the run loop spawns them for one stream read; the first id also comes
            # from the poll at the same moment
            await asyncio.gather(*(worker.attempt(i, "req-batch") for i in [*ids, ids[0]]))
        requests = await receiver.wait_for(3, timeout=5)
        await asyncio.sleep(0.2)
        assert len(receiver.requests) == 3  # nothing twice
    assert counted.claims == [[*ids, ids[0]]]  # one statement for the whole read
    assert sorted(i for batch in counted.records for i in batch) == sorted(ids)
    assert len(counted.records) <= 3
    assert sorted(r.headers["webhook-id"] for r in requests) == sorted(
        await db.fetchval(
            "SELECT array_agg(event_id) FROM webhook_deliveries WHERE endpoint_id = $1",
            hook["id"],
        )
    )
    rows = await attempts_of(db, ids)
    assert [(r["status"], r["attempts"], r["logged"]) for r in rows] == [("delivered", 1, 1)] * 3
    assert all(r["locked_until"] is None and r["last_status_code"] == 204 for r in rows)


async def test_a_leased_or_suspended_delivery_is_not_claimed(
    client, buyer, db, settings, make_pipeline, monkeypatch
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        _, ids = await pending_deliveries(client, db, buyer, vendor, receiver.url, 2)
        await db.execute(
            "UPDATE webhook_deliveries SET locked_until = now() + interval '1 minute' "
            "WHERE id = $1",
            ids[0],
        )
        async with Worker(settings, monkeypatch) as worker:
            await worker.attempt(ids[0])  # leased by another worker
            await suspend_vendor(db, vendor.id)
            await worker.attempt(ids[1])  # the vendor is suspended: it waits
        await asyncio.sleep(0.2)
        assert receiver.requests == []
    rows = await attempts_of(db, ids)
    assert [(r["status"], r["attempts"], r["logged"]) for r in rows] == [("pending", 0, 0)] * 2


async def test_a_disabled_endpoint_fails_its_delivery_without_sending(
    client, buyer, db, settings, make_pipeline, monkeypatch
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        hook, ids = await pending_deliveries(client, db, buyer, vendor, receiver.url, 1)
        # the endpoint alone (its pending deliveries left as they are): the claim reads it
        await db.execute(
            "UPDATE webhook_endpoints SET status = 'disabled' WHERE id = $1", hook["id"]
        )
        async with Worker(settings, monkeypatch) as worker:
            await worker.attempt(ids[0])
        assert receiver.requests == []
    (row,) = await db.fetch(
        "SELECT status, attempts, last_error FROM webhook_deliveries WHERE id = $1", ids[0]
    )
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "endpoint or event no longer exists"


async def test_a_result_that_cannot_be_recorded_does_not_cost_the_batch(
    client, buyer, db, settings, make_pipeline, monkeypatch, caplog
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    _, ids = await pending_deliveries(client, db, buyer, vendor, "https://hooks.example.com/a", 2)
    counted = Worker(settings, monkeypatch)
    async with counted as worker:
        results = [
            AttemptResultRow(ids[0], "delivered", 200, None, 3.0, None),
            AttemptResultRow("dlv_deleted_meanwhile", "retry", 500, "HTTP 500", 2.0, 5.0),
            AttemptResultRow(ids[1], "retry", 503, "HTTP 503", 1.0, 30.0),
        ]
        await worker._record_batch(results)
    # the batch failed on the missing delivery (foreign key), then each went on its own
    assert counted.records[0] == [r.delivery_id for r in results]
    assert counted.records[1:] == [[r.delivery_id] for r in results]
    assert "dlv_deleted_meanwhile" in caplog.text
    rows = {
        r["id"]: r
        for r in await db.fetch(
            """SELECT id, status, attempts, last_status_code, last_error,
                      next_attempt_at - now() AS wait FROM webhook_deliveries
                WHERE id = ANY($1)""",
            ids,
        )
    }
    assert (rows[ids[0]]["status"], rows[ids[0]]["attempts"]) == ("delivered", 1)
    assert (rows[ids[1]]["status"], rows[ids[1]]["last_error"]) == ("pending", "HTTP 503")
    assert 25 < rows[ids[1]]["wait"].total_seconds() <= 30
    assert await db.fetchval("SELECT count(*) FROM webhook_attempts") == 2


async def test_each_batch_moves_the_endpoints_failure_streak_on(
    client, buyer, db, settings, make_pipeline, monkeypatch
) -> None:
    """The attempt results of a batch move each endpoint's failure streak in the same
    statement: failures start or extend it, a success in the batch ends it, and a result
    that reached no endpoint leaves it alone."""
    await make_pipeline(roles=["matcher", "scheduler"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    hook, ids = await pending_deliveries(
        client, db, buyer, vendor, "https://hooks.example.com/a", 4
    )
    endpoint = hook["id"]
    t0 = datetime(2026, 11, 1, tzinfo=UTC)

    async def streak():
        row = await db.fetchrow(
            "SELECT failing_since, last_failure_at FROM webhook_endpoints WHERE id = $1", endpoint
        )
        return row["failing_since"], row["last_failure_at"]

    def result(i, outcome, at, endpoint_id=endpoint):
        code = 200 if outcome == "delivered" else 500
        return AttemptResultRow(
            ids[i],
            outcome,
            code,
            None,
            1.0,
            60.0 if outcome == "retry" else None,
            endpoint_id=endpoint_id,
            finished_at=at,
        )

    async with Worker(settings, monkeypatch) as worker:
        await worker._record_batch(
            [result(0, "retry", t0 + timedelta(hours=2)), result(1, "failed", t0)]
        )
        assert await streak() == (t0, t0 + timedelta(hours=2))
        await worker._record_batch([result(2, "retry", t0 + timedelta(days=3))])
        assert await streak() == (t0, t0 + timedelta(days=3))  # extended, not restarted
        # no endpoint reached (it or the event was gone): the streak stays as it is
        await worker._record_batch([result(3, "failed", t0 + timedelta(days=9), endpoint_id=None)])
        assert await streak() == (t0, t0 + timedelta(days=3))
        # a success and a failure in one batch: the endpoint works, the streak ends
        await worker._record_batch(
            [
                result(0, "delivered", t0 + timedelta(days=4)),
                result(2, "retry", t0 + timedelta(days=4)),
            ]
        )
        assert await streak() == (None, None)
