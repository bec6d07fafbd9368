"""``/v1/admin/flags``: the queue of flagged relay messages, and resolving a flag."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.admin.common import Reason, actor_of
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_time_cursor,
    encode_time_cursor,
)
from intentcast.services import flag_moderation
from intentcast.services.flag_moderation import FlagAction, FlagRecord, FlagStatus
from intentcast.store.accounts import Principal


class FlagRecordPage(msgspec.Struct):
    items: list[FlagRecord]
    next: str | None


class FlagResolve(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How an operator resolves a flag."""

    action: Annotated[
        FlagAction,
        msgspec.Meta(
            description="`dismiss`: nothing wrong; `remove_message`: blank it for both "
            "sides (a tombstone stays); `suspend_vendor`: suspend the vendor that wrote it."
        ),
    ]
    reason: Reason | None = None
    """Required with `suspend_vendor` (the vendor is shown it)."""


class AdminFlagController(Controller):
    path = "/flags"

    @get(operation_id="adminListFlags", summary="Flagged relay messages, newest flags first")
    async def list_flags(
        self,
        db: asyncpg.Connection,
        status: Annotated[
            FlagStatus, Parameter(description="`open`: the queue to work; `resolved`: done.")
        ] = "open",
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> FlagRecordPage:
        """Each message as its vendor sees it (a buyer's words scrubbed), which side flagged
        it and why, and its thread, intent and vendor."""
        items, last = await flag_moderation.list_flags(
            db, status=status, limit=limit, before=decode_time_cursor(after)
        )
        full = last is not None and len(items) == limit
        return FlagRecordPage(
            items=items, next=encode_time_cursor(*last) if last is not None and full else None
        )

    @post(
        "/{message_id:str}/resolve",
        operation_id="adminResolveFlag",
        summary="Resolve a flag",
        status_code=200,
    )
    async def resolve(
        self,
        message_id: str,
        data: FlagResolve,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> FlagRecord:
        """The flag's id is its message's id. 409 `flag-resolved` if it was resolved
        already; 422 naming `reason` for `suspend_vendor` without one, or `action` when the
        buyer wrote the message."""
        return await flag_moderation.resolve_flag(
            db,
            redis,
            actor=actor_of(principal),
            message_id=message_id,
            action=data.action,
            reason=data.reason,
        )
