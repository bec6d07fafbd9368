"""The public face of a vendor: one projection for the buyer's offer list and the profile
page, built from one query for any number of vendors."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from intentcast.domain.errors import NotFound
from intentcast.store.accounts import Vendors
from intentcast.store.deals import Blocks, Ratings


class VendorPublic(msgspec.Struct, frozen=True, kw_only=True):
    """What anyone may know of a vendor: never its contact data or status reason."""

    id: str
    name: str
    website: str | None
    description: str | None
    verified: bool
    suspended: bool
    member_since: datetime
    rating_average: float | None
    rating_count: int
    intents_matched: int
    offer_rate: float | None
    """Share of matched intents this vendor made an offer on."""
    median_minutes_to_first_offer: float | None


async def public_profiles(
    conn: asyncpg.Connection, vendor_ids: list[str]
) -> dict[str, VendorPublic]:
    vendors = await Vendors(conn).get_many(vendor_ids)
    reputation = await Ratings(conn).reputation(list(vendors))
    out: dict[str, VendorPublic] = {}
    for vendor_id, vendor in vendors.items():
        stats = reputation.get(vendor_id, {})
        matched = stats.get("matched", 0)
        out[vendor_id] = VendorPublic(
            id=vendor.id,
            name=vendor.name,
            website=vendor.website,
            description=vendor.description,
            verified=vendor.status == "verified",
            suspended=vendor.status == "suspended",
            member_since=vendor.created_at,
            rating_average=stats.get("average"),
            rating_count=stats.get("count", 0),
            intents_matched=matched,
            offer_rate=stats.get("offered", 0) / matched if matched else None,
            median_minutes_to_first_offer=stats.get("median_minutes"),
        )
    return out


async def public_profile(conn: asyncpg.Connection, vendor_id: str) -> VendorPublic:
    """A suspended vendor has no public profile (404)."""
    found = (await public_profiles(conn, [vendor_id])).get(vendor_id)
    if found is None or found.suspended:
        raise NotFound("vendor")
    return found


async def block_vendor(conn: asyncpg.Connection, *, buyer_id: str, vendor_id: str) -> None:
    """The vendor stops receiving the buyer's future intents and cannot message them."""
    if await Vendors(conn).get(vendor_id) is None:
        raise NotFound("vendor")
    await Blocks(conn).add(buyer_id, vendor_id)


async def unblock_vendor(conn: asyncpg.Connection, *, buyer_id: str, vendor_id: str) -> None:
    await Blocks(conn).remove(buyer_id, vendor_id)
