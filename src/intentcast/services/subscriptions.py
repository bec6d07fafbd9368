"""Subscription use cases: a vendor's standing demand, created, changed and
removed; every change bumps the subscription's version, wakes the matchers and queues a
backfill against open intents (``subscription.changed`` through the outbox)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import NotFound, QuotaExceeded
from intentcast.domain.events import OutboxEventType
from intentcast.domain.subscriptions import (
    MAX_SUBSCRIPTIONS_PER_VENDOR,
    SubscriptionDraft,
    SubscriptionPatch,
    area_cells,
    check_subscription,
)
from intentcast.security import new_id
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.services.work import Work, unit_of_work
from intentcast.store.locks import serialize
from intentcast.store.subscriptions import SubscriptionRow, Subscriptions


async def _changed(work: Work, row: SubscriptionRow) -> None:
    await work.record(OutboxEventType.SUBSCRIPTION_CHANGED, row.id, {"version": row.change_version})
    work.hint_subscription(row.id, row.change_version)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


async def create_subscription(
    conn: asyncpg.Connection,
    client: redis.Redis,
    taxonomy: TaxonomyCache,
    *,
    vendor_id: str,
    draft: SubscriptionDraft,
) -> SubscriptionRow:
    categories = await taxonomy.resolve_all(conn, draft.categories, "categories")
    cells = area_cells(draft.area)
    check_subscription(countries=draft.countries, budget_min=draft.budget_min)
    async with unit_of_work(conn, client) as work:
        store = Subscriptions(conn)
        await serialize(conn, "subs", vendor_id)
        if await store.count_for_vendor(vendor_id) >= MAX_SUBSCRIPTIONS_PER_VENDOR:
            raise QuotaExceeded(
                f"A vendor may hold at most {MAX_SUBSCRIPTIONS_PER_VENDOR} subscriptions.",
                "too-many-subscriptions",
                limit=MAX_SUBSCRIPTIONS_PER_VENDOR,
            )
        row = await store.insert(
            {
                "id": new_id("sub"),
                "vendor_id": vendor_id,
                "categories": categories,
                "area": None if draft.area is None else msgspec.to_builtins(draft.area),
                "cells": cells,
                "countries": _unique(draft.countries),
                "budget_min": draft.budget_min.amount if draft.budget_min else None,
                "budget_currency": draft.budget_min.currency if draft.budget_min else None,
                "attributes": draft.attributes,
                "keywords": _unique(draft.keywords),
                "fulfilment": _unique(draft.fulfilment),
                "max_per_hour": draft.max_per_hour,
                "active": draft.active,
            }
        )
        await _changed(work, row)
    return row


async def vendor_subscription(
    conn: asyncpg.Connection, *, vendor_id: str, subscription_id: str
) -> SubscriptionRow:
    row = await Subscriptions(conn).get_for_vendor(vendor_id, subscription_id)
    if row is None:
        raise NotFound("subscription")
    return row


async def vendor_subscriptions(
    conn: asyncpg.Connection, *, vendor_id: str, limit: int, after: str | None
) -> list[SubscriptionRow]:
    return await Subscriptions(conn).list_for_vendor(vendor_id, limit=limit, after=after)


async def change_subscription(
    conn: asyncpg.Connection,
    client: redis.Redis,
    taxonomy: TaxonomyCache,
    *,
    vendor_id: str,
    subscription_id: str,
    patch: SubscriptionPatch,
) -> SubscriptionRow:
    """A widened subscription is matched against open intents again (backfill)."""
    given = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    changes: dict[str, Any] = {}
    if "categories" in given:
        changes["categories"] = await taxonomy.resolve_all(
            conn, given.pop("categories"), "categories"
        )
    if "area" in given:
        area = given.pop("area")
        changes["area"] = None if area is None else msgspec.to_builtins(area)
        changes["cells"] = area_cells(area)
    if "budget_min" in given:
        money = given.pop("budget_min")
        changes["budget_min"] = money.amount if money else None
        changes["budget_currency"] = money.currency if money else None
    check_subscription(
        countries=given.get("countries", []),
        budget_min=patch.budget_min if patch.budget_min is not msgspec.UNSET else None,
    )
    for name in ("countries", "keywords", "fulfilment"):
        if name in given:
            changes[name] = _unique(given.pop(name))
    changes.update(given)  # attributes, max_per_hour, active
    async with unit_of_work(conn, client) as work:
        store = Subscriptions(conn)
        row = await store.get_for_vendor(vendor_id, subscription_id, for_update=True)
        if row is None:
            raise NotFound("subscription")
        row = await store.update(subscription_id, changes)
        await _changed(work, row)
    return row


async def remove_subscription(
    conn: asyncpg.Connection, client: redis.Redis, *, vendor_id: str, subscription_id: str
) -> None:
    async with unit_of_work(conn, client) as work:
        store = Subscriptions(conn)
        row = await store.get_for_vendor(vendor_id, subscription_id, for_update=True)
        if row is None:
            raise NotFound("subscription")
        await _changed(work, await store.soft_delete(subscription_id))
