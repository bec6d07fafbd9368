"""Operators moderating intents: the list they review, and removing an intent.

What an operator sees of an intent is what its vendors see (``domain.vendor_view``: the
scrubbed text and attributes, the location coarsened to the operator's floor, the buyer's
terms) plus its status, when it closed and how many matches, offers and open flags it has —
never the buyer's id, persona or original text: moderating an intent needs what was
published, not who published it (and an operator who could link intents to buyers would
break the promise that two intents of one buyer share nothing a reader can link).

Removing an intent closes it as a buyer's withdrawal does (status ``removed``, ``closed_at``
set, so the retention purge takes its text on schedule; its live offers stay as they are
and can no longer be accepted, its threads turn read-only), through the same
``intent.closed`` outbox row, so every matched vendor hears ``intent.closed``. The buyer
hears ``intent.removed`` with the operator's reason. The audit entry is written in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import IntentClosed, NotFound
from intentcast.domain.events import BuyerEventType, OutboxEventType, dedupe
from intentcast.domain.intents import Intent, IntentStatus, check_transition, is_live
from intentcast.domain.vendor_view import VendorIntent, vendor_view
from intentcast.services.audit import record_action
from intentcast.services.work import unit_of_work
from intentcast.store.intents import Intents
from intentcast.store.moderation import IntentCounts, Moderation


class IntentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator sees of an intent."""

    intent: VendorIntent
    """Exactly what matched vendors see (scrubbed text, coarse location)."""
    status: IntentStatus
    closed_at: datetime | None
    matches: int
    offers: int
    live_offers: int
    flags_open: int
    """Flagged relay messages on its threads not yet resolved."""


_NO_COUNTS = IntentCounts(closed_at=None, matches=0, offers=0, live_offers=0, flags_open=0)


def intent_record(intent: Intent, counts: IntentCounts, *, location_floor: int) -> IntentRecord:
    return IntentRecord(
        intent=vendor_view(intent, location_floor=location_floor),
        status=intent.status,
        closed_at=counts.closed_at,
        matches=counts.matches,
        offers=counts.offers,
        live_offers=counts.live_offers,
        flags_open=counts.flags_open,
    )


async def list_intents(
    conn: asyncpg.Connection,
    *,
    status: IntentStatus | None,
    limit: int,
    before: tuple[datetime, str] | None,
    location_floor: int,
) -> tuple[list[IntentRecord], tuple[datetime, str] | None]:
    """Every buyer's intents, newest first, optionally of one status; and the position of
    the last one (its exact publication time, which the records show to the minute only)."""
    intents = await Intents(conn).page(status=status, limit=limit, before=before)
    counts = await Moderation(conn).intent_counts([i.id for i in intents])
    records = [
        intent_record(i, counts.get(i.id, _NO_COUNTS), location_floor=location_floor)
        for i in intents
    ]
    return records, (intents[-1].published_at, intents[-1].id) if intents else None


async def remove_intent(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    actor: str,
    intent_id: str,
    reason: str,
    now: datetime,
    location_floor: int,
) -> IntentRecord:
    """Close the intent as ``removed``; 409 ``intent-closed`` if it is already closed."""
    async with unit_of_work(conn, client) as work:
        intents = Intents(conn)
        intent = await intents.get(intent_id, for_update=True)
        if intent is None:
            raise NotFound("intent")
        if not is_live(intent.status):
            raise IntentClosed(intent.status, "there is nothing left to remove")
        check_transition(intent.status, "removed")
        removed = msgspec.structs.replace(intent, status="removed", updated_at=now)
        stored = await intents.save(intent, removed)
        await work.record(
            OutboxEventType.INTENT_CLOSED,
            stored.id,
            {"version": stored.version, "status": stored.status},
        )
        await work.tell_buyer(
            stored.buyer_id,
            BuyerEventType.INTENT_REMOVED,
            {"intent_id": stored.id, "status": stored.status, "reason": reason},
            dedupe.removed(stored.id),
        )
        counts = await Moderation(conn).intent_counts([stored.id])
        await record_action(
            conn,
            actor=actor,
            action="intent.remove",
            target=stored.id,
            reason=reason,
            details={"from": intent.status, "to": "removed"},
        )
    return intent_record(stored, counts.get(stored.id, _NO_COUNTS), location_floor=location_floor)
