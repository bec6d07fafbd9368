"""Repositories for the event logs (one per vendor, one per buyer).

Each owner has one ordered log; ``seq`` is gap-free because it is taken from the owner's
counter row in the same transaction that appends the event (a rolled-back append gives its
number back). ``dedupe_key`` makes appends idempotent under redelivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from intentcast.security import new_id


class LogEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of an owner's event log (a vendor's feed or a buyer's stream):
    ``{id, seq, type, created_at, data}``."""

    id: str
    seq: int
    type: str
    created_at: datetime
    data: dict[str, Any]


def encode_event(event: LogEvent) -> bytes:
    """The wire form of a log event: the same bytes on the feed, SSE and webhooks."""
    return msgspec.json.encode(event)


_APPEND_SQL: dict[str, str] = {}
"""``EventLog._append_sql`` by events table (the statement text is built once)."""


def _event(row: asyncpg.Record) -> LogEvent:
    return LogEvent(
        id=row["id"],
        seq=row["seq"],
        type=row["type"],
        created_at=row["created_at"],
        data=row["data"],
    )


class EventLog:
    """An owner's ordered event log; subclasses name the tables (constants, not input)."""

    owner = ""
    events_table = ""
    sequences_table = ""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def append(
        self, owner_id: str, event_type: str, data: dict[str, Any], dedupe_key: str
    ) -> LogEvent | None:
        """Append to the owner's log (inside a transaction), in one statement; None if an
        event with ``dedupe_key`` is already there."""
        appended = await self.append_indexed([(owner_id, event_type, data, dedupe_key)])
        return appended[0][2] if appended else None

    async def append_many(
        self, items: list[tuple[str, str, dict[str, Any], str]]
    ) -> list[tuple[str, LogEvent]]:
        """``append`` for several ``(owner_id, type, data, dedupe_key)`` at once, in one
        statement; returns ``(owner_id, event)`` for the ones appended (those already in the
        log are skipped), in the order given."""
        return [(owner_id, event) for _, owner_id, event in await self.append_indexed(items)]

    async def append_indexed(
        self, items: list[tuple[str, str, dict[str, Any], str]]
    ) -> list[tuple[int, str, LogEvent]]:
        """``append_many``, each appended event with the index of its item. An owner may
        be named several times (a matcher batch): its events are numbered in the order
        given. Sequence rows are locked in owner order, whatever the order given, so
        parallel writers cannot deadlock on them; a key already in the log, or repeated
        in ``items``, is appended once. One statement (``_APPEND_SQL``): the keys already
        in the log, the owners' counters moved on by their number of new events, and the
        events numbered from them."""
        if not items:
            return []
        kept: list[int] = []
        seen: set[tuple[str, str]] = set()
        for i, (owner_id, _, _, dedupe_key) in enumerate(items):
            if (owner_id, dedupe_key) not in seen:
                seen.add((owner_id, dedupe_key))
                kept.append(i)
        ids = [new_id("evt") for _ in kept]
        rows = await self.conn.fetch(
            self._append_sql(),
            [items[i][0] for i in kept],
            [items[i][1] for i in kept],
            [items[i][2] for i in kept],
            [items[i][3] for i in kept],
            ids,
        )
        by_id = {r["id"]: r for r in rows}
        appended = []
        for i, event_id in zip(kept, ids, strict=True):
            row = by_id.get(event_id)
            if row is not None:
                appended.append((i, row["owner"], _event(row)))
        return appended

    @classmethod
    def _append_sql(cls) -> str:
        sql = _APPEND_SQL.get(cls.events_table)
        if sql is None:
            sql = _APPEND_SQL[cls.events_table] = f"""
WITH item AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[])
           WITH ORDINALITY AS t(owner, type, data, dedupe_key, id, ord)
), fresh AS (
    SELECT item.*, row_number() OVER (PARTITION BY owner ORDER BY ord) AS nth,
           count(*) OVER (PARTITION BY owner) AS n
      FROM item
     WHERE NOT EXISTS (SELECT 1 FROM {cls.events_table} e
                        WHERE e.{cls.owner} = item.owner AND e.dedupe_key = item.dedupe_key)
), counter AS (
    INSERT INTO {cls.sequences_table} ({cls.owner}, last_seq)
    SELECT owner, count(*) FROM fresh GROUP BY owner ORDER BY owner
    ON CONFLICT ({cls.owner})
    DO UPDATE SET last_seq = {cls.sequences_table}.last_seq + excluded.last_seq
    RETURNING {cls.owner} AS owner, last_seq
)
INSERT INTO {cls.events_table} ({cls.owner}, seq, id, type, data, dedupe_key)
SELECT f.owner, c.last_seq - f.n + f.nth, f.id, f.type, f.data, f.dedupe_key
  FROM fresh f JOIN counter c ON c.owner = f.owner
RETURNING {cls.owner} AS owner, id, seq, type, created_at, data"""
        return sql

    async def after(self, owner_id: str, after_seq: int, limit: int) -> list[LogEvent]:
        rows = await self.conn.fetch(
            f"""SELECT id, seq, type, created_at, data FROM {self.events_table}
                WHERE {self.owner} = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
            owner_id,
            after_seq,
            limit,
        )
        return [_event(r) for r in rows]

    async def by_id(self, owner_id: str, event_id: str) -> LogEvent | None:
        row = await self.conn.fetchrow(
            f"""SELECT id, seq, type, created_at, data FROM {self.events_table}
                WHERE {self.owner} = $1 AND id = $2""",
            owner_id,
            event_id,
        )
        return None if row is None else _event(row)


class VendorEvents(EventLog):
    """A vendor's log: every channel (feed, SSE, webhooks) reads it."""

    owner = "vendor_id"
    events_table = "vendor_events"
    sequences_table = "vendor_sequences"

    async def purge_intent_text(self, intent_ids: list[str], marker: str) -> int:
        """Replace, in every vendor's log, the text these intents' events carry: the intent
        view's title (``marker``), description (null) and attributes ({}), and the body of
        relay messages (``marker``). Return how many events changed."""
        intents = await self.conn.execute(
            """UPDATE vendor_events
                  SET data = jsonb_set(data, '{intent}', (data -> 'intent') || jsonb_build_object(
                             'title', $2::text, 'description', NULL, 'attributes', '{}'::jsonb))
                WHERE type IN ('intent.matched', 'intent.updated', 'intent.closed')
                  AND (data -> 'intent' ->> 'id') = ANY($1::text[])
                  AND (data -> 'intent' ->> 'title') IS DISTINCT FROM $2""",
            intent_ids,
            marker,
        )
        messages = await self.conn.execute(
            f"""UPDATE vendor_events SET data = {PURGED_MESSAGE_SQL}
                 WHERE type = 'message.created' AND (data ->> 'intent_id') = ANY($1::text[])
                   AND (data -> 'message' ->> 'body') IS DISTINCT FROM $2""",
            intent_ids,
            marker,
        )
        return int(intents.split()[-1]) + int(messages.split()[-1])


class BuyerEvents(EventLog):
    """A buyer's log: offers and messages for ``/v1/me/stream``."""

    owner = "buyer_id"
    events_table = "buyer_events"
    sequences_table = "buyer_sequences"

    async def purge_messages(self, intent_ids: list[str], marker: str) -> int:
        """Replace the body of the relay messages on these intents in buyers' logs."""
        status = await self.conn.execute(
            f"""UPDATE buyer_events SET data = {PURGED_MESSAGE_SQL}
                 WHERE type = 'message.created' AND (data ->> 'intent_id') = ANY($1::text[])
                   AND (data -> 'message' ->> 'body') IS DISTINCT FROM $2""",
            intent_ids,
            marker,
        )
        return int(status.split()[-1])

    async def forget(self, buyer_id: str) -> int:
        """Delete the buyer's whole log (its counter stays, so ``seq`` never repeats)."""
        status = await self.conn.execute("DELETE FROM buyer_events WHERE buyer_id = $1", buyer_id)
        return int(status.split()[-1])


# a message.created event's data with ``$2`` as the message body (and as what the vendor
# was shown, where the event carries that)
PURGED_MESSAGE_SQL = """jsonb_set(data, '{message}', (data -> 'message')
    || jsonb_build_object('body', $2::text)
    || CASE WHEN jsonb_typeof(data -> 'message' -> 'shown_to_vendor') = 'string'
            THEN jsonb_build_object('shown_to_vendor', $2::text) ELSE '{}'::jsonb END)"""
