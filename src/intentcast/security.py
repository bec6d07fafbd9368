"""Secrets: random ids and tokens, token hashing, persona encryption, the server key.

Tokens are shown once and stored only as SHA-256 hashes. Persona fields (and webhook
secrets, stored idempotent responses) are sealed with AES-256-GCM under a key derived from
the server key with HKDF, with the owner's id and the field name as associated data so a
ciphertext cannot be moved to another buyer or field. Every key used for anything is derived
from the server key for its one purpose (:func:`derive_key`); the raw server key itself
encrypts and signs nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from intentcast.config import Settings

TOKEN_PREFIXES = {"buyer": "icb_", "vendor": "icv_", "operator": "ico_"}
ROLE_BY_PREFIX = {prefix: role for role, prefix in TOKEN_PREFIXES.items()}
_NONCE_BYTES = 12
_TAG_BYTES = 16

SEAL_VERSION = 1
"""The first byte of every value sealed in the current format."""
SEAL_INFO = "intentcast persona aes-gcm v1"
"""HKDF ``info`` of the AES-GCM sealing key."""
KEY_ID_INFO = "intentcast key id v1"
"""HKDF ``info`` of a server key's public id."""
KEY_ID_BYTES = 4
_HEADER_BYTES = 1 + KEY_ID_BYTES


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
    """The server key: from ``INTENTCAST_SECRET_KEY``, from the file
    ``INTENTCAST_SECRET_KEY_FILE`` names, or in embedded mode a key file generated once in
    the data dir (mode 0600)."""
    if settings.secret_key:
        return decode_key(settings.secret_key)
    if settings.secret_key_file:
        return decode_key(Path(settings.secret_key_file).read_text().strip())
    if settings.database_url is None:
        return decode_key(load_or_create_key_file(settings.data_path / "secret.key"))
    raise ValueError("INTENTCAST_SECRET_KEY must be set when INTENTCAST_DATABASE_URL is set")


def child_key_settings(settings: Settings) -> dict[str, str]:
    """How children find the server key: the operator's own setting when given, else the
    path of the data dir's key file (created now if new) — never the key in an environment
    variable, where ``/proc/<pid>/environ`` shows it."""
    if settings.secret_key or settings.secret_key_file:
        return {}  # already in settings.env()
    server_key(settings)  # creates data_dir/secret.key (0600) on the first start
    return {"INTENTCAST_SECRET_KEY_FILE": str(settings.data_path / "secret.key")}


def key_id(secret: bytes) -> str:
    """The public name of a server key: 8 hex digits derived from it with HKDF (they reveal
    nothing about the key). Every value sealed under the key carries it."""
    return derive_key(secret, KEY_ID_INFO)[:KEY_ID_BYTES].hex()


class Sealer:
    """AES-GCM encryption bound to a context (owner id and field name).

    A sealed value is ``version (1 byte, SEAL_VERSION) | key id (4 bytes) | nonce (12) |
    ciphertext and tag``, encrypted under ``derive_key(secret, SEAL_INFO)`` with the header
    and the context as associated data. :meth:`seal` always uses the current key ``secret``;
    :meth:`open` picks the key by the id in the value, so after a rotation the ``previous``
    server keys still open what they sealed, and :meth:`needs_reseal` / :meth:`reseal`
    move a value to the current key.

    Values sealed before key ids existed (``nonce | ciphertext``, under the raw server key)
    still open while ``accept_legacy``: a value that does not open in the current format is
    tried as a legacy one, under the current and then each previous key.
    """

    def __init__(
        self, secret: bytes, *, previous: Iterable[bytes] = (), accept_legacy: bool = True
    ) -> None:
        keys = [secret, *previous]
        self._key_id = bytes.fromhex(key_id(secret))
        self._current = AESGCM(derive_key(secret, SEAL_INFO))
        self._by_id: dict[bytes, list[AESGCM]] = {}
        for key in keys:
            aead = AESGCM(derive_key(key, SEAL_INFO))
            self._by_id.setdefault(bytes.fromhex(key_id(key)), []).append(aead)
        self._legacy = [AESGCM(key) for key in keys] if accept_legacy else []

    @property
    def key_id(self) -> str:
        """The id of the key :meth:`seal` uses."""
        return self._key_id.hex()

    def seal(self, plaintext: str, *, context: str) -> bytes:
        header = bytes((SEAL_VERSION,)) + self._key_id
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._current.encrypt(nonce, plaintext.encode(), header + context.encode())
        return header + nonce + ciphertext

    def open(self, sealed: bytes, *, context: str) -> str:
        """The plaintext; ``cryptography.exceptions.InvalidTag`` if no known key opens
        ``sealed`` in this ``context`` (tampered, another context, or an unknown key)."""
        sealed = bytes(sealed)
        aad = context.encode()
        if len(sealed) >= _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES and sealed[0] == SEAL_VERSION:
            header = sealed[:_HEADER_BYTES]
            nonce = sealed[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
            for aead in self._by_id.get(sealed[1:_HEADER_BYTES], ()):
                try:
                    plaintext = aead.decrypt(
                        nonce, sealed[_HEADER_BYTES + _NONCE_BYTES :], header + aad
                    )
                except InvalidTag:
                    continue
                return plaintext.decode()
        # the legacy format (its random nonce may start like a header by chance)
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        if len(ciphertext) < _TAG_BYTES:
            raise InvalidTag
        for aead in self._legacy:
            try:
                return aead.decrypt(nonce, ciphertext, aad).decode()
            except InvalidTag:
                continue
        raise InvalidTag

    def sealed_key_id(self, sealed: bytes) -> str | None:
        """The key id written in ``sealed``, or ``None`` if it is not in the current format
        (a legacy value). Reading the header does not authenticate it."""
        sealed = bytes(sealed)
        if len(sealed) >= _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES and sealed[0] == SEAL_VERSION:
            return sealed[1:_HEADER_BYTES].hex()
        return None

    def needs_reseal(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is not (verifiably) under the current key: a legacy value, or one
        sealed under a previous key."""
        return self.sealed_key_id(sealed) != self.key_id

    def reseal(self, sealed: bytes, *, context: str) -> bytes:
        """``sealed`` opened (with whichever key sealed it) and sealed again under the
        current key."""
        return self.seal(self.open(sealed, context=context), context=context)

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

    def __init__(self, secret: bytes, *, previous: Iterable[bytes] = ()) -> None:
        """``previous``: retired server keys whose sealed values must still open."""
        self.secret = secret
        self.sealer = Sealer(secret, previous=previous)
        self.receipt_key = receipt_signing_key(secret)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        return cls(server_key(settings))

    def pseudonym(self, buyer_id: str, audience: str) -> str:
        return pseudonym(self.secret, buyer_id, audience)
