"""A buyer's data rights: export everything stored about them, and erase it.

What an erasure takes and what it keeps is written down in ``domain.data_rights``. The
export is read in one repeatable-read snapshot, so it is consistent even while offers and
messages arrive.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.data_rights import ERASED_NAME, PURGED
from intentcast.domain.errors import NotFound
from intentcast.domain.events import OutboxEventType
from intentcast.domain.intents import LIVE_STATUSES, Intent
from intentcast.security import Keys
from intentcast.services.offers import (
    BuyerOfferView,
    RatingView,
    buyer_offer_view,
    vendor_summary,
)
from intentcast.services.relay import ThreadView, thread_view
from intentcast.services.retention import purge_copies
from intentcast.services.reveals import RevealView, SignedReceipt, reveal_view, revoke_in
from intentcast.services.vendors import public_profiles
from intentcast.services.work import unit_of_work
from intentcast.store.accounts import BuyerRow, Buyers, TokenRow, Tokens, Vendors
from intentcast.store.deals import Blocks, Offers, Ratings, Receipts, Reveals
from intentcast.store.events import BuyerEvents
from intentcast.store.intents import Intents
from intentcast.store.passkeys import PasskeyRow, Passkeys
from intentcast.store.relay import Threads

_PAGE = 200


class BuyerData(msgspec.Struct, kw_only=True):
    """Everything stored about one buyer, as the export shows it (the API adds the
    persona's and the intents' own projections)."""

    buyer: BuyerRow
    intents: list[Intent]
    """Newest first, with the buyer's original words (or the purge marker)."""
    purged_at: dict[str, datetime]
    """When the retention purge or an erasure removed an intent's text, by intent id."""
    offers: list[BuyerOfferView]
    threads: list[ThreadView]
    reveals: list[RevealView]
    """Each with its signed consent receipts, oldest first."""
    ratings: list[RatingView]
    blocked_vendors: list[str]
    tokens: list[TokenRow]
    passkeys: list[PasskeyRow]


async def export_buyer(conn: asyncpg.Connection, buyer_id: str) -> BuyerData:
    """All of the buyer's data, read in one consistent snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        buyer = await Buyers(conn).get(buyer_id)
        if buyer is None:
            raise NotFound("buyer")
        intents = await _all_intents(conn, buyer_id)
        offers = await Offers(conn).for_buyer(buyer_id)
        profiles = await public_profiles(conn, [o.vendor_id for o in offers])
        receipts: dict[str, list[SignedReceipt]] = defaultdict(list)
        for r in await Receipts(conn).for_buyer(buyer_id):
            receipts[r["reveal_id"]].append(
                SignedReceipt(receipt=r["receipt"], signature=r["signature"])
            )
        return BuyerData(
            buyer=buyer,
            intents=intents,
            purged_at=await Intents(conn).purge_times(buyer_id),
            offers=[buyer_offer_view(o, vendor_summary(profiles[o.vendor_id])) for o in offers],
            threads=[
                await thread_view(conn, t, "buyer")
                for t in await Threads(conn).all_for_buyer(buyer_id)
            ],
            reveals=[
                reveal_view(r, receipts[r.id]) for r in await Reveals(conn).for_buyer(buyer_id)
            ],
            ratings=[RatingView(**dict(r)) for r in await Ratings(conn).for_buyer(buyer_id)],
            blocked_vendors=await Blocks(conn).of_buyer(buyer_id),
            tokens=await Tokens(conn).all_for(buyer_id),
            passkeys=await Passkeys(conn).of_buyer(buyer_id),
        )


async def _all_intents(conn: asyncpg.Connection, buyer_id: str) -> list[Intent]:
    intents: list[Intent] = []
    before: tuple[datetime, str] | None = None
    while True:
        page = await Intents(conn).list_for_buyer(
            buyer_id, statuses=None, limit=_PAGE, before=before
        )
        intents += page
        if len(page) < _PAGE:
            return intents
        before = (page[-1].published_at, page[-1].id)


async def erase_buyer(
    conn: asyncpg.Connection, client: redis.Redis, keys: Keys, *, buyer_id: str, now: datetime
) -> None:
    """Erase the buyer (``domain.data_rights``), in one transaction: live intents withdrawn
    (matched vendors hear ``intent.closed``), granted reveals revoked with a ``revoke``
    receipt (vendors hear ``reveal.revoked`` and read 410), every intent's and message's
    text purged with its copies in the logs, the persona and the buyer's own log dropped,
    every token revoked, every passkey removed. Erasing an erased buyer changes nothing."""
    async with unit_of_work(conn, client) as work:
        intents = Intents(conn)
        await intents.lock_buyer(buyer_id)  # no publish of this buyer runs meanwhile
        if not await Buyers(conn).lock(buyer_id):
            raise NotFound("buyer")
        for intent in await intents.withdraw_live_of_buyer(buyer_id, sorted(LIVE_STATUSES)):
            await work.record(
                OutboxEventType.INTENT_CLOSED,
                intent.id,
                {"version": intent.version, "status": intent.status},
            )
        reveals = Reveals(conn)
        granted = await reveals.granted_of_buyer(buyer_id)
        vendors = await Vendors(conn).get_many(r.vendor_id for r in granted)
        for reveal in granted:
            vendor = vendors.get(reveal.vendor_id)
            await revoke_in(work, keys, reveal, vendor_name=vendor.name if vendor else "", now=now)
        await reveals.forget_values(buyer_id)
        await intents.purge_text_of_buyer(buyer_id, PURGED)
        await purge_copies(conn, await intents.ids_of_buyer(buyer_id))
        await BuyerEvents(conn).forget(buyer_id)
        await Blocks(conn).remove_all(buyer_id)
        await Ratings(conn).forget_comments(buyer_id)
        await Buyers(conn).erase(buyer_id, ERASED_NAME)
        await Tokens(conn).revoke_all(buyer_id)
        await Passkeys(conn).remove_all(buyer_id)  # no sign-in into an erased account
        work.principals_changed(buyer_id)
