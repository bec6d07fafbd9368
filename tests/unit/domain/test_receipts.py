"""Consent receipts without a database: the receipt's fields, its canonical form, Ed25519
signing and offline verification, and the public key as a JWK."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from intentcast.domain.receipts import (
    REVEAL_PURPOSE,
    b64url,
    b64url_decode,
    build_receipt,
    canonical,
    public_jwk,
    public_key_from_jwk,
    sign_receipt,
    verify_receipt,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PUBLIC = KEY.public_key()
TERMS = {
    "no_tracking": True,
    "no_resale": True,
    "contact_via_relay_only": True,
    "retention_days": 30,
}

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
field_lists = st.lists(
    st.one_of(st.sampled_from(["name", "email", "phone", "address"]), text), max_size=6
)


def receipt(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "receipt_id": "rcp_1",
        "issued_at": NOW,
        "kind": "reveal",
        "intent_id": "int_1",
        "vendor_id": "vnd_1",
        "vendor_name": "Kamera Müller",
        "fields": ["name", "email"],
        "purpose": REVEAL_PURPOSE,
        "terms": TERMS,
        "buyer_pseudonym": "psn_abc",
        "reveal_id": "rvl_1",
    }
    return build_receipt(**(values | overrides))


# ---- the receipt --------------------------------------------------------------------------


def test_a_receipt_records_who_disclosed_what_to_whom_under_which_terms() -> None:
    assert receipt() == {
        "receipt_id": "rcp_1",
        "issued_at": "2026-05-01T12:00:00Z",
        "kind": "reveal",
        "intent_id": "int_1",
        "vendor_id": "vnd_1",
        "vendor_name": "Kamera Müller",
        "fields": ["name", "email"],
        "purpose": REVEAL_PURPOSE,
        "terms": TERMS,
        "buyer_pseudonym": "psn_abc",
        "reveal_id": "rvl_1",
    }


def test_a_receipt_holds_no_buyer_identity_beyond_the_pseudonym() -> None:
    assert "buyer_id" not in receipt()
    assert [k for k in receipt() if k.startswith("buyer")] == ["buyer_pseudonym"]


def test_issue_times_are_written_in_utc_with_a_z_and_other_offsets_are_kept() -> None:
    assert receipt(issued_at=NOW + timedelta(microseconds=5))["issued_at"] == (
        "2026-05-01T12:00:00.000005Z"
    )
    berlin = NOW.astimezone(timezone(timedelta(hours=2)))
    assert receipt(issued_at=berlin)["issued_at"] == "2026-05-01T14:00:00+02:00"


def test_a_receipt_keeps_its_own_copy_of_the_fields() -> None:
    fields = ["name"]
    built = receipt(fields=fields)
    fields.append("phone")
    assert built["fields"] == ["name"]


# ---- canonical form -----------------------------------------------------------------------


def test_the_canonical_form_sorts_keys_drops_whitespace_and_keeps_utf8() -> None:
    assert canonical({"b": [1, 2], "a": {"z": "é", "y": None}}) == (
        '{"a":{"y":null,"z":"é"},"b":[1,2]}'.encode()
    )


@given(st.dictionaries(text, st.one_of(text, st.integers(), st.booleans()), max_size=8))
def test_the_canonical_form_ignores_key_order_and_is_json(data: dict[str, Any]) -> None:
    backwards = dict(reversed(list(data.items())))
    assert canonical(backwards) == canonical(data)
    assert json.loads(canonical(data)) == data


# ---- signing and verifying ----------------------------------------------------------------


@given(
    fields=field_lists,
    vendor_name=text,
    purpose=text,
    kind=st.sampled_from(["reveal", "terms_accepted", "revoke"]),
    retention=st.integers(1, 3650),
)
def test_a_signed_receipt_verifies_with_the_public_key(
    fields: list[str], vendor_name: str, purpose: str, kind: str, retention: int
) -> None:
    built = receipt(
        fields=fields,
        vendor_name=vendor_name,
        purpose=purpose,
        kind=kind,
        terms=TERMS | {"retention_days": retention},
    )
    signature = sign_receipt(KEY, built)
    assert verify_receipt(PUBLIC, built, signature)
    # as a verifier holding only the JSON would: decoded, keys in another order
    decoded = json.loads(json.dumps(dict(reversed(list(built.items())))))
    assert verify_receipt(PUBLIC, decoded, signature)


@given(fields=field_lists, key=st.sampled_from(sorted(receipt())), value=text)
def test_a_receipt_changed_after_signing_does_not_verify(
    fields: list[str], key: str, value: str
) -> None:
    built = receipt(fields=fields)
    signature = sign_receipt(KEY, built)
    tampered = built | {key: value}
    if tampered[key] == built[key]:
        tampered[key] = value + "x"
    assert not verify_receipt(PUBLIC, tampered, signature)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r | {"fields": [*r["fields"], "phone"]},
        lambda r: r | {"fields": list(reversed(r["fields"]))},
        lambda r: r | {"terms": r["terms"] | {"retention_days": 3650}},
        lambda r: r | {"extra": "x"},
        lambda r: {k: v for k, v in r.items() if k != "purpose"},
    ],
    ids=["field-added", "fields-reordered", "terms-changed", "key-added", "key-removed"],
)
def test_any_change_to_a_signed_receipt_breaks_the_signature(change: Any) -> None:
    built = receipt()
    signature = sign_receipt(KEY, built)
    assert not verify_receipt(PUBLIC, change(built), signature)


def test_a_receipt_signed_with_another_key_does_not_verify() -> None:
    built = receipt()
    assert not verify_receipt(PUBLIC, built, sign_receipt(OTHER_KEY, built))


def test_a_signature_is_unpadded_base64url_of_64_bytes() -> None:
    signature = sign_receipt(KEY, receipt())
    assert "=" not in signature and "+" not in signature and "/" not in signature
    assert len(b64url_decode(signature)) == 64


@pytest.mark.parametrize(
    "signature",
    ["", "AAAA", "!!!not base64!!!", "é", "A" * 86, "A" * 87],
)
def test_a_garbled_signature_is_simply_not_valid(signature: str) -> None:
    assert verify_receipt(PUBLIC, receipt(), signature) is False


def test_a_signature_with_one_byte_flipped_is_not_valid() -> None:
    built = receipt()
    raw = bytearray(b64url_decode(sign_receipt(KEY, built)))
    raw[10] ^= 1
    assert not verify_receipt(PUBLIC, built, b64url(bytes(raw)))


# ---- the public key -----------------------------------------------------------------------


def test_the_public_key_is_an_okp_ed25519_jwk() -> None:
    jwk = public_jwk(KEY)
    assert set(jwk) == {"kty", "crv", "x", "kid"}
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    assert len(b64url_decode(jwk["x"])) == 32 and "=" not in jwk["x"]


def test_a_key_read_back_from_its_jwk_verifies_what_the_private_key_signed() -> None:
    built = receipt()
    signature = sign_receipt(KEY, built)
    assert verify_receipt(public_key_from_jwk(public_jwk(KEY)), built, signature)
    assert not verify_receipt(public_key_from_jwk(public_jwk(OTHER_KEY)), built, signature)


@given(st.binary(max_size=100))
def test_base64url_round_trips_any_bytes_without_padding(data: bytes) -> None:
    encoded = b64url(data)
    assert "=" not in encoded
    assert b64url_decode(encoded) == data
