"""Webhook endpoint use cases: register (at most ``MAX_WEBHOOKS_PER_VENDOR``), list, read,
update (URL, event filter, enabled), rotate the secret, send a test event, remove, inspect
deliveries, replay; and the scheduler's two housekeeping steps: disabling endpoints whose
deliveries have failed for ``webhook_disable_after_days`` (the vendor hears
``webhook.disabled``) and erasing rotated-out secrets once their grace period ends.
Delivering is the delivery worker's job (``delivery/``); the URL rules live in
``delivery.webhooks.check_url``, the pure rules in ``domain.webhooks``.

Secret rotation: the new secret is returned once; the replaced one is sealed again (same
context as the current one) with the end of its grace period, and every delivery made
before that end carries a signature by each secret (``delivery.webhooks.sign``). The
scheduler erases it after the end; the worker stops using it at the end whether or not
the scheduler has run.

A test event (``webhook.test``, ``seq`` 0, synthetic ``data``) is delivered to the one
endpoint asked for, by the delivery worker like any event (signed, SSRF-checked, retried,
in that endpoint's delivery log). It is no part of the vendor's feed: not in
``/v1/vendor/matches``, the SSE stream, other endpoints or a replay.

Replay is bounded, so that one API call cannot turn the server into a reflector sending
thousands of signed POSTs to an arbitrary host: one replay queues at most
``MAX_REPLAY_EVENTS`` events, and never more than brings the endpoint's outstanding (pending)
deliveries to ``MAX_PENDING_DELIVERIES``; at the cap a replay is refused (409
``too-many-pending-deliveries``) until the worker has attempted what is queued."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.delivery import webhooks as webhook_rules
from intentcast.domain import webhooks as rules
from intentcast.domain.errors import EndpointDisabled, NotFound, QuotaExceeded
from intentcast.domain.events import WEBHOOK_TEST_EVENT, VendorEventType, dedupe
from intentcast.domain.webhooks import MAX_WEBHOOKS_PER_VENDOR
from intentcast.security import Keys, new_id
from intentcast.services.work import unit_of_work
from intentcast.store.events import LogEvent
from intentcast.store.locks import serialize
from intentcast.store.webhooks import AttemptRow, DeliveryRow, EndpointRow, Webhooks

MAX_REPLAY_EVENTS = 1000
"""The most events one replay queues (a larger ``limit`` is cut to this)."""
MAX_PENDING_DELIVERIES = 1000
"""The most outstanding deliveries an endpoint may have after a replay."""


async def register_webhook(
    conn: asyncpg.Connection,
    keys: Keys,
    *,
    vendor_id: str,
    url: str,
    events: list[str] | None,
    allow_loopback: bool,
) -> tuple[EndpointRow, str]:
    """The endpoint and its ``whsec_`` signing secret (the only time it is seen)."""
    url = webhook_rules.check_url(url, allow_loopback=allow_loopback)
    secret = webhook_rules.new_secret()
    endpoint_id = new_id("whk")
    async with conn.transaction():
        await serialize(conn, "webhooks", vendor_id)
        store = Webhooks(conn)
        if await store.count_for(vendor_id) >= MAX_WEBHOOKS_PER_VENDOR:
            raise QuotaExceeded(
                f"At most {MAX_WEBHOOKS_PER_VENDOR} webhook endpoints per vendor.",
                "too-many-webhooks",
                limit=MAX_WEBHOOKS_PER_VENDOR,
            )
        sealed = keys.sealer.seal(secret, context=f"{endpoint_id}:secret")
        row = await store.create(
            vendor_id,
            url,
            sealed,
            None if events is None else list(dict.fromkeys(events)),
            endpoint_id,
        )
    return row, secret


async def vendor_webhooks(
    conn: asyncpg.Connection, vendor_id: str, *, limit: int, after: str | None
) -> list[EndpointRow]:
    return await Webhooks(conn).list_for(vendor_id, limit=limit, after=after)


async def remove_webhook(conn: asyncpg.Connection, vendor_id: str, webhook_id: str) -> None:
    async with conn.transaction():
        if not await Webhooks(conn).delete(vendor_id, webhook_id):
            raise NotFound("webhook")


async def delivery_log(
    conn: asyncpg.Connection,
    vendor_id: str,
    webhook_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None,
) -> tuple[list[DeliveryRow], dict[str, list[AttemptRow]]]:
    """Newest deliveries first, each with every attempt."""
    store = Webhooks(conn)
    if await store.get(vendor_id, webhook_id) is None:
        raise NotFound("webhook")
    rows = await store.deliveries(webhook_id, limit=limit, before=before)
    return rows, await store.attempts([r.id for r in rows])


async def replay_webhook(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    vendor_id: str,
    webhook_id: str,
    after_seq: int,
    limit: int,
) -> int:
    """Queue every event after ``after_seq`` (up to ``limit``, at most
    ``MAX_REPLAY_EVENTS``, and only as many as keep the endpoint's pending deliveries within
    ``MAX_PENDING_DELIVERIES``) for this endpoint again; how many were queued."""
    async with unit_of_work(conn, client) as work:
        # one replay (and registration) per vendor at a time, so two replays cannot both
        # count the same room under the cap
        await serialize(conn, "webhooks", vendor_id)
        store = Webhooks(conn)
        endpoint = await store.get(vendor_id, webhook_id)
        if endpoint is None:
            raise NotFound("webhook")
        room = await _room_for_deliveries(store, endpoint, "replay")
        ids = await store.replay(
            vendor_id, webhook_id, after_seq, min(limit, MAX_REPLAY_EVENTS, room)
        )
        work.redeliver(ids)
    return len(ids)


async def _room_for_deliveries(store: Webhooks, endpoint: EndpointRow, action: str) -> int:
    """How many more deliveries the endpoint may be given (at least 1), or the refusal:
    409 ``endpoint-disabled``, 409 ``too-many-pending-deliveries``."""
    if endpoint.status != "active":
        raise EndpointDisabled(
            "This endpoint is disabled; enable it again (PATCH with enabled: true) to "
            "receive events."
        )
    room = MAX_PENDING_DELIVERIES - await store.pending_count(endpoint.id)
    if room <= 0:
        raise QuotaExceeded(
            f"This endpoint already has {MAX_PENDING_DELIVERIES} or more deliveries "
            f"pending; {action} again once they have been attempted (see the delivery log).",
            "too-many-pending-deliveries",
            limit=MAX_PENDING_DELIVERIES,
        )
    return room


async def get_webhook(conn: asyncpg.Connection, vendor_id: str, webhook_id: str) -> EndpointRow:
    """One of the vendor's endpoints (``NotFound`` for anyone else's)."""
    endpoint = await Webhooks(conn).get(vendor_id, webhook_id)
    if endpoint is None:
        raise NotFound("webhook")
    return endpoint


class WebhookChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What ``update_webhook`` changes; ``UNSET`` leaves a field as it is."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | None | msgspec.UnsetType = msgspec.UNSET
    """``None``: every event type."""
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


async def update_webhook(
    conn: asyncpg.Connection,
    *,
    vendor_id: str,
    webhook_id: str,
    changes: WebhookChanges,
    allow_loopback: bool,
) -> EndpointRow:
    """Change the URL (checked as at registration), the event filter or whether the
    endpoint is enabled. Enabling a disabled endpoint clears its failure streak and reason
    (deliveries given up meanwhile stay given up: replay them); disabling one gives up its
    pending deliveries. The secret is untouched (rotate it on its own)."""
    url = None
    if changes.url is not msgspec.UNSET:
        url = webhook_rules.check_url(changes.url, allow_loopback=allow_loopback)
    events = None if changes.events is msgspec.UNSET else changes.events
    enabled = None if changes.enabled is msgspec.UNSET else changes.enabled
    async with conn.transaction():
        store = Webhooks(conn)
        before = await store.get_for_update(vendor_id, webhook_id)
        if before is None:
            raise NotFound("webhook")
        row = await store.update(
            vendor_id,
            webhook_id,
            url=url,
            change_events=changes.events is not msgspec.UNSET,
            events=None if events is None else list(dict.fromkeys(events)),
            enabled=enabled,
            disabled_reason=rules.DISABLED_BY_VENDOR,
        )
        if row is None:
            raise NotFound("webhook")
        if before.status == "active" and row.status == "disabled":
            await store.fail_pending(webhook_id, f"endpoint disabled: {rules.DISABLED_BY_VENDOR}")
    return row


async def rotate_secret(
    conn: asyncpg.Connection,
    keys: Keys,
    *,
    vendor_id: str,
    webhook_id: str,
    grace_period_s: int,
    now: datetime,
) -> tuple[EndpointRow, str]:
    """A new ``whsec_`` secret for the endpoint (returned once). The current one keeps
    signing, beside the new one, until ``now + grace_period_s`` (0: it stops at once); a
    secret an earlier rotation replaced stops now."""
    expires_at = rules.previous_secret_expiry(now, grace_period_s)
    secret = webhook_rules.new_secret()
    context = f"{webhook_id}:secret"
    async with conn.transaction():
        store = Webhooks(conn)
        endpoint = await store.get_for_update(vendor_id, webhook_id)
        if endpoint is None:
            raise NotFound("webhook")
        previous_sealed = None
        if expires_at is not None:
            # sealed afresh (under the current server key), not copied
            previous = keys.sealer.open(endpoint.secret_sealed, context=context)
            previous_sealed = keys.sealer.seal(previous, context=context)
        row = await store.rotate_secret(
            vendor_id,
            webhook_id,
            secret_sealed=keys.sealer.seal(secret, context=context),
            previous_secret_sealed=previous_sealed,
            previous_expires_at=expires_at,
        )
        if row is None:
            raise NotFound("webhook")
    return row, secret


async def send_test_event(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    vendor_id: str,
    webhook_id: str,
    now: datetime,
) -> tuple[str, LogEvent]:
    """Queue a ``webhook.test`` delivery to this endpoint only; the delivery id and the
    event. Refused like a replay: 409 for a disabled endpoint or one with
    ``MAX_PENDING_DELIVERIES`` pending."""
    async with unit_of_work(conn, client) as work:
        await serialize(conn, "webhooks", vendor_id)  # the pending cap, as for a replay
        store = Webhooks(conn)
        endpoint = await store.get(vendor_id, webhook_id)
        if endpoint is None:
            raise NotFound("webhook")
        await _room_for_deliveries(store, endpoint, "send a test")
        event = LogEvent(
            id=new_id("evt"),
            seq=rules.TEST_EVENT_SEQ,
            type=WEBHOOK_TEST_EVENT,
            created_at=now,
            data=rules.sample_event_data(webhook_id=webhook_id),
        )
        delivery_id = await store.enqueue_test(vendor_id, webhook_id, event)
        work.redeliver([delivery_id])
    return delivery_id, event


DISABLE_BATCH = 100


async def disable_failing_webhooks(
    conn: asyncpg.Connection, client: redis.Redis, *, after_days: int
) -> list[EndpointRow]:
    """Disable every active endpoint whose deliveries have all failed over at least
    ``after_days`` days (``domain.webhooks.disable_due``; 0: never), giving up its pending
    deliveries, and tell its vendor ``webhook.disabled`` (feed, SSE and its other
    endpoints). The endpoints disabled; safe to run in several schedulers at once."""
    if after_days <= 0:
        return []
    disabled: list[EndpointRow] = []
    while True:
        before = len(disabled)
        async with unit_of_work(conn, client) as work:
            store = Webhooks(conn)
            candidates = await store.failing_for(timedelta(days=after_days), DISABLE_BATCH)
            reason = rules.disabled_reason(after_days)
            for endpoint in candidates:
                if not rules.disable_due(
                    failing_since=endpoint.failing_since,
                    last_failure_at=endpoint.last_failure_at,
                    after_days=after_days,
                ):
                    continue
                if not await store.disable(endpoint.id, reason):
                    continue
                failing_since = endpoint.failing_since
                await work.tell_vendor(
                    endpoint.vendor_id,
                    VendorEventType.WEBHOOK_DISABLED,
                    rules.disabled_event_data(
                        webhook_id=endpoint.id,
                        url=endpoint.url,
                        reason=reason,
                        failing_since=failing_since,
                    ),
                    dedupe.webhook_disabled(
                        endpoint.id, "" if failing_since is None else failing_since.isoformat()
                    ),
                )
                disabled.append(endpoint)
        if len(candidates) < DISABLE_BATCH or len(disabled) == before:
            return disabled


async def drop_expired_secrets(conn: asyncpg.Connection, *, now: datetime) -> int:
    """Erase the rotated-out secrets whose grace period has ended; how many."""
    return await Webhooks(conn).drop_expired_previous_secrets(now)
