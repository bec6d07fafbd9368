"""Webhook endpoints through the API, delivered by the real delivery worker to a real local
HTTP receiver: signatures, retries, 410, the delivery log and replay."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import redis.asyncio as redis
from standardwebhooks.webhooks import Webhook

from intentcast.delivery.worker import DeliveryWorker
from intentcast.logs import RequestContext
from intentcast.security import Keys
from intentcast.services import webhooks as webhook_service
from intentcast.store.db import create_pool
from tests.helpers import CAMERA, create_vendor, feed, publish, settled, subscribe, wait_for
from tests.webhook_receiver import WebhookReceiver


def quick_retry(attempt: int, *, retry_after: float | None = None) -> float:
    return 0.2


@pytest.fixture
async def fast_retry_pipeline(make_pipeline):
    """The whole pipeline, its delivery worker retrying after 0.2 s and polling every 0.1 s."""
    return await make_pipeline(delivery_poll_s=0.1, retry_delay=quick_retry)


async def register(client, vendor, url, **extra):
    response = await client.post(
        "/v1/vendor/webhooks", json={"url": url} | extra, headers=vendor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_webhook_receives_signed_event_identical_to_feed(client, buyer, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        hook = await register(client, vendor, receiver.url)
        assert hook["secret"].startswith("whsec_") and hook["id"].startswith("whk_")
        intent = await publish(client, buyer)
        (request,) = await receiver.wait_for(1, timeout=10)
    body = request.body
    Webhook(hook["secret"]).verify(body, request.headers)  # raises on a bad signature
    delivered = json.loads(body)
    (event,) = await feed(client, vendor)
    assert delivered == event
    assert request.headers["webhook-id"] == event["id"]
    assert delivered["data"]["intent"]["id"] == intent["id"]
    listing = (await client.get("/v1/vendor/webhooks", headers=vendor.headers)).json()
    assert [h["id"] for h in listing["items"]] == [hook["id"]]
    assert "secret" not in listing["items"][0]


async def test_failures_are_retried_and_logged(
    client, buyer, db, fast_retry_pipeline, caplog
) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    await settled(db)  # the subscription's backfill is done: the intent below matches itself
    caplog.handler.addFilter(RequestContext("delivery"))  # what every configured handler has
    async with WebhookReceiver() as receiver:
        receiver.responses.extend([(500, {}, 0), (429, {"Retry-After": "0"}, 0), (200, {}, 0)])
        hook = await register(client, vendor, receiver.url)
        with caplog.at_level(logging.INFO, logger="intentcast.delivery.worker"):
            published = await client.post(
                "/v1/intents", json=CAMERA, headers=buyer.headers | {"X-Request-ID": "hook-7"}
            )
            assert published.status_code == 201, published.text
            requests = await receiver.wait_for(3, timeout=15)

            async def all_attempts_logged() -> list[logging.LogRecord]:
                return _attempt_lines(caplog, 3)

            await wait_for(all_attempts_logged)
    # every attempt's log line names the request that caused the event: the first, off the
    # delivery stream, and the retries, which the worker's poll finds in the table
    assert [getattr(r, "request_id", None) for r in _attempt_lines(caplog, 3)] == ["hook-7"] * 3
    assert len(requests) == 3  # exactly one request per attempt
    assert len({r.headers["webhook-id"] for r in requests}) == 1  # the same message each time
    for request in requests:
        Webhook(hook["secret"]).verify(request.body, request.headers)
    assert len({r.body for r in requests}) == 1

    async def logged():
        page = (
            await client.get(f"/v1/vendor/webhooks/{hook['id']}/deliveries", headers=vendor.headers)
        ).json()
        items = page["items"]
        return items if items and items[0]["status"] == "delivered" else None

    (delivery,) = await wait_for(logged)
    assert delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 429, 200]
    assert [a["outcome"] for a in delivery["attempt_log"]] == ["retry", "retry", "delivered"]


def _attempt_lines(caplog, at_least: int) -> list[logging.LogRecord]:
    lines = [
        r
        for r in caplog.records
        if r.name == "intentcast.delivery.worker" and "attempt" in r.getMessage()
    ]
    return lines if len(lines) >= at_least else []


async def test_gone_disables_the_endpoint(client, buyer, db, fast_retry_pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        receiver.responses.append((410, {}, 0))
        hook = await register(client, vendor, receiver.url)
        await publish(client, buyer)
        await receiver.wait_for(1, timeout=10)

        async def disabled():
            items = (await client.get("/v1/vendor/webhooks", headers=vendor.headers)).json()[
                "items"
            ]
            return items[0]["status"] == "disabled" and items[0]

        endpoint = await wait_for(disabled)
        assert "410" in endpoint["disabled_reason"]
        await publish(client, buyer)
        await feed(client, vendor, at_least=2)
        # deliveries are created with the event, in its transaction: none for the second
        assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
        assert len(receiver.requests) == 1  # nothing more is sent to a disabled endpoint
    replay = await client.post(
        f"/v1/vendor/webhooks/{hook['id']}/replay", json={}, headers=vendor.headers
    )
    assert replay.status_code == 409


async def test_replay_delivers_past_events_again(client, buyer, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    for _ in range(3):
        await publish(client, buyer)
    await feed(client, vendor, at_least=3)
    async with WebhookReceiver() as receiver:
        hook = await register(client, vendor, receiver.url, events=["intent.matched"])
        replay = await client.post(
            f"/v1/vendor/webhooks/{hook['id']}/replay",
            json={"after_seq": 1},
            headers=vendor.headers,
        )
        assert replay.status_code == 202 and replay.json() == {"queued": 2}
        requests = await receiver.wait_for(2, timeout=10)
    assert sorted(json.loads(r.body)["seq"] for r in requests) == [2, 3]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://user:pw@example.com/hook",
        "ftp://example.com/hook",
        "https://192.0.0.192/opc/v2/instance/",  # Oracle Cloud metadata
        "https://192.88.99.1/hook",
        "https://198.18.0.1/hook",
        "https://[2002:808:808::1]/hook",
    ],
)
async def test_unsafe_webhook_urls_are_refused(client, vendor, url) -> None:
    response = await client.post("/v1/vendor/webhooks", json={"url": url}, headers=vendor.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "url"


async def test_loopback_needs_the_operator_setting(make_client, make_settings, db) -> None:
    strict = await make_client(make_settings(webhook_allow_loopback=False))
    vendor = await create_vendor(strict, db)
    response = await strict.post(
        "/v1/vendor/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=vendor.headers
    )
    assert response.status_code == 422


async def test_webhook_ownership_and_unknown_event_types(client, db) -> None:
    a = await create_vendor(client, db)
    b = await create_vendor(client, db)
    hook = await register(client, a, "https://hooks.example.com/a")
    for method, path in (
        ("delete", f"/v1/vendor/webhooks/{hook['id']}"),
        ("get", f"/v1/vendor/webhooks/{hook['id']}/deliveries"),
    ):
        assert (await getattr(client, method)(path, headers=b.headers)).status_code == 404
    bad = await client.post(
        "/v1/vendor/webhooks",
        json={"url": "https://x.example.com", "events": ["intent.eaten"]},
        headers=a.headers,
    )
    # the event types are an enum in the schema: a shape error (400) naming the item
    assert bad.status_code == 400, bad.text
    assert bad.json()["errors"][0]["field"] == "events[0]", bad.json()
    assert "intent.eaten" in bad.json()["errors"][0]["message"]
    assert (
        await client.delete(f"/v1/vendor/webhooks/{hook['id']}", headers=a.headers)
    ).status_code == 204


# ---- the delivery log is no DNS or port oracle (review L5) ----------------------------------


async def attempt_once(settings, delivery_id: str, resolver=None) -> None:
    """One attempt by a real delivery worker (with injected DNS answers)."""
    pool = await create_pool(settings.database_url, max_size=2)
    client = redis.from_url(settings.redis_url)
    worker = DeliveryWorker(
        settings, pool, client, Keys.from_settings(settings).sealer, resolver=resolver
    )
    try:
        await worker.attempt(delivery_id)
    finally:
        await worker.http.aclose()
        await pool.close()
        await client.aclose()


async def pending_delivery(client, db, vendor, buyer, url):
    hook = await register(client, vendor, url)
    await publish(client, buyer)
    await feed(client, vendor, at_least=1)
    delivery_id = await db.fetchval(
        "SELECT id FROM webhook_deliveries WHERE endpoint_id = $1", hook["id"]
    )
    return hook, delivery_id


async def delivery_log(client, vendor, hook):
    response = await client.get(
        f"/v1/vendor/webhooks/{hook['id']}/deliveries", headers=vendor.headers
    )
    assert response.status_code == 200
    return response


async def test_a_refused_destination_is_generic_to_the_vendor_and_detailed_in_the_log(
    client, buyer, db, settings, make_pipeline, caplog
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])  # no delivery worker: one attempt below
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    hook, delivery_id = await pending_delivery(
        client, db, vendor, buyer, "https://db.corp.example/hook?token=tok-query"
    )

    async def split_horizon(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    with caplog.at_level(logging.INFO, logger="intentcast.delivery.worker"):
        await attempt_once(settings, delivery_id, resolver=split_horizon)
    response = await delivery_log(client, vendor, hook)
    (delivery,) = response.json()["items"]
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "destination not allowed"
    assert [a["error"] for a in delivery["attempt_log"]] == ["destination not allowed"]
    assert "10.1.2.3" not in response.text and "private" not in response.text
    logged = caplog.text
    assert "10.1.2.3" in logged and "db.corp.example" in logged and delivery_id in logged
    assert "tok-query" not in logged and hook["secret"] not in logged
    assert hook["secret"].removeprefix("whsec_") not in logged


async def test_a_closed_port_is_generic_to_the_vendor(
    client, buyer, db, settings, make_pipeline, caplog
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook, delivery_id = await pending_delivery(
        client, db, vendor, buyer, f"http://127.0.0.1:{port}/hook"
    )
    with caplog.at_level(logging.INFO, logger="intentcast.delivery.worker"):
        await attempt_once(settings, delivery_id)
    response = await delivery_log(client, vendor, hook)
    (delivery,) = response.json()["items"]
    assert delivery["status"] == "pending"  # retried later
    assert delivery["last_error"] == "connection failed"
    assert [a["error"] for a in delivery["attempt_log"]] == ["connection failed"]
    assert "Errno" not in response.text and str(port) not in json.dumps(delivery["attempt_log"])
    assert f"127.0.0.1 port {port}" in caplog.text


# ---- replay is bounded (review L5) -----------------------------------------------------------


def test_replay_bounds() -> None:
    assert webhook_service.MAX_REPLAY_EVENTS == 1000
    assert webhook_service.MAX_PENDING_DELIVERIES == 1000


async def test_replay_is_capped_by_pending_deliveries(
    client, buyer, db, make_pipeline, monkeypatch
) -> None:
    monkeypatch.setattr(webhook_service, "MAX_PENDING_DELIVERIES", 3)
    await make_pipeline(roles=["matcher", "scheduler"])  # deliveries stay pending
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    for _ in range(5):
        await publish(client, buyer)
    await feed(client, vendor, at_least=5)
    hook = await register(client, vendor, "https://hooks.example.com/in")
    path = f"/v1/vendor/webhooks/{hook['id']}/replay"
    first = await client.post(path, json={}, headers=vendor.headers)
    assert first.status_code == 202 and first.json() == {"queued": 3}  # only the room left
    again = await client.post(path, json={}, headers=vendor.headers)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "too-many-pending-deliveries"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", hook["id"]
        )
        == 3
    )
    # once attempted (here: given up), the endpoint has room again
    await db.execute("UPDATE webhook_deliveries SET status = 'failed'")
    assert (await client.post(path, json={}, headers=vendor.headers)).json() == {"queued": 3}


async def test_one_replay_queues_at_most_max_replay_events(
    client, buyer, db, make_pipeline, monkeypatch
) -> None:
    monkeypatch.setattr(webhook_service, "MAX_REPLAY_EVENTS", 2)
    await make_pipeline(roles=["matcher", "scheduler"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    for _ in range(4):
        await publish(client, buyer)
    await feed(client, vendor, at_least=4)
    hook = await register(client, vendor, "https://hooks.example.com/in")
    replay = await client.post(
        f"/v1/vendor/webhooks/{hook['id']}/replay", json={"limit": 4}, headers=vendor.headers
    )
    assert replay.status_code == 202 and replay.json() == {"queued": 2}
