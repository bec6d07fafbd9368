"""Intent use cases: preview, publish and change a buyer's intent.

The write path the rest of the code copies: the domain builds or changes the value
(``domain.intents.new_intent`` / ``apply_patch``), the repository stores it, and the
outbox row for the matcher is written in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.config import Settings
from intentcast.domain.errors import NotFound, QuotaExceeded
from intentcast.domain.events import OutboxEventType
from intentcast.domain.intents import (
    Disclosure,
    Intent,
    IntentDraft,
    IntentPatch,
    Policy,
    apply_patch,
    new_intent,
)
from intentcast.domain.kanon import COUNTED_INTENTS, described, disclosure_for, top_category
from intentcast.logs import current_request_id
from intentcast.security import new_id
from intentcast.services.scrubbing import off_loop, text_size
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.services.work import unit_of_work
from intentcast.store.accounts import Buyers
from intentcast.store.intents import Intents


def policy_of(settings: Settings) -> Policy:
    """The domain's narrow view of the operator settings that shape intents."""
    return Policy(
        location_floor=settings.location_floor,
        default_intent_days=settings.default_intent_days,
        max_intent_days=settings.max_intent_days,
        retention_days=settings.retention_days,
    )


async def draft_intent(
    conn: asyncpg.Connection,
    taxonomy: TaxonomyCache,
    settings: Settings,
    *,
    buyer_id: str,
    draft: IntentDraft,
    now: datetime,
) -> Intent:
    """Validate and scrub a draft exactly as publishing would; stores nothing."""
    category = await taxonomy.resolve(conn, draft.category, "category")
    buyer = await Buyers(conn).get(buyer_id)
    region = buyer.country if buyer else None
    intent = await _scrubbed(draft, buyer_id, category.path, region, now, settings)
    return msgspec.structs.replace(
        intent, disclosure=await _disclosure(Intents(conn), intent, settings)
    )


async def _disclosure(intents: Intents, intent: Intent, settings: Settings) -> Disclosure | None:
    """k-anonymity (``domain/kanon.py``): the coarser pair vendors are to see, if any, given
    the open intents now. Decided once, when the intent is published (and for a preview):
    the pair a vendor was shown never changes under it."""
    if settings.k_anonymity <= 1:
        return None
    neighbours = await intents.kanon_neighbours(
        described(intent), top_category(intent.category), limit=COUNTED_INTENTS
    )
    return disclosure_for(intent, neighbours, settings.k_anonymity)


async def _scrubbed(
    draft: IntentDraft,
    buyer_id: str,
    category: str,
    region: str | None,
    now: datetime,
    settings: Settings,
) -> Intent:
    return await off_loop(
        text_size(draft.title, draft.description, attributes=draft.attributes),
        new_intent,
        draft,
        intent_id=new_id("int"),
        buyer_id=buyer_id,
        category=category,
        region=region,
        now=now,
        policy=policy_of(settings),
    )


async def publish_intent(
    conn: asyncpg.Connection,
    client: redis.Redis,
    taxonomy: TaxonomyCache,
    settings: Settings,
    *,
    buyer_id: str,
    draft: IntentDraft,
    now: datetime,
) -> Intent:
    """Store the intent and its ``intent.published`` event before answering. A buyer holds
    at most ``max_open_intents`` open or paused intents."""
    category = await taxonomy.resolve(conn, draft.category, "category")
    async with unit_of_work(conn, client) as work:
        # four round trips in all: BEGIN, the lock with the buyer's country, the intent with
        # its outbox row (marked published) and the buyer's count, COMMIT (a refusal rolls
        # the insert back); after commit one Redis pipeline and no further statement. With
        # k-anonymity on (k > 1), one more: the open intents of its top-level category
        intents = Intents(conn)
        region = await intents.lock_publisher(buyer_id)
        intent = await _scrubbed(draft, buyer_id, category.path, region, now, settings)
        intent = msgspec.structs.replace(
            intent, disclosure=await _disclosure(intents, intent, settings)
        )
        stored, event, live_before = await intents.insert_published(
            intent,
            event_type=OutboxEventType.INTENT_PUBLISHED,
            request_id=current_request_id(),
        )
        if live_before >= settings.max_open_intents:
            raise QuotaExceeded(
                f"You already have {settings.max_open_intents} open or paused intents, the "
                "maximum; withdraw one or wait for one to close.",
                "too-many-open-intents",
                limit=settings.max_open_intents,
            )
        work.recorded(event)
    return stored


async def buyer_intent(conn: asyncpg.Connection, *, buyer_id: str, intent_id: str) -> Intent:
    intent = await Intents(conn).get_for_buyer(buyer_id, intent_id)
    if intent is None:
        raise NotFound("intent")
    return intent


async def buyer_intents(
    conn: asyncpg.Connection,
    *,
    buyer_id: str,
    statuses: list[str] | None,
    limit: int,
    before: tuple[datetime, str] | None,
) -> list[Intent]:
    return await Intents(conn).list_for_buyer(
        buyer_id, statuses=statuses, limit=limit, before=before
    )


async def change_intent(
    conn: asyncpg.Connection,
    client: redis.Redis,
    settings: Settings,
    *,
    buyer_id: str,
    intent_id: str,
    patch: IntentPatch,
    now: datetime,
) -> Intent:
    """Apply a buyer's patch; matched vendors hear ``intent.updated`` or ``intent.closed``
    through the outbox. A patch that changes nothing records nothing."""
    async with unit_of_work(conn, client) as work:
        intents = Intents(conn)
        intent = await intents.get_for_buyer(buyer_id, intent_id, for_update=True)
        if intent is None:
            raise NotFound("intent")
        buyer = await Buyers(conn).get(buyer_id)
        updated, event = await off_loop(
            _scrubbed_size(intent, patch),
            apply_patch,
            intent,
            patch,
            region=buyer.country if buyer else None,
            now=now,
            policy=policy_of(settings),
        )
        if event is None:
            return intent
        stored = await intents.save(intent, updated)
        await work.record(event, stored.id, {"version": stored.version, "status": stored.status})
    return stored


def _scrubbed_size(intent: Intent, patch: IntentPatch) -> int:
    """Characters a patch makes ``apply_patch`` scrub: none unless it changes text."""
    texts = [t for t in (patch.title, patch.description) if isinstance(t, str)]
    attributes = patch.attributes if isinstance(patch.attributes, dict) else None
    changes_text = bool(texts) or attributes is not None or patch.description is None
    if not changes_text:
        return 0
    return text_size(
        intent.title, intent.description, *texts, attributes=attributes or intent.attributes
    )


async def expire_due_intents(conn: asyncpg.Connection, client: redis.Redis, *, limit: int) -> int:
    """Close one batch of intents past ``expires_at``, each with its ``intent.closed`` event
    in the same transaction (claimed with SKIP LOCKED: schedulers may run in parallel)."""
    async with unit_of_work(conn, client) as work:
        expired = await Intents(conn).expire_due(limit=limit)
        await work.record_many(
            [
                (OutboxEventType.INTENT_CLOSED, i.id, {"version": i.version, "status": i.status})
                for i in expired
            ]
        )
    return len(expired)
