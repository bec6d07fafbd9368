"""Tokens, ids and persona sealing."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from intentcast.security import Sealer, decode_key, generate_key_text, hash_token, new_id, new_token


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
