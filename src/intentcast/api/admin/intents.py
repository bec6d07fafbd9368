"""``/v1/admin/intents``: every buyer's intents as their vendors see them, and removing one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.admin.common import RequiredReasonBody, actor_of
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_time_cursor,
    encode_time_cursor,
)
from intentcast.config import Settings
from intentcast.domain.intents import IntentStatus
from intentcast.services import intent_moderation
from intentcast.services.intent_moderation import IntentRecord
from intentcast.store.accounts import Principal


class IntentRecordPage(msgspec.Struct):
    items: list[IntentRecord]
    next: str | None


IntentStatusParam = Annotated[
    IntentStatus | None, Parameter(description="Only intents with this status.")
]


class AdminIntentController(Controller):
    path = "/intents"

    @get(operation_id="adminListIntents", summary="Intents, newest first")
    async def list_intents(
        self,
        db: asyncpg.Connection,
        settings: Settings,
        status: IntentStatusParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> IntentRecordPage:
        """Each as its vendors see it (scrubbed text, coarse location), with its status and
        counts of matches, offers and open flags; never the buyer nor the original text."""
        items, last = await intent_moderation.list_intents(
            db,
            status=status,
            limit=limit,
            before=decode_time_cursor(after),
            location_floor=settings.location_floor,
        )
        full = last is not None and len(items) == limit
        return IntentRecordPage(
            items=items, next=encode_time_cursor(*last) if last is not None and full else None
        )

    @post(
        "/{intent_id:str}/remove",
        operation_id="adminRemoveIntent",
        summary="Remove an intent",
        status_code=200,
    )
    async def remove(
        self,
        intent_id: str,
        data: RequiredReasonBody,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        settings: Settings,
    ) -> IntentRecord:
        """Closes it as `removed`: matched vendors hear `intent.closed`, the buyer hears
        `intent.removed` with the reason, its offers can no longer be accepted and its text
        is purged after the retention period. 409 `intent-closed` if it is already closed."""
        return await intent_moderation.remove_intent(
            db,
            redis,
            actor=actor_of(principal),
            intent_id=intent_id,
            reason=data.reason,
            now=datetime.now(UTC),
            location_floor=settings.location_floor,
        )
