"""The server keyring: its file format, current and previous keys, a running process picking
up a rotation from the file, and what stays stable across rotations (pseudonyms, receipt
verification)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from intentcast.config import load_settings
from intentcast.domain.receipts import public_jwk, public_key_from_jwk, sign_receipt, verify_receipt
from intentcast.security import (
    KEYRING_CHECK_INTERVAL_S,
    FixedKeyring,
    Keyring,
    KeyringFile,
    Keys,
    Sealer,
    encode_key,
    key_id,
    keyring_path,
    keyring_source,
    pseudonym,
    receipt_jwk,
    server_key,
    write_keyring_file,
)


def new_key() -> bytes:
    return os.urandom(32)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- format ---------------------------------------------------------------------------------


def test_a_single_bare_key_file_is_a_keyring_of_one_key() -> None:
    key = new_key()
    keyring = Keyring.parse(encode_key(key) + "\n")
    assert keyring.keys == (key,)
    assert keyring.current == key and keyring.previous == ()
    assert keyring.key_ids == [key_id(key)]


def test_serialize_then_parse_gives_the_same_keyring() -> None:
    first, second, third = new_key(), new_key(), new_key()
    keyring = Keyring([first]).rotated(second).rotated(third).retired(key_id(first))
    text = keyring.serialize()
    assert text.startswith("#")
    assert encode_key(first) not in text  # a retired key is gone from the file
    parsed = Keyring.parse(text)
    assert parsed.keys == (third, second)
    assert parsed.pseudonym_key == keyring.pseudonym_key
    assert parsed.retired_receipt_keys == keyring.retired_receipt_keys
    assert len(parsed.retired_receipt_keys) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("# only a comment\n", "holds no key"),
        ("not-base64!!\n", "line 1"),
        (f"{encode_key(b'x' * 32)}\nsecret {encode_key(b'y' * 32)}\n", "line 2: unknown entry"),
        (f"key {encode_key(b'x' * 16)}\n", "32 bytes"),
        (f"key {encode_key(b'x' * 32)}\nkey {encode_key(b'x' * 32)}\n", "same key twice"),
    ],
)
def test_a_malformed_keyring_names_the_line_not_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Keyring.parse(text, source="/etc/intentcast/keyring")
    assert encode_key(b"y" * 32) not in str(caught.value)


def test_rotation_puts_the_new_key_first_and_keeps_the_old_ones() -> None:
    old, new = new_key(), new_key()
    rotated = Keyring([old]).rotated(new)
    assert rotated.current == new and rotated.previous == (old,)
    assert rotated.key_ids == [key_id(new), key_id(old)]


def test_an_added_key_is_known_before_it_is_made_current() -> None:
    current, old, staged = new_key(), new_key(), new_key()
    keyring = Keyring([old]).rotated(current).added(staged)
    assert keyring.current == current
    assert (
        Sealer(current, previous=keyring.previous).open(
            Sealer(staged).seal("Ada", context="c"), context="c"
        )
        == "Ada"
    )  # a process on this keyring opens what one that promoted it seals
    promoted = keyring.promoted(key_id(staged))
    assert promoted.keys == (staged, current, old)
    assert promoted.pseudonym_key == Keyring([old]).pseudonym_key
    with pytest.raises(ValueError, match="no key 00000000"):
        keyring.promoted("00000000")


def test_the_current_key_and_unknown_ids_cannot_be_retired() -> None:
    keyring = Keyring([new_key()]).rotated(new_key())
    with pytest.raises(ValueError, match="current key"):
        keyring.retired(keyring.key_ids[0])
    with pytest.raises(ValueError, match="no key 00000000"):
        keyring.retired("00000000")


# ---- what rotation keeps --------------------------------------------------------------------


def test_pseudonyms_do_not_change_across_rotations_and_retirement() -> None:
    original = new_key()
    before = Keys(original).pseudonym("byr_1", "ven_1:int_1")
    assert before == pseudonym(original, "byr_1", "ven_1:int_1")  # as it always was
    keyring = Keyring([original]).rotated(new_key())
    keyring = keyring.retired(key_id(original)).rotated(new_key())
    keyring = Keyring.parse(keyring.serialize())
    assert Keys(source=FixedKeyring(keyring)).pseudonym("byr_1", "ven_1:int_1") == before
    assert Keys(source=FixedKeyring(keyring)).pseudonym("byr_2", "ven_1:int_1") != before


def test_receipts_signed_before_a_rotation_verify_with_a_published_key() -> None:
    old, new = new_key(), new_key()
    receipt = {"receipt_id": "rcp_1", "kind": "reveal"}
    signature = sign_receipt(Keys(old).receipt_key, receipt)
    for keyring in (
        Keyring([old]).rotated(new),
        Keyring([old]).rotated(new).retired(key_id(old)),
    ):
        keys = Keys(source=FixedKeyring(keyring))
        published = [receipt_jwk(k) for k in keys.receipt_public_keys()]
        assert published[0] == public_jwk(keys.receipt_key)  # the current key comes first
        assert published[0]["kid"] != public_jwk(Keys(old).receipt_key)["kid"]
        verified_by = [
            jwk["kid"]
            for jwk in published
            if verify_receipt(public_key_from_jwk(jwk), receipt, signature)
        ]
        assert verified_by == [public_jwk(Keys(old).receipt_key)["kid"]]


# ---- a running process following the keyring file -------------------------------------------


def test_a_sealer_on_a_keyring_file_uses_a_new_current_key_after_the_check_interval(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secret.key"
    old, new = new_key(), new_key()
    write_keyring_file(path, Keyring([old]))
    clock = FakeClock()
    sealer = Sealer.from_source(KeyringFile(path, clock=clock))
    assert sealer.key_id == key_id(old)
    write_keyring_file(path, Keyring([old]).rotated(new))
    clock.now += KEYRING_CHECK_INTERVAL_S / 2
    assert sealer.key_id == key_id(old)  # not looked at yet
    clock.now += KEYRING_CHECK_INTERVAL_S
    sealed = sealer.seal("Ada", context="byr_1:name")
    assert sealer.sealed_key_id(sealed) == key_id(new)
    assert Sealer(new).open(sealed, context="byr_1:name") == "Ada"


def test_a_value_under_an_unknown_key_id_makes_the_sealer_reread_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secret.key"
    old, new = new_key(), new_key()
    write_keyring_file(path, Keyring([old]))
    clock = FakeClock()
    lagging = Sealer.from_source(KeyringFile(path, clock=clock))
    old_value = lagging.seal("Ada", context="byr_1:name")
    # another process rotated and re-sealed; this one's check interval has not passed
    write_keyring_file(path, Keyring([old]).rotated(new))
    resealed = Sealer(new, previous=[old]).reseal(old_value, context="byr_1:name")
    assert lagging.open(resealed, context="byr_1:name") == "Ada"
    assert lagging.key_id == key_id(new)  # and it seals under the new key from now on
    assert lagging.open(old_value, context="byr_1:name") == "Ada"  # the old key still opens


def test_an_unknown_key_id_still_fails_after_the_reread(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    write_keyring_file(path, Keyring([new_key()]))
    sealer = Sealer.from_source(KeyringFile(path))
    with pytest.raises(InvalidTag):
        sealer.open(Sealer(new_key()).seal("Ada", context="c"), context="c")


def test_a_broken_keyring_file_keeps_the_keys_read_before(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    key = new_key()
    write_keyring_file(path, Keyring([key]))
    clock = FakeClock()
    source = KeyringFile(path, clock=clock)
    path.write_text("not a key\n")
    clock.now += KEYRING_CHECK_INTERVAL_S
    assert source.current().keys == (key,)
    assert source.reload().keys == (key,)
    path.unlink()
    assert source.reload().keys == (key,)


def test_keys_follow_the_file_for_sealing_signing_and_publishing(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    old, new = new_key(), new_key()
    write_keyring_file(path, Keyring([old]))
    clock = FakeClock()
    keys = Keys(source=KeyringFile(path, clock=clock))
    signing_before = public_jwk(keys.receipt_key)
    write_keyring_file(path, Keyring([old]).rotated(new))
    clock.now += KEYRING_CHECK_INTERVAL_S
    assert keys.sealer.key_id == key_id(new)
    assert public_jwk(keys.receipt_key) == public_jwk(Keys(new).receipt_key)
    assert [receipt_jwk(k) for k in keys.receipt_public_keys()][1] == signing_before


def test_the_keyring_file_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    write_keyring_file(path, Keyring([new_key()]))
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_a_rewritten_keyring_file_keeps_its_owner_and_mode_without_access_for_others(
    tmp_path: Path,
) -> None:
    """Root rotating the key of a server that runs as another user must not lock it out."""
    path = tmp_path / "secret.key"
    path.write_text(encode_key(new_key()) + "\n")
    path.chmod(0o644)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    os.chown(path, *owner)
    write_keyring_file(path, Keyring.parse(path.read_text()).rotated(new_key()))
    written = path.stat()
    assert written.st_mode & 0o777 == 0o640
    assert (written.st_uid, written.st_gid) == owner
    assert len(Keyring.parse(path.read_text()).keys) == 2


# ---- where the keyring comes from -----------------------------------------------------------


def test_settings_name_the_keyring_file(tmp_path: Path) -> None:
    embedded = load_settings({}, data_dir=str(tmp_path))
    assert keyring_path(embedded) == tmp_path / "secret.key"
    assert isinstance(keyring_source(embedded), KeyringFile)  # created on first use
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    from_file = load_settings({}, secret_key_file=str(tmp_path / "secret.key"))
    assert keyring_path(from_file) == tmp_path / "secret.key"
    assert server_key(from_file) == server_key(embedded)
    from_env = load_settings({}, secret_key=encode_key(new_key()), database_url="postgresql://x")
    assert keyring_path(from_env) is None
    assert isinstance(keyring_source(from_env), FixedKeyring)


def test_a_legacy_value_under_a_previous_key_opens_after_rotation() -> None:
    old, new = new_key(), new_key()
    nonce = os.urandom(12)
    legacy = nonce + AESGCM(old).encrypt(nonce, b"Ada", b"byr_1:name")
    keys = Keys(source=FixedKeyring(Keyring([old]).rotated(new)))
    assert keys.sealer.open(legacy, context="byr_1:name") == "Ada"
    assert keys.sealer.needs_reseal(legacy)
