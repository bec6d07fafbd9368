"""A software WebAuthn authenticator for tests without a browser: an ES256 key per passkey,
attestation "none", authenticator data assembled byte by byte, and the JSON a browser's
``PublicKeyCredential`` serialises to (binary fields base64url). Each knob a test needs to
make an answer wrong is an argument (origin, challenge, RP id, flags, counter)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40
AAGUID = bytes(16)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class SoftPasskey:
    rp_id: str
    user_handle: bytes
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: _new_key())
    counter: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


def _client_data(kind: str, challenge: bytes | str, origin: str) -> bytes:
    text = challenge if isinstance(challenge, str) else bytes_to_base64url(challenge)
    return json.dumps(
        {"type": kind, "challenge": text, "origin": origin, "crossOrigin": False}
    ).encode()


def _auth_data(rp_id: str, flags: int, counter: int, attested: bytes = b"") -> bytes:
    return (
        hashlib.sha256(rp_id.encode()).digest()
        + bytes([flags])
        + struct.pack(">I", counter)
        + attested
    )


class SoftAuthenticator:
    """Holds passkeys like a phone would: one per (RP id, user handle)."""

    def __init__(self) -> None:
        self.passkeys: list[SoftPasskey] = []

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        reuse: SoftPasskey | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.create`` with the server's options (JSON form);
        ``reuse``: answer with an existing passkey's id and key (as no honest
        authenticator would)."""
        rp = rp_id or options["rp"]["id"]
        passkey = reuse or SoftPasskey(
            rp_id=rp, user_handle=base64url_to_bytes(options["user"]["id"])
        )
        attested = (
            AAGUID
            + struct.pack(">H", len(passkey.credential_id))
            + passkey.credential_id
            + passkey.cose_public_key()
        )
        auth_data = _auth_data(rp, flags | FLAG_AT, passkey.counter, attested)
        client_data = _client_data("webauthn.create", challenge or options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        if reuse is None:
            self.passkeys.append(passkey)
        credential_id = bytes_to_base64url(passkey.credential_id)
        return {
            "id": credential_id,
            "rawId": credential_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal", "not-a-transport"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        passkey: SoftPasskey | None = None,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        counter: int | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.get``: signs with ``passkey`` (default: the newest one
        for the options' RP id), advancing its counter unless ``counter`` is given."""
        rp = rp_id or options["rpId"]
        if passkey is None:
            passkey = [p for p in self.passkeys if p.rp_id == options["rpId"]][-1]
        if counter is None:
            passkey.counter += 1
            counter = passkey.counter
        auth_data = _auth_data(rp, flags, counter)
        client_data = _client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = passkey.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        credential_id = bytes_to_base64url(passkey.credential_id)
        return {
            "id": credential_id,
            "rawId": credential_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(user_handle or passkey.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
