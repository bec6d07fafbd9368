"""Relay routes: threads and messages between a buyer and a matched vendor. The rules
(scrubbing before a reveal, read-only threads, blocks) are in ``services.relay``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, get, post
from redis.asyncio import Redis

from intentcast.api.auth import requires_buyer_or_vendor, requires_verified_vendor
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    Text,
    decode_cursor,
    next_cursor,
)
from intentcast.services import relay
from intentcast.services.relay import MessageView, ThreadView
from intentcast.store.accounts import Principal

MessageBody = Annotated[Text, msgspec.Meta(min_length=1, max_length=5000)]


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: MessageBody


class FlagRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[Text, msgspec.Meta(min_length=1, max_length=1000)]


class ThreadSummary(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    created_at: datetime
    updated_at: datetime


class ThreadPage(msgspec.Struct):
    items: list[ThreadSummary]
    next: str | None


class RelayController(Controller):
    tags = ["relay"]

    @post(
        "/v1/intents/{intent_id:str}/threads",
        operation_id="openThread",
        summary="Open a thread on an intent you matched",
        guards=[requires_verified_vendor],
    )
    async def open_thread(
        self,
        intent_id: str,
        data: MessageCreate,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> ThreadView:
        """One thread per vendor per intent (409 with its id if it exists)."""
        return await relay.open_thread(
            db, redis, vendor_id=principal.subject_id, intent_id=intent_id, body=data.body
        )

    @get(
        "/v1/threads",
        operation_id="listThreads",
        summary="Your threads",
        guards=[requires_buyer_or_vendor],
    )
    async def list_threads(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> ThreadPage:
        """Buyers and vendors. The relay threads you take part in (without their
        messages), in id order; paginated with `next`. A vendor sees times to the minute."""
        rows = await relay.threads_of(
            db,
            role=principal.role,
            subject_id=principal.subject_id,
            limit=limit,
            after=decode_cursor(after),
        )
        items = [
            ThreadSummary(
                id=r.id,
                intent_id=r.intent_id,
                vendor_id=r.vendor_id,
                created_at=relay.time_for(principal.role, r.created_at),
                updated_at=relay.time_for(principal.role, r.updated_at),
            )
            for r in rows
        ]
        return ThreadPage(items=items, next=next_cursor(items, limit))

    @get(
        "/v1/threads/{thread_id:str}",
        operation_id="getThread",
        summary="A thread with its messages",
        guards=[requires_buyer_or_vendor],
    )
    async def get_thread(
        self, thread_id: str, principal: Principal, db: asyncpg.Connection
    ) -> ThreadView:
        """Buyers and vendors, for a thread they take part in (404 otherwise): every
        message as you may see it. Before a reveal the vendor reads the buyer's messages
        scrubbed of contact data; the buyer sees both their words and what the vendor saw.
        `read_only` once the intent is closed."""
        return await relay.read_thread(
            db, role=principal.role, subject_id=principal.subject_id, thread_id=thread_id
        )

    @post(
        "/v1/threads/{thread_id:str}/messages",
        operation_id="postMessage",
        summary="Post a message",
        guards=[requires_buyer_or_vendor],
    )
    async def post_message(
        self,
        thread_id: str,
        data: MessageCreate,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> MessageView:
        """Buyers and vendors, in a thread they take part in (404 otherwise). The other
        side is told (`message.created`); a buyer's contact data is scrubbed from what the
        vendor sees until revealed. 409 once the intent is closed; 403 for a vendor the
        buyer blocked."""
        return await relay.post_message(
            db,
            redis,
            role=principal.role,
            subject_id=principal.subject_id,
            thread_id=thread_id,
            body=data.body,
        )

    @post(
        "/v1/messages/{message_id:str}/flag",
        operation_id="flagMessage",
        summary="Flag a message for abuse",
        guards=[requires_buyer_or_vendor],
        status_code=202,
    )
    async def flag(
        self, message_id: str, data: FlagRequest, principal: Principal, db: asyncpg.Connection
    ) -> None:
        """Queues the message for the operators' review."""
        await relay.flag_message(
            db,
            role=principal.role,
            subject_id=principal.subject_id,
            message_id=message_id,
            reason=data.reason,
        )
