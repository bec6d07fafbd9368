"""Consent receipts: signed, verifiable records of each disclosure decision.

Fields follow the spirit of the Kantara Consent Receipt: receipt id, time, who disclosed
(a pseudonym of the buyer, stable per vendor so receipts do not link a buyer across
vendors), to whom, which fields, for what purpose, under which terms, for which intent.
The signature is Ed25519 over the receipt as canonical JSON (sorted keys, no insignificant
whitespace, UTF-8), so anyone holding the public key can verify it offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ReceiptKind = Literal["reveal", "terms_accepted", "revoke"]
REVEAL_PURPOSE = "Contact about the buyer's intent and fulfilment of a resulting order"


def canonical(receipt: dict[str, Any]) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def build_receipt(
    *,
    receipt_id: str,
    issued_at: datetime,
    kind: ReceiptKind,
    intent_id: str,
    vendor_id: str,
    vendor_name: str,
    fields: list[str],
    purpose: str,
    terms: dict[str, Any],
    buyer_pseudonym: str,
    reveal_id: str,
) -> dict[str, Any]:
    return {
        "receipt_id": receipt_id,
        "issued_at": issued_at.isoformat().replace("+00:00", "Z"),
        "kind": kind,
        "intent_id": intent_id,
        "vendor_id": vendor_id,
        "vendor_name": vendor_name,
        "fields": list(fields),
        "purpose": purpose,
        "terms": terms,
        "buyer_pseudonym": buyer_pseudonym,
        "reveal_id": reveal_id,
    }


def sign_receipt(key: Ed25519PrivateKey, receipt: dict[str, Any]) -> str:
    return b64url(key.sign(canonical(receipt)))


def verify_receipt(public_key: Ed25519PublicKey, receipt: dict[str, Any], signature: str) -> bool:
    try:
        public_key.verify(b64url_decode(signature), canonical(receipt))
    except (InvalidSignature, ValueError):
        return False
    return True


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """The RFC 7638 thumbprint of an OKP public key: base64url SHA-256 of its required
    members as canonical JSON. Used as the key's ``kid``."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    return b64url(hashlib.sha256(canonical(required)).digest())


def public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    """The public key as a JWK, with its thumbprint as ``kid`` (so past keys can be
    published beside the current one once keys rotate)."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    return jwk | {"kid": jwk_thumbprint(jwk)}


def public_key_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
