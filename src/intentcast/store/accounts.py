"""Repositories for buyers, vendors, operators and their bearer tokens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from intentcast.domain.reveals import PERSONA_FIELDS
from intentcast.security import hash_token, new_id, new_token
from intentcast.store.errors import found
from intentcast.store.locks import serialize
from intentcast.store.sql import set_clause

_BUYER_UPDATABLE = frozenset({"display_name", "country", *(f"{f}_sealed" for f in PERSONA_FIELDS)})
_VENDOR_UPDATABLE = frozenset({"name", "website", "description", "contact_email"})


class Principal(msgspec.Struct, frozen=True):
    """Who a request acts as, resolved from its bearer token."""

    role: str
    subject_id: str
    token_id: str
    status: str | None = None  # vendors: pending | verified | suspended
    scopes: frozenset[str] | None = None
    """What a scoped (delegated) buyer token may do (``domain/scopes.py``); None: a full
    token."""
    expires_at: datetime | None = None
    """When the token stops working (None: when revoked); caches must honour it too."""

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class BuyerRow(msgspec.Struct, frozen=True):
    id: str
    display_name: str
    sealed: dict[str, bytes | None]
    country: str | None
    created_at: datetime
    updated_at: datetime


class VendorRow(msgspec.Struct, frozen=True):
    id: str
    name: str
    website: str | None
    description: str | None
    contact_email: str | None
    status: str
    created_at: datetime
    verified_at: datetime | None
    status_reason: str | None = None
    status_changed_at: datetime | None = None


class TokenRow(msgspec.Struct, frozen=True):
    id: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: list[str] | None = None
    expires_at: datetime | None = None


_TOKEN_COLUMNS = "id, label, created_at, last_used_at, revoked_at, scopes, expires_at"  # noqa: S105


def _token(row: asyncpg.Record) -> TokenRow:
    scopes = row["scopes"]
    return TokenRow(**{**dict(row), "scopes": None if scopes is None else sorted(scopes)})


def _buyer(row: asyncpg.Record) -> BuyerRow:
    return BuyerRow(
        id=row["id"],
        display_name=row["display_name"],
        sealed={f: row[f"{f}_sealed"] for f in PERSONA_FIELDS},
        country=row["country"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _vendor(row: asyncpg.Record) -> VendorRow:
    return VendorRow(**{f: row[f] for f in VendorRow.__struct_fields__})


def principal_of(row: asyncpg.Record) -> Principal:
    """A ``Principal`` from a tokens row (with ``status`` joined from vendors)."""
    scopes = row["scopes"]
    return Principal(
        role=row["role"],
        subject_id=row["subject_id"],
        token_id=row["id"],
        status=row["status"],
        scopes=None if scopes is None else frozenset(scopes),
        expires_at=row["expires_at"],
    )


class Tokens:
    """Bearer tokens: created shown-once, stored as SHA-256 hashes, revocable."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def issue(
        self,
        role: str,
        subject_id: str,
        label: str | None = None,
        *,
        scopes: Iterable[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """Create a token (``scopes`` None: a full one); return ``(token_id, token)`` — the
        only time the token exists."""
        token = new_token(role)
        token_id = new_id("tok")
        await self.conn.execute(
            """INSERT INTO tokens (id, role, subject_id, token_hash, label, scopes, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            token_id,
            role,
            subject_id,
            hash_token(token),
            label,
            None if scopes is None else sorted(scopes),
            expires_at,
        )
        return token_id, token

    async def principal(self, token: str) -> Principal | None:
        """Who a live token acts as; ``None`` if unknown, revoked or expired."""
        row = await self.conn.fetchrow(
            """SELECT t.id, t.role, t.subject_id, t.scopes, t.expires_at, v.status
                 FROM tokens t LEFT JOIN vendors v ON t.role = 'vendor' AND v.id = t.subject_id
                WHERE t.token_hash = $1 AND t.revoked_at IS NULL
                  AND (t.expires_at IS NULL OR t.expires_at > now())""",
            hash_token(token),
        )
        return None if row is None else principal_of(row)

    async def list_for(self, subject_id: str, *, limit: int, after: str | None) -> list[TokenRow]:
        rows = await self.conn.fetch(
            f"""SELECT {_TOKEN_COLUMNS} FROM tokens
                WHERE subject_id = $1 AND ($2::text IS NULL OR id > $2)
                ORDER BY id LIMIT $3""",
            subject_id,
            after,
            limit,
        )
        return [_token(r) for r in rows]

    async def get(self, subject_id: str, token_id: str) -> TokenRow | None:
        row = await self.conn.fetchrow(
            f"""SELECT {_TOKEN_COLUMNS} FROM tokens
                WHERE subject_id = $1 AND id = $2""",
            subject_id,
            token_id,
        )
        return None if row is None else _token(row)

    async def revoke(self, subject_id: str, token_id: str) -> bool:
        status = await self.conn.execute(
            """UPDATE tokens SET revoked_at = now()
                WHERE id = $1 AND subject_id = $2 AND revoked_at IS NULL""",
            token_id,
            subject_id,
        )
        return status.endswith(" 1")

    async def count_lasting_full(self, subject_id: str) -> int:
        """The account's live full (unscoped) tokens without an expiry: those that keep the
        account reachable (a buyer mints, exports and erases only with a full token)."""
        return await self.conn.fetchval(
            """SELECT count(*) FROM tokens
                WHERE subject_id = $1 AND revoked_at IS NULL AND scopes IS NULL
                  AND expires_at IS NULL""",
            subject_id,
        )

    async def all_for(self, subject_id: str) -> list[TokenRow]:
        """Every token of the account, revoked ones too (the buyer's export)."""
        rows = await self.conn.fetch(
            f"""SELECT {_TOKEN_COLUMNS} FROM tokens
                WHERE subject_id = $1 ORDER BY id""",
            subject_id,
        )
        return [_token(r) for r in rows]

    async def revoke_all(self, subject_id: str) -> int:
        status = await self.conn.execute(
            "UPDATE tokens SET revoked_at = now() WHERE subject_id = $1 AND revoked_at IS NULL",
            subject_id,
        )
        return int(status.split()[-1])

    async def touch(self, token_id: str) -> None:
        """Record that the token was used; writes only when ``last_used_at`` is older than a
        minute (or unset), so callers may call it freely."""
        await self.conn.execute(
            """UPDATE tokens SET last_used_at = now()
                WHERE id = $1
                  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')""",
            token_id,
        )


class Buyers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(
        self, buyer_id: str, display_name: str, sealed: dict[str, bytes | None], country: str | None
    ) -> BuyerRow:
        row = await self.conn.fetchrow(
            """INSERT INTO buyers (id, display_name, name_sealed, email_sealed, phone_sealed,
                                   address_sealed, country)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
            buyer_id,
            display_name,
            *(sealed.get(f) for f in PERSONA_FIELDS),
            country,
        )
        return _buyer(row)

    async def get(self, buyer_id: str) -> BuyerRow | None:
        row = await self.conn.fetchrow("SELECT * FROM buyers WHERE id = $1", buyer_id)
        return None if row is None else _buyer(row)

    async def require(self, buyer_id: str) -> BuyerRow:
        """Like ``get``, for a buyer that must exist; else ``RowNotFound``."""
        return found(await self.get(buyer_id), "buyers", buyer_id)

    async def update(self, buyer_id: str, changes: dict[str, Any]) -> BuyerRow:
        """``changes`` maps column names (``display_name``, ``email_sealed``, …) to values."""
        assignments, values = set_clause(changes, _BUYER_UPDATABLE, also=("updated_at = now()",))
        row = await self.conn.fetchrow(
            f"UPDATE buyers SET {assignments} WHERE id = $1 RETURNING *", buyer_id, *values
        )
        return _buyer(row)

    async def lock(self, buyer_id: str) -> bool:
        """Lock the buyer's row against other changes until commit (rows referring to it may
        still be added); False if there is no such buyer."""
        return bool(
            await self.conn.fetchval(
                "SELECT true FROM buyers WHERE id = $1 FOR NO KEY UPDATE", buyer_id
            )
        )

    async def erase(self, buyer_id: str, display_name: str) -> None:
        """Drop the persona and country, set ``display_name`` (a placeholder) and record when;
        a buyer already erased is left as it is."""
        await self.conn.execute(
            f"""UPDATE buyers SET {", ".join(f"{f}_sealed = NULL" for f in PERSONA_FIELDS)},
                      country = NULL, display_name = $2, updated_at = now(), erased_at = now()
                WHERE id = $1 AND erased_at IS NULL""",
            buyer_id,
            display_name,
        )


class Vendors:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(
        self,
        vendor_id: str,
        *,
        name: str,
        website: str | None,
        description: str | None,
        contact_email: str | None,
        verified: bool,
    ) -> VendorRow:
        row = await self.conn.fetchrow(
            """INSERT INTO vendors (id, name, website, description, contact_email, status,
                                    verified_at)
               VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END) RETURNING *""",
            vendor_id,
            name,
            website,
            description,
            contact_email,
            "verified" if verified else "pending",
            verified,
        )
        return _vendor(row)

    async def get(self, vendor_id: str, *, for_update: bool = False) -> VendorRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT * FROM vendors WHERE id = $1{lock}", vendor_id)
        return None if row is None else _vendor(row)

    async def require(self, vendor_id: str) -> VendorRow:
        """Like ``get``, for a vendor that must exist; else ``RowNotFound``."""
        return found(await self.get(vendor_id), "vendors", vendor_id)

    async def get_many(self, vendor_ids: Iterable[str]) -> dict[str, VendorRow]:
        """The vendors among ``vendor_ids`` that exist, by id (one query)."""
        rows = await self.conn.fetch(
            "SELECT * FROM vendors WHERE id = ANY($1::text[])", list(set(vendor_ids))
        )
        return {r["id"]: _vendor(r) for r in rows}

    async def record_rename(self, vendor_id: str, old_name: str, new_name: str) -> None:
        await self.conn.execute(
            """INSERT INTO vendor_name_changes (vendor_id, old_name, new_name)
               VALUES ($1, $2, $3)""",
            vendor_id,
            old_name,
            new_name,
        )

    async def renames(self, vendor_id: str) -> list[tuple[str, str, datetime]]:
        """Every rename of the vendor, oldest first: ``(old, new, when)``."""
        rows = await self.conn.fetch(
            """SELECT old_name, new_name, changed_at FROM vendor_name_changes
                WHERE vendor_id = $1 ORDER BY id""",
            vendor_id,
        )
        return [(r["old_name"], r["new_name"], r["changed_at"]) for r in rows]

    async def update(self, vendor_id: str, changes: dict[str, Any]) -> VendorRow:
        assignments, values = set_clause(changes, _VENDOR_UPDATABLE, also=("updated_at = now()",))
        row = await self.conn.fetchrow(
            f"UPDATE vendors SET {assignments} WHERE id = $1 RETURNING *", vendor_id, *values
        )
        return _vendor(row)

    async def set_status(
        self, vendor_id: str, status: str, reason: str | None = None
    ) -> VendorRow | None:
        row = await self.conn.fetchrow(
            """UPDATE vendors SET status = $2, status_reason = $3, status_changed_at = now(),
                      updated_at = now(),
                      verified_at = CASE WHEN $2 = 'verified' THEN coalesce(verified_at, now())
                                         ELSE verified_at END
                WHERE id = $1 RETURNING *""",
            vendor_id,
            status,
            reason,
        )
        return None if row is None else _vendor(row)

    async def page(
        self, *, status: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[VendorRow]:
        """Newest first by sign-up, optionally of one status."""
        rows = await self.conn.fetch(
            """SELECT * FROM vendors
                WHERE ($1::text IS NULL OR status = $1)
                  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
                ORDER BY created_at DESC, id DESC LIMIT $4""",
            status,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [_vendor(r) for r in rows]

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.conn.fetch("SELECT status, count(*) AS n FROM vendors GROUP BY status")
        return {r["status"]: r["n"] for r in rows}


class Operators:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(self, name: str) -> str:
        operator_id = new_id("opr")
        await self.conn.execute(
            "INSERT INTO operators (id, name) VALUES ($1, $2)", operator_id, name
        )
        return operator_id

    async def count(self) -> int:
        return await self.conn.fetchval("SELECT count(*) FROM operators")

    async def create_with_token(self, name: str, label: str) -> str:
        """Create an operator and a token for it, in one transaction; return the token
        (shown once)."""
        async with self.conn.transaction():
            operator_id = await self.create(name)
            _, token = await Tokens(self.conn).issue("operator", operator_id, label)
        return token

    async def create_first(
        self, name: str = "first operator", label: str = "first start"
    ) -> str | None:
        """On a database without operators, create one and return its token; else ``None``.

        Racing first starts create one operator between them."""
        async with self.conn.transaction():
            await serialize(self.conn, "operators")
            if await self.count():
                return None
            return await self.create_with_token(name, label)
