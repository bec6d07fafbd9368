"""Repository for matches: which subscriptions of which vendors an intent matched, and the
questions the matcher and the deal ask of them (eligibility, hourly caps, who matched)."""

from __future__ import annotations

import asyncpg


def _eligible(buyer_id: str) -> str:
    """The one rule, as an SQL condition on the vendor row ``v``, for whether it may be
    matched to an intent of the buyer ``buyer_id`` (an SQL expression): verified, and not
    blocked by that buyer."""
    return f"""v.status = 'verified'
                  AND NOT EXISTS (SELECT 1 FROM buyer_blocks bb
                                   WHERE bb.buyer_id = {buyer_id} AND bb.vendor_id = v.id)"""


class Matches:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record_many(self, triples: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        """Record (intent_id, subscription_id, vendor_id) matches in one statement (a matcher
        run); returns the new ones."""
        if not triples:
            return []
        rows = await self.conn.fetch(
            """INSERT INTO matches (intent_id, subscription_id, vendor_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
               ON CONFLICT DO NOTHING RETURNING intent_id, subscription_id, vendor_id""",
            [i for i, _, _ in triples],
            [s for _, s, _ in triples],
            [v for _, _, v in triples],
        )
        return [(r["intent_id"], r["subscription_id"], r["vendor_id"]) for r in rows]

    async def record_eligible(
        self, candidates: list[tuple[str, str, str, str]]
    ) -> list[tuple[str, str, str]]:
        """``record_many`` for the eligible ones of many (intent_id, buyer_id,
        subscription_id, vendor_id): vendors verified and not blocked by the intent's buyer
        (``eligible_pairs``), in the same statement; returns the new (intent_id,
        subscription_id, vendor_id)."""
        if not candidates:
            return []
        rows = await self.conn.fetch(
            f"""INSERT INTO matches (intent_id, subscription_id, vendor_id)
               SELECT t.i, t.s, t.v
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(i, b, s, v)
                 JOIN vendors v ON v.id = t.v
                WHERE {_eligible("t.b")}
               ON CONFLICT DO NOTHING RETURNING intent_id, subscription_id, vendor_id""",
            [i for i, _, _, _ in candidates],
            [b for _, b, _, _ in candidates],
            [s for _, _, s, _ in candidates],
            [v for _, _, _, v in candidates],
        )
        return [(r["intent_id"], r["subscription_id"], r["vendor_id"]) for r in rows]

    async def recorded_pairs(
        self, intent_ids: list[str], subscription_ids: list[str]
    ) -> set[tuple[str, str]]:
        """The (intent_id, subscription_id) of these already recorded (a redelivery)."""
        rows = await self.conn.fetch(
            """SELECT intent_id, subscription_id FROM matches
                WHERE intent_id = ANY($1::text[]) AND subscription_id = ANY($2::text[])""",
            intent_ids,
            subscription_ids,
        )
        return {(r["intent_id"], r["subscription_id"]) for r in rows}

    async def vendors_following(self, intent_id: str) -> list[str]:
        """The vendors that matched the intent and still follow it: not suspended, and not
        blocked by its buyer since (a block cuts a vendor off the intent's updates too)."""
        rows = await self.conn.fetch(
            """SELECT DISTINCT m.vendor_id FROM matches m JOIN intents i ON i.id = m.intent_id
                 JOIN vendors v ON v.id = m.vendor_id
                WHERE m.intent_id = $1 AND v.status <> 'suspended'
                  AND NOT EXISTS (SELECT 1 FROM buyer_blocks b
                                   WHERE b.buyer_id = i.buyer_id AND b.vendor_id = m.vendor_id)
                ORDER BY m.vendor_id""",
            intent_id,
        )
        return [r["vendor_id"] for r in rows]

    async def vendor_matched(self, vendor_id: str, intent_id: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT 1 FROM matches WHERE vendor_id = $1 AND intent_id = $2 LIMIT 1",
                vendor_id,
                intent_id,
            )
        )

    async def lock_capped(self, subscription_ids: list[str]) -> None:
        """Hold the capped subscriptions until commit, so two matchers never both read a
        count one below the cap and both record a match (ids in order: no lock cycles)."""
        await self.conn.execute(
            """SELECT 1 FROM subscriptions WHERE id = ANY($1::text[])
                ORDER BY id FOR NO KEY UPDATE""",
            subscription_ids,
        )

    async def hourly_counts(self, subscription_ids: list[str]) -> dict[str, int]:
        rows = await self.conn.fetch(
            """SELECT subscription_id, count(*) AS n FROM matches
                WHERE subscription_id = ANY($1) AND matched_at > now() - interval '1 hour'
                GROUP BY subscription_id""",
            subscription_ids,
        )
        return {r["subscription_id"]: r["n"] for r in rows}

    async def eligible_pairs(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (buyer_id, vendor_id) pairs may match: the vendor is verified and not
        blocked by the buyer (a matcher run)."""
        rows = await self.conn.fetch(
            f"""SELECT t.b, v.id FROM unnest($1::text[], $2::text[]) AS t(b, vid)
                 JOIN vendors v ON v.id = t.vid
                WHERE {_eligible("t.b")}""",
            [b for b, _ in pairs],
            [v for _, v in pairs],
        )
        return {(r[0], r[1]) for r in rows}
