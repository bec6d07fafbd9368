"""Rotating the server key under a running `intentcast serve`: `intentcast keys rotate`
re-seals every sealed value (persona fields, webhook secrets, reveal snapshots, stored
idempotent responses) while buyers keep writing; afterwards everything reads back without a
restart, receipts signed before the rotation still verify, new values are sealed under the
new key, and the old key can be retired. Also, on a test database: every binary column is
known to be sealed or not, and a value no key opens is reported and left alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from intentcast.domain.receipts import public_key_from_jwk, verify_receipt
from intentcast.security import Keyring, Sealer, key_id
from intentcast.services.keys import ResealBatch, UnreadableValue, key_usage, reseal_all
from intentcast.store.keys import SEALED_TABLES
from tests.e2e.conftest import Server, embedded_env
from tests.helpers import CAMERA, create_buyer, create_vendor, feed, publish, subscribe, types
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

PERSONA = {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "+49 170 1234567"}
SEALED_HERE = {
    "buyers.name_sealed",
    "buyers.email_sealed",
    "buyers.phone_sealed",
    "webhook_endpoints.secret_sealed",
    "reveals.sealed_values",
    "idempotency_keys.response",
}
"""The sealed columns the test fills (no buyer gives an address)."""


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true", webhook_allow_loopback="true")
    srv.start()
    return srv


def keys_command(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``intentcast keys …`` on the server's data dir, as an operator runs it beside it."""
    return subprocess.run(
        [sys.executable, "-m", "intentcast", "keys", *args],
        env=embedded_env(server.data_dir, server.port),
        capture_output=True,
        text=True,
        timeout=180,
    )


def keyring_of(server: Server) -> Keyring:
    return Keyring.parse((server.data_dir / "secret.key").read_text())


async def sealed_key_ids(server: Server) -> dict[str, set[str]]:
    """``table.column`` → the key ids its values carry, read straight from the database."""
    found: dict[str, set[str]] = {}
    conn = await asyncpg.connect(server.postgres_url)
    try:
        for table in SEALED_TABLES:
            for column in table.sealed_columns:
                rows = await conn.fetch(
                    f"""SELECT DISTINCT encode(substring({column} from 2 for 4), 'hex') AS kid
                          FROM {table.name} WHERE {column} IS NOT NULL"""
                )
                found[f"{table.name}.{column}"] = {row["kid"] for row in rows}
    finally:
        await conn.close()
    return found


def verifying_kids(jwks: list[dict[str, str]], entry: dict) -> list[str]:
    return [
        jwk["kid"]
        for jwk in jwks
        if verify_receipt(public_key_from_jwk(jwk), entry["receipt"], entry["signature"])
    ]


async def test_keys_rotate_while_the_server_runs_and_writes(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        # every kind of sealed value, under the first key
        buyer = await create_buyer(http, display_name="ada", **PERSONA)
        vendor = await create_vendor(http, name="Foto Huber")
        await subscribe(http, vendor, categories=["electronics"])
        webhook = await http.post(
            "/v1/vendor/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=vendor.headers
        )
        assert webhook.status_code == 201, webhook.text
        idempotent = buyer.headers | {"Idempotency-Key": "rotation-test-1"}
        intent = await http.post("/v1/intents", json=CAMERA, headers=idempotent)
        assert intent.status_code == 201, intent.text
        iid = intent.json()["id"]
        await feed(http, vendor, until=lambda items: "intent.matched" in types(items), within=20)
        reveal = (
            await http.post(
                f"/v1/intents/{iid}/reveals",
                headers=buyer.headers,
                json={"vendor_id": vendor.id, "fields": ["email", "phone"]},
            )
        ).json()
        reveal_path = f"/v1/vendor/reveals/{reveal['id']}"
        accepted = await http.post(reveal_path + "/accept-terms", headers=vendor.headers)
        assert accepted.status_code == 200
        revealed = {"email": PERSONA["email"], "phone": PERSONA["phone"]}
        assert (await http.get(reveal_path, headers=vendor.headers)).json()["fields"] == revealed
        old_jwk = (await http.get("/v1/receipts/public-key")).json()

        (old_id,) = keyring_of(server).key_ids
        before = await sealed_key_ids(server)
        assert {column for column, kids in before.items() if kids} == SEALED_HERE
        assert all(kids <= {old_id} for kids in before.values()), before

        # buyers keep changing their persona while the key rotates
        stop_writing = asyncio.Event()
        writes: list[str] = []

        async def keep_writing() -> None:
            writer = await create_buyer(http, display_name="bob", email="bob@example.org")
            while not stop_writing.is_set():
                email = f"bob{len(writes)}@example.org"
                done = await http.patch("/v1/me", json={"email": email}, headers=writer.headers)
                assert done.status_code == 200, done.text
                writes.append(email)
                await asyncio.sleep(0.05)
            me = (await http.get("/v1/me", headers=writer.headers)).json()
            assert me["email"] == writes[-1]

        writer = asyncio.create_task(keep_writing())
        started = time.monotonic()
        rotated = await asyncio.to_thread(keys_command, server, "rotate", "--batch-size", "2")
        stop_writing.set()
        await writer
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        new_id = keyring_of(server).key_ids[0]
        assert keyring_of(server).key_ids == [new_id, old_id]
        assert f"key {new_id} is current" in rotated.stdout
        assert "re-sealed (" in rotated.stdout and "0 left under other keys" in rotated.stdout
        assert len(writes) > 10, "the writer kept writing during the rotation"
        assert time.monotonic() - started < 60

        # nothing under the old key, in the database and as `keys status` counts it
        after = await sealed_key_ids(server)
        assert {column for column, kids in after.items() if kids} == SEALED_HERE
        assert all(kids <= {new_id} for kids in after.values()), after
        status = keys_command(server, "status")
        assert status.returncode == 0, status.stderr
        assert f"{old_id}  previous  0 value(s)" in status.stdout
        assert f"{new_id}  current " in status.stdout

        # everything reads back, from processes that were never restarted
        me = (await http.get("/v1/me", headers=buyer.headers)).json()
        assert {k: me[k] for k in PERSONA} == PERSONA
        assert (await http.get(reveal_path, headers=vendor.headers)).json()["fields"] == revealed
        replay = await http.post("/v1/intents", json=CAMERA, headers=idempotent)
        assert replay.status_code == 201 and replay.json()["id"] == iid

        # receipts: those signed before verify with the old key, new ones with the new key
        assert (
            await http.delete(f"/v1/reveals/{reveal['id']}", headers=buyer.headers)
        ).status_code == 204
        jwks = (await http.get("/v1/receipts/public-keys")).json()["keys"]
        current_jwk = (await http.get("/v1/receipts/public-key")).json()
        assert [jwk["kid"] for jwk in jwks] == [current_jwk["kid"], old_jwk["kid"]]
        ledger = (await http.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
        assert [d["receipt"]["kind"] for d in ledger] == ["revoke", "terms_accepted", "reveal"]
        assert [verifying_kids(jwks, d) for d in ledger] == [
            [current_jwk["kid"]],
            [old_jwk["kid"]],
            [old_jwk["kid"]],
        ]
        # the buyer's pseudonym did not change with the key
        assert len({d["receipt"]["buyer_pseudonym"] for d in ledger}) == 1

        # a write after the rotation is sealed under the new key
        changed = await http.patch(
            "/v1/me", json={"phone": "+49 89 4132 7788"}, headers=buyer.headers
        )
        assert changed.status_code == 200
        conn = await asyncpg.connect(server.postgres_url)
        try:
            phone = await conn.fetchval("SELECT phone_sealed FROM buyers WHERE id = $1", buyer.id)
        finally:
            await conn.close()
        assert bytes(phone)[1:5].hex() == new_id

        # the old key retires; the persona still reads, old receipts still verify
        retired = keys_command(server, "retire", old_id)
        assert retired.returncode == 0, retired.stdout + retired.stderr
        assert keyring_of(server).key_ids == [new_id]
        assert old_id not in (server.data_dir / "secret.key").read_text()
        me = (await http.get("/v1/me", headers=buyer.headers)).json()
        assert me["name"] == PERSONA["name"] and me["phone"] == "+49 89 4132 7788"
        jwks = (await http.get("/v1/receipts/public-keys")).json()["keys"]
        assert [jwk["kid"] for jwk in jwks] == [current_jwk["kid"], old_jwk["kid"]]
        assert verifying_kids(jwks, ledger[-1]) == [old_jwk["kid"]]


NOT_SEALED = {
    "tokens.token_hash",
    "idempotency_keys.fingerprint",
    "passkeys.credential_id",
    "passkeys.public_key",
    "passkeys.user_handle",
}
"""The binary columns that hold no sealed value (hashes; a passkey's id, public key and
random user handle, which the browser sees anyway)."""


async def test_every_binary_column_is_known_sealed_or_not(db: asyncpg.Connection) -> None:
    """A new sealed column must be listed in ``store.keys.SEALED_TABLES``, or rotation
    would leave it under the old key and retiring that key would lose it."""
    rows = await db.fetch(
        """SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND data_type = 'bytea'"""
    )
    binary = {f"{row['table_name']}.{row['column_name']}" for row in rows}
    sealed = {f"{t.name}.{c}" for t in SEALED_TABLES for c in t.sealed_columns}
    assert binary - NOT_SEALED == sealed


async def test_a_value_no_key_opens_is_reported_and_left_as_it_is(db: asyncpg.Connection) -> None:
    old, new, lost = (os.urandom(32) for _ in range(3))
    for i in range(5):
        sealed = Sealer(old).seal(f"b{i}@example.org", context=f"byr_{i}:email")
        await db.execute(
            "INSERT INTO buyers (id, display_name, email_sealed) VALUES ($1, 'b', $2)",
            f"byr_{i}",
            sealed,
        )
    unopenable = Sealer(lost).seal("Ada", context="byr_3:name")
    await db.execute("UPDATE buyers SET name_sealed = $1 WHERE id = 'byr_3'", unopenable)

    batches: list[ResealBatch] = []
    report = await reseal_all(
        db, Sealer(new, previous=[old]), batch_size=2, timeout_s=10, on_batch=batches.append
    )
    assert report.resealed == 5 and [b.resealed for b in batches] == [2, 2, 1]
    assert report.unreadable == [UnreadableValue("buyers", "name_sealed", ("byr_3",))]
    assert report.remaining == 1
    assert await db.fetchval("SELECT name_sealed FROM buyers WHERE id = 'byr_3'") == unopenable
    for i in range(5):
        stored = await db.fetchval("SELECT email_sealed FROM buyers WHERE id = $1", f"byr_{i}")
        assert Sealer(new).open(stored, context=f"byr_{i}:email") == f"b{i}@example.org"
    usage = await key_usage(db, Keyring([new, old]))
    assert usage.by_key_id == {key_id(new): 5, key_id(old): 0, key_id(lost): 1}
    assert usage.unknown == {key_id(lost): 1}
    assert usage.by_column["buyers.email_sealed"] == {key_id(new): 5}


async def test_a_key_added_then_made_current_and_a_key_in_use_is_not_retired(
    server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await create_buyer(http, display_name="ada", **PERSONA)
    added = keys_command(server, "add")  # known first, made current later (several hosts)
    assert added.returncode == 0, added.stderr
    old_id, new_id = keyring_of(server).key_ids
    rotated = keys_command(server, "rotate", "--to", new_id, "--no-reseal")
    assert rotated.returncode == 0, rotated.stderr
    assert keyring_of(server).key_ids == [new_id, old_id]
    refused = keys_command(server, "retire", old_id)
    assert refused.returncode != 0
    assert f"key {old_id} may still open 3 value(s)" in refused.stderr
    assert "current key" in keys_command(server, "retire", new_id).stderr
    assert keyring_of(server).key_ids == [new_id, old_id]
    resealed = keys_command(server, "reseal")
    assert resealed.returncode == 0, resealed.stdout + resealed.stderr
    assert "3 value(s) re-sealed" in resealed.stdout
    assert keys_command(server, "retire", old_id).returncode == 0
    assert keyring_of(server).key_ids == [new_id]


async def test_webhooks_are_delivered_after_a_rotation(server: Server) -> None:
    """The delivery worker opens each endpoint's sealed secret to sign with it."""
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        WebhookReceiver() as hook,
    ):
        vendor = await create_vendor(http, name="Foto Huber")
        await subscribe(http, vendor, categories=["electronics"])
        created = (
            await http.post("/v1/vendor/webhooks", json={"url": hook.url}, headers=vendor.headers)
        ).json()
        buyer = await create_buyer(http, display_name="ada")
        await publish(http, buyer)
        await hook.wait_for(1, timeout=20)
        rotated = await asyncio.to_thread(keys_command, server, "rotate")
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        await publish(http, buyer, title="Fujifilm X-T5")
        first, second = await hook.wait_for(2, timeout=20)
        for request in (first, second):
            Webhook(created["secret"]).verify(request.body, request.headers)
