"""Repository for relay threads and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from intentcast.store.errors import found
from intentcast.store.sql import insert_sql


class ThreadRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    buyer_id: str
    created_at: datetime
    updated_at: datetime


class MessageRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    thread_id: str
    sender: str
    body: str
    public_body: str
    redactions: list[dict[str, Any]]
    created_at: datetime
    flagged_at: datetime | None


_THREAD = "id, intent_id, vendor_id, buyer_id, created_at, updated_at"
_MESSAGE = "id, thread_id, sender, body, public_body, redactions, created_at, flagged_at"
_MESSAGE_INSERTABLE = frozenset({"id", "thread_id", "sender", "body", "public_body", "redactions"})


class Threads:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(
        self, thread_id: str, intent_id: str, vendor_id: str, buyer_id: str
    ) -> ThreadRow | None:
        row = await self.conn.fetchrow(
            f"""INSERT INTO threads (id, intent_id, vendor_id, buyer_id) VALUES ($1, $2, $3, $4)
                ON CONFLICT (intent_id, vendor_id) DO NOTHING RETURNING {_THREAD}""",
            thread_id,
            intent_id,
            vendor_id,
            buyer_id,
        )
        return None if row is None else ThreadRow(**dict(row))

    async def for_intent_and_vendor(self, intent_id: str, vendor_id: str) -> ThreadRow | None:
        row = await self.conn.fetchrow(
            f"SELECT {_THREAD} FROM threads WHERE intent_id = $1 AND vendor_id = $2",
            intent_id,
            vendor_id,
        )
        return None if row is None else ThreadRow(**dict(row))

    async def get(self, thread_id: str) -> ThreadRow | None:
        row = await self.conn.fetchrow(f"SELECT {_THREAD} FROM threads WHERE id = $1", thread_id)
        return None if row is None else ThreadRow(**dict(row))

    async def require(self, thread_id: str) -> ThreadRow:
        """Like ``get``, for a thread that must exist; else ``RowNotFound``."""
        return found(await self.get(thread_id), "threads", thread_id)

    async def list_for(
        self, role: str, owner_id: str, *, limit: int, after: str | None
    ) -> list[ThreadRow]:
        column = {"buyer": "buyer_id", "vendor": "vendor_id"}[role]
        rows = await self.conn.fetch(
            f"""SELECT {_THREAD} FROM threads WHERE {column} = $1 AND ($2::text IS NULL OR id > $2)
                 ORDER BY id LIMIT $3""",
            owner_id,
            after,
            limit,
        )
        return [ThreadRow(**dict(r)) for r in rows]

    async def add_message(self, values: dict[str, Any]) -> MessageRow:
        row = await self.conn.fetchrow(
            insert_sql("messages", values, allowed=_MESSAGE_INSERTABLE, returning=_MESSAGE),
            *values.values(),
        )
        await self.conn.execute(
            "UPDATE threads SET updated_at = now() WHERE id = $1", values["thread_id"]
        )
        return MessageRow(**dict(row))

    async def messages(self, thread_id: str) -> list[MessageRow]:
        rows = await self.conn.fetch(
            f"SELECT {_MESSAGE} FROM messages WHERE thread_id = $1 ORDER BY created_at, id",
            thread_id,
        )
        return [MessageRow(**dict(r)) for r in rows]

    async def message_with_thread(self, message_id: str) -> tuple[MessageRow, ThreadRow] | None:
        row = await self.conn.fetchrow(f"SELECT {_MESSAGE} FROM messages WHERE id = $1", message_id)
        if row is None:
            return None
        message = MessageRow(**dict(row))
        return message, await self.require(message.thread_id)

    async def flag(self, message_id: str, flagged_by: str, reason: str) -> None:
        await self.conn.execute(
            """UPDATE messages SET flagged_at = now(), flagged_by = $2, flag_reason = $3
                WHERE id = $1 AND flagged_at IS NULL""",
            message_id,
            flagged_by,
            reason,
        )

    # ---- data rights and retention ----------------------------------------------------------

    async def all_for_buyer(self, buyer_id: str) -> list[ThreadRow]:
        rows = await self.conn.fetch(
            f"SELECT {_THREAD} FROM threads WHERE buyer_id = $1 ORDER BY created_at, id",
            buyer_id,
        )
        return [ThreadRow(**dict(r)) for r in rows]

    async def purge_messages(self, intent_ids: list[str], marker: str) -> int:
        """Replace the body of every message on these intents' threads with ``marker`` (both
        sides' words, the original and the vendor's copy); return how many."""
        status = await self.conn.execute(
            """UPDATE messages m SET body = $2, public_body = $2, redactions = '[]',
                      purged_at = now()
                 FROM threads t
                WHERE t.id = m.thread_id AND t.intent_id = ANY($1::text[])
                  AND m.purged_at IS NULL""",
            intent_ids,
            marker,
        )
        return int(status.split()[-1])
