"""Repositories for the deal: offers (with version history), reveals, receipts, ratings,
blocks, and vendor reputation figures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from intentcast.store.errors import found
from intentcast.store.sql import insert_sql, set_clause

_OFFER = """id, intent_id, vendor_id, status, version, price_amount, price_currency, quantity,
    title, details, valid_until, delivery_days, terms, created_at, updated_at, decided_at"""


class OfferRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    status: str
    version: int
    price_amount: Decimal
    price_currency: str
    quantity: int
    title: str
    details: str | None
    valid_until: datetime | None
    delivery_days: int | None
    terms: str | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


_OFFER_FIELDS = {
    "price_amount",
    "price_currency",
    "quantity",
    "title",
    "details",
    "valid_until",
    "delivery_days",
    "terms",
}
_OFFER_INSERTABLE = _OFFER_FIELDS | {"id", "intent_id", "vendor_id"}


def _offer(row: asyncpg.Record) -> OfferRow:
    return OfferRow(**dict(row))


class Offers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, values: dict[str, Any]) -> OfferRow:
        """A new offer (version 1) from ``values`` (column → value); its first snapshot."""
        row = await self.conn.fetchrow(
            insert_sql("offers", values, allowed=_OFFER_INSERTABLE, returning=_OFFER),
            *values.values(),
        )
        offer = _offer(row)
        await self._snapshot(offer)
        return offer

    async def _snapshot(self, offer: OfferRow) -> None:
        await self.conn.execute(
            "INSERT INTO offer_versions (offer_id, version, snapshot) VALUES ($1, $2, $3)",
            offer.id,
            offer.version,
            msgspec.to_builtins(offer),
        )

    async def live_for(self, intent_id: str, vendor_id: str) -> OfferRow | None:
        row = await self.conn.fetchrow(
            f"""SELECT {_OFFER} FROM offers
                 WHERE intent_id = $1 AND vendor_id = $2 AND status = 'live'""",
            intent_id,
            vendor_id,
        )
        return None if row is None else _offer(row)

    async def get(self, offer_id: str, *, for_update: bool = False) -> OfferRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {_OFFER} FROM offers WHERE id = $1{lock}", offer_id)
        return None if row is None else _offer(row)

    async def require(self, offer_id: str, *, for_update: bool = False) -> OfferRow:
        """Like ``get``, for an offer that must exist; else ``RowNotFound``."""
        return found(await self.get(offer_id, for_update=for_update), "offers", offer_id)

    async def revise(self, offer_id: str, changes: dict[str, Any]) -> OfferRow:
        assignments, values = set_clause(
            changes, _OFFER_FIELDS, also=("version = version + 1", "updated_at = now()")
        )
        row = await self.conn.fetchrow(
            f"UPDATE offers SET {assignments} WHERE id = $1 RETURNING {_OFFER}", offer_id, *values
        )
        offer = _offer(row)
        await self._snapshot(offer)
        return offer

    async def set_status(self, offer_id: str, status: str) -> OfferRow:
        row = await self.conn.fetchrow(
            f"""UPDATE offers SET status = $2, updated_at = now(),
                       decided_at = CASE WHEN $2 IN ('accepted', 'declined') THEN now()
                                         ELSE decided_at END
                 WHERE id = $1 RETURNING {_OFFER}""",
            offer_id,
            status,
        )
        return _offer(row)

    async def for_intent(self, intent_id: str) -> list[OfferRow]:
        rows = await self.conn.fetch(
            f"SELECT {_OFFER} FROM offers WHERE intent_id = $1 ORDER BY created_at, id", intent_id
        )
        return [_offer(r) for r in rows]

    async def for_vendor(self, vendor_id: str, *, limit: int, after: str | None) -> list[OfferRow]:
        rows = await self.conn.fetch(
            f"""SELECT {_OFFER} FROM offers WHERE vendor_id = $1 AND ($2::text IS NULL OR id > $2)
                 ORDER BY id LIMIT $3""",
            vendor_id,
            after,
            limit,
        )
        return [_offer(r) for r in rows]

    async def withdraw_live_of_vendor(self, vendor_id: str) -> list[OfferRow]:
        """Withdraw every live offer of the vendor (it was suspended); the rows after."""
        rows = await self.conn.fetch(
            f"""UPDATE offers SET status = 'withdrawn', updated_at = now()
                 WHERE vendor_id = $1 AND status = 'live' RETURNING {_OFFER}""",
            vendor_id,
        )
        return [_offer(r) for r in rows]

    async def accepted_quantity(self, intent_id: str) -> int:
        return await self.conn.fetchval(
            """SELECT coalesce(sum(quantity), 0) FROM offers
                WHERE intent_id = $1 AND status = 'accepted'""",
            intent_id,
        )

    async def expire_due(self, limit: int) -> list[OfferRow]:
        rows = await self.conn.fetch(
            f"""UPDATE offers SET status = 'expired', updated_at = now()
                 WHERE id IN (SELECT id FROM offers WHERE status = 'live' AND valid_until <= now()
                               ORDER BY valid_until LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING {_OFFER}""",
            limit,
        )
        return [_offer(r) for r in rows]

    async def versions(self, offer_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT snapshot FROM offer_versions WHERE offer_id = $1 ORDER BY version", offer_id
        )
        return [r["snapshot"] for r in rows]

    async def for_buyer(self, buyer_id: str) -> list[OfferRow]:
        """Every offer on any of the buyer's intents (the buyer's export), oldest first."""
        rows = await self.conn.fetch(
            f"""SELECT {_OFFER} FROM offers
                 WHERE intent_id IN (SELECT id FROM intents WHERE buyer_id = $1)
                 ORDER BY created_at, id""",
            buyer_id,
        )
        return [_offer(r) for r in rows]


class RevealRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    intent_id: str
    buyer_id: str
    vendor_id: str
    fields: list[str]
    purpose: str
    terms: dict[str, Any]
    status: str
    terms_accepted_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    sealed_values: bytes | None = None
    """The revealed values as granted (JSON, sealed with the reveal id as context)."""


_REVEAL = """id, intent_id, buyer_id, vendor_id, fields, purpose, terms, status,
    terms_accepted_at, created_at, revoked_at, sealed_values"""
_REVEAL_INSERTABLE = frozenset(
    {"id", "intent_id", "buyer_id", "vendor_id", "fields", "purpose", "terms", "sealed_values"}
)


def _reveal(row: asyncpg.Record) -> RevealRow:
    values = dict(row)
    values["fields"] = list(values["fields"])
    return RevealRow(**values)


class Reveals:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, values: dict[str, Any]) -> RevealRow:
        row = await self.conn.fetchrow(
            insert_sql("reveals", values, allowed=_REVEAL_INSERTABLE, returning=_REVEAL),
            *values.values(),
        )
        return _reveal(row)

    async def get(self, reveal_id: str, *, for_update: bool = False) -> RevealRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_REVEAL} FROM reveals WHERE id = $1{lock}", reveal_id
        )
        return None if row is None else _reveal(row)

    async def require(self, reveal_id: str, *, for_update: bool = False) -> RevealRow:
        """Like ``get``, for a reveal that must exist; else ``RowNotFound``."""
        return found(await self.get(reveal_id, for_update=for_update), "reveals", reveal_id)

    async def accept_terms(self, reveal_id: str) -> RevealRow:
        row = await self.conn.fetchrow(
            f"""UPDATE reveals SET terms_accepted_at = now() WHERE id = $1 RETURNING {_REVEAL}""",
            reveal_id,
        )
        return _reveal(row)

    async def revoke(self, reveal_id: str) -> RevealRow:
        row = await self.conn.fetchrow(
            f"""UPDATE reveals SET status = 'revoked', revoked_at = now()
                 WHERE id = $1 RETURNING {_REVEAL}""",
            reveal_id,
        )
        return _reveal(row)

    async def active_fields(self, buyer_id: str, vendor_id: str, intent_id: str) -> set[str]:
        """Every persona field the buyer currently reveals to the vendor on the intent."""
        rows = await self.conn.fetch(
            """SELECT DISTINCT unnest(fields) AS field FROM reveals
                WHERE buyer_id = $1 AND vendor_id = $2 AND intent_id = $3
                  AND status = 'granted'""",
            buyer_id,
            vendor_id,
            intent_id,
        )
        return {r["field"] for r in rows}

    async def for_buyer(self, buyer_id: str) -> list[RevealRow]:
        """Every reveal the buyer granted, oldest first."""
        rows = await self.conn.fetch(
            f"SELECT {_REVEAL} FROM reveals WHERE buyer_id = $1 ORDER BY created_at, id",
            buyer_id,
        )
        return [_reveal(r) for r in rows]

    async def granted_of_buyer(self, buyer_id: str) -> list[RevealRow]:
        """The buyer's reveals still granted, locked until commit (erasure revokes them)."""
        rows = await self.conn.fetch(
            f"""SELECT {_REVEAL} FROM reveals WHERE buyer_id = $1 AND status = 'granted'
                 ORDER BY created_at, id FOR UPDATE""",
            buyer_id,
        )
        return [_reveal(r) for r in rows]

    async def forget_values(self, buyer_id: str) -> int:
        """Drop the persona values sealed into the buyer's reveals."""
        status = await self.conn.execute(
            """UPDATE reveals SET sealed_values = NULL
                WHERE buyer_id = $1 AND sealed_values IS NOT NULL""",
            buyer_id,
        )
        return int(status.split()[-1])


class Receipts:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(
        self, *, buyer_id: str, reveal_id: str, receipt: dict[str, Any], signature: str
    ) -> None:
        await self.conn.execute(
            """INSERT INTO receipts (id, buyer_id, reveal_id, kind, receipt, signature, issued_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7::text::timestamptz)""",
            receipt["receipt_id"],
            buyer_id,
            reveal_id,
            receipt["kind"],
            receipt,
            signature,
            receipt["issued_at"],
        )

    async def ledger(
        self, buyer_id: str, *, limit: int, before: tuple[datetime, str] | None
    ) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            """SELECT c.id, c.kind, c.receipt, c.signature, c.issued_at, c.reveal_id,
                      r.status AS reveal_status, r.fields, r.vendor_id, r.intent_id
                 FROM receipts c JOIN reveals r ON r.id = c.reveal_id
                WHERE c.buyer_id = $1
                  AND ($2::timestamptz IS NULL OR (c.issued_at, c.id) < ($2, $3))
                ORDER BY c.issued_at DESC, c.id DESC LIMIT $4""",
            buyer_id,
            before[0] if before else None,
            before[1] if before else None,
            limit,
        )

    async def for_buyer(self, buyer_id: str) -> list[asyncpg.Record]:
        """Every receipt of the buyer, oldest first: ``reveal_id``, ``receipt``, ``signature``."""
        return await self.conn.fetch(
            """SELECT reveal_id, receipt, signature FROM receipts WHERE buyer_id = $1
                ORDER BY issued_at, id""",
            buyer_id,
        )


class Ratings:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(
        self, *, offer_id: str, vendor_id: str, buyer_id: str, stars: int, comment: str | None
    ) -> asyncpg.Record | None:
        return await self.conn.fetchrow(
            """INSERT INTO ratings (offer_id, vendor_id, buyer_id, stars, comment)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (offer_id) DO NOTHING
               RETURNING offer_id, stars, comment, created_at""",
            offer_id,
            vendor_id,
            buyer_id,
            stars,
            comment,
        )

    async def reputation(self, vendor_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Average rating, count, offer rate and median minutes from match to first offer."""
        rows = await self.conn.fetch(
            """WITH v AS (SELECT unnest($1::text[]) AS vendor_id),
               r AS (SELECT vendor_id, avg(stars)::float8 AS average, count(*) AS count
                       FROM ratings WHERE vendor_id = ANY($1) GROUP BY vendor_id),
               m AS (SELECT vendor_id, intent_id, min(matched_at) AS matched_at
                       FROM matches WHERE vendor_id = ANY($1) GROUP BY vendor_id, intent_id),
               f AS (SELECT vendor_id, intent_id, min(created_at) AS first_offer
                       FROM offers WHERE vendor_id = ANY($1) GROUP BY vendor_id, intent_id),
               s AS (SELECT m.vendor_id, count(*) AS matched, count(f.first_offer) AS offered,
                            percentile_cont(0.5) WITHIN GROUP (ORDER BY
                               extract(epoch FROM f.first_offer - m.matched_at) / 60.0)
                               FILTER (WHERE f.first_offer IS NOT NULL) AS median_minutes
                       FROM m LEFT JOIN f USING (vendor_id, intent_id) GROUP BY m.vendor_id)
               SELECT v.vendor_id, r.average, coalesce(r.count, 0) AS count,
                      coalesce(s.matched, 0) AS matched, coalesce(s.offered, 0) AS offered,
                      s.median_minutes
                 FROM v LEFT JOIN r USING (vendor_id) LEFT JOIN s USING (vendor_id)""",
            vendor_ids,
        )
        return {r["vendor_id"]: dict(r) for r in rows}

    async def for_buyer(self, buyer_id: str) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            """SELECT offer_id, stars, comment, created_at FROM ratings WHERE buyer_id = $1
                ORDER BY created_at, offer_id""",
            buyer_id,
        )

    async def forget_comments(self, buyer_id: str) -> int:
        """Drop the buyer's rating comments (the stars stay in the vendors' reputation)."""
        status = await self.conn.execute(
            "UPDATE ratings SET comment = NULL WHERE buyer_id = $1 AND comment IS NOT NULL",
            buyer_id,
        )
        return int(status.split()[-1])


class Blocks:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, buyer_id: str, vendor_id: str) -> None:
        await self.conn.execute(
            """INSERT INTO buyer_blocks (buyer_id, vendor_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING""",
            buyer_id,
            vendor_id,
        )

    async def remove(self, buyer_id: str, vendor_id: str) -> None:
        await self.conn.execute(
            "DELETE FROM buyer_blocks WHERE buyer_id = $1 AND vendor_id = $2", buyer_id, vendor_id
        )

    async def blocked(self, buyer_id: str, vendor_id: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT 1 FROM buyer_blocks WHERE buyer_id = $1 AND vendor_id = $2",
                buyer_id,
                vendor_id,
            )
        )

    async def of_buyer(self, buyer_id: str) -> list[str]:
        """The vendors the buyer blocks, by id."""
        rows = await self.conn.fetch(
            "SELECT vendor_id FROM buyer_blocks WHERE buyer_id = $1 ORDER BY created_at, vendor_id",
            buyer_id,
        )
        return [r["vendor_id"] for r in rows]

    async def remove_all(self, buyer_id: str) -> None:
        await self.conn.execute("DELETE FROM buyer_blocks WHERE buyer_id = $1", buyer_id)
