"""The anonymous relay: a vendor opens a thread on an intent it matched; both sides post.

The buyer's messages are scrubbed of contact data for the vendor until the buyer has
revealed to that vendor (an active reveal on the intent); the buyer always sees their own
words. Threads are read-only once the intent closes; blocked vendors cannot post. Either
side can flag a message for the operators' abuse queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State

from intentcast.api.auth import requires_buyer_or_vendor, requires_verified_vendor
from intentcast.api.errors import conflict, not_found, problem
from intentcast.api.types import DEFAULT_LIMIT, AfterParam, LimitParam, decode_cursor, next_cursor
from intentcast.delivery.notify import Notifier
from intentcast.domain.intents import is_live
from intentcast.domain.scrubbing import scrub
from intentcast.security import new_id
from intentcast.store.accounts import Buyers, Principal
from intentcast.store.deals import Blocks, Reveals
from intentcast.store.events import Matches
from intentcast.store.intents import Intents
from intentcast.store.relay import MessageRow, ThreadRow, Threads

MessageBody = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: MessageBody


class FlagRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class MessageView(msgspec.Struct, kw_only=True):
    id: str
    sender: str
    body: str
    """What the reader sees: for the vendor, the buyer's words scrubbed before a reveal."""
    shown_to_vendor: str | None = None
    """On the buyer's own messages: exactly what the vendor sees."""
    created_at: datetime


class ThreadView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    read_only: bool
    created_at: datetime
    updated_at: datetime
    messages: list[MessageView]


class ThreadSummary(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    created_at: datetime
    updated_at: datetime


class ThreadPage(msgspec.Struct):
    items: list[ThreadSummary]
    next: str | None


def _message_view(message: MessageRow, reader_role: str) -> MessageView:
    if message.sender == "buyer" and reader_role == "buyer":
        return MessageView(
            id=message.id,
            sender="buyer",
            body=message.body,
            shown_to_vendor=message.public_body,
            created_at=message.created_at,
        )
    return MessageView(
        id=message.id,
        sender=message.sender,
        body=message.public_body,
        created_at=message.created_at,
    )


async def _thread_view(db: asyncpg.Connection, thread: ThreadRow, role: str) -> ThreadView:
    intent = await Intents(db).get(thread.intent_id)
    messages = await Threads(db).messages(thread.id)
    return ThreadView(
        id=thread.id,
        intent_id=thread.intent_id,
        vendor_id=thread.vendor_id,
        read_only=intent is None or not is_live(intent.status),
        created_at=thread.created_at,
        updated_at=thread.updated_at,
        messages=[_message_view(m, role) for m in messages],
    )


def _participant(thread: ThreadRow | None, principal: Principal) -> ThreadRow:
    if thread is None:
        raise not_found("thread")
    owner = thread.buyer_id if principal.role == "buyer" else thread.vendor_id
    if owner != principal.subject_id:
        raise not_found("thread")
    return thread


async def _post(
    db: asyncpg.Connection, thread: ThreadRow, principal: Principal, body: str
) -> tuple[MessageRow, Notifier]:
    """Add a message (inside a transaction) and notify the other side."""
    intent = await Intents(db).get(thread.intent_id)
    if intent is None or not is_live(intent.status):
        raise conflict("This intent is closed; its threads are read-only.", "thread-read-only")
    if principal.role == "vendor" and await Blocks(db).blocked(thread.buyer_id, thread.vendor_id):
        raise problem(403, "blocked", "The buyer has blocked you; you cannot message them.")
    public_body, redactions = body, []
    if principal.role == "buyer" and not await Reveals(db).has_active(
        thread.buyer_id, thread.vendor_id, thread.intent_id
    ):
        buyer = await Buyers(db).get(thread.buyer_id)
        result = scrub(body, region=buyer.country if buyer else None, field="body")
        public_body, redactions = result.text, msgspec.to_builtins(result.redactions)
    message = await Threads(db).add_message(
        {
            "id": new_id("msg"),
            "thread_id": thread.id,
            "sender": principal.role,
            "body": body,
            "public_body": public_body,
            "redactions": redactions,
        }
    )
    notifier = Notifier(db)
    data: dict[str, Any] = {"thread_id": thread.id, "intent_id": thread.intent_id}
    if principal.role == "buyer":
        data["message"] = msgspec.to_builtins(_message_view(message, "vendor"))
        await notifier.to_vendor(thread.vendor_id, "message.created", data, f"message:{message.id}")
    else:
        data["message"] = msgspec.to_builtins(_message_view(message, "buyer"))
        await notifier.to_buyer(thread.buyer_id, "message.created", data, f"message:{message.id}")
    return message, notifier


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
        state: State,
    ) -> ThreadView:
        """One thread per vendor per intent (409 with its id if it exists)."""
        async with db.transaction():
            intent = await Intents(db).get(intent_id)
            if intent is None or not await Matches(db).vendor_matched(
                principal.subject_id, intent_id
            ):
                raise not_found("intent")
            if await Blocks(db).blocked(intent.buyer_id, principal.subject_id):
                raise not_found("intent")
            thread = await Threads(db).create(
                new_id("thr"), intent_id, principal.subject_id, intent.buyer_id
            )
            if thread is None:
                existing = await Threads(db).for_intent_and_vendor(intent_id, principal.subject_id)
                raise problem(
                    409,
                    "thread-exists",
                    "You already have a thread on this intent.",
                    thread_id=existing.id if existing else None,
                )
            _, notifier = await _post(db, thread, principal, data.body)
            view = await _thread_view(db, thread, "vendor")
        await notifier.announce(state.redis)
        return view

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
        rows = await Threads(db).list_for(
            principal.role, principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [
            ThreadSummary(
                id=r.id,
                intent_id=r.intent_id,
                vendor_id=r.vendor_id,
                created_at=r.created_at,
                updated_at=r.updated_at,
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
        thread = _participant(await Threads(db).get(thread_id), principal)
        return await _thread_view(db, thread, principal.role)

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
        state: State,
    ) -> MessageView:
        async with db.transaction():
            thread = _participant(await Threads(db).get(thread_id), principal)
            message, notifier = await _post(db, thread, principal, data.body)
        await notifier.announce(state.redis)
        return _message_view(message, principal.role)

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
        found = await Threads(db).message_with_thread(message_id)
        if found is None:
            raise not_found("message")
        _participant(found[1], principal)
        await Threads(db).flag(message_id, f"{principal.role}:{principal.subject_id}", data.reason)
