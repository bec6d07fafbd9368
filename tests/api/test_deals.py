"""Deal rules through the API: offers, acceptance, reveals and receipts, relay, blocks."""

from __future__ import annotations

import copy

import pytest

from intentcast.domain.receipts import public_key_from_jwk, verify_receipt
from intentcast.store.events import Matches
from tests.api.test_intents import CAMERA
from tests.conftest import create_buyer, create_vendor

PRICE = {"amount": "1649.00", "currency": "EUR"}


async def matched_world(client, db, n_vendors=2, **intent_overrides):
    buyer = await create_buyer(
        client, email="ada@example.org", phone="+49 170 1234567", country="DE"
    )
    vendors = [await create_vendor(client, db) for _ in range(n_vendors)]
    intent = (
        await client.post("/v1/intents", json=CAMERA | intent_overrides, headers=buyer.headers)
    ).json()
    for i, v in enumerate(vendors):
        await db.execute(
            """INSERT INTO subscriptions (id, vendor_id, categories)
               VALUES ($1, $2, '{electronics}')""",
            f"sub_{i}_{v.id}",
            v.id,
        )
        await Matches(db).record(intent["id"], [(f"sub_{i}_{v.id}", v.id)])
    return buyer, vendors, intent


async def offer(client, vendor, intent, **body):
    response = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": PRICE, "title": "A7 IV"} | body,
        headers=vendor.headers,
    )
    return response


async def vendor_event_types(db, vendor):
    rows = await db.fetch(
        "SELECT type FROM vendor_events WHERE vendor_id = $1 ORDER BY seq", vendor.id
    )
    return [r["type"] for r in rows]


async def buyer_event_types(db, buyer):
    rows = await db.fetch(
        "SELECT type FROM buyer_events WHERE buyer_id = $1 ORDER BY seq", buyer.id
    )
    return [r["type"] for r in rows]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"quantity": 2}, "quantity", 422),
        ({"price": {"amount": "10", "currency": "XXY"}}, "price.currency", 422),
        ({"price": {"amount": "-1", "currency": "EUR"}}, "price.amount", 422),
        ({"price": {"amount": "ten", "currency": "EUR"}}, "price.amount", 400),
        ({"valid_until": "2020-01-01T00:00:00Z"}, "valid_until", 422),
        ({"title": ""}, "title", 400),
        ({"vendor_id": "ven_x"}, "vendor_id", 400),
    ],
)
async def test_bad_offers_name_the_field(client, db, body, field, status) -> None:
    _, (vendor, _), intent = await matched_world(client, db)
    response = await offer(client, vendor, intent, **body)
    assert response.status_code == status, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_revise_bumps_version_keeps_history_and_tells_the_buyer(client, db) -> None:
    buyer, (vendor, _), intent = await matched_world(client, db)
    created = (await offer(client, vendor, intent)).json()
    revised = await client.patch(
        f"/v1/offers/{created['id']}",
        json={"price": {"amount": "1599", "currency": "EUR"}},
        headers=vendor.headers,
    )
    assert revised.status_code == 200 and revised.json()["version"] == 2
    detail = (await client.get(f"/v1/offers/{created['id']}", headers=buyer.headers)).json()
    assert [h["price_amount"] for h in detail["history"]] == ["1649.00", "1599"]
    withdrawn = await client.post(f"/v1/offers/{created['id']}/withdraw", headers=vendor.headers)
    assert withdrawn.json()["status"] == "withdrawn"
    assert (
        await client.post(f"/v1/offers/{created['id']}/withdraw", headers=vendor.headers)
    ).status_code == 409
    assert (
        await offer(client, vendor, intent)
    ).status_code == 201  # a new live offer is allowed again
    assert await buyer_event_types(db, buyer) == [
        "offer.created",
        "offer.updated",
        "offer.withdrawn",
        "offer.created",
    ]


async def test_partial_acceptance_keeps_the_intent_open(client, db) -> None:
    buyer, (a, b), intent = await matched_world(client, db, quantity=3)
    offer_a = (await offer(client, a, intent, quantity=1)).json()
    offer_b = (await offer(client, b, intent, quantity=2)).json()
    first = (await client.post(f"/v1/offers/{offer_a['id']}/accept", headers=buyer.headers)).json()
    assert first["intent_status"] == "open"
    assert (await client.get(f"/v1/offers/{offer_b['id']}", headers=b.headers)).json()[
        "status"
    ] == "live"
    second = (
        await client.post(f"/v1/offers/{offer_b['id']}/accept", headers=buyer.headers, json={})
    ).json()
    assert second["intent_status"] == "fulfilled"
    assert (
        await db.fetchval("SELECT status FROM intents WHERE id = $1", intent["id"]) == "fulfilled"
    )
    events = await db.fetch(
        "SELECT event_type FROM outbox WHERE aggregate_id = $1 ORDER BY id", intent["id"]
    )
    assert events[-1]["event_type"] == "intent.closed"
    late = await offer(client, a, intent)
    assert late.status_code == 409


async def test_accept_declines_the_rest_and_can_reveal(client, db) -> None:
    buyer, (a, b), intent = await matched_world(client, db)
    offer_a = (await offer(client, a, intent)).json()
    offer_b = (await offer(client, b, intent)).json()
    result = await client.post(
        f"/v1/offers/{offer_a['id']}/accept",
        json={"reveal_fields": ["email", "phone"]},
        headers=buyer.headers,
    )
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["reveal"]["vendor_id"] == a.id and body["reveal"]["fields"] == ["email", "phone"]
    assert await vendor_event_types(db, a) == ["offer.accepted", "reveal.granted"]
    assert await vendor_event_types(db, b) == ["offer.declined"]
    assert (await client.get(f"/v1/offers/{offer_b['id']}", headers=b.headers)).json()[
        "status"
    ] == "declined"
    again = await client.post(f"/v1/offers/{offer_a['id']}/accept", headers=buyer.headers)
    assert again.status_code == 409


async def test_decline_tells_the_vendor(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    created = (await offer(client, a, intent)).json()
    declined = await client.post(f"/v1/offers/{created['id']}/decline", headers=buyer.headers)
    assert declined.json()["status"] == "declined"
    assert await vendor_event_types(db, a) == ["offer.declined"]


async def test_sorting_offers(client, db) -> None:
    buyer, vendors, intent = await matched_world(client, db, n_vendors=3)
    for v, amount in zip(vendors, ("300", "100", "200"), strict=True):
        await offer(client, v, intent, price={"amount": amount, "currency": "EUR"})
    by_price = (
        await client.get(
            f"/v1/intents/{intent['id']}/offers", params={"sort": "price"}, headers=buyer.headers
        )
    ).json()
    assert [o["price"]["amount"] for o in by_price["items"]] == ["100", "200", "300"]
    newest = (
        await client.get(
            f"/v1/intents/{intent['id']}/offers", params={"sort": "newest"}, headers=buyer.headers
        )
    ).json()
    assert [o["price"]["amount"] for o in newest["items"]] == ["200", "100", "300"]
    assert all(o["vendor"]["name"] for o in newest["items"])
    bad = await client.get(
        f"/v1/intents/{intent['id']}/offers", params={"sort": "cheapest"}, headers=buyer.headers
    )
    assert bad.status_code == 400


async def test_reveal_receipts_verify_and_revocation_is_immediate(client, db) -> None:
    buyer, (a, b), intent = await matched_world(client, db)
    reveal = await client.post(
        f"/v1/intents/{intent['id']}/reveals",
        json={"vendor_id": a.id, "fields": ["email"]},
        headers=buyer.headers,
    )
    assert reveal.status_code == 201
    rid = reveal.json()["id"]
    assert (
        await client.post(f"/v1/vendor/reveals/{rid}/accept-terms", headers=a.headers)
    ).status_code == 200
    assert (
        await client.post(f"/v1/vendor/reveals/{rid}/accept-terms", headers=a.headers)
    ).status_code == 200
    read = (await client.get(f"/v1/vendor/reveals/{rid}", headers=a.headers)).json()
    assert read["fields"] == {"email": "ada@example.org"}  # exactly the revealed field
    assert (await client.delete(f"/v1/reveals/{rid}", headers=buyer.headers)).status_code == 204
    assert (await client.get(f"/v1/vendor/reveals/{rid}", headers=a.headers)).status_code == 410
    assert (
        await client.post(f"/v1/vendor/reveals/{rid}/accept-terms", headers=a.headers)
    ).status_code == 410
    assert (await client.delete(f"/v1/reveals/{rid}", headers=buyer.headers)).status_code == 204
    assert await vendor_event_types(db, a) == ["reveal.granted", "reveal.revoked"]

    key = public_key_from_jwk((await client.get("/v1/receipts/public-key")).json())
    ledger = (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
    assert [d["receipt"]["kind"] for d in ledger] == ["revoke", "terms_accepted", "reveal"]
    pseudonyms = {d["receipt"]["buyer_pseudonym"] for d in ledger}
    assert len(pseudonyms) == 1 and buyer.id not in pseudonyms.pop()
    for entry in ledger:
        assert verify_receipt(key, entry["receipt"], entry["signature"])
        tampered = copy.deepcopy(entry["receipt"])
        tampered["vendor_id"] = b.id
        assert not verify_receipt(key, tampered, entry["signature"])
    assert not any(d["active"] for d in ledger)


async def test_pseudonyms_differ_per_vendor(client, db) -> None:
    buyer, (a, b), intent = await matched_world(client, db)
    for v in (a, b):
        await client.post(
            f"/v1/intents/{intent['id']}/reveals",
            json={"vendor_id": v.id, "fields": ["email"]},
            headers=buyer.headers,
        )
    ledger = (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
    assert len({d["receipt"]["buyer_pseudonym"] for d in ledger}) == 2


async def test_reveal_rules(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    stranger = await create_vendor(client, db)
    path = f"/v1/intents/{intent['id']}/reveals"
    assert (
        await client.post(
            path, json={"vendor_id": stranger.id, "fields": ["email"]}, headers=buyer.headers
        )
    ).status_code == 404
    nothing = await client.post(
        path, json={"vendor_id": a.id, "fields": ["address"]}, headers=buyer.headers
    )
    assert nothing.status_code == 422 and nothing.json()["errors"][0]["field"] == "fields"
    bad = await client.post(
        path, json={"vendor_id": a.id, "fields": ["password"]}, headers=buyer.headers
    )
    assert bad.status_code == 400
    empty = await client.post(path, json={"vendor_id": a.id, "fields": []}, headers=buyer.headers)
    assert empty.status_code == 400


async def test_buyer_messages_are_scrubbed_until_reveal(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    thread = (
        await client.post(
            f"/v1/intents/{intent['id']}/threads", json={"body": "Hi"}, headers=a.headers
        )
    ).json()
    path = f"/v1/threads/{thread['id']}/messages"
    sent = (
        await client.post(
            path, json={"body": "ada@example.org or 0170 1234567"}, headers=buyer.headers
        )
    ).json()
    assert sent["body"] == "ada@example.org or 0170 1234567"
    assert (
        "ada@example.org" not in sent["shown_to_vendor"]
        and "1234567" not in sent["shown_to_vendor"]
    )
    as_vendor = (await client.get(f"/v1/threads/{thread['id']}", headers=a.headers)).json()
    assert "example.org" not in str(as_vendor) and "1234567" not in str(as_vendor)
    assert await vendor_event_types(db, a) == ["message.created"]
    assert await buyer_event_types(db, buyer) == ["message.created"]
    flagged = await client.post(
        f"/v1/messages/{sent['id']}/flag", json={"reason": "test"}, headers=a.headers
    )
    assert flagged.status_code == 202
    assert await db.fetchval("SELECT flag_reason FROM messages WHERE id = $1", sent["id"]) == "test"


async def test_threads_are_read_only_after_close_and_blocked_vendors_are_silenced(
    client, db
) -> None:
    buyer, (a, b), intent = await matched_world(client, db)
    thread_a = (
        await client.post(
            f"/v1/intents/{intent['id']}/threads", json={"body": "Hi"}, headers=a.headers
        )
    ).json()
    thread_b = (
        await client.post(
            f"/v1/intents/{intent['id']}/threads", json={"body": "Hi"}, headers=b.headers
        )
    ).json()
    assert (
        await client.post(f"/v1/vendors/{b.id}/block", headers=buyer.headers)
    ).status_code == 204
    blocked = await client.post(
        f"/v1/threads/{thread_b['id']}/messages", json={"body": "?"}, headers=b.headers
    )
    assert blocked.status_code == 403
    assert (await offer(client, b, intent)).status_code == 404
    assert (
        await client.delete(f"/v1/vendors/{b.id}/block", headers=buyer.headers)
    ).status_code == 204
    assert (
        await client.post(
            f"/v1/threads/{thread_b['id']}/messages", json={"body": "?"}, headers=b.headers
        )
    ).status_code == 201
    await client.patch(
        f"/v1/intents/{intent['id']}", json={"status": "withdrawn"}, headers=buyer.headers
    )
    closed = await client.post(
        f"/v1/threads/{thread_a['id']}/messages", json={"body": "hello?"}, headers=a.headers
    )
    assert closed.status_code == 409
    view = (await client.get(f"/v1/threads/{thread_a['id']}", headers=buyer.headers)).json()
    assert view["read_only"] is True
    assert (
        await client.post("/v1/vendors/ven_nobody/block", headers=buyer.headers)
    ).status_code == 404


async def test_blocked_vendor_stops_receiving_future_intents(client, buyer, db, pipeline) -> None:
    from tests.api.test_matching import feed, publish, subscribe
    from tests.conftest import wait_for

    blocked = await create_vendor(client, db)
    other = await create_vendor(client, db)
    for v in (blocked, other):
        await subscribe(client, v)
    await client.post(f"/v1/vendors/{blocked.id}/block", headers=buyer.headers)
    await publish(client, buyer)
    await wait_for(lambda: feed(client, other))
    assert await feed(client, blocked) == []


async def test_offers_expire_via_the_scheduler(client, db, pipeline) -> None:
    from tests.conftest import wait_for

    buyer, (a, _), intent = await matched_world(client, db)
    created = (await offer(client, a, intent)).json()
    await db.execute(
        "UPDATE offers SET valid_until = now() - interval '1 second' WHERE id = $1", created["id"]
    )

    async def expired():
        return (
            await db.fetchval("SELECT status FROM offers WHERE id = $1", created["id"]) == "expired"
        )

    await wait_for(expired, within=15)
    assert (
        await client.post(f"/v1/offers/{created['id']}/accept", headers=buyer.headers)
    ).status_code == 409
    assert (await buyer_event_types(db, buyer))[-1] == "offer.updated"
