"""Secrets: random ids and tokens, token hashing, persona encryption, the server key.

Tokens are shown once and stored only as SHA-256 hashes. Persona fields are sealed with
AES-GCM under the server key, with the owner's id and the field name as associated data so
a ciphertext cannot be moved to another buyer or field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from intentcast.config import Settings

TOKEN_PREFIXES = {"buyer": "icb_", "vendor": "icv_", "operator": "ico_"}
ROLE_BY_PREFIX = {prefix: role for role, prefix in TOKEN_PREFIXES.items()}
_NONCE_BYTES = 12


def new_id(prefix: str) -> str:
    """A random, prefixed id (``ven_…``): 120 random bits in lower-case base32, linking to
    nothing."""
    return f"{prefix}_{base64.b32encode(os.urandom(15)).decode().lower()}"


def new_token(role: str) -> str:
    """A bearer token for ``role``: prefix plus 32 random bytes, url-safe."""
    return TOKEN_PREFIXES[role] + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def decode_key(text: str) -> bytes:
    """Decode a base64 (standard or url-safe, padding optional) 32-byte key."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        key = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("INTENTCAST_SECRET_KEY is not valid base64") from exc
    if len(key) != 32:
        raise ValueError(f"INTENTCAST_SECRET_KEY must decode to 32 bytes, got {len(key)}")
    return key


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def generate_key_text() -> str:
    return encode_key(os.urandom(32))


def load_or_create_key_file(path: Path) -> str:
    """The data dir's key, created once with mode 0600 (embedded mode only)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = generate_key_text()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    return text


def server_key(settings: Settings) -> bytes:
    """The server key: from ``INTENTCAST_SECRET_KEY``, or in embedded mode a key file
    generated once in the data dir (mode 0600)."""
    if settings.secret_key:
        return decode_key(settings.secret_key)
    if settings.database_url is None:
        return decode_key(load_or_create_key_file(settings.data_path / "secret.key"))
    raise ValueError("INTENTCAST_SECRET_KEY must be set when INTENTCAST_DATABASE_URL is set")


class Sealer:
    """AES-GCM encryption bound to a context (owner id and field name)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, *, context: str) -> str:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()

    def seal_optional(self, plaintext: str | None, *, context: str) -> bytes | None:
        return None if plaintext is None else self.seal(plaintext, context=context)

    def open_optional(self, sealed: bytes | None, *, context: str) -> str | None:
        return None if sealed is None else self.open(bytes(sealed), context=context)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` derived from the server key (HKDF-SHA256), so every
    process holding the server key derives the same one and no other key needs storing."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret
    )


def receipt_signing_key(secret: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(derive_key(secret, "intentcast receipts ed25519"))


def pseudonym(secret: bytes, buyer_id: str, audience: str) -> str:
    """A stable pseudonym of a buyer towards one audience (a vendor): unlinkable across them."""
    key = derive_key(secret, "intentcast buyer pseudonyms")
    digest = hmac.new(key, f"{buyer_id}|{audience}".encode(), hashlib.sha256).hexdigest()
    return "psn_" + digest[:24]


class Keys:
    """Everything derived from the server key that the services need, built once per
    process: the sealer for persona fields, the receipt signing key, pseudonyms."""

    __slots__ = ("receipt_key", "sealer", "secret")

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.sealer = Sealer(secret)
        self.receipt_key = receipt_signing_key(secret)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        return cls(server_key(settings))

    def pseudonym(self, buyer_id: str, audience: str) -> str:
        return pseudonym(self.secret, buyer_id, audience)
