"""Reading the event logs: a vendor's durable feed and the intents it matched (always
through the one vendor projection, ``domain.vendor_view``), and a buyer's own log."""

from __future__ import annotations

import asyncpg

from intentcast.domain.errors import NotFound
from intentcast.domain.vendor_view import VendorIntent, vendor_view
from intentcast.store.accounts import Vendors
from intentcast.store.deals import Blocks
from intentcast.store.events import BuyerEvents, LogEvent, VendorEvents
from intentcast.store.intents import Intents
from intentcast.store.matches import Matches


async def vendor_log(
    conn: asyncpg.Connection, vendor_id: str, *, after: int, limit: int
) -> list[LogEvent]:
    return await VendorEvents(conn).after(vendor_id, after, limit)


async def vendor_may_listen(conn: asyncpg.Connection, vendor_id: str) -> bool:
    """Whether the vendor may still hold a live stream (it is not suspended)."""
    vendor = await Vendors(conn).get(vendor_id)
    return vendor is not None and vendor.status != "suspended"


async def buyer_log(
    conn: asyncpg.Connection, buyer_id: str, *, after: int, limit: int
) -> list[LogEvent]:
    return await BuyerEvents(conn).after(buyer_id, after, limit)


async def matched_intent(
    conn: asyncpg.Connection, *, vendor_id: str, intent_id: str, location_floor: int
) -> VendorIntent:
    """The anonymised vendor view of an intent this vendor matched (404 otherwise, for a
    removed intent, and once the buyer blocked the vendor)."""
    if not await Matches(conn).vendor_matched(vendor_id, intent_id):
        raise NotFound("intent")
    intent = await Intents(conn).get(intent_id)
    if (
        intent is None
        or intent.status == "removed"
        or await Blocks(conn).blocked(intent.buyer_id, vendor_id)
    ):
        raise NotFound("intent")
    return vendor_view(intent, location_floor=location_floor)
