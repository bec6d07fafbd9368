"""Buyer intents: preview, publish, list, read, and change (status, expiry, text)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Body, Parameter
from redis.asyncio import Redis

from intentcast.api.auth import requires_buyer
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_time_cursor,
    encode_time_cursor,
)
from intentcast.config import Settings
from intentcast.domain.intents import (
    Budget,
    Intent,
    IntentDraft,
    IntentPatch,
    IntentStatus,
    Terms,
)
from intentcast.domain.location import resolution
from intentcast.domain.scrubbing import Redaction
from intentcast.domain.vendor_view import VendorIntent, preview_view, vendor_view
from intentcast.services import intents
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.store.accounts import Principal

PUBLISH_EXAMPLE = Example(
    summary="A camera body near Munich",
    value={
        "category": "electronics/cameras/mirrorless",
        "title": "Full-frame mirrorless body, Sony A7 IV or similar",
        "description": "New, with warranty. Pickup in Munich is fine.",
        "attributes": {"condition": "new", "mount": ["sony-e"]},
        "quantity": 1,
        "budget": {"max": "1800.00", "currency": "EUR"},
        "location": {"lat": 48.137, "lng": 11.575, "precision": 7, "country": "DE"},
        "fulfilment": ["pickup", "delivery"],
        "needed_by": "2026-12-20",
        "terms": {"retention_days": 30},
    },
)
GPC_EXAMPLE = Example(
    summary="By Google Product Taxonomy id, country only",
    value={
        "category": "gpc:152",
        "title": "Compact camera for travel",
        "budget": {"min": "200", "max": "400", "currency": "EUR", "visible": False},
        "location": {"country": "FR"},
    },
)
DraftBody = Annotated[IntentDraft, Body(examples=[PUBLISH_EXAMPLE, GPC_EXAMPLE])]
PatchBody = Annotated[
    IntentPatch,
    Body(
        examples=[
            Example(summary="Pause", value={"status": "paused"}),
            Example(summary="Withdraw", value={"status": "withdrawn"}),
            Example(summary="Extend", value={"expires_at": "2027-01-31T12:00:00Z"}),
            Example(summary="Edit", value={"title": "Sony A7 IV body", "quantity": 2}),
        ]
    ),
]


class BuyerLocation(msgspec.Struct, kw_only=True):
    cell: str | None
    resolution: int | None
    country: str | None


class BuyerIntent(msgspec.Struct, kw_only=True):
    """The buyer's own view of an intent: their words, plus exactly what vendors see."""

    id: str
    status: IntentStatus
    category: str
    title: str
    description: str | None
    attributes: dict[str, str | list[str]]
    quantity: int
    budget: Budget | None
    location: BuyerLocation | None
    fulfilment: list[str]
    needed_by: date | None
    expires_at: datetime
    terms: Terms
    published_at: datetime
    updated_at: datetime
    version: int
    redactions: list[Redaction]
    vendor_view: VendorIntent


class IntentPage(msgspec.Struct):
    items: list[BuyerIntent]
    next: str | None


class Preview(msgspec.Struct):
    """What vendors would see if this draft were published, and what was removed."""

    vendor_view: VendorIntent
    redactions: list[Redaction]
    generalised: bool = False
    """Vendors would see a coarser category or location than you asked for (as
    `vendor_view` shows): fewer buyers than the operator's k-anonymity threshold have open
    intents sharing the pair you asked for. Published now, the intent is shown like that;
    decided at publish time, from the open intents then."""


def buyer_intent(intent: Intent, settings: Settings) -> BuyerIntent:
    location = intent.location
    return BuyerIntent(
        id=intent.id,
        status=intent.status,
        category=intent.category,
        title=intent.title,
        description=intent.description,
        attributes=intent.attributes,
        quantity=intent.quantity,
        budget=intent.budget,
        location=(
            BuyerLocation(
                cell=location.cell,
                resolution=None if location.cell is None else resolution(location.cell),
                country=location.country,
            )
            if location
            else None
        ),
        fulfilment=intent.fulfilment,
        needed_by=intent.needed_by,
        expires_at=intent.expires_at,
        terms=intent.terms,
        published_at=intent.published_at,
        updated_at=intent.updated_at,
        version=intent.version,
        redactions=intent.redactions,
        vendor_view=vendor_view(intent, location_floor=settings.location_floor),
    )


class IntentController(Controller):
    path = "/v1/intents"
    tags = ["intents"]
    guards = [requires_buyer]

    @post(
        "/preview", operation_id="previewIntent", summary="What vendors would see", status_code=200
    )
    async def preview(
        self,
        data: DraftBody,
        principal: Principal,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
        settings: Settings,
    ) -> Preview:
        """Runs the same validation and scrubbing as publishing, stores nothing, and returns
        the vendor view (with `id: null`) plus the list of redactions (field, kind, offsets
        in the original text). `generalised: true` when k-anonymity would show vendors a
        coarser category or location than asked for (the vendor view shows which)."""
        intent = await intents.draft_intent(
            db, taxonomy, settings, buyer_id=principal.subject_id, draft=data, now=_now()
        )
        return Preview(
            vendor_view=preview_view(intent, location_floor=settings.location_floor),
            redactions=intent.redactions,
            generalised=intent.disclosure is not None,
        )

    @post(operation_id="publishIntent", summary="Publish an intent")
    async def publish(
        self,
        data: DraftBody,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        taxonomy: TaxonomyCache,
        settings: Settings,
    ) -> BuyerIntent:
        """Stores the intent durably (with its `intent.published` event) before answering.
        Vendors see only the scrubbed, coarsened vendor view. A buyer may hold at most
        `max_open_intents` open or paused intents (409 beyond)."""
        stored = await intents.publish_intent(
            db, redis, taxonomy, settings, buyer_id=principal.subject_id, draft=data, now=_now()
        )
        return buyer_intent(stored, settings)

    @get(operation_id="listIntents", summary="Your intents, newest first")
    async def list_intents(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        settings: Settings,
        status: Annotated[
            list[IntentStatus] | None,
            Parameter(description="Only these statuses (repeat the parameter for several)."),
        ] = None,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> IntentPage:
        """Buyers only. Your intents, newest first, each with your words, what was redacted
        and exactly what vendors see; `?status=` filters. Paginated with `next`."""
        items = await intents.buyer_intents(
            db,
            buyer_id=principal.subject_id,
            statuses=status,
            limit=limit,
            before=decode_time_cursor(after),
        )
        return IntentPage(
            items=[buyer_intent(i, settings) for i in items],
            next=(
                encode_time_cursor(items[-1].published_at, items[-1].id)
                if len(items) == limit
                else None
            ),
        )

    @get("/{intent_id:str}", operation_id="getIntent", summary="One of your intents")
    async def get_intent(
        self, intent_id: str, principal: Principal, db: asyncpg.Connection, settings: Settings
    ) -> BuyerIntent:
        """Buyers only. Your own view of the intent: your original words, exactly what
        vendors see of it, and its status. 404 for an intent that is not yours."""
        intent = await intents.buyer_intent(db, buyer_id=principal.subject_id, intent_id=intent_id)
        return buyer_intent(intent, settings)

    @patch("/{intent_id:str}", operation_id="updateIntent", summary="Pause, reopen, withdraw, edit")
    async def update_intent(
        self,
        intent_id: str,
        data: PatchBody,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        settings: Settings,
    ) -> BuyerIntent:
        """`status`: `paused` ↔ `open`, or `withdrawn` (final). `expires_at` extends or
        shortens the lifetime (up to the operator maximum from now). Text, attributes,
        quantity, budget, fulfilment, needed_by and terms can change while the intent is open
        or paused. Illegal status changes and edits of closed intents answer 409. Matched
        vendors receive `intent.updated` (or `intent.closed` on withdrawal)."""
        stored = await intents.change_intent(
            db,
            redis,
            settings,
            buyer_id=principal.subject_id,
            intent_id=intent_id,
            patch=data,
            now=_now(),
        )
        return buyer_intent(stored, settings)


def _now() -> datetime:
    return datetime.now(UTC)
