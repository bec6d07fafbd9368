"""Webhook endpoint use cases: register (at most ``MAX_WEBHOOKS_PER_VENDOR``), list,
remove, inspect deliveries, replay. Delivering is the delivery worker's job
(``delivery/``); the URL rules live in ``delivery.webhooks.check_url``.

Replay is bounded, so that one API call cannot turn the server into a reflector sending
thousands of signed POSTs to an arbitrary host: one replay queues at most
``MAX_REPLAY_EVENTS`` events, and never more than brings the endpoint's outstanding (pending)
deliveries to ``MAX_PENDING_DELIVERIES``; at the cap a replay is refused (409
``too-many-pending-deliveries``) until the worker has attempted what is queued."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import redis.asyncio as redis

from intentcast.delivery import webhooks as webhook_rules
from intentcast.domain.errors import EndpointDisabled, NotFound, QuotaExceeded
from intentcast.domain.webhooks import MAX_WEBHOOKS_PER_VENDOR
from intentcast.security import Keys, new_id
from intentcast.services.work import unit_of_work
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
        if endpoint.status != "active":
            raise EndpointDisabled(
                "This endpoint is disabled; register it again to receive events."
            )
        room = MAX_PENDING_DELIVERIES - await store.pending_count(webhook_id)
        if room <= 0:
            raise QuotaExceeded(
                f"This endpoint already has {MAX_PENDING_DELIVERIES} or more deliveries "
                "pending; replay again once they have been attempted (see the delivery log).",
                "too-many-pending-deliveries",
                limit=MAX_PENDING_DELIVERIES,
            )
        ids = await store.replay(
            vendor_id, webhook_id, after_seq, min(limit, MAX_REPLAY_EVENTS, room)
        )
        work.redeliver(ids)
    return len(ids)
