"""Webhook endpoint use cases: register (at most ``MAX_WEBHOOKS_PER_VENDOR``), list,
remove, inspect deliveries, replay. Delivering is the delivery worker's job
(``delivery/``); the URL rules live in ``delivery.webhooks.check_url``."""

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
    """Queue every event after ``after_seq`` (up to ``limit``) for this endpoint again."""
    async with unit_of_work(conn, client) as work:
        store = Webhooks(conn)
        endpoint = await store.get(vendor_id, webhook_id)
        if endpoint is None:
            raise NotFound("webhook")
        if endpoint.status != "active":
            raise EndpointDisabled(
                "This endpoint is disabled; register it again to receive events."
            )
        ids = await store.replay(vendor_id, webhook_id, after_seq, limit)
        work.redeliver(ids)
    return len(ids)
