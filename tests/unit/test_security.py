"""Tokens, ids and persona sealing."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from intentcast.domain.receipts import jwk_thumbprint, public_jwk
from intentcast.security import (
    SEAL_VERSION,
    Keys,
    Sealer,
    decode_key,
    derive_key,
    generate_key_text,
    hash_token,
    key_id,
    new_id,
    new_token,
)


def test_tokens_are_prefixed_long_and_unique() -> None:
    tokens = {new_token("vendor") for _ in range(200)}
    assert len(tokens) == 200
    assert all(t.startswith("icv_") and len(t) >= 4 + 43 for t in tokens)
    assert len(hash_token("icv_x")) == 32


def test_ids_are_prefixed_random() -> None:
    ids = {new_id("int") for _ in range(500)}
    assert len(ids) == 500 and all(i.startswith("int_") for i in ids)


def test_sealed_values_open_only_in_their_context() -> None:
    sealer = Sealer(decode_key(generate_key_text()))
    sealed = sealer.seal("ada@example.org", context="byr_1:email")
    assert b"ada@example.org" not in sealed
    assert sealer.open(sealed, context="byr_1:email") == "ada@example.org"
    with pytest.raises(InvalidTag):
        sealer.open(sealed, context="byr_2:email")
    with pytest.raises(InvalidTag):
        Sealer(decode_key(generate_key_text())).open(sealed, context="byr_1:email")


@pytest.mark.parametrize("text", ["short", "!!!not base64!!!", "QUJD"])
def test_bad_keys_are_rejected(text) -> None:
    with pytest.raises(ValueError, match="INTENTCAST_SECRET_KEY"):
        decode_key(text)


# ---- sealing under a derived, identified key (review L6) -----------------------------------


def legacy_seal(secret: bytes, plaintext: str, context: str) -> bytes:
    """A value as sealed before key ids: nonce | AES-GCM under the raw server key."""
    nonce = os.urandom(12)
    return nonce + AESGCM(secret).encrypt(nonce, plaintext.encode(), context.encode())


def test_seal_round_trip_and_key_id_prefix() -> None:
    secret = decode_key(generate_key_text())
    sealer = Sealer(secret)
    sealed = sealer.seal("ada@example.org", context="byr_1:email")
    assert sealer.open(sealed, context="byr_1:email") == "ada@example.org"
    assert sealed[0] == SEAL_VERSION
    assert sealed[1:5].hex() == sealer.key_id == key_id(secret)
    assert len(sealer.key_id) == 8 and sealer.sealed_key_id(sealed) == sealer.key_id
    assert not sealer.needs_reseal(sealed)
    assert sealer.open_optional(sealer.seal_optional(None, context="c"), context="c") is None


def test_the_sealing_key_is_derived_not_the_raw_server_key() -> None:
    secret = decode_key(generate_key_text())
    sealed = Sealer(secret).seal("ada@example.org", context="byr_1:email")
    body = sealed[5:]
    with pytest.raises(InvalidTag):  # the raw server key opens nothing new
        AESGCM(secret).decrypt(body[:12], body[12:], b"byr_1:email")
    with pytest.raises(InvalidTag):
        AESGCM(secret).decrypt(sealed[:12], sealed[12:], b"byr_1:email")
    derived = derive_key(secret, "intentcast persona aes-gcm v1")
    assert AESGCM(derived).decrypt(body[:12], body[12:], sealed[:5] + b"byr_1:email") == (
        b"ada@example.org"
    )


def test_legacy_values_still_open() -> None:
    secret = decode_key(generate_key_text())
    old = legacy_seal(secret, "+49 89 4132 7788", "byr_1:phone")
    sealer = Sealer(secret)
    assert sealer.open(old, context="byr_1:phone") == "+49 89 4132 7788"
    assert sealer.open(memoryview(old), context="byr_1:phone") == "+49 89 4132 7788"
    assert sealer.needs_reseal(old)
    resealed = sealer.reseal(old, context="byr_1:phone")
    assert not sealer.needs_reseal(resealed)
    assert sealer.open(resealed, context="byr_1:phone") == "+49 89 4132 7788"
    with pytest.raises(InvalidTag):
        sealer.open(old, context="byr_2:phone")
    with pytest.raises(InvalidTag):
        Sealer(secret, accept_legacy=False).open(old, context="byr_1:phone")


def test_a_legacy_value_whose_nonce_looks_like_a_header_still_opens() -> None:
    secret = decode_key(generate_key_text())
    sealer = Sealer(secret)
    nonce = bytes((SEAL_VERSION,)) + bytes.fromhex(sealer.key_id) + os.urandom(7)
    old = nonce + AESGCM(secret).encrypt(nonce, b"Ada", b"byr_1:name")
    assert sealer.open(old, context="byr_1:name") == "Ada"


@pytest.mark.parametrize("position", [0, 1, 4, 5, 16, 17, -1])
def test_tampered_values_fail(position: int) -> None:
    sealer = Sealer(decode_key(generate_key_text()))
    sealed = bytearray(sealer.seal("ada@example.org", context="byr_1:email"))
    sealed[position] ^= 0x01
    with pytest.raises(InvalidTag):
        sealer.open(bytes(sealed), context="byr_1:email")


def test_wrong_context_or_unknown_key_fails() -> None:
    sealer = Sealer(decode_key(generate_key_text()))
    sealed = sealer.seal("ada@example.org", context="byr_1:email")
    for context in ("byr_2:email", "byr_1:phone", ""):
        with pytest.raises(InvalidTag):
            sealer.open(sealed, context=context)
    with pytest.raises(InvalidTag):
        Sealer(decode_key(generate_key_text())).open(sealed, context="byr_1:email")
    for short in (b"", sealed[:5], sealed[:20]):
        with pytest.raises(InvalidTag):
            sealer.open(short, context="byr_1:email")


def test_previous_keys_open_what_they_sealed_after_a_rotation() -> None:
    old_secret, new_secret = (decode_key(generate_key_text()) for _ in range(2))
    before = Sealer(old_secret)
    sealed_old = before.seal("Ada", context="byr_1:name")
    legacy_old = legacy_seal(old_secret, "Ada", "byr_1:name")
    rotated = Sealer(new_secret, previous=[old_secret])
    assert rotated.key_id != before.key_id
    assert rotated.sealed_key_id(sealed_old) == before.key_id
    for value in (sealed_old, legacy_old):
        assert rotated.open(value, context="byr_1:name") == "Ada"
        assert rotated.needs_reseal(value)
        resealed = rotated.reseal(value, context="byr_1:name")
        assert rotated.sealed_key_id(resealed) == rotated.key_id
        assert Sealer(new_secret).open(resealed, context="byr_1:name") == "Ada"
    with pytest.raises(InvalidTag):  # without the old key, the old value is unreadable
        Sealer(new_secret).open(sealed_old, context="byr_1:name")
    keys = Keys(new_secret, previous=[old_secret])
    assert keys.sealer.open(sealed_old, context="byr_1:name") == "Ada"


def test_keys_derive_distinct_keys_for_distinct_purposes() -> None:
    secret = decode_key(generate_key_text())
    derived = {
        derive_key(secret, info)
        for info in ("intentcast persona aes-gcm v1", "intentcast receipts ed25519", "x")
    }
    assert len(derived) == 3 and secret not in derived
    assert bytes.fromhex(key_id(secret)) != derive_key(secret, "intentcast persona aes-gcm v1")[:4]


def test_the_receipt_public_key_names_itself_with_a_kid() -> None:
    keys = Keys(decode_key(generate_key_text()))
    jwk = public_jwk(keys.receipt_key)
    assert jwk["kid"] == jwk_thumbprint(jwk)
    assert public_jwk(Keys(decode_key(generate_key_text())).receipt_key)["kid"] != jwk["kid"]
    # RFC 8037 appendix A.3: the RFC 7638 thumbprint of its Ed25519 example key
    example = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(example) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
