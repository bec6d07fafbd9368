"""Vendor subscriptions: the standing demand a vendor wants delivered (verified vendors)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.openapi.spec import Example
from litestar.params import Body

from intentcast.api.auth import requires_verified_vendor
from intentcast.api.errors import conflict, not_found
from intentcast.api.types import DEFAULT_LIMIT, AfterParam, LimitParam, decode_cursor, next_cursor
from intentcast.bus import STREAM_MAXLEN, SUBS_STREAM
from intentcast.bus.outbox_relay import publish_now
from intentcast.domain.subscriptions import (
    Money,
    SubscriptionDraft,
    SubscriptionPatch,
    area_cells,
    check_subscription,
)
from intentcast.matching.worker import SUBSCRIPTION_CHANGED
from intentcast.security import new_id
from intentcast.store.accounts import Principal
from intentcast.store.outbox import Outbox, OutboxEvent
from intentcast.store.subscriptions import SubscriptionRow, Subscriptions

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS_PER_VENDOR = 1000


class SubscriptionView(msgspec.Struct, kw_only=True):
    id: str
    categories: list[str]
    area: dict[str, Any] | None
    cells: list[str]
    """The area as H3 cells (a disk is converted to covering cells)."""
    countries: list[str]
    budget_min: Money | None
    attributes: dict[str, str | list[str]]
    keywords: list[str]
    fulfilment: list[str]
    max_per_hour: int | None
    active: bool
    created_at: datetime
    updated_at: datetime


class SubscriptionPage(msgspec.Struct):
    items: list[SubscriptionView]
    next: str | None


DraftBody = Annotated[
    SubscriptionDraft,
    Body(
        examples=[
            Example(
                summary="Cameras within 30 km of Munich",
                value={
                    "categories": ["electronics/cameras"],
                    "area": {"lat": 48.137, "lng": 11.575, "radius_km": 30},
                    "budget_min": {"amount": "500", "currency": "EUR"},
                    "fulfilment": ["pickup", "delivery"],
                    "max_per_hour": 100,
                },
            ),
            Example(
                summary="By Google category id, in two countries, with keywords",
                value={
                    "categories": ["gpc:152"],
                    "countries": ["DE", "AT"],
                    "keywords": ["sony", "full frame"],
                    "attributes": {"condition": ["new", "used"]},
                },
            ),
        ]
    ),
]


def view(row: SubscriptionRow) -> SubscriptionView:
    return SubscriptionView(
        id=row.id,
        categories=row.categories,
        area=row.area,
        cells=row.cells,
        countries=row.countries,
        budget_min=(
            None
            if row.budget_min is None or row.budget_currency is None
            else Money(amount=row.budget_min, currency=row.budget_currency)
        ),
        attributes=row.attributes,
        keywords=row.keywords,
        fulfilment=row.fulfilment,
        max_per_hour=row.max_per_hour,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _category_paths(db: asyncpg.Connection, state: State, refs: list[str]) -> list[str]:
    paths = [
        (await state.taxonomy.resolve(db, ref, f"categories[{i}]")).path
        for i, ref in enumerate(refs)
    ]
    return list(dict.fromkeys(paths))


async def _announce(
    db: asyncpg.Connection, state: State, row: SubscriptionRow, outbox_event: OutboxEvent
) -> None:
    """After commit: wake every matcher's index and queue the backfill."""
    try:
        await state.redis.xadd(
            SUBS_STREAM,
            {"id": row.id, "version": str(row.change_version)},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )
    except Exception as exc:  # a missed hint is caught up by the matchers' version check
        log.warning("could not announce subscription %s: %s", row.id, exc)
    await publish_now(db, state.redis, [outbox_event])


class SubscriptionController(Controller):
    path = "/v1/subscriptions"
    tags = ["subscriptions"]
    guards = [requires_verified_vendor]

    @post(operation_id="createSubscription", summary="Subscribe to matching intents")
    async def create(
        self, data: DraftBody, principal: Principal, db: asyncpg.Connection, state: State
    ) -> SubscriptionView:
        """Categories are taxonomy paths (a path covers its subtree) or `gpc:<id>`. The area
        is H3 cells of any resolution or a disk (`lat`, `lng`, `radius_km` <= 500). Open
        intents that already match are delivered too (backfill)."""
        categories = await _category_paths(db, state, data.categories)
        cells = area_cells(data.area)
        check_subscription(countries=data.countries, budget_min=data.budget_min)
        async with db.transaction():
            store = Subscriptions(db)
            await db.execute(
                "SELECT pg_advisory_xact_lock(hashtext('subs:' || $1))", principal.subject_id
            )
            if await store.count_for_vendor(principal.subject_id) >= MAX_SUBSCRIPTIONS_PER_VENDOR:
                raise conflict(
                    f"A vendor may hold at most {MAX_SUBSCRIPTIONS_PER_VENDOR} subscriptions.",
                    "too-many-subscriptions",
                )
            row = await store.insert(
                {
                    "id": new_id("sub"),
                    "vendor_id": principal.subject_id,
                    "categories": categories,
                    "area": None if data.area is None else msgspec.to_builtins(data.area),
                    "cells": cells,
                    "countries": list(dict.fromkeys(data.countries)),
                    "budget_min": data.budget_min.amount if data.budget_min else None,
                    "budget_currency": data.budget_min.currency if data.budget_min else None,
                    "attributes": data.attributes,
                    "keywords": list(dict.fromkeys(data.keywords)),
                    "fulfilment": list(dict.fromkeys(data.fulfilment)),
                    "max_per_hour": data.max_per_hour,
                    "active": data.active,
                }
            )
            outbox_event = await Outbox(db).add(
                SUBSCRIPTION_CHANGED, row.id, {"version": row.change_version}
            )
        await _announce(db, state, row, outbox_event)
        return view(row)

    @get(operation_id="listSubscriptions", summary="This vendor's subscriptions")
    async def list_subscriptions(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> SubscriptionPage:
        rows = await Subscriptions(db).list_for_vendor(
            principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [view(r) for r in rows]
        return SubscriptionPage(items=items, next=next_cursor(items, limit))

    @get("/{subscription_id:str}", operation_id="getSubscription", summary="One subscription")
    async def get_one(
        self, subscription_id: str, principal: Principal, db: asyncpg.Connection
    ) -> SubscriptionView:
        row = await Subscriptions(db).get_for_vendor(principal.subject_id, subscription_id)
        if row is None:
            raise not_found("subscription")
        return view(row)

    @patch(
        "/{subscription_id:str}", operation_id="updateSubscription", summary="Change a subscription"
    )
    async def update(
        self,
        subscription_id: str,
        data: SubscriptionPatch,
        principal: Principal,
        db: asyncpg.Connection,
        state: State,
    ) -> SubscriptionView:
        """A widened subscription is matched against open intents again (backfill)."""
        given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        changes: dict[str, Any] = {}
        if "categories" in given:
            changes["categories"] = await _category_paths(db, state, given.pop("categories"))
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
            budget_min=data.budget_min if data.budget_min is not msgspec.UNSET else None,
        )
        for name in ("countries", "keywords", "fulfilment"):
            if name in given:
                changes[name] = list(dict.fromkeys(given.pop(name)))
        changes.update(given)  # attributes, max_per_hour, active
        async with db.transaction():
            store = Subscriptions(db)
            row = await store.get_for_vendor(principal.subject_id, subscription_id, for_update=True)
            if row is None:
                raise not_found("subscription")
            row = await store.update(subscription_id, changes)
            outbox_event = await Outbox(db).add(
                SUBSCRIPTION_CHANGED, row.id, {"version": row.change_version}
            )
        await _announce(db, state, row, outbox_event)
        return view(row)

    @delete("/{subscription_id:str}", operation_id="deleteSubscription", summary="Unsubscribe")
    async def remove(
        self, subscription_id: str, principal: Principal, db: asyncpg.Connection, state: State
    ) -> None:
        async with db.transaction():
            store = Subscriptions(db)
            row = await store.get_for_vendor(principal.subject_id, subscription_id, for_update=True)
            if row is None:
                raise not_found("subscription")
            row = await store.soft_delete(subscription_id)
            outbox_event = await Outbox(db).add(
                SUBSCRIPTION_CHANGED, row.id, {"version": row.change_version}
            )
        await _announce(db, state, row, outbox_event)
