"""Account use cases: sign-up of buyers and vendors, the caller's own account, and the
tokens of buyers and vendors alike (key rotation that never locks an account out).

Persona fields (``domain.reveals.PERSONA_FIELDS``) are sealed here with the owner's id and
the field name as associated data, and opened only for their owner or a vendor they were
revealed to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from intentcast.domain.errors import AlreadyExists, NotFound, QuotaExceeded, RuleViolation
from intentcast.domain.reveals import PERSONA_FIELDS
from intentcast.domain.scopes import validate_expiry, validate_scopes
from intentcast.security import Keys, new_id
from intentcast.services.token_cache import principals_changed
from intentcast.store.accounts import BuyerRow, Buyers, TokenRow, Tokens, VendorRow, Vendors
from intentcast.store.locks import serialize


def seal_persona(keys: Keys, buyer_id: str, values: dict[str, Any]) -> dict[str, bytes | None]:
    """The persona fields present in ``values``, sealed for ``buyer_id``."""
    return {
        f: keys.sealer.seal_optional(values.get(f), context=f"{buyer_id}:{f}")
        for f in PERSONA_FIELDS
        if f in values
    }


def open_persona(keys: Keys, buyer: BuyerRow) -> dict[str, str | None]:
    return {
        f: keys.sealer.open_optional(buyer.sealed[f], context=f"{buyer.id}:{f}")
        for f in PERSONA_FIELDS
    }


async def create_buyer(
    conn: asyncpg.Connection,
    keys: Keys,
    *,
    display_name: str,
    country: str | None,
    persona: dict[str, Any],
) -> tuple[BuyerRow, str]:
    """The buyer and its first token (the only time the token is seen)."""
    buyer_id = new_id("byr")
    sealed = seal_persona(keys, buyer_id, persona)
    async with conn.transaction():
        row = await Buyers(conn).create(buyer_id, display_name, sealed, country)
        _, token = await Tokens(conn).issue("buyer", buyer_id, "initial")
    return row, token


async def create_vendor(
    conn: asyncpg.Connection,
    *,
    name: str,
    website: str | None,
    description: str | None,
    contact_email: str | None,
    verified: bool,
) -> tuple[VendorRow, str]:
    vendor_id = new_id("ven")
    with unique_vendor_name(name):
        async with conn.transaction():
            row = await Vendors(conn).create(
                vendor_id,
                name=name.strip(),
                website=website,
                description=description,
                contact_email=contact_email,
                verified=verified,
            )
            _, token = await Tokens(conn).issue("vendor", vendor_id, "initial")
    return row, token


async def buyer_account(conn: asyncpg.Connection, buyer_id: str) -> BuyerRow:
    row = await Buyers(conn).get(buyer_id)
    if row is None:
        raise NotFound("buyer")
    return row


async def vendor_account(conn: asyncpg.Connection, vendor_id: str) -> VendorRow:
    row = await Vendors(conn).get(vendor_id)
    if row is None:
        raise NotFound("vendor")
    return row


async def change_buyer(
    conn: asyncpg.Connection, keys: Keys, buyer_id: str, changes: dict[str, Any]
) -> BuyerRow:
    """``changes``: display name, country and persona fields (None clears one)."""
    sealed = seal_persona(keys, buyer_id, changes)
    columns = {k: v for k, v in changes.items() if k not in PERSONA_FIELDS}
    columns.update({f"{k}_sealed": v for k, v in sealed.items()})
    if not columns:
        return await buyer_account(conn, buyer_id)
    return await Buyers(conn).update(buyer_id, columns)


async def change_vendor(
    conn: asyncpg.Connection, vendor_id: str, changes: dict[str, Any]
) -> VendorRow:
    """A rename is recorded (old name, new name, when) for the operators' audit, and a
    verified vendor cannot take a name another verified vendor uses (L7)."""
    if not changes:
        return await vendor_account(conn, vendor_id)
    if "name" in changes:
        changes = {**changes, "name": changes["name"].strip()}
    with unique_vendor_name(changes.get("name", "")):
        async with conn.transaction():
            vendors = Vendors(conn)
            before = await vendors.get(vendor_id)
            if before is None:
                raise NotFound("vendor")
            row = await vendors.update(vendor_id, changes)
            if row.name != before.name:
                await vendors.record_rename(vendor_id, before.name, row.name)
    return row


@contextmanager
def unique_vendor_name(name: str | None = None) -> Iterator[None]:
    """Verified vendors' names are unique, case-insensitively (a partial unique index): a
    rename to, or the verification of, a name another verified vendor uses is refused."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "vendors_verified_name_key":
            raise
        message = (
            f"A verified vendor is already called {name.strip()!r}; choose another name."
            if name is not None
            else "A verified vendor already uses this vendor's name; it must rename first."
        )
        raise AlreadyExists(message, "vendor-name-taken") from None


async def issue_token(
    conn: asyncpg.Connection,
    role: str,
    subject_id: str,
    label: str | None,
    *,
    scopes: Sequence[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[TokenRow, str]:
    """Another token for the account (key rotation, or a scoped one for a buyer's agent):
    its row and the token, shown once. ``scopes`` (buyers only) and ``expires_at`` are
    checked by ``domain/scopes.py``; a bad one is a ``RuleViolation`` naming the field."""
    granted = None
    if scopes is not None:
        if role != "buyer":
            raise RuleViolation("scopes", "Only buyer tokens can be scoped.")
        granted = validate_scopes(scopes)
    if expires_at is not None:
        expires_at = validate_expiry(expires_at, datetime.now(UTC))
    tokens = Tokens(conn)
    token_id, token = await tokens.issue(
        role, subject_id, label, scopes=granted, expires_at=expires_at
    )
    row = await tokens.get(subject_id, token_id)
    if row is None:  # just issued on this connection
        raise NotFound("token")
    return row, token


async def account_tokens(
    conn: asyncpg.Connection, subject_id: str, *, limit: int, after: str | None
) -> list[TokenRow]:
    """The account's tokens (never the secrets), by id, a page at a time."""
    return await Tokens(conn).list_for(subject_id, limit=limit, after=after)


async def revoke_token(conn: asyncpg.Connection, subject_id: str, token_id: str) -> None:
    """Takes effect on the next request (in every API process: ``services/token_cache.py``);
    the last full token without an expiry cannot be revoked, so rotation never locks an
    account out (a scoped token cannot mint another; scoped and expiring ones may always
    go)."""
    async with conn.transaction():
        await serialize(conn, "tokens", subject_id)
        tokens = Tokens(conn)
        row = await tokens.get(subject_id, token_id)
        if row is None or row.revoked_at is not None:
            raise NotFound("token")
        lasting_full = row.scopes is None and row.expires_at is None
        if lasting_full and await tokens.count_lasting_full(subject_id) <= 1:
            raise QuotaExceeded(
                "This is your last live token without scopes or expiry; create another first.",
                "last-token",
            )
        await tokens.revoke(subject_id, token_id)
    await principals_changed([subject_id])  # no API process may keep it cached
