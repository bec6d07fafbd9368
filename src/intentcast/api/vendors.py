"""``/v1/vendors/{id}``: a vendor's public profile, and a buyer blocking or unblocking it."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from litestar import Controller, delete, get, post

from intentcast.api.auth import requires_buyer
from intentcast.services import vendors
from intentcast.store.accounts import Principal


class Reputation(msgspec.Struct, kw_only=True):
    rating_average: float | None
    rating_count: int
    intents_matched: int
    offer_rate: float | None
    """Share of matched intents this vendor made an offer on."""
    median_minutes_to_first_offer: float | None


class VendorProfile(msgspec.Struct, kw_only=True):
    """What anyone may see of a vendor."""

    id: str
    name: str
    website: str | None
    description: str | None
    verified: bool
    member_since: datetime
    reputation: Reputation


class VendorProfileController(Controller):
    path = "/v1"
    tags = ["accounts"]

    @get(
        "/vendors/{vendor_id:str}",
        operation_id="getVendorProfile",
        summary="A vendor's public profile",
    )
    async def vendor_profile(self, vendor_id: str, db: asyncpg.Connection) -> VendorProfile:
        """No token needed. What anyone may see of a vendor: name, website, description,
        whether it is verified, and its reputation (ratings, offer rate, time to first
        offer). 404 for an unknown or suspended vendor."""
        vendor = await vendors.public_profile(db, vendor_id)
        return VendorProfile(
            id=vendor.id,
            name=vendor.name,
            website=vendor.website,
            description=vendor.description,
            verified=vendor.verified,
            member_since=vendor.member_since,
            reputation=Reputation(
                rating_average=vendor.rating_average,
                rating_count=vendor.rating_count,
                intents_matched=vendor.intents_matched,
                offer_rate=vendor.offer_rate,
                median_minutes_to_first_offer=vendor.median_minutes_to_first_offer,
            ),
        )


class VendorBlockController(Controller):
    tags = ["offers"]
    guards = [requires_buyer]

    @post(
        "/v1/vendors/{vendor_id:str}/block",
        operation_id="blockVendor",
        summary="Block a vendor",
        status_code=204,
    )
    async def block(self, vendor_id: str, principal: Principal, db: asyncpg.Connection) -> None:
        """The vendor stops receiving your future intents and cannot message your threads."""
        await vendors.block_vendor(db, buyer_id=principal.subject_id, vendor_id=vendor_id)

    @delete(
        "/v1/vendors/{vendor_id:str}/block",
        operation_id="unblockVendor",
        summary="Unblock a vendor",
    )
    async def unblock(self, vendor_id: str, principal: Principal, db: asyncpg.Connection) -> None:
        """Buyers only. The vendor may match your future intents and message your threads
        again; unblocking a vendor you have not blocked changes nothing."""
        await vendors.unblock_vendor(db, buyer_id=principal.subject_id, vendor_id=vendor_id)
