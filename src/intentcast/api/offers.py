"""Offer routes: a vendor offers on an intent it matched, revises and withdraws; the buyer
lists, accepts, declines and rates. The rules are in ``domain.offers``, the steps in
``services.offers``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.auth import (
    requires_buyer,
    requires_buyer_or_vendor,
    requires_vendor,
    requires_verified_vendor,
)
from intentcast.api.errors import invalid
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    Text,
    decode_cursor,
    next_cursor,
)
from intentcast.domain.offer_pages import BadCursor, decode_offer_cursor, encode_offer_cursor
from intentcast.domain.offers import OfferDraft, OfferPatch, OfferStatus
from intentcast.domain.reveals import PersonaField
from intentcast.security import Keys, derive_key
from intentcast.services import offers
from intentcast.services.offers import (
    BuyerOfferView,
    OfferDetail,
    OfferView,
    RatingView,
    offer_view,
)
from intentcast.services.reveals import RevealView
from intentcast.store.accounts import Principal


class BuyerOfferPage(msgspec.Struct):
    items: list[BuyerOfferView]
    next: str | None
    """Pass as `after` (with the same `sort`) for the next page; null at the end."""


def offer_cursor_key(keys: Keys) -> bytes:
    """The key that authenticates offer-list cursors: derived from the pseudonym key, which
    never rotates, so a cursor stays valid across a server key rotation."""
    return derive_key(keys.keyring.pseudonym_key, "cursor:intent-offers")


class VendorOfferPage(msgspec.Struct):
    items: list[OfferView]
    next: str | None


class AcceptRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reveal_fields: Annotated[list[PersonaField], msgspec.Meta(max_length=4)] = msgspec.field(
        default_factory=list
    )
    """Persona fields to reveal to this vendor in the same step (a reveal with receipt)."""
    version: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None = None
    """The offer version you saw. If the vendor revised the offer since, the answer is 409
    `offer-changed` and nothing is accepted. Omitted: the current version."""


class AcceptResult(msgspec.Struct, kw_only=True):
    offer: OfferView
    intent_status: str
    reveal: RevealView | None


class RatingRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[Text, msgspec.Meta(max_length=2000)] | None = None


class OfferController(Controller):
    """Offer routes shared by both sides (guards per route)."""

    tags = ["offers"]

    @post(
        "/v1/intents/{intent_id:str}/offers",
        operation_id="createOffer",
        summary="Offer on an intent you matched",
        guards=[requires_verified_vendor],
    )
    async def create(
        self,
        intent_id: str,
        data: OfferDraft,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> OfferView:
        """Only on an open intent this vendor matched (404 otherwise); one live offer per
        vendor per intent (409). Offers are sealed: no vendor sees another's offers."""
        offer = await offers.create_offer(
            db,
            redis,
            vendor_id=principal.subject_id,
            intent_id=intent_id,
            draft=data,
            now=datetime.now(UTC),
        )
        return offer_view(offer)

    @patch(
        "/v1/offers/{offer_id:str}",
        operation_id="reviseOffer",
        summary="Revise your offer (bumps version)",
        guards=[requires_vendor],
    )
    async def revise(
        self,
        offer_id: str,
        data: OfferPatch,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> OfferView:
        """Vendors only, on your own live offer (404 otherwise; 409 once it is accepted,
        declined, withdrawn or expired, or once the intent takes no offers). Changes the
        given fields, bumps `version`, keeps the old version in the history and tells the
        buyer (`offer.updated`)."""
        offer = await offers.revise_offer(
            db,
            redis,
            vendor_id=principal.subject_id,
            offer_id=offer_id,
            patch=data,
            now=datetime.now(UTC),
        )
        return offer_view(offer)

    @post(
        "/v1/offers/{offer_id:str}/withdraw",
        operation_id="withdrawOffer",
        summary="Withdraw your offer",
        guards=[requires_vendor],
        status_code=200,
    )
    async def withdraw(
        self, offer_id: str, principal: Principal, db: asyncpg.Connection, redis: Redis
    ) -> OfferView:
        """Vendors only, on your own live offer (404 otherwise; 409 when it is no longer
        live). The offer becomes `withdrawn` and the buyer is told (`offer.withdrawn`)."""
        offer = await offers.withdraw_offer(
            db, redis, vendor_id=principal.subject_id, offer_id=offer_id
        )
        return offer_view(offer)

    @get(
        "/v1/offers/{offer_id:str}",
        operation_id="getOffer",
        summary="One offer with its history",
        guards=[requires_buyer_or_vendor],
    )
    async def get_offer(
        self, offer_id: str, principal: Principal, db: asyncpg.Connection
    ) -> OfferDetail:
        """For the vendor that made it and the buyer it was made to; 404 for anyone else."""
        offer, history = await offers.offer_with_history(
            db, role=principal.role, subject_id=principal.subject_id, offer_id=offer_id
        )
        return OfferDetail(**msgspec.structs.asdict(offer_view(offer)), history=history)

    @get(
        "/v1/intents/{intent_id:str}/offers",
        operation_id="listIntentOffers",
        guards=[requires_buyer],
        summary="Offers on your intent",
    )
    async def list_offers(
        self,
        intent_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        keys: Keys,
        sort: Literal["price", "rating", "newest"] = "price",
        status: Annotated[list[OfferStatus] | None, Parameter()] = None,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> BuyerOfferPage:
        """`sort=price` (cheapest first, the intent's currency before others), `rating`
        (best rated first, then most ratings, then cheapest) or `newest`; equal offers in
        offer id order. Each offer carries the vendor's public profile. Paginated like
        every list: pass `next` as `after` with the same `sort` (a cursor of another sort
        or intent, or an edited one, is a 400 naming `after`); offers added or withdrawn
        between pages do not shift the others."""
        mac_key = offer_cursor_key(keys)
        position = None
        if after:
            try:
                position = decode_offer_cursor(
                    after, sort=sort, intent_id=intent_id, mac_key=mac_key
                )
            except BadCursor as exc:
                raise invalid("query.after", str(exc), status=400) from None
        items, following = await offers.offers_for_buyer(
            db,
            buyer_id=principal.subject_id,
            intent_id=intent_id,
            sort=sort,
            statuses=list(status) if status is not None else None,
            limit=limit,
            after=position,
        )
        return BuyerOfferPage(
            items=items,
            next=None
            if following is None
            else encode_offer_cursor(following, intent_id=intent_id, mac_key=mac_key),
        )

    @get(
        "/v1/vendor/offers",
        operation_id="listVendorOffers",
        summary="Your offers",
        guards=[requires_vendor],
    )
    async def list_own(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> VendorOfferPage:
        """Vendors only. Every offer you made, on any intent and in any status, in id
        order; paginated with `next`."""
        rows = await offers.vendor_offers(
            db, principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [offer_view(r) for r in rows]
        return VendorOfferPage(items=items, next=next_cursor(items, limit))


class BuyerOfferController(Controller):
    """What the buyer decides about an offer."""

    tags = ["offers"]
    guards = [requires_buyer]

    @post(
        "/v1/offers/{offer_id:str}/accept",
        operation_id="acceptOffer",
        summary="Accept an offer",
        status_code=200,
    )
    async def accept(
        self,
        offer_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
        data: AcceptRequest | None = None,
    ) -> AcceptResult:
        """The vendor gets `offer.accepted`. When accepted quantities cover the intent's
        quantity, the intent becomes `fulfilled`, other live offers are declined
        (`offer.declined`) and every matched vendor gets `intent.closed`. `reveal_fields`
        reveals those persona fields to this vendor in the same step; `version` pins the
        version you saw (409 `offer-changed` if it was revised since)."""
        request = data or AcceptRequest()
        outcome = await offers.accept_offer(
            db,
            redis,
            keys,
            buyer_id=principal.subject_id,
            offer_id=offer_id,
            reveal_fields=list(request.reveal_fields),
            now=datetime.now(UTC),
            seen_version=request.version,
        )
        return AcceptResult(
            offer=offer_view(outcome.offer),
            intent_status=outcome.intent_status,
            reveal=outcome.reveal,
        )

    @post(
        "/v1/offers/{offer_id:str}/decline",
        operation_id="declineOffer",
        summary="Decline an offer",
        status_code=200,
    )
    async def decline(
        self, offer_id: str, principal: Principal, db: asyncpg.Connection, redis: Redis
    ) -> OfferView:
        """Buyers only, on a live offer on your intent (404 otherwise; 409 when it is no
        longer live). The offer becomes `declined` and the vendor is told
        (`offer.declined`); the intent stays open for other offers."""
        offer = await offers.decline_offer(
            db, redis, buyer_id=principal.subject_id, offer_id=offer_id
        )
        return offer_view(offer)

    @post(
        "/v1/offers/{offer_id:str}/rating",
        operation_id="rateOffer",
        summary="Rate the vendor of an accepted offer",
    )
    async def rate(
        self, offer_id: str, data: RatingRequest, principal: Principal, db: asyncpg.Connection
    ) -> RatingView:
        """Once per accepted offer; the comment is scrubbed of contact data."""
        return await offers.rate_offer(
            db,
            buyer_id=principal.subject_id,
            offer_id=offer_id,
            stars=data.stars,
            comment=data.comment,
        )
