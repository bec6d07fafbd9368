"""Vendor subscriptions: the standing demand a vendor wants delivered. Any vendor that is
not suspended manages them; a pending vendor receives matches once it is verified."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Body
from redis.asyncio import Redis

from intentcast.api.auth import requires_vendor
from intentcast.api.types import DEFAULT_LIMIT, AfterParam, LimitParam, decode_cursor, next_cursor
from intentcast.domain.money import Money
from intentcast.domain.subscriptions import SubscriptionDraft, SubscriptionPatch
from intentcast.services import subscriptions
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.store.accounts import Principal
from intentcast.store.subscriptions import SubscriptionRow


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


class SubscriptionController(Controller):
    path = "/v1/subscriptions"
    tags = ["subscriptions"]
    guards = [requires_vendor]

    @post(operation_id="createSubscription", summary="Subscribe to matching intents")
    async def create(
        self,
        data: DraftBody,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        taxonomy: TaxonomyCache,
    ) -> SubscriptionView:
        """Categories are taxonomy paths (a path covers its subtree) or `gpc:<id>`. The area
        is H3 cells of any resolution or a disk (`lat`, `lng`, `radius_km` <= 500). Open
        intents that already match are delivered too (backfill)."""
        row = await subscriptions.create_subscription(
            db, redis, taxonomy, vendor_id=principal.subject_id, draft=data
        )
        return view(row)

    @get(operation_id="listSubscriptions", summary="This vendor's subscriptions")
    async def list_subscriptions(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> SubscriptionPage:
        """Vendors only. Your subscriptions in id order; paginated with `next`."""
        rows = await subscriptions.vendor_subscriptions(
            db, vendor_id=principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [view(r) for r in rows]
        return SubscriptionPage(items=items, next=next_cursor(items, limit))

    @get("/{subscription_id:str}", operation_id="getSubscription", summary="One subscription")
    async def get_one(
        self, subscription_id: str, principal: Principal, db: asyncpg.Connection
    ) -> SubscriptionView:
        """Vendors only. One of your subscriptions; 404 for another vendor's."""
        row = await subscriptions.vendor_subscription(
            db, vendor_id=principal.subject_id, subscription_id=subscription_id
        )
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
        redis: Redis,
        taxonomy: TaxonomyCache,
    ) -> SubscriptionView:
        """A widened subscription is matched against open intents again (backfill)."""
        row = await subscriptions.change_subscription(
            db,
            redis,
            taxonomy,
            vendor_id=principal.subject_id,
            subscription_id=subscription_id,
            patch=data,
        )
        return view(row)

    @delete("/{subscription_id:str}", operation_id="deleteSubscription", summary="Unsubscribe")
    async def remove(
        self, subscription_id: str, principal: Principal, db: asyncpg.Connection, redis: Redis
    ) -> None:
        """Vendors only. No new intents match it from now on; matches already delivered
        stay in your feed. 404 for another vendor's subscription."""
        await subscriptions.remove_subscription(
            db, redis, vendor_id=principal.subject_id, subscription_id=subscription_id
        )
