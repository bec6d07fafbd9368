"""Webhook endpoint management through the API, the way Stripe and Svix users expect it: read
and change an endpoint, rotate its secret with a grace period (deliveries signed by both
secrets meanwhile), send a test event, and the automatic disabling of an endpoint whose
deliveries have failed for days. Delivered by the real delivery worker to a real receiver."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from intentcast.client import WebhookVerificationError as ClientVerificationError
from intentcast.client import verify_webhook
from intentcast.delivery.worker import DeliveryWorker
from intentcast.security import Keys
from intentcast.services.webhooks import disable_failing_webhooks
from intentcast.store.db import create_pool
from tests.helpers import create_vendor, feed, publish, subscribe, types, wait_for
from tests.webhook_receiver import WebhookReceiver


async def register(client, vendor, url, **extra):
    response = await client.post(
        "/v1/vendor/webhooks", json={"url": url} | extra, headers=vendor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def hook_path(hook, suffix: str = "") -> str:
    return f"/v1/vendor/webhooks/{hook['id']}{suffix}"


async def show(client, vendor, hook):
    response = await client.get(hook_path(hook), headers=vendor.headers)
    assert response.status_code == 200, response.text
    return response.json()


# ---- read and update ------------------------------------------------------------------------


async def test_get_shows_one_endpoint_without_its_secret(client, db) -> None:
    vendor = await create_vendor(client, db)
    hook = await register(client, vendor, "https://hooks.example.com/a", events=["intent.matched"])
    shown = await show(client, vendor, hook)
    assert shown["id"] == hook["id"] and shown["url"] == "https://hooks.example.com/a"
    assert shown["events"] == ["intent.matched"] and shown["status"] == "active"
    assert shown["failing_since"] is None and shown["previous_secret_expires_at"] is None
    assert "secret" not in shown and hook["secret"] not in json.dumps(shown)


async def test_another_vendors_endpoint_is_not_found_for_every_operation(client, db) -> None:
    owner = await create_vendor(client, db)
    other = await create_vendor(client, db)
    hook = await register(client, owner, "https://hooks.example.com/a")
    for method, suffix, body in (
        ("get", "", None),
        ("patch", "", {"enabled": False}),
        ("post", "/rotate-secret", {}),
        ("post", "/test", None),
    ):
        kwargs = {"headers": other.headers} | ({} if body is None else {"json": body})
        response = await getattr(client, method)(hook_path(hook, suffix), **kwargs)
        assert response.status_code == 404, (method, suffix, response.text)
    assert (await show(client, owner, hook))["status"] == "active"  # nothing changed


async def test_patch_changes_url_filter_and_keeps_the_secret(client, db) -> None:
    vendor = await create_vendor(client, db)
    hook = await register(client, vendor, "https://hooks.example.com/a")
    response = await client.patch(
        hook_path(hook),
        json={"url": "https://HOOKS.example.com/b", "events": ["intent.closed", "intent.closed"]},
        headers=vendor.headers,
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["url"] == "https://hooks.example.com/b"  # normalised like at registration
    assert changed["events"] == ["intent.closed"]
    assert await show(client, vendor, hook) == changed
    # null: every event type again; absent fields stay
    again = await client.patch(hook_path(hook), json={"events": None}, headers=vendor.headers)
    assert again.json()["events"] is None and again.json()["url"] == changed["url"]
    sealed = await db.fetchval(
        "SELECT secret_sealed FROM webhook_endpoints WHERE id = $1", hook["id"]
    )
    keys_before = sealed
    await client.patch(
        hook_path(hook), json={"url": "https://hooks.example.com/c"}, headers=vendor.headers
    )
    assert (
        await db.fetchval("SELECT secret_sealed FROM webhook_endpoints WHERE id = $1", hook["id"])
        == keys_before
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "https://10.0.0.5/hook"}, 422, "url"),
        ({"url": "http://example.com/hook"}, 422, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, 422, "url"),
        ({"events": ["intent.eaten"]}, 400, "events[0]"),
        ({"enabled": "yes"}, 400, "enabled"),
        ({"secret": "whsec_mine"}, 400, "secret"),
    ],
)
async def test_patch_refuses_bad_values_naming_the_field(client, db, body, status, field) -> None:
    vendor = await create_vendor(client, db)
    hook = await register(client, vendor, "https://hooks.example.com/a")
    response = await client.patch(hook_path(hook), json=body, headers=vendor.headers)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field, response.json()
    assert (await show(client, vendor, hook))["url"] == "https://hooks.example.com/a"


async def test_loopback_url_in_a_patch_needs_the_operator_setting(
    make_client, make_settings, db
) -> None:
    strict = await make_client(make_settings(webhook_allow_loopback=False))
    vendor = await create_vendor(strict, db)
    hook = await register(strict, vendor, "https://hooks.example.com/a")
    response = await strict.patch(
        hook_path(hook), json={"url": "http://127.0.0.1:9/hook"}, headers=vendor.headers
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "url"


async def test_disable_and_enable_by_the_vendor(client, buyer, db, make_pipeline) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])  # deliveries stay pending
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    hook = await register(client, vendor, "https://hooks.example.com/a")
    await publish(client, buyer)
    await feed(client, vendor, at_least=1)
    off = await client.patch(hook_path(hook), json={"enabled": False}, headers=vendor.headers)
    assert off.status_code == 200, off.text
    assert off.json()["status"] == "disabled"
    assert off.json()["disabled_reason"] == "disabled by the vendor"
    # its pending delivery is given up; nothing new is queued while it is disabled
    assert await db.fetchval(
        "SELECT array_agg(status) FROM webhook_deliveries WHERE endpoint_id = $1", hook["id"]
    ) == ["failed"]
    await publish(client, buyer)
    await feed(client, vendor, at_least=2)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", hook["id"]
        )
        == 1
    )
    replay = await client.post(hook_path(hook, "/replay"), json={}, headers=vendor.headers)
    assert replay.status_code == 409 and "PATCH" in replay.json()["detail"]
    # a failure streak from before is cleared by re-enabling
    await db.execute(
        """UPDATE webhook_endpoints SET failing_since = now() - interval '3 days',
                  last_failure_at = now() WHERE id = $1""",
        hook["id"],
    )
    on = await client.patch(hook_path(hook), json={"enabled": True}, headers=vendor.headers)
    assert on.status_code == 200
    assert on.json()["status"] == "active" and on.json()["disabled_reason"] is None
    assert on.json()["failing_since"] is None
    await publish(client, buyer)
    await feed(client, vendor, at_least=3)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", hook["id"]
        )
        == 2
    )
    # a replay brings back what it missed
    replay = await client.post(hook_path(hook, "/replay"), json={}, headers=vendor.headers)
    assert replay.status_code == 202 and replay.json() == {"queued": 3}


async def test_a_new_url_receives_the_next_delivery(client, buyer, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver("/old") as old, WebhookReceiver("/new") as new:
        hook = await register(client, vendor, old.url)
        await publish(client, buyer)
        await old.wait_for(1, timeout=10)
        response = await client.patch(
            hook_path(hook), json={"url": new.url}, headers=vendor.headers
        )
        assert response.status_code == 200, response.text
        await publish(client, buyer)
        (request,) = await new.wait_for(1, timeout=10)
        Webhook(hook["secret"]).verify(request.body, request.headers)
        assert json.loads(request.body)["seq"] == 2
        assert len(old.requests) == 1


# ---- secret rotation ------------------------------------------------------------------------


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    client, buyer, db, pipeline
) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        hook = await register(client, vendor, receiver.url)
        old = hook["secret"]
        rotated = await client.post(
            hook_path(hook, "/rotate-secret"),
            json={"grace_period_seconds": 3600},
            headers=vendor.headers,
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != old
        expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
        assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
        assert (await show(client, vendor, hook))["previous_secret_expires_at"] is not None
        await publish(client, buyer)
        (request,) = await receiver.wait_for(1, timeout=10)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # a receiver still on the old secret and one already on the new both accept it
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    assert verify_webhook(old, request.headers, request.body).seq == 1
    assert verify_webhook(new, request.headers, request.body).seq == 1
    # the old secret is stored sealed, like the current one
    stored = await db.fetchrow(
        "SELECT previous_secret_sealed FROM webhook_endpoints WHERE id = $1", hook["id"]
    )
    assert old.encode() not in bytes(stored["previous_secret_sealed"])


async def test_after_the_grace_period_only_the_new_secret_signs_and_the_old_is_erased(
    client, buyer, db, pipeline
) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        hook = await register(client, vendor, receiver.url)
        old = hook["secret"]
        rotated = await client.post(
            hook_path(hook, "/rotate-secret"),
            json={"grace_period_seconds": 1},
            headers=vendor.headers,
        )
        new = rotated.json()["secret"]
        expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
        # wait until the grace period is over (a slow machine only waits longer)
        await asyncio.sleep((expires - datetime.now(UTC)).total_seconds() + 0.1)
        assert datetime.now(UTC) > expires
        await publish(client, buyer)
        (request,) = await receiver.wait_for(1, timeout=10)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)
    with pytest.raises(ClientVerificationError):
        verify_webhook(old, request.headers, request.body)

    # the scheduler erases it from the database (it runs every few seconds)
    async def erased():
        row = await db.fetchrow(
            """SELECT previous_secret_sealed, previous_secret_expires_at
                 FROM webhook_endpoints WHERE id = $1""",
            hook["id"],
        )
        return row["previous_secret_sealed"] is None and row["previous_secret_expires_at"] is None

    await wait_for(erased, within=20)
    assert (await show(client, vendor, hook))["previous_secret_expires_at"] is None


async def test_rotation_without_grace_and_rotating_twice(client, buyer, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver() as receiver:
        hook = await register(client, vendor, receiver.url)
        first = await client.post(hook_path(hook, "/rotate-secret"), headers=vendor.headers)
        assert first.status_code == 200, first.text  # no body: the default grace period
        expires = datetime.fromisoformat(first.json()["previous_secret_expires_at"])
        assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
        second = await client.post(
            hook_path(hook, "/rotate-secret"),
            json={"grace_period_seconds": 0},
            headers=vendor.headers,
        )
        assert second.json()["previous_secret_expires_at"] is None
        await publish(client, buyer)
        (request,) = await receiver.wait_for(1, timeout=10)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(second.json()["secret"]).verify(request.body, request.headers)
    for stale in (hook["secret"], first.json()["secret"]):
        with pytest.raises(WebhookVerificationError):
            Webhook(stale).verify(request.body, request.headers)
    assert (
        await db.fetchval(
            "SELECT previous_secret_sealed FROM webhook_endpoints WHERE id = $1", hook["id"]
        )
        is None
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grace_period_seconds": -1}, "grace_period_seconds"),
        ({"grace_period_seconds": 7 * 86400 + 1}, "grace_period_seconds"),
        ({"grace_period_seconds": "1h"}, "grace_period_seconds"),
        ({"grace": 10}, "grace"),
    ],
)
async def test_rotation_refuses_bad_grace_periods(client, db, body, field) -> None:
    vendor = await create_vendor(client, db)
    hook = await register(client, vendor, "https://hooks.example.com/a")
    response = await client.post(
        hook_path(hook, "/rotate-secret"), json=body, headers=vendor.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field
    assert (await show(client, vendor, hook))["previous_secret_expires_at"] is None


# ---- test events ----------------------------------------------------------------------------


async def test_a_test_event_reaches_only_that_endpoint_and_not_the_feed(
    client, buyer, db, pipeline
) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    async with WebhookReceiver("/a") as target, WebhookReceiver("/b") as other:
        hook = await register(client, vendor, target.url, events=["intent.closed"])
        bystander = await register(client, vendor, other.url)
        response = await client.post(hook_path(hook, "/test"), headers=vendor.headers)
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued["type"] == "webhook.test" and queued["delivery_id"].startswith("dlv_")
        (request,) = await target.wait_for(1, timeout=10)
        event = verify_webhook(hook["secret"], request.headers, request.body)
        assert event.type == "webhook.test" and event.seq == 0 and event.id == queued["event_id"]
        assert event.data["test"] is True and event.data["webhook_id"] == hook["id"]
        assert request.headers["webhook-id"] == queued["event_id"]

        async def logged():
            page = (await client.get(hook_path(hook, "/deliveries"), headers=vendor.headers)).json()
            return page["items"] if page["items"][0]["status"] == "delivered" else None

        (delivery,) = await wait_for(logged)
        assert delivery["id"] == queued["delivery_id"] and delivery["test"] is True
        assert delivery["event_id"] == queued["event_id"] and delivery["event_seq"] == 0
        # deliveries are created in the request's transaction: none for the other endpoint
        assert (
            await db.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", bystander["id"]
            )
            == 0
        )
        assert other.requests == []
    # no part of the durable feed
    assert (
        await db.fetchval("SELECT count(*) FROM vendor_events WHERE vendor_id = $1", vendor.id) == 0
    )
    listing = (await client.get("/v1/vendor/matches", headers=vendor.headers)).json()
    assert listing["items"] == [] and listing["last_seq"] == 0
    # and a replay of the feed does not bring it back
    replay = await client.post(hook_path(hook, "/replay"), json={}, headers=vendor.headers)
    assert replay.json() == {"queued": 0}


async def test_a_test_event_is_retried_like_any_delivery(client, db, make_pipeline) -> None:
    await make_pipeline(delivery_poll_s=0.1, retry_delay=lambda attempt, retry_after=None: 0.2)
    vendor = await create_vendor(client, db)
    async with WebhookReceiver() as receiver:
        receiver.responses.append((503, {}, 0))
        hook = await register(client, vendor, receiver.url)
        assert (
            await client.post(hook_path(hook, "/test"), headers=vendor.headers)
        ).status_code == 202
        first, second = await receiver.wait_for(2, timeout=15)
    assert first.body == second.body and first.headers["webhook-id"] == second.headers["webhook-id"]


async def test_a_disabled_endpoint_gets_no_test_event(client, db) -> None:
    vendor = await create_vendor(client, db)
    hook = await register(client, vendor, "https://hooks.example.com/a")
    await client.patch(hook_path(hook), json={"enabled": False}, headers=vendor.headers)
    response = await client.post(hook_path(hook, "/test"), headers=vendor.headers)
    assert response.status_code == 409 and response.json()["code"] == "endpoint-disabled"
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


# ---- disabled after days of failures ---------------------------------------------------------


class Clock:
    """The delivery worker's clock, moved by the test (days pass in microseconds)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class ClockedWorker:
    """A real delivery worker whose attempts end at ``clock.now``; attempts on request."""

    def __init__(self, settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def __aenter__(self) -> ClockedWorker:
        self.pool = await create_pool(self.settings.database_url, max_size=2)
        self.redis = redis.from_url(self.settings.redis_url)
        self.worker = DeliveryWorker(
            self.settings,
            self.pool,
            self.redis,
            Keys.from_settings(self.settings).sealer,
            clock=self.clock,
        )
        return self

    async def attempt_pending(self, db, endpoint_id: str) -> None:
        """One attempt at every due delivery to the endpoint."""
        ids = await db.fetch(
            """SELECT id FROM webhook_deliveries
                WHERE endpoint_id = $1 AND status = 'pending' ORDER BY event_seq""",
            endpoint_id,
        )
        for row in ids:
            await self.worker.attempt(row["id"])

    async def __aexit__(self, *exc_info: object) -> None:
        await self.worker.http.aclose()
        await self.pool.close()
        await self.redis.aclose()


async def disable_pass(settings, after_days: int) -> list[str]:
    """One pass of the scheduler's step (on a pool connection, as the scheduler has); the
    ids of the endpoints it disabled."""
    pool = await create_pool(settings.database_url, max_size=1)
    client = redis.from_url(settings.redis_url)
    try:
        async with pool.acquire() as conn:
            disabled = await disable_failing_webhooks(conn, client, after_days=after_days)
    finally:
        await pool.close()
        await client.aclose()
    return [e.id for e in disabled]


async def fail_once_more(client, db, buyer, vendor, worker, hook, at: datetime) -> None:
    """A new event, whose delivery to ``hook`` fails at ``at``."""
    worker.clock.now = at
    before = len(await feed(client, vendor))
    await publish(client, buyer)
    await feed(client, vendor, at_least=before + 1)  # its deliveries are queued with it
    await worker.attempt_pending(db, hook["id"])


async def test_an_endpoint_failing_for_days_is_disabled_and_the_vendor_told(
    client, buyer, db, settings, make_pipeline
) -> None:
    await make_pipeline(roles=["matcher"])  # deliveries are attempted by the worker below
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    clock = Clock()
    start = clock.now
    async with WebhookReceiver() as failing, ClockedWorker(settings, clock) as worker:
        failing.responses.extend([(500, {}, 0)] * 10)
        hook = await register(client, vendor, failing.url)
        healthy = await register(client, vendor, "https://hooks.example.com/healthy")
        await fail_once_more(client, db, buyer, vendor, worker, hook, start)
        shown = await show(client, vendor, hook)
        assert datetime.fromisoformat(shown["failing_since"]) == start
        await fail_once_more(
            client,
            db,
            buyer,
            vendor,
            worker,
            hook,
            start + timedelta(days=5) - timedelta(seconds=1),
        )
        assert await disable_pass(settings, 5) == []
        assert (await show(client, vendor, hook))["status"] == "active"
        await fail_once_more(client, db, buyer, vendor, worker, hook, start + timedelta(days=5))
        # an event still pending when it is disabled is given up
        await publish(client, buyer)
        await feed(client, vendor, at_least=4)
        assert await disable_pass(settings, 5) == [hook["id"]]
        assert await disable_pass(settings, 5) == []  # once: a second pass finds nothing
        assert len(failing.requests) == 3
    shown = await show(client, vendor, hook)
    assert shown["status"] == "disabled"
    assert shown["disabled_reason"] == "every delivery failed for 5 days"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'",
            hook["id"],
        )
        == 0
    )
    # the vendor hears it in its feed, and so do its other endpoints
    events = await feed(client, vendor, at_least=5)
    assert types(events)[-1] == "webhook.disabled"
    told = events[-1]["data"]["webhook"]
    assert told["id"] == hook["id"] and told["url"] == failing.url
    assert told["disabled_reason"] == "every delivery failed for 5 days"
    assert datetime.fromisoformat(told["failing_since"]) == start
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2",
            healthy["id"],
            events[-1]["id"],
        )
        == 1
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2",
            hook["id"],
            events[-1]["id"],
        )
        == 0
    )
    # enabled again by the vendor: a fresh start
    on = await client.patch(hook_path(hook), json={"enabled": True}, headers=vendor.headers)
    assert on.json()["status"] == "active" and on.json()["failing_since"] is None


async def test_a_success_ends_the_failure_streak(
    client, buyer, db, settings, make_pipeline
) -> None:
    await make_pipeline(roles=["matcher"])
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    clock = Clock()
    start = clock.now
    async with WebhookReceiver() as receiver, ClockedWorker(settings, clock) as worker:
        receiver.responses.extend([(500, {}, 0), (200, {}, 0), (500, {}, 0)])
        hook = await register(client, vendor, receiver.url)
        await fail_once_more(client, db, buyer, vendor, worker, hook, start)
        await fail_once_more(client, db, buyer, vendor, worker, hook, start + timedelta(days=1))
        assert (await show(client, vendor, hook))["failing_since"] is None  # it succeeded
        await fail_once_more(client, db, buyer, vendor, worker, hook, start + timedelta(days=6))
        assert len(receiver.requests) == 3
    shown = await show(client, vendor, hook)
    assert datetime.fromisoformat(shown["failing_since"]) == start + timedelta(days=6)
    assert await disable_pass(settings, 5) == []
    assert await disable_pass(settings, 0) == []
    assert (await show(client, vendor, hook))["status"] == "active"


async def test_the_scheduler_disables_after_the_operators_number_of_days(
    client, buyer, db, settings, operator, make_pipeline
) -> None:
    await make_pipeline(roles=["matcher", "scheduler"])
    changed = await client.patch(
        "/v1/admin/settings", json={"webhook_disable_after_days": 1}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["webhook_disable_after_days"]["value"] == 1
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    clock = Clock()
    async with WebhookReceiver() as receiver, ClockedWorker(settings, clock) as worker:
        receiver.responses.extend([(500, {}, 0)] * 2)
        hook = await register(client, vendor, receiver.url)
        await fail_once_more(client, db, buyer, vendor, worker, hook, clock.now)
        # a day of failures: under the default 5 days this endpoint would stay active
        await fail_once_more(
            client, db, buyer, vendor, worker, hook, clock.now + timedelta(days=1, seconds=1)
        )

    async def disabled():
        shown = await show(client, vendor, hook)
        return shown["status"] == "disabled" and shown

    shown = await wait_for(disabled, within=30)
    assert shown["disabled_reason"] == "every delivery failed for 1 day"
    events = await feed(client, vendor, at_least=3)
    assert "webhook.disabled" in types(events)


async def test_the_setting_bounds(client, operator) -> None:
    for bad in (-1, 366, "five"):
        response = await client.patch(
            "/v1/admin/settings", json={"webhook_disable_after_days": bad}, headers=operator.headers
        )
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "webhook_disable_after_days"
    shown = (await client.get("/v1/admin/settings", headers=operator.headers)).json()
    assert shown["settings"]["webhook_disable_after_days"] == {
        "value": 5,
        "source": "default",
        "reset_value": 5,
    }
