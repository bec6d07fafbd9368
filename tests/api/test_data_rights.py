"""A buyer's data rights through the HTTP API: the export, the erasure (each of its promises),
buyer token rotation with ``last_used_at``, and the scheduled retention purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as redis

from intentcast.domain.data_rights import ERASED_NAME, PURGED
from intentcast.domain.receipts import public_key_from_jwk, verify_receipt
from intentcast.security import Keys
from intentcast.services.data_rights import erase_buyer
from tests.helpers import (
    Account,
    bearer,
    block,
    create_buyer,
    create_vendor,
    feed,
    matched,
    publish,
    settled,
    subscribe,
    types,
    wait_for,
)

PRIVATE_DESCRIPTION = "Mail me at ada@example.org, quiet-blue-heron"
"""An intent description holding contact data (scrubbed for vendors) and a unique phrase."""
PRIVATE_REPLY = "Yes, still looking; ring 089 4132 7788, amber-fox"
PRICE = {"amount": "1649.00", "currency": "EUR"}


async def offer(client, vendor: Account, intent_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/intents/{intent_id}/offers",
        json={"price": PRICE, "title": "A7 IV body"},
        headers=vendor.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def converse(client, buyer: Account, vendor: Account, intent_id: str) -> str:
    """The vendor opens a thread on the intent, the buyer answers; the thread id."""
    opened = await client.post(
        f"/v1/intents/{intent_id}/threads", json={"body": "Is black fine?"}, headers=vendor.headers
    )
    assert opened.status_code == 201, opened.text
    thread_id = opened.json()["id"]
    reply = await client.post(
        f"/v1/threads/{thread_id}/messages", json={"body": PRIVATE_REPLY}, headers=buyer.headers
    )
    assert reply.status_code == 201, reply.text
    return thread_id


async def reveal_email(client, buyer: Account, vendor: Account, intent_id: str) -> str:
    """Reveal the buyer's e-mail to the vendor, who accepts the terms; the reveal id."""
    response = await client.post(
        f"/v1/intents/{intent_id}/reveals",
        json={"vendor_id": vendor.id, "fields": ["email"]},
        headers=buyer.headers,
    )
    assert response.status_code == 201, response.text
    reveal_id = response.json()["id"]
    accepted = await client.post(
        f"/v1/vendor/reveals/{reveal_id}/accept-terms", headers=vendor.headers
    )
    assert accepted.status_code == 200, accepted.text
    return reveal_id


async def public_key(client):
    return public_key_from_jwk((await client.get("/v1/receipts/public-key")).json())


async def dump(db: asyncpg.Connection, table: str) -> str:
    """The whole table as PostgreSQL would dump it."""
    return await db.fetchval(f"SELECT coalesce(json_agg(t), '[]')::text FROM {table} t")


async def close_days_ago(db: asyncpg.Connection, intent_id: str, days: int) -> None:
    """Pretend the (closed) intent closed ``days`` days ago, for the retention purge."""
    done = await db.execute(
        """UPDATE intents SET closed_at = now() - make_interval(days => $2)
            WHERE id = $1 AND closed_at IS NOT NULL""",
        intent_id,
        days,
    )
    assert done == "UPDATE 1", f"no closed intent {intent_id}"


# ---- export ---------------------------------------------------------------------------------


async def test_export_holds_all_of_the_buyers_data(client, db, buyer, vendor) -> None:
    other = await create_vendor(client, db)
    intent = await publish(client, buyer, description=PRIVATE_DESCRIPTION)
    await matched(db, intent["id"], vendor)
    made = await offer(client, vendor, intent["id"])
    thread_id = await converse(client, buyer, vendor, intent["id"])
    reveal_id = await reveal_email(client, buyer, vendor, intent["id"])
    accepted = await client.post(f"/v1/offers/{made['id']}/accept", headers=buyer.headers, json={})
    assert accepted.status_code == 200, accepted.text
    rated = await client.post(
        f"/v1/offers/{made['id']}/rating",
        json={"stars": 5, "comment": "fast and friendly"},
        headers=buyer.headers,
    )
    assert rated.status_code == 201, rated.text
    await block(client, buyer, other)
    second = await client.post("/v1/me/tokens", json={"label": "laptop"}, headers=buyer.headers)
    assert second.status_code == 201

    response = await client.get("/v1/me/export", headers=buyer.headers)
    assert response.status_code == 200, response.text
    export = response.json()

    assert export["buyer"]["id"] == buyer.id
    assert export["buyer"]["email"] == "ada@example.org"  # decrypted for its owner
    assert export["buyer"]["name"] == "Ada Lovelace"
    [exported] = export["intents"]
    assert exported["id"] == intent["id"] and exported["status"] == "fulfilled"
    assert exported["description"] == PRIVATE_DESCRIPTION  # the buyer's own words
    assert "ada@example.org" not in exported["vendor_view"]["description"]
    assert exported["purged_at"] is None
    [received] = export["offers"]
    assert received["id"] == made["id"] and received["status"] == "accepted"
    assert received["vendor"]["id"] == vendor.id
    [thread] = export["threads"]
    assert thread["id"] == thread_id
    assert [m["body"] for m in thread["messages"]] == ["Is black fine?", PRIVATE_REPLY]
    [reveal] = export["reveals"]
    assert reveal["id"] == reveal_id and reveal["fields"] == ["email"]
    key = await public_key(client)
    assert [r["receipt"]["kind"] for r in reveal["receipts"]] == ["reveal", "terms_accepted"]
    assert all(verify_receipt(key, r["receipt"], r["signature"]) for r in reveal["receipts"])
    assert export["ratings"] == [
        {
            "offer_id": made["id"],
            "stars": 5,
            "comment": "fast and friendly",
            "created_at": export["ratings"][0]["created_at"],
        }
    ]
    assert export["blocked_vendors"] == [other.id]
    assert {t["label"] for t in export["tokens"]} == {"initial", "laptop"}
    assert all("token" not in t for t in export["tokens"])
    assert buyer.token not in response.text and second.json()["token"] not in response.text


async def test_export_is_the_buyers_own(client, buyer, vendor) -> None:
    assert (await client.get("/v1/me/export", headers=vendor.headers)).status_code == 403
    assert (await client.get("/v1/me/export")).status_code == 401
    other = await create_buyer(client)
    await publish(client, buyer, description=PRIVATE_DESCRIPTION)
    theirs = (await client.get("/v1/me/export", headers=other.headers)).json()
    assert theirs["intents"] == [] and "quiet-blue-heron" not in json.dumps(theirs)


# ---- erasure --------------------------------------------------------------------------------


async def test_erasure_keeps_every_promise(
    client, db, buyer, vendor, pipeline, settings, redis_url
) -> None:
    await subscribe(client, vendor)
    kept_open = await publish(client, buyer, description=PRIVATE_DESCRIPTION)
    paused = await publish(client, buyer, title="Sony 24-70 GM II lens")
    await feed(client, vendor, until=lambda e: types(e).count("intent.matched") == 2)
    response = await client.patch(
        f"/v1/intents/{paused['id']}", json={"status": "paused"}, headers=buyer.headers
    )
    assert response.status_code == 200
    thread_id = await converse(client, buyer, vendor, kept_open["id"])
    reveal_id = await reveal_email(client, buyer, vendor, kept_open["id"])
    read = await client.get(f"/v1/vendor/reveals/{reveal_id}", headers=vendor.headers)
    assert read.status_code == 200 and read.json()["fields"] == {"email": "ada@example.org"}
    second = (await client.post("/v1/me/tokens", json={}, headers=buyer.headers)).json()
    key = await public_key(client)

    erased = await client.delete("/v1/me", headers=buyer.headers)
    assert erased.status_code == 204, erased.text

    # every token stops working at once
    for token in (buyer.token, second["token"]):
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
    assert (await client.delete("/v1/me", headers=buyer.headers)).status_code == 401
    # the live intents are withdrawn and every matched vendor hears it (with no text left)
    events = await feed(client, vendor, until=lambda e: types(e).count("intent.closed") == 2)
    closed = [e["data"]["intent"] for e in events if e["type"] == "intent.closed"]
    assert sorted(i["id"] for i in closed) == sorted([kept_open["id"], paused["id"]])
    assert {(i["status"], i["title"]) for i in closed} == {("withdrawn", PURGED)}
    assert "reveal.revoked" in types(events)
    # the reveal is revoked: the vendor's read is 410
    gone = await client.get(f"/v1/vendor/reveals/{reveal_id}", headers=vendor.headers)
    assert gone.status_code == 410
    # the vendor's views show that the text was purged
    view = (
        await client.get(f"/v1/vendor/intents/{kept_open['id']}", headers=vendor.headers)
    ).json()
    assert (view["title"], view["description"], view["attributes"]) == (PURGED, None, {})
    thread = (await client.get(f"/v1/threads/{thread_id}", headers=vendor.headers)).json()
    assert [m["body"] for m in thread["messages"]] == [PURGED, PURGED]
    everything = json.dumps(await feed(client, vendor))
    assert "quiet-blue-heron" not in everything and "amber-fox" not in everything
    assert "Sony 24-70" not in everything and "Full-frame" not in everything
    # persona and texts are gone from the database, not just from the API
    row = await db.fetchrow("SELECT * FROM buyers WHERE id = $1", buyer.id)
    assert row["display_name"] == ERASED_NAME and row["erased_at"] is not None
    assert all(row[f"{f}_sealed"] is None for f in ("name", "email", "phone", "address"))
    for table in ("buyers", "intents", "messages", "reveals", "vendor_events", "buyer_events"):
        stored = await dump(db, table)
        for secret in ("quiet-blue-heron", "amber-fox", "ada@example.org", "Sony 24-70"):
            assert secret not in stored, (table, secret)
    assert await db.fetchval("SELECT count(*) FROM buyer_events WHERE buyer_id = $1", buyer.id) == 0
    assert not await db.fetchval(
        "SELECT count(*) FROM reveals WHERE buyer_id = $1 AND sealed_values IS NOT NULL", buyer.id
    )
    assert not await db.fetchval(
        "SELECT count(*) FROM tokens WHERE subject_id = $1 AND revoked_at IS NULL", buyer.id
    )
    # receipts remain, verifiable, with a revoke receipt for the reveal and no persona value
    rows = await db.fetch(
        "SELECT receipt, signature FROM receipts WHERE buyer_id = $1 ORDER BY issued_at", buyer.id
    )
    receipts = [{"receipt": json.loads(r["receipt"]), "signature": r["signature"]} for r in rows]
    assert [r["receipt"]["kind"] for r in receipts] == ["reveal", "terms_accepted", "revoke"]
    assert all(verify_receipt(key, r["receipt"], r["signature"]) for r in receipts)
    assert "ada@example.org" not in json.dumps([r["receipt"] for r in receipts])

    # erasing again (a retried request that got through) changes nothing
    before = [await dump(db, t) for t in ("intents", "receipts", "vendor_events", "buyers")]
    client_redis = redis.from_url(redis_url)
    try:
        await erase_buyer(
            db, client_redis, Keys.from_settings(settings), buyer_id=buyer.id, now=datetime.now(UTC)
        )
    finally:
        await client_redis.aclose()
    after = [await dump(db, t) for t in ("intents", "receipts", "vendor_events", "buyers")]
    assert after == before


async def test_only_a_buyer_erases_itself(client, buyer, vendor) -> None:
    assert (await client.delete("/v1/me", headers=vendor.headers)).status_code == 403
    assert (await client.delete("/v1/me")).status_code == 401
    assert (await client.get("/v1/me", headers=vendor.headers)).status_code == 200
    assert (await client.get("/v1/me", headers=buyer.headers)).status_code == 200


# ---- buyer tokens ---------------------------------------------------------------------------


async def test_buyer_rotates_tokens_and_revoked_token_is_401(client, buyer) -> None:
    created = await client.post("/v1/me/tokens", json={"label": "phone"}, headers=buyer.headers)
    assert created.status_code == 201, created.text
    second = created.json()
    assert second["token"].startswith("icb_") and second["label"] == "phone"
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).json()["id"] == buyer.id
    listing = (await client.get("/v1/me/tokens", headers=buyer.headers)).json()
    assert len(listing["items"]) == 2 and all("token" not in t for t in listing["items"])
    first_id = next(t["id"] for t in listing["items"] if t["id"] != second["id"])

    revoked = await client.delete(f"/v1/me/tokens/{first_id}", headers=bearer(second["token"]))
    assert revoked.status_code == 204
    assert (await client.get("/v1/me", headers=buyer.headers)).status_code == 401
    again = await client.delete(f"/v1/me/tokens/{first_id}", headers=bearer(second["token"]))
    assert again.status_code == 404
    last = await client.delete(f"/v1/me/tokens/{second['id']}", headers=bearer(second["token"]))
    assert last.status_code == 409 and last.json()["code"] == "last-token"
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 200


async def test_buyer_tokens_are_the_buyers_own(client, buyer, vendor) -> None:
    other = await create_buyer(client)
    theirs = (await client.get("/v1/me/tokens", headers=other.headers)).json()["items"]
    response = await client.delete(f"/v1/me/tokens/{theirs[0]['id']}", headers=buyer.headers)
    assert response.status_code == 404
    assert (await client.get("/v1/me", headers=other.headers)).status_code == 200
    assert (await client.get("/v1/me/tokens", headers=vendor.headers)).status_code == 403
    assert (await client.post("/v1/me/tokens", json={}, headers=vendor.headers)).status_code == 403


async def test_buyer_token_list_is_cursor_paginated(client, buyer) -> None:
    for i in range(4):
        await client.post("/v1/me/tokens", json={"label": f"t{i}"}, headers=buyer.headers)
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = (await client.get("/v1/me/tokens", headers=buyer.headers, params=params)).json()
        seen += [t["id"] for t in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    bad = await client.get("/v1/me/tokens", headers=buyer.headers, params={"after": "%%%"})
    assert bad.status_code == 400


async def test_last_used_at_is_kept_without_a_write_per_request(client, buyer, vendor, db) -> None:
    second = (await client.post("/v1/me/tokens", json={}, headers=buyer.headers)).json()

    async def last_used(token_id: str) -> datetime | None:
        return await db.fetchval("SELECT last_used_at FROM tokens WHERE id = $1", token_id)

    assert await last_used(second["id"]) is None  # never used yet
    listing = (await client.get("/v1/me/tokens", headers=buyer.headers)).json()["items"]
    used_now = {t["id"]: t["last_used_at"] for t in listing}
    assert used_now[second["id"]] is None
    assert all(used_now[t] is not None for t in used_now if t != second["id"])

    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 200
    first_use = await last_used(second["id"])
    assert first_use is not None
    for _ in range(3):  # within the minute: no further write
        await client.get("/v1/me", headers=bearer(second["token"]))
    assert await last_used(second["id"]) == first_use
    # vendors' tokens too
    await client.get("/v1/me", headers=vendor.headers)
    vendor_tokens = (await client.get("/v1/vendor/tokens", headers=vendor.headers)).json()
    assert all(t["last_used_at"] is not None for t in vendor_tokens["items"])


# ---- retention ------------------------------------------------------------------------------


async def test_retention_purges_closed_intents_everywhere(
    client, db, buyer, vendor, pipeline, settings
) -> None:
    await subscribe(client, vendor)
    old = await publish(client, buyer, description=PRIVATE_DESCRIPTION)
    recent = await publish(client, buyer, title="Sony 24-70 GM II lens")
    still_open = await publish(client, buyer, title="Tripod, carbon, travel size")
    await feed(client, vendor, until=lambda e: types(e).count("intent.matched") == 3)
    thread_id = await converse(client, buyer, vendor, old["id"])
    for intent in (old, recent):
        response = await client.patch(
            f"/v1/intents/{intent['id']}", json={"status": "withdrawn"}, headers=buyer.headers
        )
        assert response.status_code == 200
    await settled(db)  # every intent.closed processed: nothing holds the purge back
    await close_days_ago(db, old["id"], settings.retention_days + 1)

    async def purged() -> dict[str, Any] | None:
        view = (await client.get(f"/v1/vendor/intents/{old['id']}", headers=vendor.headers)).json()
        return view if view["title"] == PURGED else None

    view = await wait_for(purged, within=20)  # the scheduler's pass, no request needed
    assert (view["description"], view["attributes"], view["status"]) == (None, {}, "withdrawn")
    assert view["category"] == old["category"] and view["budget"] is not None  # not free text
    thread = (await client.get(f"/v1/threads/{thread_id}", headers=vendor.headers)).json()
    assert [m["body"] for m in thread["messages"]] == [PURGED, PURGED]
    mine = (await client.get(f"/v1/intents/{old['id']}", headers=buyer.headers)).json()
    assert (mine["title"], mine["description"], mine["attributes"]) == (PURGED, None, {})
    buyer_thread = (await client.get(f"/v1/threads/{thread_id}", headers=buyer.headers)).json()
    assert {m["body"] for m in buyer_thread["messages"]} == {PURGED}
    everything = json.dumps(await feed(client, vendor))
    assert "quiet-blue-heron" not in everything and "amber-fox" not in everything
    stored = await dump(db, "intents") + await dump(db, "messages") + await dump(db, "buyer_events")
    assert "quiet-blue-heron" not in stored and "amber-fox" not in stored
    export = (await client.get("/v1/me/export", headers=buyer.headers)).json()
    purged_at = {i["id"]: i["purged_at"] for i in export["intents"]}
    assert purged_at[old["id"]] is not None

    # The pass that purged `old` looked at every closed intent in one statement: the recently
    # closed one and the open one were not due, and keep their text.
    assert purged_at[recent["id"]] is None and purged_at[still_open["id"]] is None
    for intent in (recent, still_open):
        view = await client.get(f"/v1/vendor/intents/{intent['id']}", headers=vendor.headers)
        assert view.json()["title"] == intent["title"]
