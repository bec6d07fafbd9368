"""Relay use cases: a vendor opens a thread on an intent it matched; both sides post.

The buyer's messages are always stored scrubbed beside the original. A vendor reads them
scrubbed, except that the kinds of contact data the buyer revealed to that vendor on the
intent are shown (an e-mail address once ``email`` is revealed, a phone number once
``phone`` is): revealing one field never unscrubs anything else, and links, handles, bank
and card numbers are never shown (``domain.reveals.text_for_vendor``). What a vendor sees
is decided when it reads, so a revocation applies to the thread at once; an event already
delivered keeps what was visible when it was sent. The buyer always sees their own words
and, beside them, exactly what the vendor sees.

Threads are read-only once the intent closes (409 ``intent-closed``); a blocked vendor
cannot post (403 ``blocked``: it is a participant, so nothing is hidden by a 404).
Either side can flag a message for the operators' abuse queue.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import AlreadyExists, IntentClosed, NotFound, Refused
from intentcast.domain.events import BuyerEventType, VendorEventType, dedupe
from intentcast.domain.intents import is_live
from intentcast.domain.reveals import text_for_vendor
from intentcast.domain.vendor_view import to_minute
from intentcast.security import new_id
from intentcast.services.scrubbing import scrub_text
from intentcast.services.work import Work, unit_of_work
from intentcast.store.accounts import Buyers
from intentcast.store.deals import Blocks, Reveals
from intentcast.store.intents import Intents
from intentcast.store.matches import Matches
from intentcast.store.relay import MessageRow, ThreadRow, Threads


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


def time_for(reader_role: str, moment: datetime) -> datetime:
    """A vendor sees relay times to the minute (L2), like an intent's ``published_at``:
    exact times would link a buyer's replies and intents."""
    return moment if reader_role == "buyer" else to_minute(moment)


def message_view(
    message: MessageRow, reader_role: str, revealed_fields: Collection[str]
) -> MessageView:
    """``revealed_fields``: what the buyer currently reveals to the thread's vendor."""
    at = time_for(reader_role, message.created_at)
    if message.sender != "buyer":
        return MessageView(id=message.id, sender=message.sender, body=message.body, created_at=at)
    shown = text_for_vendor(message.body, message.redactions, revealed_fields)
    if reader_role == "buyer":
        return MessageView(
            id=message.id, sender="buyer", body=message.body, shown_to_vendor=shown, created_at=at
        )
    return MessageView(id=message.id, sender="buyer", body=shown, created_at=at)


async def _revealed(conn: asyncpg.Connection, thread: ThreadRow) -> set[str]:
    return await Reveals(conn).active_fields(thread.buyer_id, thread.vendor_id, thread.intent_id)


async def thread_view(conn: asyncpg.Connection, thread: ThreadRow, role: str) -> ThreadView:
    intent = await Intents(conn).get(thread.intent_id)
    messages = await Threads(conn).messages(thread.id)
    revealed = await _revealed(conn, thread)
    return ThreadView(
        id=thread.id,
        intent_id=thread.intent_id,
        vendor_id=thread.vendor_id,
        read_only=intent is None or not is_live(intent.status),
        created_at=time_for(role, thread.created_at),
        updated_at=time_for(role, thread.updated_at),
        messages=[message_view(m, role, revealed) for m in messages],
    )


def _participant(thread: ThreadRow | None, role: str, subject_id: str) -> ThreadRow:
    owner = None if thread is None else (thread.buyer_id if role == "buyer" else thread.vendor_id)
    if thread is None or owner != subject_id:
        raise NotFound("thread")
    return thread


async def _post(work: Work, thread: ThreadRow, role: str, body: str) -> MessageRow:
    """Add a message and tell the other side (inside ``work``)."""
    conn = work.conn
    intent = await Intents(conn).get(thread.intent_id)
    if intent is None or not is_live(intent.status):
        raise IntentClosed(intent.status if intent else "gone", "its threads are read-only")
    if role == "vendor" and await Blocks(conn).blocked(thread.buyer_id, thread.vendor_id):
        raise Refused("The buyer has blocked you; you cannot message them.", "blocked")
    public_body, redactions = body, []
    if role == "buyer":
        buyer = await Buyers(conn).get(thread.buyer_id)
        result = await scrub_text(body, region=buyer.country if buyer else None, field="body")
        public_body, redactions = result.text, msgspec.to_builtins(result.redactions)
    message = await Threads(conn).add_message(
        {
            "id": new_id("msg"),
            "thread_id": thread.id,
            "sender": role,
            "body": body,
            "public_body": public_body,
            "redactions": redactions,
        }
    )
    data: dict[str, Any] = {"thread_id": thread.id, "intent_id": thread.intent_id}
    key = dedupe.message(message.id)
    revealed = await _revealed(conn, thread) if role == "buyer" else set()
    if role == "buyer":
        data["message"] = msgspec.to_builtins(message_view(message, "vendor", revealed))
        await work.tell_vendor(thread.vendor_id, VendorEventType.MESSAGE_CREATED, data, key)
    else:
        data["message"] = msgspec.to_builtins(message_view(message, "buyer", revealed))
        await work.tell_buyer(thread.buyer_id, BuyerEventType.MESSAGE_CREATED, data, key)
    return message


async def open_thread(
    conn: asyncpg.Connection, client: redis.Redis, *, vendor_id: str, intent_id: str, body: str
) -> ThreadView:
    """One thread per vendor per intent (409 ``thread-exists`` with its id)."""
    async with unit_of_work(conn, client) as work:
        intent = await Intents(conn).get(intent_id)
        if intent is None or not await Matches(conn).vendor_matched(vendor_id, intent_id):
            raise NotFound("intent")
        if await Blocks(conn).blocked(intent.buyer_id, vendor_id):
            raise NotFound("intent")
        thread = await Threads(conn).create(new_id("thr"), intent_id, vendor_id, intent.buyer_id)
        if thread is None:
            existing = await Threads(conn).for_intent_and_vendor(intent_id, vendor_id)
            raise AlreadyExists(
                "You already have a thread on this intent.",
                "thread-exists",
                thread_id=existing.id if existing else None,
            )
        await _post(work, thread, "vendor", body)
        view = await thread_view(conn, thread, "vendor")
    return view


async def threads_of(
    conn: asyncpg.Connection, *, role: str, subject_id: str, limit: int, after: str | None
) -> list[ThreadRow]:
    return await Threads(conn).list_for(role, subject_id, limit=limit, after=after)


async def read_thread(
    conn: asyncpg.Connection, *, role: str, subject_id: str, thread_id: str
) -> ThreadView:
    thread = _participant(await Threads(conn).get(thread_id), role, subject_id)
    return await thread_view(conn, thread, role)


async def post_message(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    role: str,
    subject_id: str,
    thread_id: str,
    body: str,
) -> MessageView:
    async with unit_of_work(conn, client) as work:
        thread = _participant(await Threads(conn).get(thread_id), role, subject_id)
        message = await _post(work, thread, role, body)
        view = message_view(message, role, await _revealed(conn, thread))
    return view


async def flag_message(
    conn: asyncpg.Connection, *, role: str, subject_id: str, message_id: str, reason: str
) -> None:
    """Queue the message for the operators' review (participants only)."""
    found = await Threads(conn).message_with_thread(message_id)
    if found is None:
        raise NotFound("message")
    _participant(found[1], role, subject_id)
    await Threads(conn).flag(message_id, f"{role}:{subject_id}", reason)
