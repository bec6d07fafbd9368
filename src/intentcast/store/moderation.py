"""SQL of the operators' moderation: what an operator's intent list counts beside each
intent, the queue of flagged relay messages and their resolution, and blanking a removed
message everywhere it was copied (the thread, the vendor's log, the buyer's log)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

# the same rewrite of a message.created event's body as a retention purge does
from intentcast.store.events import PURGED_MESSAGE_SQL


class IntentCounts(msgspec.Struct, frozen=True, kw_only=True):
    closed_at: datetime | None
    matches: int
    offers: int
    live_offers: int
    flags_open: int


class FlagRow(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    thread_id: str
    intent_id: str
    vendor_id: str
    sender: str
    public_body: str
    message_created_at: datetime
    flagged_at: datetime
    flagged_by: str
    flag_reason: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    resolution_reason: str | None
    removed_at: datetime | None


_FLAG = """m.id AS message_id, m.thread_id, t.intent_id, t.vendor_id, m.sender, m.public_body,
    m.created_at AS message_created_at, m.flagged_at, m.flagged_by, m.flag_reason,
    m.resolved_at, m.resolved_by, m.resolution, m.resolution_reason, m.removed_at"""


class Moderation:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # ---- intents --------------------------------------------------------------------------

    async def intent_counts(self, intent_ids: list[str]) -> dict[str, IntentCounts]:
        """For each intent: when it closed, its matches, offers (all, live) and open flags."""
        rows = await self.conn.fetch(
            """SELECT i.id, i.closed_at,
                      (SELECT count(*) FROM matches m WHERE m.intent_id = i.id) AS matches,
                      (SELECT count(*) FROM offers o WHERE o.intent_id = i.id) AS offers,
                      (SELECT count(*) FROM offers o
                        WHERE o.intent_id = i.id AND o.status = 'live') AS live_offers,
                      (SELECT count(*) FROM messages g JOIN threads t ON t.id = g.thread_id
                        WHERE t.intent_id = i.id AND g.flagged_at IS NOT NULL
                          AND g.resolved_at IS NULL) AS flags_open
                 FROM intents i WHERE i.id = ANY($1::text[])""",
            intent_ids,
        )
        return {
            r["id"]: IntentCounts(
                closed_at=r["closed_at"],
                matches=r["matches"],
                offers=r["offers"],
                live_offers=r["live_offers"],
                flags_open=r["flags_open"],
            )
            for r in rows
        }

    # ---- flagged messages -----------------------------------------------------------------

    async def flags(
        self, *, resolved: bool, limit: int, before: tuple[datetime, str] | None
    ) -> list[FlagRow]:
        """Flagged messages, open or resolved, most recently flagged first; ``before`` is
        the (flagged_at, message id) of the last item seen."""
        rows = await self.conn.fetch(
            f"""SELECT {_FLAG} FROM messages m JOIN threads t ON t.id = m.thread_id
                 WHERE m.flagged_at IS NOT NULL AND (m.resolved_at IS NOT NULL) = $1
                   AND ($2::timestamptz IS NULL OR (m.flagged_at, m.id) < ($2, $3))
                 ORDER BY m.flagged_at DESC, m.id DESC LIMIT $4""",
            resolved,
            before[0] if before else None,
            before[1] if before else None,
            limit,
        )
        return [FlagRow(**dict(r)) for r in rows]

    async def flag(self, message_id: str, *, for_update: bool = False) -> FlagRow | None:
        """The flagged message ``message_id`` (None if there is none, or it is not flagged)."""
        lock = " FOR UPDATE OF m" if for_update else ""
        row = await self.conn.fetchrow(
            f"""SELECT {_FLAG} FROM messages m JOIN threads t ON t.id = m.thread_id
                 WHERE m.id = $1 AND m.flagged_at IS NOT NULL{lock}""",
            message_id,
        )
        return None if row is None else FlagRow(**dict(row))

    async def resolve_flag(
        self, message_id: str, *, by: str, resolution: str, reason: str | None
    ) -> FlagRow:
        row = await self.conn.fetchrow(
            f"""WITH done AS (
                   UPDATE messages SET resolved_at = now(), resolved_by = $2, resolution = $3,
                          resolution_reason = $4
                    WHERE id = $1 RETURNING *)
                SELECT {_FLAG} FROM done m JOIN threads t ON t.id = m.thread_id""",
            message_id,
            by,
            resolution,
            reason,
        )
        return FlagRow(**dict(row))

    async def count_open_flags(self) -> int:
        return await self.conn.fetchval(
            "SELECT count(*) FROM messages WHERE flagged_at IS NOT NULL AND resolved_at IS NULL"
        )

    async def blank_message(self, message_id: str, marker: str) -> None:
        """Replace the message's text with ``marker`` for both sides — in the thread and in
        the copies the vendor's and the buyer's logs carry — keeping the row as a tombstone."""
        await self.conn.execute(
            """UPDATE messages SET body = $2, public_body = $2, redactions = '[]',
                      removed_at = now()
                WHERE id = $1""",
            message_id,
            marker,
        )
        for table in ("vendor_events", "buyer_events"):
            await self.conn.execute(
                f"""UPDATE {table} SET data = {PURGED_MESSAGE_SQL}
                     WHERE type = 'message.created' AND (data -> 'message' ->> 'id') = $1""",
                message_id,
                marker,
            )
