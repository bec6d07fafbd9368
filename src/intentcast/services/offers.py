"""Offer use cases: create, revise, withdraw, accept, decline, rate, expire, and the
projections both sides see (also the ``data`` of offer events).

Rules come from ``domain.offers``; every change runs in a unit of work that tells the other
side (the buyer's log for vendor actions, the vendor's log for buyer actions).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import AlreadyExists, NotFound
from intentcast.domain.events import BuyerEventType, OutboxEventType, VendorEventType, dedupe
from intentcast.domain.intents import Intent, check_transition
from intentcast.domain.offer_pages import PageKey, offer_page
from intentcast.domain.offers import (
    OfferDraft,
    OfferPatch,
    OfferSort,
    OfferStatus,
    Price,
    RankFacts,
    check_acceptable,
    check_offer_fields,
    check_rateable,
    check_takes_offers,
    require_live,
    settle,
)
from intentcast.security import Keys, new_id
from intentcast.services.reveals import RevealView, grant_reveal
from intentcast.services.scrubbing import scrub_text
from intentcast.services.vendors import VendorPublic, public_profiles
from intentcast.services.work import Work, unit_of_work
from intentcast.store.deals import Blocks, OfferRow, Offers, Ratings
from intentcast.store.intents import Intents
from intentcast.store.locks import serialize
from intentcast.store.matches import Matches

# ---- projections ---------------------------------------------------------------------------


class OfferView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    status: OfferStatus
    version: int
    price: Price
    quantity: int
    title: str
    details: str | None
    valid_until: datetime | None
    delivery_days: int | None
    terms: str | None
    created_at: datetime
    updated_at: datetime


class Rating(msgspec.Struct, kw_only=True):
    average: float | None
    count: int


class VendorSummary(msgspec.Struct, kw_only=True):
    id: str
    name: str
    website: str | None
    verified: bool
    rating: Rating


class BuyerOfferView(OfferView, kw_only=True):
    vendor: VendorSummary


class OfferDetail(OfferView, kw_only=True):
    history: list[dict[str, Any]]
    """Every version of this offer, oldest first."""


class RatingView(msgspec.Struct, kw_only=True):
    offer_id: str
    stars: int
    comment: str | None
    created_at: datetime


class Acceptance(msgspec.Struct, kw_only=True):
    offer: OfferRow
    intent_status: str
    reveal: RevealView | None


def offer_view(offer: OfferRow) -> OfferView:
    return OfferView(
        id=offer.id,
        intent_id=offer.intent_id,
        vendor_id=offer.vendor_id,
        status=offer.status,  # type: ignore[arg-type]
        version=offer.version,
        price=Price(amount=offer.price_amount, currency=offer.price_currency),
        quantity=offer.quantity,
        title=offer.title,
        details=offer.details,
        valid_until=offer.valid_until,
        delivery_days=offer.delivery_days,
        terms=offer.terms,
        created_at=offer.created_at,
        updated_at=offer.updated_at,
    )


def vendor_summary(vendor: VendorPublic) -> VendorSummary:
    return VendorSummary(
        id=vendor.id,
        name=vendor.name,
        website=vendor.website,
        verified=vendor.verified,
        rating=Rating(average=vendor.rating_average, count=vendor.rating_count),
    )


def buyer_offer_view(offer: OfferRow, vendor: VendorSummary) -> BuyerOfferView:
    return BuyerOfferView(**msgspec.structs.asdict(offer_view(offer)), vendor=vendor)


# ---- telling the other side ----------------------------------------------------------------


async def _tell_buyer(
    work: Work, buyer_id: str, event: BuyerEventType, offer: OfferRow, key: str
) -> None:
    vendor = (await public_profiles(work.conn, [offer.vendor_id]))[offer.vendor_id]
    data = {"offer": msgspec.to_builtins(buyer_offer_view(offer, vendor_summary(vendor)))}
    await work.tell_buyer(buyer_id, event, data, key)


async def _tell_vendor(work: Work, offer: OfferRow, event: VendorEventType, key: str) -> None:
    data = {"offer": msgspec.to_builtins(offer_view(offer)), "intent_id": offer.intent_id}
    await work.tell_vendor(offer.vendor_id, event, data, key)


async def _intent_of(conn: asyncpg.Connection, offer: OfferRow) -> Intent:
    intent = await Intents(conn).get(offer.intent_id)
    if intent is None:  # offers reference intents; only a broken database gets here
        raise NotFound("intent")
    return intent


# ---- vendor side ---------------------------------------------------------------------------


async def create_offer(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    vendor_id: str,
    intent_id: str,
    draft: OfferDraft,
    now: datetime,
) -> OfferRow:
    """Only on an open intent this vendor matched and is not blocked from (404 otherwise,
    so nothing leaks); one live offer per vendor per intent."""
    async with unit_of_work(conn, client) as work:
        if not await Matches(conn).vendor_matched(vendor_id, intent_id):
            raise NotFound("intent")
        intent = await Intents(conn).get(intent_id)
        if intent is None or await Blocks(conn).blocked(intent.buyer_id, vendor_id):
            raise NotFound("intent")
        check_takes_offers(intent.status)
        check_offer_fields(
            price=draft.price,
            quantity=draft.quantity,
            valid_until=draft.valid_until,
            intent_quantity=intent.quantity,
            now=now,
        )
        await serialize(conn, "offers", intent_id, vendor_id)
        offers = Offers(conn)
        if await offers.live_for(intent_id, vendor_id) is not None:
            raise AlreadyExists(
                "You already have a live offer on this intent; revise it instead.",
                "offer-exists",
            )
        offer = await offers.insert(
            {
                "id": new_id("off"),
                "intent_id": intent_id,
                "vendor_id": vendor_id,
                "price_amount": draft.price.amount,
                "price_currency": draft.price.currency,
                "quantity": draft.quantity,
                "title": draft.title,
                "details": draft.details,
                "valid_until": draft.valid_until,
                "delivery_days": draft.delivery_days,
                "terms": draft.terms,
            }
        )
        await _tell_buyer(
            work, intent.buyer_id, BuyerEventType.OFFER_CREATED, offer, dedupe.offer(offer.id, 1)
        )
    return offer


async def revise_offer(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    vendor_id: str,
    offer_id: str,
    patch: OfferPatch,
    now: datetime,
) -> OfferRow:
    changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    async with unit_of_work(conn, client) as work:
        offers = Offers(conn)
        offer = await offers.get(offer_id, for_update=True)
        if offer is None or offer.vendor_id != vendor_id:
            raise NotFound("offer")
        require_live(offer.status, "revised")
        intent = await _intent_of(conn, offer)
        if await Blocks(conn).blocked(intent.buyer_id, vendor_id):
            raise NotFound("offer")  # a blocked vendor is cut off the buyer's intents
        check_takes_offers(intent.status)
        check_offer_fields(
            price=changes.get("price"),
            quantity=changes.get("quantity"),
            valid_until=changes.get("valid_until"),
            intent_quantity=intent.quantity,
            now=now,
        )
        if "price" in changes:
            price = changes.pop("price")
            changes.update(price_amount=price.amount, price_currency=price.currency)
        if not changes:
            return offer
        offer = await offers.revise(offer_id, changes)
        await _tell_buyer(
            work,
            intent.buyer_id,
            BuyerEventType.OFFER_UPDATED,
            offer,
            dedupe.offer(offer.id, offer.version),
        )
    return offer


async def withdraw_offer(
    conn: asyncpg.Connection, client: redis.Redis, *, vendor_id: str, offer_id: str
) -> OfferRow:
    async with unit_of_work(conn, client) as work:
        offers = Offers(conn)
        offer = await offers.get(offer_id, for_update=True)
        if offer is None or offer.vendor_id != vendor_id:
            raise NotFound("offer")
        require_live(offer.status, "withdrawn")
        offer = await offers.set_status(offer_id, "withdrawn")
        intent = await _intent_of(conn, offer)
        await _tell_buyer(
            work,
            intent.buyer_id,
            BuyerEventType.OFFER_WITHDRAWN,
            offer,
            dedupe.offer(offer.id, "withdrawn"),
        )
    return offer


async def withdraw_offers_of_suspended_vendor(work: Work, vendor_id: str) -> list[str]:
    """In the suspension's unit of work: withdraw the vendor's live offers, telling each
    buyer (``offer.withdrawn``); the ids withdrawn."""
    withdrawn = await Offers(work.conn).withdraw_live_of_vendor(vendor_id)
    for offer in withdrawn:
        intent = await _intent_of(work.conn, offer)
        await _tell_buyer(
            work,
            intent.buyer_id,
            BuyerEventType.OFFER_WITHDRAWN,
            offer,
            dedupe.offer(offer.id, "withdrawn"),
        )
    return [offer.id for offer in withdrawn]


async def vendor_offers(
    conn: asyncpg.Connection, vendor_id: str, *, limit: int, after: str | None
) -> list[OfferRow]:
    return await Offers(conn).for_vendor(vendor_id, limit=limit, after=after)


async def offer_with_history(
    conn: asyncpg.Connection, *, role: str, subject_id: str, offer_id: str
) -> tuple[OfferRow, list[dict[str, Any]]]:
    """For the vendor that made it and the buyer it was made to; 404 for anyone else."""
    offer = await Offers(conn).get(offer_id)
    if offer is None:
        raise NotFound("offer")
    if role == "vendor":
        allowed = offer.vendor_id == subject_id
    elif role == "buyer":
        allowed = await Intents(conn).get_for_buyer(subject_id, offer.intent_id) is not None
    else:
        allowed = False
    if not allowed:
        raise NotFound("offer")
    return offer, await Offers(conn).versions(offer_id)


# ---- buyer side ----------------------------------------------------------------------------


async def offers_for_buyer(
    conn: asyncpg.Connection,
    *,
    buyer_id: str,
    intent_id: str,
    sort: OfferSort,
    statuses: list[str] | None,
    limit: int,
    after: PageKey | None = None,
) -> tuple[list[BuyerOfferView], PageKey | None]:
    """A page of the offers on the buyer's intent, each with its vendor's public face,
    ranked by ``sort`` (``domain.offer_pages``): the ``limit`` after ``after``, and the key
    to continue from (None at the end). The intent's offers (one per vendor at most) are
    ranked here, not in SQL: the rating comes from each vendor's profile."""
    intent = await Intents(conn).get_for_buyer(buyer_id, intent_id)
    if intent is None:
        raise NotFound("intent")
    offers = [
        o
        for o in await Offers(conn).for_intent(intent_id)
        if statuses is None or o.status in statuses
    ]
    vendors = await public_profiles(conn, list({o.vendor_id for o in offers}))
    items = [
        buyer_offer_view(o, vendor_summary(vendors[o.vendor_id]))
        for o in offers
        if o.vendor_id in vendors
        # a suspended vendor's offers leave the list, but not a deal already made
        and (not vendors[o.vendor_id].suspended or o.status == "accepted")
    ]
    return offer_page(
        items,
        sort,
        currency=intent.budget.currency if intent.budget else None,
        facts=lambda o: RankFacts(
            amount=o.price.amount,
            currency=o.price.currency,
            rating_average=o.vendor.rating.average,
            rating_count=o.vendor.rating.count,
            created_at=o.created_at,
        ),
        offer_id=lambda o: o.id,
        after=after,
        limit=limit,
    )


async def accept_offer(
    conn: asyncpg.Connection,
    client: redis.Redis,
    keys: Keys,
    *,
    buyer_id: str,
    offer_id: str,
    reveal_fields: list[str],
    now: datetime,
    seen_version: int | None = None,
) -> Acceptance:
    """The vendor gets ``offer.accepted``. When accepted quantities cover the intent, the
    intent is fulfilled, the other live offers are declined and every matched vendor hears
    ``intent.closed`` (through the outbox). ``reveal_fields`` reveals those persona fields
    to this vendor in the same transaction."""
    async with unit_of_work(conn, client) as work:
        offers = Offers(conn)
        offer = await offers.get(offer_id, for_update=True)
        intent = (
            None
            if offer is None
            else await Intents(conn).get_for_buyer(buyer_id, offer.intent_id, for_update=True)
        )
        if offer is None or intent is None:
            raise NotFound("offer")
        check_acceptable(
            offer.status,
            offer.valid_until,
            intent.status,
            now=now,
            version=offer.version,
            seen_version=seen_version,
        )
        offer = await offers.set_status(offer_id, "accepted")
        await _tell_vendor(
            work, offer, VendorEventType.OFFER_ACCEPTED, dedupe.offer(offer.id, "accepted")
        )
        status = intent.status
        live = [o.id for o in await offers.for_intent(intent.id) if o.status == "live"]
        settlement = settle(intent.quantity, await offers.accepted_quantity(intent.id), live)
        for other_id in settlement.decline:
            declined = await offers.set_status(other_id, "declined")
            await _tell_vendor(
                work, declined, VendorEventType.OFFER_DECLINED, dedupe.offer(other_id, "declined")
            )
        if settlement.fulfilled:
            check_transition(intent.status, "fulfilled")
            fulfilled = msgspec.structs.replace(intent, status="fulfilled", updated_at=now)
            stored = await Intents(conn).save(intent, fulfilled)
            status = stored.status
            await work.record(
                OutboxEventType.INTENT_CLOSED,
                stored.id,
                {"version": stored.version, "status": status},
            )
        reveal = None
        if reveal_fields:
            reveal = await grant_reveal(
                work,
                keys,
                buyer_id=buyer_id,
                intent=intent,
                vendor_id=offer.vendor_id,
                fields=reveal_fields,
                field_name="reveal_fields",
                now=now,
            )
    return Acceptance(offer=offer, intent_status=status, reveal=reveal)


async def decline_offer(
    conn: asyncpg.Connection, client: redis.Redis, *, buyer_id: str, offer_id: str
) -> OfferRow:
    async with unit_of_work(conn, client) as work:
        offers = Offers(conn)
        offer = await offers.get(offer_id, for_update=True)
        if offer is None or await Intents(conn).get_for_buyer(buyer_id, offer.intent_id) is None:
            raise NotFound("offer")
        require_live(offer.status, "declined")
        offer = await offers.set_status(offer_id, "declined")
        await _tell_vendor(
            work, offer, VendorEventType.OFFER_DECLINED, dedupe.offer(offer.id, "declined")
        )
    return offer


async def rate_offer(
    conn: asyncpg.Connection, *, buyer_id: str, offer_id: str, stars: int, comment: str | None
) -> RatingView:
    """Once per accepted offer; the comment is scrubbed of contact data."""
    offer = await Offers(conn).get(offer_id)
    if offer is None or await Intents(conn).get_for_buyer(buyer_id, offer.intent_id) is None:
        raise NotFound("offer")
    check_rateable(offer.status)
    row = await Ratings(conn).insert(
        offer_id=offer.id,
        vendor_id=offer.vendor_id,
        buyer_id=buyer_id,
        stars=stars,
        comment=None if comment is None else (await scrub_text(comment, region=None)).text,
    )
    if row is None:
        raise AlreadyExists("You have already rated this offer.", "already-rated")
    return RatingView(**dict(row))


async def expire_due_offers(conn: asyncpg.Connection, client: redis.Redis, *, limit: int) -> int:
    """Close live offers past ``valid_until`` (one batch); the buyer hears ``offer.updated``.
    Returns how many expired, so a caller loops while a batch is full."""
    async with unit_of_work(conn, client) as work:
        expired = await Offers(conn).expire_due(limit)
        for offer in expired:
            intent = await _intent_of(conn, offer)
            await _tell_buyer(
                work,
                intent.buyer_id,
                BuyerEventType.OFFER_UPDATED,
                offer,
                dedupe.offer(offer.id, "expired"),
            )
    return len(expired)
