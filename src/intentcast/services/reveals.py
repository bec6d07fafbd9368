"""Reveal use cases: a buyer reveals persona fields to one matched vendor, the vendor
accepts the terms and reads them, the buyer revokes; every step gets a signed consent
receipt in the buyer's disclosure ledger.

Rules come from ``domain.reveals``; receipts from ``domain.receipts``; keys are passed in
(``security.Keys``), so workers and tests issue receipts without the web framework.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import NotFound
from intentcast.domain.events import VendorEventType, dedupe
from intentcast.domain.intents import Intent
from intentcast.domain.receipts import REVEAL_PURPOSE, ReceiptKind, build_receipt, sign_receipt
from intentcast.domain.reveals import (
    RevealStatus,
    check_revealable,
    require_not_revoked,
    require_readable,
)
from intentcast.security import Keys, new_id
from intentcast.services.work import Work, unit_of_work
from intentcast.store.accounts import Buyers, Vendors
from intentcast.store.deals import Receipts, RevealRow, Reveals
from intentcast.store.intents import Intents
from intentcast.store.matches import Matches


class SignedReceipt(msgspec.Struct, kw_only=True):
    receipt: dict[str, Any]
    signature: str
    """base64url Ed25519 signature over the receipt as canonical JSON."""


class RevealView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    vendor_id: str
    fields: list[str]
    status: RevealStatus
    terms: dict[str, Any]
    terms_accepted_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    receipts: list[SignedReceipt]


class RevealedData(msgspec.Struct, kw_only=True):
    """What the buyer chose to reveal, decrypted for this vendor only."""

    id: str
    intent_id: str
    fields: dict[str, str | None]
    terms: dict[str, Any]
    granted_at: datetime


def reveal_view(reveal: RevealRow, receipts: list[SignedReceipt]) -> RevealView:
    return RevealView(
        id=reveal.id,
        intent_id=reveal.intent_id,
        vendor_id=reveal.vendor_id,
        fields=reveal.fields,
        status=reveal.status,  # type: ignore[arg-type]
        terms=reveal.terms,
        terms_accepted_at=reveal.terms_accepted_at,
        created_at=reveal.created_at,
        revoked_at=reveal.revoked_at,
        receipts=receipts,
    )


def pseudonym_for(keys: Keys, reveal: RevealRow) -> str:
    """How a receipt names the buyer: stable for one vendor on one intent (every step of
    that reveal agrees), different on the buyer's other intents, so receipts a vendor holds
    never link two intents of one buyer (M5)."""
    return keys.pseudonym(reveal.buyer_id, f"{reveal.vendor_id}:{reveal.intent_id}")


def _values_context(reveal_id: str) -> str:
    return f"reveal:{reveal_id}:values"


async def issue_receipt(
    conn: asyncpg.Connection,
    keys: Keys,
    reveal: RevealRow,
    kind: ReceiptKind,
    *,
    vendor_name: str,
    now: datetime,
) -> SignedReceipt:
    receipt = build_receipt(
        receipt_id=new_id("rcp"),
        issued_at=now,
        kind=kind,
        intent_id=reveal.intent_id,
        vendor_id=reveal.vendor_id,
        vendor_name=vendor_name,
        fields=reveal.fields,
        purpose=reveal.purpose,
        terms=reveal.terms,
        buyer_pseudonym=pseudonym_for(keys, reveal),
        reveal_id=reveal.id,
    )
    signature = sign_receipt(keys.receipt_key, receipt)
    await Receipts(conn).insert(
        buyer_id=reveal.buyer_id, reveal_id=reveal.id, receipt=receipt, signature=signature
    )
    return SignedReceipt(receipt=receipt, signature=signature)


async def _vendor_name(conn: asyncpg.Connection, vendor_id: str) -> str:
    vendor = await Vendors(conn).get(vendor_id)
    return vendor.name if vendor else ""


async def grant_reveal(
    work: Work,
    keys: Keys,
    *,
    buyer_id: str,
    intent: Intent,
    vendor_id: str,
    fields: list[str],
    field_name: str,
    now: datetime,
) -> RevealView:
    """Reveal persona ``fields`` of the buyer to a vendor that matched ``intent``, inside
    the caller's unit of work. ``field_name`` names the request field in errors."""
    conn = work.conn
    vendor = await Vendors(conn).get(vendor_id)
    if vendor is None or not await Matches(conn).vendor_matched(vendor_id, intent.id):
        raise NotFound("vendor among those that matched this intent")
    buyer = await Buyers(conn).get(buyer_id)
    if buyer is None:
        raise NotFound("buyer")
    fields = check_revealable(fields, buyer.sealed, field_name=field_name)
    terms = msgspec.to_builtins(intent.terms)
    reveal_id = new_id("rev")
    # the values as they are now are what the buyer consents to disclose (M4): a later
    # persona edit does not reach this vendor without a new reveal
    values = {
        f: keys.sealer.open_optional(buyer.sealed[f], context=f"{buyer.id}:{f}") for f in fields
    }
    reveal = await Reveals(conn).insert(
        {
            "id": reveal_id,
            "intent_id": intent.id,
            "buyer_id": buyer_id,
            "vendor_id": vendor_id,
            "fields": fields,
            "purpose": REVEAL_PURPOSE,
            "terms": terms,
            "sealed_values": keys.sealer.seal(
                msgspec.json.encode(values).decode(), context=_values_context(reveal_id)
            ),
        }
    )
    receipt = await issue_receipt(conn, keys, reveal, "reveal", vendor_name=vendor.name, now=now)
    await work.tell_vendor(
        vendor_id,
        VendorEventType.REVEAL_GRANTED,
        {"reveal_id": reveal.id, "intent_id": intent.id, "fields": fields, "terms": terms},
        dedupe.reveal(reveal.id),
    )
    return reveal_view(reveal, [receipt])


async def reveal_to_vendor(
    conn: asyncpg.Connection,
    client: redis.Redis,
    keys: Keys,
    *,
    buyer_id: str,
    intent_id: str,
    vendor_id: str,
    fields: list[str],
    now: datetime,
) -> RevealView:
    async with unit_of_work(conn, client) as work:
        intent = await Intents(conn).get_for_buyer(buyer_id, intent_id)
        if intent is None:
            raise NotFound("intent")
        return await grant_reveal(
            work,
            keys,
            buyer_id=buyer_id,
            intent=intent,
            vendor_id=vendor_id,
            fields=fields,
            field_name="fields",
            now=now,
        )


async def revoke_reveal(
    conn: asyncpg.Connection,
    client: redis.Redis,
    keys: Keys,
    *,
    buyer_id: str,
    reveal_id: str,
    now: datetime,
) -> None:
    """Takes effect on the vendor's very next read. Revoking twice is harmless."""
    async with unit_of_work(conn, client) as work:
        reveals = Reveals(conn)
        reveal = await reveals.get(reveal_id, for_update=True)
        if reveal is None or reveal.buyer_id != buyer_id:
            raise NotFound("reveal")
        if reveal.status == "revoked":
            return
        await revoke_in(
            work, keys, reveal, vendor_name=await _vendor_name(conn, reveal.vendor_id), now=now
        )


async def revoke_in(
    work: Work, keys: Keys, reveal: RevealRow, *, vendor_name: str, now: datetime
) -> None:
    """Revoke a granted reveal inside the caller's unit of work: the ``revoke`` receipt in
    the buyer's ledger and ``reveal.revoked`` to the vendor (whose next read is 410)."""
    revoked = await Reveals(work.conn).revoke(reveal.id)
    await issue_receipt(work.conn, keys, revoked, "revoke", vendor_name=vendor_name, now=now)
    await work.tell_vendor(
        reveal.vendor_id,
        VendorEventType.REVEAL_REVOKED,
        {"reveal_id": reveal.id, "intent_id": reveal.intent_id},
        dedupe.reveal(reveal.id, "revoked"),
    )


async def accept_reveal_terms(
    conn: asyncpg.Connection, keys: Keys, *, vendor_id: str, reveal_id: str, now: datetime
) -> tuple[RevealRow, SignedReceipt | None]:
    """The vendor accepts the buyer's terms (once; a second call changes nothing and
    returns no new receipt)."""
    async with conn.transaction():
        reveals = Reveals(conn)
        reveal = await reveals.get(reveal_id, for_update=True)
        if reveal is None or reveal.vendor_id != vendor_id:
            raise NotFound("reveal")
        require_not_revoked(reveal.status)
        if reveal.terms_accepted_at is not None:
            return reveal, None
        reveal = await reveals.accept_terms(reveal_id)
        receipt = await issue_receipt(
            conn,
            keys,
            reveal,
            "terms_accepted",
            vendor_name=await _vendor_name(conn, vendor_id),
            now=now,
        )
    return reveal, receipt


async def read_reveal(
    conn: asyncpg.Connection, keys: Keys, *, vendor_id: str, reveal_id: str
) -> RevealedData:
    """Exactly the revealed fields, decrypted, for the vendor they were revealed to."""
    reveal = await Reveals(conn).get(reveal_id)
    if reveal is None or reveal.vendor_id != vendor_id:
        raise NotFound("reveal")
    require_readable(reveal.status, reveal.terms_accepted_at)
    if reveal.sealed_values is not None:
        opened = keys.sealer.open(reveal.sealed_values, context=_values_context(reveal.id))
        values = msgspec.json.decode(opened, type=dict[str, str | None])
    else:  # granted before reveals kept their values: the buyer's persona as it is now
        buyer = await Buyers(conn).get(reveal.buyer_id)
        if buyer is None:
            raise NotFound("reveal")
        values = {
            f: keys.sealer.open_optional(buyer.sealed.get(f), context=f"{buyer.id}:{f}")
            for f in reveal.fields
        }
    return RevealedData(
        id=reveal.id,
        intent_id=reveal.intent_id,
        fields=values,
        terms=reveal.terms,
        granted_at=reveal.created_at,
    )


async def disclosure_ledger(
    conn: asyncpg.Connection, buyer_id: str, *, limit: int, before: tuple[datetime, str] | None
) -> list[asyncpg.Record]:
    """Every reveal, terms acceptance and revocation of the buyer, newest first."""
    return await Receipts(conn).ledger(buyer_id, limit=limit, before=before)
