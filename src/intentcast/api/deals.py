"""The deal: sealed offers, accept/decline, reveals with signed consent receipts, the
disclosure ledger, ratings, blocks, and the buyer's live event stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from intentcast.api.auth import (
    requires_buyer,
    requires_buyer_or_vendor,
    requires_vendor,
    requires_verified_vendor,
)
from intentcast.api.errors import conflict, invalid, not_found, problem
from intentcast.api.streams import event_stream, seq_param
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_cursor,
    decode_time_cursor,
    encode_time_cursor,
    next_cursor,
)
from intentcast.bus.outbox_relay import publish_now
from intentcast.config import Settings
from intentcast.delivery.notify import Notifier
from intentcast.domain.intents import INTENT_CLOSED, is_live
from intentcast.domain.offers import OfferDraft, OfferPatch, Price, check_offer_fields, require_live
from intentcast.domain.receipts import (
    REVEAL_PURPOSE,
    build_receipt,
    public_jwk,
    sign_receipt,
)
from intentcast.domain.scrubbing import scrub
from intentcast.security import new_id, pseudonym
from intentcast.store.accounts import Buyers, Principal, Vendors
from intentcast.store.deals import (
    Blocks,
    OfferRow,
    Offers,
    Ratings,
    Receipts,
    RevealRow,
    Reveals,
)
from intentcast.store.events import BuyerEvents, Matches, VendorEvent
from intentcast.store.intents import Intents
from intentcast.store.outbox import Outbox, OutboxEvent

RevealField = Literal["name", "email", "phone", "address"]

# ---- bodies and views ---------------------------------------------------------------------


class OfferView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    status: str
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


class BuyerOfferPage(msgspec.Struct):
    items: list[BuyerOfferView]


class VendorOfferPage(msgspec.Struct):
    items: list[OfferView]
    next: str | None


class OfferDetail(OfferView, kw_only=True):
    history: list[dict[str, Any]]
    """Every version of this offer, oldest first."""


class AcceptRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reveal_fields: Annotated[list[RevealField], msgspec.Meta(max_length=4)] = msgspec.field(
        default_factory=list
    )
    """Persona fields to reveal to this vendor in the same step (a reveal with receipt)."""


class SignedReceipt(msgspec.Struct, kw_only=True):
    receipt: dict[str, Any]
    signature: str
    """base64url Ed25519 signature over the receipt as canonical JSON."""


class RevealRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    vendor_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    fields: Annotated[list[RevealField], msgspec.Meta(min_length=1, max_length=4)]


class RevealView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    fields: list[str]
    status: str
    terms: dict[str, Any]
    terms_accepted_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    receipts: list[SignedReceipt]


class AcceptResult(msgspec.Struct, kw_only=True):
    offer: OfferView
    intent_status: str
    reveal: RevealView | None


class RevealedData(msgspec.Struct, kw_only=True):
    """What the buyer chose to reveal, decrypted for this vendor only."""

    id: str
    intent_id: str
    fields: dict[str, str | None]
    terms: dict[str, Any]
    granted_at: datetime


class VendorRevealView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    fields: list[str]
    status: str
    terms: dict[str, Any]
    terms_accepted_at: datetime | None
    receipt: SignedReceipt | None


class Disclosure(msgspec.Struct, kw_only=True):
    receipt: dict[str, Any]
    signature: str
    reveal_id: str
    active: bool
    """Whether the vendor may still read the fields (not revoked)."""


class DisclosurePage(msgspec.Struct):
    items: list[Disclosure]
    next: str | None


class RatingRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class RatingView(msgspec.Struct, kw_only=True):
    offer_id: str
    stars: int
    comment: str | None
    created_at: datetime


# ---- projections ---------------------------------------------------------------------------


def offer_view(offer: OfferRow) -> OfferView:
    return OfferView(
        id=offer.id,
        intent_id=offer.intent_id,
        vendor_id=offer.vendor_id,
        status=offer.status,
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


async def vendor_summaries(
    db: asyncpg.Connection, vendor_ids: list[str]
) -> dict[str, VendorSummary]:
    reputation = await Ratings(db).reputation(vendor_ids)
    out: dict[str, VendorSummary] = {}
    for vendor_id in vendor_ids:
        vendor = await Vendors(db).get(vendor_id)
        if vendor is None:
            continue
        rep = reputation.get(vendor_id, {})
        out[vendor_id] = VendorSummary(
            id=vendor.id,
            name=vendor.name,
            website=vendor.website,
            verified=vendor.status == "verified",
            rating=Rating(average=rep.get("average"), count=rep.get("count", 0)),
        )
    return out


def buyer_offer_view(offer: OfferRow, vendor: VendorSummary) -> BuyerOfferView:
    return BuyerOfferView(**msgspec.structs.asdict(offer_view(offer)), vendor=vendor)


async def buyer_offer_event_data(db: asyncpg.Connection, offer: OfferRow) -> dict[str, Any]:
    summaries = await vendor_summaries(db, [offer.vendor_id])
    return {"offer": msgspec.to_builtins(buyer_offer_view(offer, summaries[offer.vendor_id]))}


async def tell_buyer(
    notifier: Notifier,
    db: asyncpg.Connection,
    buyer_id: str,
    event_type: str,
    offer: OfferRow,
    dedupe_key: str,
) -> None:
    await notifier.to_buyer(
        buyer_id, event_type, await buyer_offer_event_data(db, offer), dedupe_key
    )


async def tell_vendor(
    notifier: Notifier, offer: OfferRow, event_type: str, dedupe_key: str
) -> None:
    data = {"offer": msgspec.to_builtins(offer_view(offer)), "intent_id": offer.intent_id}
    await notifier.to_vendor(offer.vendor_id, event_type, data, dedupe_key)


def _now() -> datetime:
    return datetime.now(UTC)


# ---- receipts and reveals ------------------------------------------------------------------


async def issue_receipt(
    db: asyncpg.Connection, state: State, reveal: RevealRow, kind: str, vendor_name: str
) -> SignedReceipt:
    receipt = build_receipt(
        receipt_id=new_id("rcp"),
        issued_at=_now(),
        kind=kind,  # type: ignore[arg-type]
        intent_id=reveal.intent_id,
        vendor_id=reveal.vendor_id,
        vendor_name=vendor_name,
        fields=reveal.fields,
        purpose=reveal.purpose,
        terms=reveal.terms,
        buyer_pseudonym=pseudonym(state.secret, reveal.buyer_id, reveal.vendor_id),
        reveal_id=reveal.id,
    )
    signature = sign_receipt(state.receipt_key, receipt)
    await Receipts(db).insert(
        buyer_id=reveal.buyer_id, reveal_id=reveal.id, receipt=receipt, signature=signature
    )
    return SignedReceipt(receipt=receipt, signature=signature)


def reveal_view(reveal: RevealRow, receipts: list[SignedReceipt]) -> RevealView:
    return RevealView(
        id=reveal.id,
        intent_id=reveal.intent_id,
        vendor_id=reveal.vendor_id,
        fields=reveal.fields,
        status=reveal.status,
        terms=reveal.terms,
        terms_accepted_at=reveal.terms_accepted_at,
        created_at=reveal.created_at,
        revoked_at=reveal.revoked_at,
        receipts=receipts,
    )


async def grant_reveal(
    db: asyncpg.Connection,
    state: State,
    notifier: Notifier,
    *,
    buyer_id: str,
    intent_id: str,
    terms: dict[str, Any],
    vendor_id: str,
    fields: list[str],
    field_name: str,
) -> RevealView:
    """Reveal persona ``fields`` to a vendor that matched the intent (in a transaction)."""
    fields = list(dict.fromkeys(fields))
    vendor = await Vendors(db).get(vendor_id)
    if vendor is None or not await Matches(db).vendor_matched(vendor_id, intent_id):
        raise not_found("vendor among those that matched this intent")
    buyer = await Buyers(db).get(buyer_id)
    assert buyer is not None
    missing = [f for f in fields if buyer.sealed.get(f) is None]
    if missing:
        raise invalid(field_name, f"nothing on file to reveal for: {', '.join(missing)}")
    reveal = await Reveals(db).insert(
        {
            "id": new_id("rev"),
            "intent_id": intent_id,
            "buyer_id": buyer_id,
            "vendor_id": vendor_id,
            "fields": fields,
            "purpose": REVEAL_PURPOSE,
            "terms": terms,
        }
    )
    receipt = await issue_receipt(db, state, reveal, "reveal", vendor.name)
    await notifier.to_vendor(
        vendor_id,
        "reveal.granted",
        {"reveal_id": reveal.id, "intent_id": intent_id, "fields": fields, "terms": terms},
        f"reveal:{reveal.id}",
    )
    return reveal_view(reveal, [receipt])


# ---- vendor side: offers -------------------------------------------------------------------


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
        state: State,
    ) -> OfferView:
        """Only on an open intent this vendor matched (404 otherwise); one live offer per
        vendor per intent (409). Offers are sealed: no vendor sees another's offers."""
        async with db.transaction():
            if not await Matches(db).vendor_matched(principal.subject_id, intent_id):
                raise not_found("intent")
            intent = await Intents(db).get(intent_id)
            if intent is None:
                raise not_found("intent")
            if intent.status != "open":
                raise conflict(
                    f"This intent is {intent.status}; it takes no offers.", "intent-closed"
                )
            if await Blocks(db).blocked(intent.buyer_id, principal.subject_id):
                raise not_found("intent")
            check_offer_fields(
                price=data.price,
                quantity=data.quantity,
                valid_until=data.valid_until,
                intent_quantity=intent.quantity,
                now=_now(),
            )
            offers = Offers(db)
            await db.execute(
                "SELECT pg_advisory_xact_lock(hashtext('offer:' || $1 || $2))",
                intent_id,
                principal.subject_id,
            )
            if await offers.live_for(intent_id, principal.subject_id) is not None:
                raise conflict(
                    "You already have a live offer on this intent; revise it instead.",
                    "offer-exists",
                )
            offer = await offers.insert(
                {
                    "id": new_id("off"),
                    "intent_id": intent_id,
                    "vendor_id": principal.subject_id,
                    "price_amount": data.price.amount,
                    "price_currency": data.price.currency,
                    "quantity": data.quantity,
                    "title": data.title,
                    "details": data.details,
                    "valid_until": data.valid_until,
                    "delivery_days": data.delivery_days,
                    "terms": data.terms,
                }
            )
            notifier = Notifier(db)
            await tell_buyer(
                notifier, db, intent.buyer_id, "offer.created", offer, f"offer:{offer.id}:1"
            )
        await notifier.announce(state.redis)
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
        state: State,
    ) -> OfferView:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        async with db.transaction():
            offers = Offers(db)
            offer = await offers.get(offer_id, for_update=True)
            if offer is None or offer.vendor_id != principal.subject_id:
                raise not_found("offer")
            require_live(offer.status, "revised")
            intent = await Intents(db).get(offer.intent_id)
            assert intent is not None
            if intent.status != "open":
                raise conflict(
                    f"This intent is {intent.status}; offers are final.", "intent-closed"
                )
            check_offer_fields(
                price=changes.get("price"),
                quantity=changes.get("quantity"),
                valid_until=changes.get("valid_until"),
                intent_quantity=intent.quantity,
                now=_now(),
            )
            if "price" in changes:
                price = changes.pop("price")
                changes.update(price_amount=price.amount, price_currency=price.currency)
            if not changes:
                return offer_view(offer)
            offer = await offers.revise(offer_id, changes)
            notifier = Notifier(db)
            await tell_buyer(
                notifier,
                db,
                intent.buyer_id,
                "offer.updated",
                offer,
                f"offer:{offer.id}:{offer.version}",
            )
        await notifier.announce(state.redis)
        return offer_view(offer)

    @post(
        "/v1/offers/{offer_id:str}/withdraw",
        operation_id="withdrawOffer",
        summary="Withdraw your offer",
        guards=[requires_vendor],
        status_code=200,
    )
    async def withdraw(
        self, offer_id: str, principal: Principal, db: asyncpg.Connection, state: State
    ) -> OfferView:
        async with db.transaction():
            offers = Offers(db)
            offer = await offers.get(offer_id, for_update=True)
            if offer is None or offer.vendor_id != principal.subject_id:
                raise not_found("offer")
            require_live(offer.status, "withdrawn")
            offer = await offers.set_status(offer_id, "withdrawn")
            intent = await Intents(db).get(offer.intent_id)
            assert intent is not None
            notifier = Notifier(db)
            await tell_buyer(
                notifier,
                db,
                intent.buyer_id,
                "offer.withdrawn",
                offer,
                f"offer:{offer.id}:withdrawn",
            )
        await notifier.announce(state.redis)
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
        offer = await Offers(db).get(offer_id)
        if offer is None:
            raise not_found("offer")
        if principal.role == "vendor":
            allowed = offer.vendor_id == principal.subject_id
        elif principal.role == "buyer":
            allowed = (
                await Intents(db).get_for_buyer(principal.subject_id, offer.intent_id) is not None
            )
        else:
            allowed = False
        if not allowed:
            raise not_found("offer")
        history = await Offers(db).versions(offer_id)
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
        sort: Literal["price", "rating", "newest"] = "price",
        status: Annotated[
            list[Literal["live", "withdrawn", "expired", "accepted", "declined"]] | None,
            Parameter(),
        ] = None,
    ) -> BuyerOfferPage:
        """`sort=price` (cheapest first, the intent's currency before others), `rating`
        (best rated first) or `newest`. Each offer carries the vendor's public profile."""
        intent = await Intents(db).get_for_buyer(principal.subject_id, intent_id)
        if intent is None:
            raise not_found("intent")
        offers = [
            o
            for o in await Offers(db).for_intent(intent_id)
            if status is None or o.status in status
        ]
        summaries = await vendor_summaries(db, list({o.vendor_id for o in offers}))
        items = [buyer_offer_view(o, summaries[o.vendor_id]) for o in offers]
        currency = intent.budget.currency if intent.budget else None
        if sort == "price":
            items.sort(
                key=lambda o: (o.price.currency != currency, o.price.currency, o.price.amount)
            )
        elif sort == "rating":
            items.sort(
                key=lambda o: (
                    -(o.vendor.rating.average or 0),
                    -o.vendor.rating.count,
                    o.price.amount,
                )
            )
        else:
            items.sort(key=lambda o: o.created_at, reverse=True)
        return BuyerOfferPage(items=items)

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
        rows = await Offers(db).for_vendor(
            principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [offer_view(r) for r in rows]
        return VendorOfferPage(items=items, next=next_cursor(items, limit))


# ---- buyer side ----------------------------------------------------------------------------


class BuyerDealController(Controller):
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
        state: State,
        settings: Settings,
        data: AcceptRequest | None = None,
    ) -> AcceptResult:
        """The vendor gets `offer.accepted`. When accepted quantities cover the intent's
        quantity, the intent becomes `fulfilled`, other live offers are declined
        (`offer.declined`) and every matched vendor gets `intent.closed`. `reveal_fields`
        reveals those persona fields to this vendor in the same step."""
        request = data or AcceptRequest()
        outbox_events: list[OutboxEvent] = []
        async with db.transaction():
            offers = Offers(db)
            offer = await offers.get(offer_id, for_update=True)
            intent = (
                None
                if offer is None
                else await Intents(db).get_for_buyer(
                    principal.subject_id, offer.intent_id, for_update=True
                )
            )
            if offer is None or intent is None:
                raise not_found("offer")
            require_live(offer.status, "accepted")
            if offer.valid_until is not None and offer.valid_until <= _now():
                raise conflict("This offer has expired.", "offer-not-live")
            if not is_live(intent.status):
                raise conflict(f"This intent is {intent.status}.", "intent-closed")
            notifier = Notifier(db)
            offer = await offers.set_status(offer_id, "accepted")
            await tell_vendor(notifier, offer, "offer.accepted", f"offer:{offer.id}:accepted")
            status = intent.status
            if await offers.accepted_quantity(intent.id) >= intent.quantity:
                for other in await offers.for_intent(intent.id):
                    if other.status == "live":
                        declined = await offers.set_status(other.id, "declined")
                        await tell_vendor(
                            notifier, declined, "offer.declined", f"offer:{other.id}:declined"
                        )
                fulfilled = msgspec.structs.replace(intent, status="fulfilled", updated_at=_now())
                stored = await Intents(db).save(intent, fulfilled)
                status = stored.status
                outbox_events.append(
                    await Outbox(db).add(
                        INTENT_CLOSED, stored.id, {"version": stored.version, "status": status}
                    )
                )
            reveal = None
            if request.reveal_fields:
                reveal = await grant_reveal(
                    db,
                    state,
                    notifier,
                    buyer_id=principal.subject_id,
                    intent_id=intent.id,
                    terms=msgspec.to_builtins(intent.terms),
                    vendor_id=offer.vendor_id,
                    fields=list(request.reveal_fields),
                    field_name="reveal_fields",
                )
        await notifier.announce(state.redis)
        if outbox_events:
            await publish_now(db, state.redis, outbox_events)
        return AcceptResult(offer=offer_view(offer), intent_status=status, reveal=reveal)

    @post(
        "/v1/offers/{offer_id:str}/decline",
        operation_id="declineOffer",
        summary="Decline an offer",
        status_code=200,
    )
    async def decline(
        self, offer_id: str, principal: Principal, db: asyncpg.Connection, state: State
    ) -> OfferView:
        async with db.transaction():
            offers = Offers(db)
            offer = await offers.get(offer_id, for_update=True)
            if (
                offer is None
                or await Intents(db).get_for_buyer(principal.subject_id, offer.intent_id) is None
            ):
                raise not_found("offer")
            require_live(offer.status, "declined")
            offer = await offers.set_status(offer_id, "declined")
            notifier = Notifier(db)
            await tell_vendor(notifier, offer, "offer.declined", f"offer:{offer.id}:declined")
        await notifier.announce(state.redis)
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
        offer = await Offers(db).get(offer_id)
        if (
            offer is None
            or await Intents(db).get_for_buyer(principal.subject_id, offer.intent_id) is None
        ):
            raise not_found("offer")
        if offer.status != "accepted":
            raise conflict("Only an accepted offer can be rated.", "offer-not-accepted")
        comment = None if data.comment is None else scrub(data.comment).text
        row = await Ratings(db).insert(
            offer_id=offer.id,
            vendor_id=offer.vendor_id,
            buyer_id=principal.subject_id,
            stars=data.stars,
            comment=comment,
        )
        if row is None:
            raise conflict("You have already rated this offer.", "already-rated")
        return RatingView(**dict(row))

    @post(
        "/v1/intents/{intent_id:str}/reveals",
        operation_id="createReveal",
        summary="Reveal fields to a vendor",
    )
    async def reveal(
        self,
        intent_id: str,
        data: RevealRequest,
        principal: Principal,
        db: asyncpg.Connection,
        state: State,
    ) -> RevealView:
        """Reveal chosen persona fields to one vendor that matched this intent. The vendor
        must accept your terms before reading them; every step gets a signed receipt in
        your disclosure ledger; `DELETE /v1/reveals/{id}` revokes."""
        async with db.transaction():
            intent = await Intents(db).get_for_buyer(principal.subject_id, intent_id)
            if intent is None:
                raise not_found("intent")
            notifier = Notifier(db)
            view = await grant_reveal(
                db,
                state,
                notifier,
                buyer_id=principal.subject_id,
                intent_id=intent_id,
                terms=msgspec.to_builtins(intent.terms),
                vendor_id=data.vendor_id,
                fields=list(data.fields),
                field_name="fields",
            )
        await notifier.announce(state.redis)
        return view

    @delete("/v1/reveals/{reveal_id:str}", operation_id="revokeReveal", summary="Revoke a reveal")
    async def revoke(
        self, reveal_id: str, principal: Principal, db: asyncpg.Connection, state: State
    ) -> None:
        """Takes effect on the vendor's very next read (410). Revoking twice is harmless."""
        async with db.transaction():
            reveals = Reveals(db)
            reveal = await reveals.get(reveal_id, for_update=True)
            if reveal is None or reveal.buyer_id != principal.subject_id:
                raise not_found("reveal")
            if reveal.status == "revoked":
                return
            reveal = await reveals.revoke(reveal_id)
            vendor = await Vendors(db).get(reveal.vendor_id)
            await issue_receipt(db, state, reveal, "revoke", vendor.name if vendor else "")
            notifier = Notifier(db)
            await notifier.to_vendor(
                reveal.vendor_id,
                "reveal.revoked",
                {"reveal_id": reveal.id, "intent_id": reveal.intent_id},
                f"reveal:{reveal.id}:revoked",
            )
        await notifier.announce(state.redis)

    @get("/v1/me/disclosures", operation_id="listDisclosures", summary="Your disclosure ledger")
    async def disclosures(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> DisclosurePage:
        """Every reveal, terms acceptance and revocation, newest first, each with its
        consent receipt and Ed25519 signature (verify with `/v1/receipts/public-key`)."""
        before = decode_time_cursor(after)
        rows = await Receipts(db).ledger(principal.subject_id, limit=limit, before=before)
        items = [
            Disclosure(
                receipt=r["receipt"],
                signature=r["signature"],
                reveal_id=r["reveal_id"],
                active=r["reveal_status"] == "granted",
            )
            for r in rows
        ]
        cursor = (
            encode_time_cursor(rows[-1]["issued_at"], rows[-1]["id"])
            if len(rows) == limit
            else None
        )
        return DisclosurePage(items=items, next=cursor)

    @post(
        "/v1/vendors/{vendor_id:str}/block",
        operation_id="blockVendor",
        summary="Block a vendor",
        status_code=204,
    )
    async def block(self, vendor_id: str, principal: Principal, db: asyncpg.Connection) -> None:
        """The vendor stops receiving your future intents and cannot message your threads."""
        if await Vendors(db).get(vendor_id) is None:
            raise not_found("vendor")
        await Blocks(db).add(principal.subject_id, vendor_id)

    @delete(
        "/v1/vendors/{vendor_id:str}/block",
        operation_id="unblockVendor",
        summary="Unblock a vendor",
    )
    async def unblock(self, vendor_id: str, principal: Principal, db: asyncpg.Connection) -> None:
        await Blocks(db).remove(principal.subject_id, vendor_id)

    @get(
        "/v1/me/stream",
        operation_id="streamBuyerEvents",
        summary="Your events as Server-Sent Events",
    )
    async def stream(
        self,
        principal: Principal,
        state: State,
        after: Annotated[str | None, Parameter(max_length=20)] = None,
        last_event_id: Annotated[
            str | None, Parameter(header="Last-Event-ID", max_length=20)
        ] = None,
    ) -> ServerSentEvent:
        """`offer.created`, `offer.updated`, `offer.withdrawn`, `message.created`, live;
        `Last-Event-ID` (or `?after=`) resumes without loss."""
        start = seq_param(last_event_id or after)
        return ServerSentEvent(
            event_stream(state.pool, state.buyer_live, principal.subject_id, start, _read_buyer_log)
        )


async def _read_buyer_log(
    conn: asyncpg.Connection, buyer_id: str, after: int, limit: int
) -> list[VendorEvent]:
    return await BuyerEvents(conn).after(buyer_id, after, limit)


# ---- vendor side: reveals ------------------------------------------------------------------


class VendorRevealController(Controller):
    path = "/v1/vendor/reveals"
    tags = ["vendor"]
    guards = [requires_vendor]

    @post(
        "/{reveal_id:str}/accept-terms",
        operation_id="acceptRevealTerms",
        summary="Accept the buyer's terms",
        status_code=200,
    )
    async def accept_terms(
        self, reveal_id: str, principal: Principal, db: asyncpg.Connection, state: State
    ) -> VendorRevealView:
        async with db.transaction():
            reveals = Reveals(db)
            reveal = await reveals.get(reveal_id, for_update=True)
            if reveal is None or reveal.vendor_id != principal.subject_id:
                raise not_found("reveal")
            if reveal.status == "revoked":
                raise problem(410, "reveal-revoked", "The buyer revoked this reveal.")
            receipt = None
            if reveal.terms_accepted_at is None:
                reveal = await reveals.accept_terms(reveal_id)
                vendor = await Vendors(db).get(principal.subject_id)
                receipt = await issue_receipt(
                    db, state, reveal, "terms_accepted", vendor.name if vendor else ""
                )
        return VendorRevealView(
            id=reveal.id,
            intent_id=reveal.intent_id,
            fields=reveal.fields,
            status=reveal.status,
            terms=reveal.terms,
            terms_accepted_at=reveal.terms_accepted_at,
            receipt=receipt,
        )

    @get("/{reveal_id:str}", operation_id="readReveal", summary="Read revealed fields")
    async def read(
        self, reveal_id: str, principal: Principal, db: asyncpg.Connection, state: State
    ) -> RevealedData:
        """Exactly the revealed fields, decrypted — after you accepted the buyer's terms
        (409 before); 410 once the buyer revoked."""
        reveal = await Reveals(db).get(reveal_id)
        if reveal is None or reveal.vendor_id != principal.subject_id:
            raise not_found("reveal")
        if reveal.status == "revoked":
            raise problem(410, "reveal-revoked", "The buyer revoked this reveal.")
        if reveal.terms_accepted_at is None:
            raise conflict(
                "Accept the buyer's terms first (POST …/accept-terms).", "terms-not-accepted"
            )
        buyer = await Buyers(db).get(reveal.buyer_id)
        assert buyer is not None
        values = {
            f: state.sealer.open_optional(buyer.sealed.get(f), context=f"{buyer.id}:{f}")
            for f in reveal.fields
        }
        return RevealedData(
            id=reveal.id,
            intent_id=reveal.intent_id,
            fields=values,
            terms=reveal.terms,
            granted_at=reveal.created_at,
        )


class ReceiptController(Controller):
    tags = ["receipts"]

    @get(
        "/v1/receipts/public-key",
        operation_id="receiptPublicKey",
        summary="The key that signs consent receipts",
        exclude_from_auth=True,
    )
    async def public_key(self, state: State) -> dict[str, str]:
        """An Ed25519 public key as a JWK; verify a receipt's signature over
        `json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`."""
        return public_jwk(state.receipt_key)
