"""Accounts and tokens through the HTTP API, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncpg

from tests.helpers import CAMERA, bearer, create_buyer, create_vendor


async def test_buyer_signup_returns_token_and_persona(client) -> None:
    response = await client.post(
        "/v1/buyers", json={"display_name": "ada", "email": "ada@example.org", "country": "DE"}
    )
    assert response.status_code == 201
    data = response.json()
    assert data["token"].startswith("icb_") and len(data["token"]) >= 4 + 43
    assert data["buyer"]["id"].startswith("byr_")
    me = await client.get("/v1/me", headers=bearer(data["token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.org"
    assert me.json()["phone"] is None


async def test_persona_is_ciphertext_in_postgres(client, buyer, db: asyncpg.Connection) -> None:
    row = await db.fetchrow("SELECT * FROM buyers WHERE id = $1", buyer.id)
    stored = b"".join(
        bytes(row[c]) for c in ("name_sealed", "email_sealed", "phone_sealed", "address_sealed")
    )
    for plain in ("ada@example.org", "Ada Lovelace", "4132 7788", "Marienplatz", "example"):
        assert plain.encode() not in stored
    # the whole row, as PostgreSQL would dump it, holds no plain persona value either
    dumped = await db.fetchval("SELECT row_to_json(b)::text FROM buyers b WHERE id = $1", buyer.id)
    assert "ada@example.org" not in dumped and "Lovelace" not in dumped
    # and the API decrypts it for its owner
    me = (await client.get("/v1/me", headers=buyer.headers)).json()
    assert me["email"] == "ada@example.org" and me["address"].startswith("Marienplatz")


async def test_tokens_are_stored_only_as_hashes(client, buyer, db: asyncpg.Connection) -> None:
    dumped = await db.fetchval("SELECT json_agg(t)::text FROM tokens t")
    assert buyer.token not in dumped
    assert buyer.token.split("_", 1)[1] not in dumped


async def test_patch_me_changes_and_clears_persona(client, buyer) -> None:
    response = await client.patch(
        "/v1/me", headers=buyer.headers, json={"email": "new@example.org", "phone": None}
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "new@example.org"
    assert response.json()["phone"] is None
    assert response.json()["name"] == "Ada Lovelace"  # absent means unchanged
    again = (await client.get("/v1/me", headers=buyer.headers)).json()
    assert again["email"] == "new@example.org" and again["phone"] is None


async def test_patch_me_rejects_bad_fields(client, buyer) -> None:
    response = await client.patch("/v1/me", headers=buyer.headers, json={"email": "not-an-email"})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["email"]
    response = await client.patch("/v1/me", headers=buyer.headers, json={"emial": "x@y.org"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "emial"


async def test_vendor_starts_pending_unless_auto_verify(client, make_client, make_settings) -> None:
    pending = await client.post("/v1/vendors", json={"name": "Kamera Huber"})
    assert pending.status_code == 201
    assert pending.json()["vendor"]["status"] == "pending"
    assert pending.json()["token"].startswith("icv_")
    auto = await make_client(make_settings(auto_verify_vendors=True))
    verified = await auto.post("/v1/vendors", json={"name": "Foto Meyer"})
    assert verified.json()["vendor"]["status"] == "verified"


async def test_vendor_public_profile_hides_contact(client, db) -> None:
    vendor = await create_vendor(
        client, db, contact_email="sales@huber.example", website="https://huber.example"
    )
    profile = await client.get(f"/v1/vendors/{vendor.id}")
    assert profile.status_code == 200
    body = profile.json()
    assert body["name"] == vendor.body["name"] and body["verified"] is True
    assert "contact_email" not in body
    assert (await client.get("/v1/vendors/ven_doesnotexist")).status_code == 404


async def test_tokens_work_only_for_their_own_role(client, buyer, vendor) -> None:
    assert (await client.get("/v1/vendor/tokens", headers=vendor.headers)).status_code == 200
    assert (await client.get("/v1/vendor/tokens", headers=buyer.headers)).status_code == 403
    assert (await client.get("/v1/vendor/tokens")).status_code == 401
    me = await client.get("/v1/me", headers=vendor.headers)
    assert me.json()["id"] == vendor.id and me.json()["status"] == "verified"


async def test_unknown_malformed_and_missing_tokens_are_401(client) -> None:
    for header in ("Bearer icb_" + "x" * 43, "Bearer nonsense", "Basic abc", "Bearer "):
        response = await client.get("/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/v1/me")).status_code == 401


async def test_vendor_rotates_tokens_and_revoked_token_is_401(client, vendor) -> None:
    created = await client.post("/v1/vendor/tokens", headers=vendor.headers, json={"label": "ci"})
    assert created.status_code == 201
    second = created.json()
    assert second["token"].startswith("icv_") and second["label"] == "ci"
    listing = (await client.get("/v1/vendor/tokens", headers=vendor.headers)).json()
    assert {t["id"] for t in listing["items"]} >= {second["id"]}
    assert all("token" not in t for t in listing["items"])
    first_id = next(t["id"] for t in listing["items"] if t["id"] != second["id"])
    revoked = await client.delete(f"/v1/vendor/tokens/{first_id}", headers=bearer(second["token"]))
    assert revoked.status_code == 204
    assert (await client.get("/v1/me", headers=vendor.headers)).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 200
    last = await client.delete(f"/v1/vendor/tokens/{second['id']}", headers=bearer(second["token"]))
    assert last.status_code == 409


async def test_vendor_cannot_revoke_another_vendors_token(client, db) -> None:
    a = await create_vendor(client, db)
    b = await create_vendor(client, db)
    b_tokens = (await client.get("/v1/vendor/tokens", headers=b.headers)).json()["items"]
    response = await client.delete(f"/v1/vendor/tokens/{b_tokens[0]['id']}", headers=a.headers)
    assert response.status_code == 404
    assert (await client.get("/v1/me", headers=b.headers)).status_code == 200


async def test_token_list_is_cursor_paginated(client, vendor) -> None:
    for i in range(4):
        await client.post("/v1/vendor/tokens", headers=vendor.headers, json={"label": f"t{i}"})
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = (await client.get("/v1/vendor/tokens", headers=vendor.headers, params=params)).json()
        seen += [t["id"] for t in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    bad = await client.get("/v1/vendor/tokens", headers=vendor.headers, params={"after": "%%%"})
    assert bad.status_code == 400


async def test_a_sign_up_is_never_replayed_to_another_caller(client) -> None:
    """M1: with the same key and body, a stranger gets an account of their own, never the
    first caller's token or persona."""
    headers = {"Idempotency-Key": "signup-carol@example.org"}
    body = {"display_name": "carol", "email": "carol@example.org"}
    first = await client.post("/v1/buyers", json=body, headers=headers)
    second = await client.post("/v1/buyers", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["token"] != second.json()["token"]
    assert first.json()["buyer"]["id"] != second.json()["buyer"]["id"]
    assert "idempotent-replayed" not in second.headers


async def test_idempotency_keys_belong_to_the_account_not_the_token(client, buyer) -> None:
    """A rotated token, or the same one spelled `bearer`, replays the account's response;
    another account with the same key and body gets its own."""
    key = {"Idempotency-Key": "intent-rotation"}
    first = await client.post("/v1/intents", json=CAMERA, headers=buyer.headers | key)
    assert first.status_code == 201
    token = buyer.headers["Authorization"].split(" ", 1)[1]
    again = await client.post(
        "/v1/intents", json=CAMERA, headers={"Authorization": f"bearer {token}"} | key
    )
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await create_buyer(client)
    theirs = await client.post("/v1/intents", json=CAMERA, headers=other.headers | key)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


async def test_failed_request_releases_its_idempotency_key(client, buyer) -> None:
    headers = buyer.headers | {"Idempotency-Key": "k-2"}
    bad = await client.post("/v1/intents", json=CAMERA | {"title": ""}, headers=headers)
    assert bad.status_code == 400
    again = await client.post("/v1/intents", json=CAMERA | {"title": ""}, headers=headers)
    assert again.status_code == 400  # same body, still invalid: not replayed as success
    fixed = await client.post("/v1/intents", json=CAMERA, headers=headers)
    assert fixed.status_code == 201
    different = await client.post(
        "/v1/intents", json=CAMERA | {"title": "Something else"}, headers=headers
    )
    assert different.status_code == 422
    assert different.json()["errors"][0]["field"] == "header.Idempotency-Key"


async def test_rate_limit_answers_429_with_retry_after(make_client, make_settings) -> None:
    limited = await make_client(make_settings(rate_limit=3))
    buyer = await limited.post("/v1/buyers", json={"display_name": "a"})
    headers = {"Authorization": f"Bearer {buyer.json()['token']}"}
    statuses = [(await limited.get("/v1/me", headers=headers)).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    refused = await limited.get("/v1/me", headers=headers)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    assert (await limited.get("/health")).status_code == 200  # meta routes are not limited


async def test_rate_limit_is_per_account_whatever_the_header_spelling(
    make_client, make_settings
) -> None:
    """L3: `Bearer t`, `bearer t`, `BEARER  t` are one token, so one bucket."""
    limited = await make_client(make_settings(rate_limit=3))
    token = (await limited.post("/v1/buyers", json={"display_name": "a"})).json()["token"]
    spellings = [f"Bearer {token}", f"bearer {token}", f"BEARER  {token}", f"Bearer {token} "]
    statuses = [
        (await limited.get("/v1/me", headers={"Authorization": s})).status_code for s in spellings
    ]
    assert statuses == [200, 200, 200, 429]


async def test_verified_vendor_names_are_unique_and_renames_are_kept(
    make_client, make_settings, db
) -> None:
    """L7: a buyer can trust the name beside an offer: no two verified vendors share it
    (whatever the case), and every rename stays on record."""
    client = await make_client(make_settings(auto_verify_vendors=True))
    first = await client.post("/v1/vendors", json={"name": "Camera Corner"})
    assert first.status_code == 201
    clash = await client.post("/v1/vendors", json={"name": "  camera corner"})
    assert clash.status_code == 409 and clash.json()["code"] == "vendor-name-taken"
    other = await client.post("/v1/vendors", json={"name": "Lens Land"})
    headers = bearer(other.json()["token"])
    taken = await client.patch("/v1/me", json={"name": "CAMERA CORNER"}, headers=headers)
    assert taken.status_code == 409 and taken.json()["code"] == "vendor-name-taken"
    renamed = await client.patch("/v1/me", json={"name": "Lens Land Munich"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Lens Land Munich"
    history = await db.fetch(
        "SELECT old_name, new_name FROM vendor_name_changes WHERE vendor_id = $1",
        other.json()["vendor"]["id"],
    )
    assert [tuple(r) for r in history] == [("Lens Land", "Lens Land Munich")]
