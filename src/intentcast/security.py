"""Secrets: random ids and tokens, token hashing, persona encryption, the server keyring.

Tokens are shown once and stored only as SHA-256 hashes. Persona fields (and webhook
secrets, reveal snapshots, stored idempotent responses) are sealed with AES-256-GCM under a
key derived from the current server key with HKDF, with the owner's id and the field name as
associated data so a ciphertext cannot be moved to another buyer or field. Every key used
for anything is derived from a server key for its one purpose (:func:`derive_key`); the raw
server key itself encrypts and signs nothing.

Server keys rotate (``intentcast keys``): a :class:`Keyring` holds the current key first and
the previous ones after it, so values sealed and receipts signed under a previous key still
open and verify. A keyring kept in a file (:class:`KeyringFile`) is re-read by every running
process when the file changes, so a rotation needs no restart. Pseudonyms are derived from a
key that never rotates (:attr:`Keyring.pseudonym_key`), so they stay the same across
rotations.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from intentcast.config import Settings
from intentcast.domain.receipts import b64url, jwk_thumbprint

log = logging.getLogger(__name__)

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


RECEIPT_INFO = "intentcast receipts ed25519"
"""HKDF ``info`` of the receipt signing key."""
PSEUDONYM_INFO = "intentcast buyer pseudonyms"
"""HKDF ``info`` of the pseudonym key."""
KEYRING_CHECK_INTERVAL_S = 2.0
"""How often, at most, a running process looks at its keyring file for a change: a new
current key is in use everywhere this long after the file was written."""

_KEY_LINE = "key"
_PSEUDONYM_LINE = "pseudonym-key"
_RETIRED_RECEIPT_LINE = "retired-receipt-key"


class Keyring:
    """The server keys, current first, and what outlives them.

    ``keys``: the current key (seals new values, signs receipts) and the previous ones (open
    what they sealed; their receipt keys are still published), newest first.
    ``pinned_pseudonym_key``: the key pseudonyms are made with, written down at the first
    rotation; until then it is derived from the only (the oldest) key, as it always was, so a
    rotation changes no pseudonym. ``retired_receipt_keys``: the public receipt keys of
    retired server keys (raw Ed25519, 32 bytes), still published so old receipts verify.
    """

    __slots__ = ("keys", "pinned_pseudonym_key", "retired_receipt_keys")

    def __init__(
        self,
        keys: Iterable[bytes],
        *,
        pseudonym_key: bytes | None = None,
        retired_receipt_keys: Iterable[bytes] = (),
    ) -> None:
        self.keys = tuple(keys)
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        ids = [key_id(k) for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("a keyring holds the same key twice")
        self.pinned_pseudonym_key = pseudonym_key
        self.retired_receipt_keys = tuple(retired_receipt_keys)

    @property
    def current(self) -> bytes:
        return self.keys[0]

    @property
    def previous(self) -> tuple[bytes, ...]:
        return self.keys[1:]

    @property
    def key_ids(self) -> list[str]:
        """Every key's id, current first."""
        return [key_id(k) for k in self.keys]

    @property
    def pseudonym_key(self) -> bytes:
        """The key pseudonyms are made with: pinned, or derived from the oldest key."""
        if self.pinned_pseudonym_key is not None:
            return self.pinned_pseudonym_key
        return derive_key(self.keys[-1], PSEUDONYM_INFO)

    def rotated(self, new_key: bytes) -> Keyring:
        """This keyring with ``new_key`` current and the pseudonym key pinned."""
        return Keyring(
            (new_key, *self.keys),
            pseudonym_key=self.pseudonym_key,
            retired_receipt_keys=self.retired_receipt_keys,
        )

    def added(self, new_key: bytes) -> Keyring:
        """This keyring with ``new_key`` known but not current (second), to be made current
        later with :meth:`promoted` — once every host has a keyring holding it, so no
        process meets a value under a key it does not have."""
        return Keyring(
            (self.current, new_key, *self.previous),
            pseudonym_key=self.pseudonym_key,
            retired_receipt_keys=self.retired_receipt_keys,
        )

    def promoted(self, promoted_id: str) -> Keyring:
        """This keyring with its key ``promoted_id`` current (the others keep their order)."""
        ids = self.key_ids
        if promoted_id not in ids:
            raise ValueError(f"no key {promoted_id} in the keyring (it holds {', '.join(ids)})")
        promoted = self.keys[ids.index(promoted_id)]
        return Keyring(
            (promoted, *(k for k in self.keys if k != promoted)),
            pseudonym_key=self.pseudonym_key,
            retired_receipt_keys=self.retired_receipt_keys,
        )

    def retired(self, retired_id: str) -> Keyring:
        """This keyring without the previous key ``retired_id`` (its receipt public key is
        kept); ``ValueError`` for the current key or an id the keyring does not hold."""
        ids = self.key_ids
        if retired_id not in ids:
            raise ValueError(f"no key {retired_id} in the keyring (it holds {', '.join(ids)})")
        if retired_id == ids[0]:
            raise ValueError(f"key {retired_id} is the current key; rotate first")
        gone = self.keys[ids.index(retired_id)]
        public = receipt_signing_key(gone).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Keyring(
            (k for k in self.keys if k != gone),
            pseudonym_key=self.pseudonym_key,
            retired_receipt_keys=(*self.retired_receipt_keys, public),
        )

    @classmethod
    def parse(cls, text: str, *, source: str = "the keyring") -> Keyring:
        """Read the keyring format (see :meth:`serialize`). A file holding only one bare key
        (what ``INTENTCAST_SECRET_KEY`` holds; every key file before rotation existed) is a
        keyring of that one key."""
        keys: list[bytes] = []
        pseudonym_key: bytes | None = None
        retired: list[bytes] = []
        for number, raw_line in enumerate(text.splitlines(), start=1):
            line = raw_line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            kind, value = (_KEY_LINE, parts[0]) if len(parts) == 1 else (parts[0], parts[-1])
            try:
                if len(parts) > 2:
                    raise ValueError("expected `<entry> <base64>`")
                if kind == _KEY_LINE:
                    keys.append(decode_key(value))
                elif kind == _PSEUDONYM_LINE:
                    pseudonym_key = decode_key(value)
                elif kind == _RETIRED_RECEIPT_LINE:
                    retired.append(decode_key(value))
                else:
                    raise ValueError(f"unknown entry {kind!r}")
            except ValueError as exc:
                # never echo the line: it may be a key
                reason = str(exc).replace("INTENTCAST_SECRET_KEY", "the key")
                raise ValueError(f"{source}, line {number}: {reason}") from None
        if not keys:
            raise ValueError(f"{source} holds no key")
        return cls(keys, pseudonym_key=pseudonym_key, retired_receipt_keys=retired)

    def serialize(self) -> str:
        """The keyring as text: one ``key <base64>`` line per key, current first, then the
        pinned pseudonym key and the retired receipt public keys; ``#`` starts a comment."""
        lines = [
            "# intentcast keyring (README: Operating, Rotating the server key).",
            "# The first key seals new values and signs receipts; the others still open",
            "# what they sealed until retired.",
            "# Back this file up with every database dump: without it persona data is lost.",
        ]
        for index, key in enumerate(self.keys):
            role = "current" if index == 0 else "previous"
            lines.append(f"{_KEY_LINE} {encode_key(key)}  # {key_id(key)} {role}")
        if self.pinned_pseudonym_key is not None:
            lines.append(f"{_PSEUDONYM_LINE} {encode_key(self.pinned_pseudonym_key)}")
        lines.extend(f"{_RETIRED_RECEIPT_LINE} {encode_key(k)}" for k in self.retired_receipt_keys)
        return "\n".join(lines) + "\n"


class KeyringFile:
    """A keyring in a file, re-read when the file changes: :meth:`current` looks at the
    file at most every ``check_interval_s``; :meth:`reload` looks now (a value sealed under
    a key this process does not know yet). A file that cannot be read or parsed after the
    first load keeps the keyring last read (and logs why)."""

    def __init__(
        self,
        path: Path,
        *,
        check_interval_s: float = KEYRING_CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._check_interval_s = check_interval_s
        self._clock = clock
        self._stamp: tuple[int, int, int] | None = None
        self._keyring: Keyring | None = None
        self._checked_at = 0.0
        self.reload()

    def current(self) -> Keyring:
        if self._clock() - self._checked_at >= self._check_interval_s:
            return self.reload()
        assert self._keyring is not None
        return self._keyring

    def reload(self) -> Keyring:
        self._checked_at = self._clock()
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp != self._stamp or self._keyring is None:
                keyring = Keyring.parse(self.path.read_text(), source=str(self.path))
                if self._keyring is not None and keyring.key_ids != self._keyring.key_ids:
                    log.info("keyring %s re-read: keys %s", self.path, keyring.key_ids)
                self._keyring, self._stamp = keyring, stamp
        except (OSError, ValueError) as exc:
            if self._keyring is None:
                raise
            log.warning("keyring %s not re-read, keeping the keys read before: %s", self.path, exc)
        return self._keyring


class FixedKeyring:
    """A keyring that does not change while the process runs (``INTENTCAST_SECRET_KEY``)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def current(self) -> Keyring:
        return self._keyring

    def reload(self) -> Keyring:
        return self._keyring


KeyringSource = KeyringFile | FixedKeyring


def load_or_create_key_file(path: Path) -> str:
    """The data dir's keyring file's text, created once with one key and mode 0600
    (embedded mode only)."""
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = generate_key_text()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    return text


def write_keyring_file(path: Path, keyring: Keyring) -> None:
    """Replace the keyring file atomically (a new file renamed over the old one), so a
    process re-reading it sees the old keyring or the new one, never half of one. The new
    file keeps the old one's owner, group and mode (less any access for others), so the
    server's user still reads it when root rotates; a new file is 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        before: os.stat_result | None = path.stat()
    except FileNotFoundError:
        before = None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        if before is not None:
            if (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, before.st_uid, before.st_gid)  # root can; others own it already
            os.fchmod(fd, before.st_mode & 0o770)
        with os.fdopen(fd, "w") as handle:
            handle.write(keyring.serialize())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def keyring_path(settings: Settings) -> Path | None:
    """The file the keyring lives in: ``INTENTCAST_SECRET_KEY_FILE``, or in embedded mode the
    data dir's ``secret.key``; ``None`` when the key is given in ``INTENTCAST_SECRET_KEY``."""
    if settings.secret_key:
        return None
    if settings.secret_key_file:
        return Path(settings.secret_key_file)
    if settings.database_url is None:
        return settings.data_path / "secret.key"
    raise ValueError("INTENTCAST_SECRET_KEY must be set when INTENTCAST_DATABASE_URL is set")


def keyring_source(settings: Settings) -> KeyringSource:
    """Where this process reads its keys: ``INTENTCAST_SECRET_KEY`` (one key, fixed for the
    life of the process), or a keyring file, re-read when it changes (in embedded mode the
    data dir's, generated on first use with mode 0600)."""
    if settings.secret_key:
        return FixedKeyring(Keyring([decode_key(settings.secret_key)]))
    path = keyring_path(settings)
    assert path is not None
    if not settings.secret_key_file:
        load_or_create_key_file(path)
    return KeyringFile(path)


def server_key(settings: Settings) -> bytes:
    """The current server key: from ``INTENTCAST_SECRET_KEY``, from the keyring file
    ``INTENTCAST_SECRET_KEY_FILE`` names, or in embedded mode a keyring file generated once
    in the data dir (mode 0600)."""
    return keyring_source(settings).current().current


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


class _SealingKeys:
    """The AES-GCM keys of one keyring, derived once."""

    def __init__(self, keyring: Keyring, *, accept_legacy: bool) -> None:
        self.keyring = keyring
        self.key_id = bytes.fromhex(key_id(keyring.current))
        self.current = AESGCM(derive_key(keyring.current, SEAL_INFO))
        self.by_id: dict[bytes, list[AESGCM]] = {}
        for key in keyring.keys:
            aead = AESGCM(derive_key(key, SEAL_INFO))
            self.by_id.setdefault(bytes.fromhex(key_id(key)), []).append(aead)
        self.legacy = [AESGCM(key) for key in keyring.keys] if accept_legacy else []


class Sealer:
    """AES-GCM encryption bound to a context (owner id and field name).

    A sealed value is ``version (1 byte, SEAL_VERSION) | key id (4 bytes) | nonce (12) |
    ciphertext and tag``, encrypted under ``derive_key(secret, SEAL_INFO)`` with the header
    and the context as associated data. :meth:`seal` always uses the keyring's current key;
    :meth:`open` picks the key by the id in the value, so after a rotation the previous
    server keys still open what they sealed, and :meth:`needs_reseal` / :meth:`reseal`
    move a value to the current key.

    Built on a keyring source (:meth:`from_source`), it follows the source: a new current
    key is used within the source's check interval, and a value under a key id it does not
    know makes it re-read the source once before giving up.

    Values sealed before key ids existed (``nonce | ciphertext``, under the raw server key)
    still open while ``accept_legacy``: a value that does not open in the current format is
    tried as a legacy one, under the current and then each previous key.
    """

    def __init__(
        self, secret: bytes, *, previous: Iterable[bytes] = (), accept_legacy: bool = True
    ) -> None:
        self._init(FixedKeyring(Keyring([secret, *previous])), accept_legacy=accept_legacy)

    @classmethod
    def from_source(cls, source: KeyringSource, *, accept_legacy: bool = True) -> Sealer:
        sealer = cls.__new__(cls)
        sealer._init(source, accept_legacy=accept_legacy)
        return sealer

    def _init(self, source: KeyringSource, *, accept_legacy: bool) -> None:
        self._source = source
        self._accept_legacy = accept_legacy
        self._keys = _SealingKeys(source.current(), accept_legacy=accept_legacy)

    def _keys_of(self, keyring: Keyring) -> _SealingKeys:
        if keyring is not self._keys.keyring:
            self._keys = _SealingKeys(keyring, accept_legacy=self._accept_legacy)
        return self._keys

    def _current_keys(self) -> _SealingKeys:
        return self._keys_of(self._source.current())

    @property
    def key_id(self) -> str:
        """The id of the key :meth:`seal` uses."""
        return self._current_keys().key_id.hex()

    def seal(self, plaintext: str, *, context: str) -> bytes:
        keys = self._current_keys()
        header = bytes((SEAL_VERSION,)) + keys.key_id
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = keys.current.encrypt(nonce, plaintext.encode(), header + context.encode())
        return header + nonce + ciphertext

    def open(self, sealed: bytes, *, context: str) -> str:
        """The plaintext; ``cryptography.exceptions.InvalidTag`` if no known key opens
        ``sealed`` in this ``context`` (tampered, another context, or an unknown key)."""
        sealed = bytes(sealed)
        keys = self._current_keys()
        sealed_id = self.sealed_key_id(sealed)
        if sealed_id is not None and bytes.fromhex(sealed_id) not in keys.by_id:
            # sealed by a process that already uses a newer keyring: read it now
            keys = self._keys_of(self._source.reload())
        return self._open_with(keys, sealed, context.encode())

    @staticmethod
    def _open_with(keys: _SealingKeys, sealed: bytes, aad: bytes) -> str:
        if len(sealed) >= _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES and sealed[0] == SEAL_VERSION:
            header = sealed[:_HEADER_BYTES]
            nonce = sealed[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
            for aead in keys.by_id.get(sealed[1:_HEADER_BYTES], ()):
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
        for aead in keys.legacy:
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
    return Ed25519PrivateKey.from_private_bytes(derive_key(secret, RECEIPT_INFO))


def receipt_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """A receipt public key as a JWK, with its RFC 7638 thumbprint as ``kid`` (the same
    ``kid`` as ``domain.receipts.public_jwk`` gives its private key)."""
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(key.public_bytes(Encoding.Raw, PublicFormat.Raw)),
    }
    return jwk | {"kid": jwk_thumbprint(jwk)}


def pseudonym_with(pseudonym_key: bytes, buyer_id: str, audience: str) -> str:
    """A stable pseudonym of a buyer towards one audience (a vendor): unlinkable across them."""
    digest = hmac.new(pseudonym_key, f"{buyer_id}|{audience}".encode(), hashlib.sha256)
    return "psn_" + digest.hexdigest()[:24]


def pseudonym(secret: bytes, buyer_id: str, audience: str) -> str:
    """:func:`pseudonym_with` the pseudonym key derived from the server key ``secret``."""
    return pseudonym_with(derive_key(secret, PSEUDONYM_INFO), buyer_id, audience)


class Keys:
    """Everything derived from the server keyring that the services need, built once per
    process: the sealer for persona fields, the receipt signing key (and the public keys of
    every receipt key still published), pseudonyms. All follow the keyring source: after a
    rotation they use the new current key within seconds, without a restart."""

    __slots__ = ("_receipt", "_source", "sealer")

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        previous: Iterable[bytes] = (),
        source: KeyringSource | None = None,
    ) -> None:
        """Either ``secret`` (the current server key) with ``previous`` (older keys whose
        sealed values must still open), or a keyring ``source``."""
        if source is None:
            if secret is None:
                raise ValueError("Keys needs a secret or a keyring source")
            source = FixedKeyring(Keyring([secret, *previous]))
        self._source = source
        self.sealer = Sealer.from_source(source)
        self._receipt: tuple[Keyring, Ed25519PrivateKey] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        return cls(source=keyring_source(settings))

    @property
    def keyring(self) -> Keyring:
        return self._source.current()

    @property
    def secret(self) -> bytes:
        """The current server key."""
        return self.keyring.current

    @property
    def receipt_key(self) -> Ed25519PrivateKey:
        """The key that signs receipts now: derived from the current server key."""
        keyring = self.keyring
        if self._receipt is None or self._receipt[0] is not keyring:
            self._receipt = (keyring, receipt_signing_key(keyring.current))
        return self._receipt[1]

    def receipt_public_keys(self) -> list[Ed25519PublicKey]:
        """Every receipt key a receipt may have been signed with: the current one first,
        then those of the previous and of the retired server keys."""
        keyring = self.keyring
        return [
            self.receipt_key.public_key(),
            *(receipt_signing_key(k).public_key() for k in keyring.previous),
            *(Ed25519PublicKey.from_public_bytes(raw) for raw in keyring.retired_receipt_keys),
        ]

    def pseudonym(self, buyer_id: str, audience: str) -> str:
        """Stable across rotations: made with the keyring's pseudonym key, which never
        rotates."""
        return pseudonym_with(self.keyring.pseudonym_key, buyer_id, audience)
