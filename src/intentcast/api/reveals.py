"""Reveal routes: the buyer reveals persona fields to a matched vendor and revokes; the
vendor accepts the terms and reads; anyone verifies receipts with the public key. The rules
are in ``domain.reveals``, the steps in ``services.reveals``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, delete, get, post
from redis.asyncio import Redis

from intentcast.api.auth import requires_buyer, requires_vendor
from intentcast.api.types import Text
from intentcast.domain.receipts import public_jwk
from intentcast.domain.reveals import PersonaField
from intentcast.security import Keys, receipt_jwk
from intentcast.services import reveals
from intentcast.services.reveals import RevealedData, RevealView, SignedReceipt
from intentcast.store.accounts import Principal


class RevealRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    vendor_id: Annotated[Text, msgspec.Meta(min_length=1, max_length=64)]
    fields: Annotated[list[PersonaField], msgspec.Meta(min_length=1, max_length=4)]


class VendorRevealView(msgspec.Struct, kw_only=True):
    id: str
    intent_id: str
    fields: list[str]
    status: str
    terms: dict[str, Any]
    terms_accepted_at: datetime | None
    receipt: SignedReceipt | None


class RevealController(Controller):
    """The buyer's side of a reveal."""

    tags = ["offers"]
    guards = [requires_buyer]

    @post(
        "/v1/intents/{intent_id:str}/reveals",
        operation_id="createReveal",
        summary="Reveal fields to a vendor",
    )
    async def reveal(
        self,
        intent_id: str,
        data: RevealRequest,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
    ) -> RevealView:
        """Reveal chosen persona fields to one vendor that matched this intent. The vendor
        must accept your terms before reading them; every step gets a signed receipt in
        your disclosure ledger; `DELETE /v1/reveals/{id}` revokes."""
        return await reveals.reveal_to_vendor(
            db,
            redis,
            keys,
            buyer_id=principal.subject_id,
            intent_id=intent_id,
            vendor_id=data.vendor_id,
            fields=list(data.fields),
            now=datetime.now(UTC),
        )

    @delete("/v1/reveals/{reveal_id:str}", operation_id="revokeReveal", summary="Revoke a reveal")
    async def revoke(
        self,
        reveal_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
    ) -> None:
        """Takes effect on the vendor's very next read (410). Revoking twice is harmless."""
        await reveals.revoke_reveal(
            db,
            redis,
            keys,
            buyer_id=principal.subject_id,
            reveal_id=reveal_id,
            now=datetime.now(UTC),
        )


class VendorRevealController(Controller):
    path = "/v1/vendor/reveals"
    tags = ["vendor"]
    guards = [requires_vendor]

    @post(
        "/{reveal_id:str}/accept-terms",
        operation_id="acceptRevealTerms",
        summary="Accept the buyer's terms",
        status_code=200,
    )
    async def accept_terms(
        self, reveal_id: str, principal: Principal, db: asyncpg.Connection, keys: Keys
    ) -> VendorRevealView:
        """Vendors only, for a reveal made to you (404 otherwise). Accepting the buyer's
        terms records a signed `terms_accepted` receipt and unlocks reading the fields;
        accepting again changes nothing (no new receipt). 410 once the buyer revoked."""
        reveal, receipt = await reveals.accept_reveal_terms(
            db, keys, vendor_id=principal.subject_id, reveal_id=reveal_id, now=datetime.now(UTC)
        )
        return VendorRevealView(
            id=reveal.id,
            intent_id=reveal.intent_id,
            fields=reveal.fields,
            status=reveal.status,
            terms=reveal.terms,
            terms_accepted_at=reveal.terms_accepted_at,
            receipt=receipt,
        )

    @get("/{reveal_id:str}", operation_id="readReveal", summary="Read revealed fields")
    async def read(
        self, reveal_id: str, principal: Principal, db: asyncpg.Connection, keys: Keys
    ) -> RevealedData:
        """Exactly the revealed fields, decrypted — after you accepted the buyer's terms
        (409 before); 410 once the buyer revoked."""
        return await reveals.read_reveal(
            db, keys, vendor_id=principal.subject_id, reveal_id=reveal_id
        )


class ReceiptController(Controller):
    tags = ["receipts"]

    @get(
        "/v1/receipts/public-key",
        operation_id="receiptPublicKey",
        summary="The key that signs consent receipts",
        exclude_from_auth=True,
    )
    async def public_key(self, keys: Keys) -> dict[str, str]:
        """An Ed25519 public key as a JWK; verify a receipt's signature over
        `json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`."""
        return public_jwk(keys.receipt_key)

    @get(
        "/v1/receipts/public-keys",
        operation_id="receiptPublicKeys",
        summary="Every key that has signed consent receipts",
        exclude_from_auth=True,
    )
    async def public_keys(self, keys: Keys) -> dict[str, list[dict[str, str]]]:
        """A JWK Set (RFC 7517): the key that signs receipts now first, then those of the
        server keys before it (rotated or retired), each with its `kid`. A receipt signed
        before a key rotation verifies with one of them."""
        return {"keys": [receipt_jwk(key) for key in keys.receipt_public_keys()]}
