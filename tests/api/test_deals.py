"""Deal rules through the API: offers, acceptance, reveals and receipts, relay, blocks."""

from __future__ import annotations

import copy
import json

import pytest

from intentcast.domain.receipts import public_key_from_jwk, verify_receipt
from tests.helpers import (
    block,
    create_buyer,
    create_vendor,
    feed,
    make_offer_due,
    matched,
    publish,
    subscribe,
    unblock,
    wait_for,
)

PRICE = {"amount": "1649.00", "currency": "EUR"}


async def matched_world(client, db, n_vendors=2, **intent_overrides):
    """A buyer with contact data, ``n_vendors`` vendors, and an intent matched to them all."""
    buyer = await create_buyer(
        client, email="ada@example.org", phone="+49 170 1234567", country="DE"
    )
    vendors = [await create_vendor(client, db) for _ in range(n_vendors)]
    intent = await publish(client, buyer, **intent_overrides)
    await matched(db, intent["id"], *vendors)
    return buyer, vendors, intent


async def offer(client, vendor, intent, **body):
    response = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": PRICE, "title": "A7 IV"} | body,
        headers=vendor.headers,
    )
    return response


async def event_types(db, account):
    """The types in a vendor's or a buyer's event log, oldest first."""
    vendor = account.id.startswith("ven_")
    table, owner = ("vendor_events", "vendor_id") if vendor else ("buyer_events", "buyer_id")
    rows = await db.fetch(f"SELECT type FROM {table} WHERE {owner} = $1 ORDER BY seq", account.id)
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
    assert await event_types(db, buyer) == [
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
    assert await event_types(db, a) == ["offer.accepted", "reveal.granted"]
    assert await event_types(db, b) == ["offer.declined"]
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
    assert await event_types(db, a) == ["offer.declined"]


async def rate_after_a_past_deal(client, db, vendor, stars):
    """Another buyer accepts an offer of ``vendor`` on another intent and rates it."""
    buyer = await create_buyer(client)
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor)
    made = (await offer(client, vendor, intent)).json()
    accepted = await client.post(f"/v1/offers/{made['id']}/accept", headers=buyer.headers)
    assert accepted.status_code == 200, accepted.text
    rated = await client.post(
        f"/v1/offers/{made['id']}/rating", json={"stars": stars}, headers=buyer.headers
    )
    assert rated.status_code == 201, rated.text


async def test_offers_sort_by_price_rating_or_age(client, db) -> None:
    buyer, (a, b, c), intent = await matched_world(client, db, n_vendors=3)
    await rate_after_a_past_deal(client, db, a, 5)
    await rate_after_a_past_deal(client, db, c, 3)  # b has no rating yet
    for v, amount in zip((a, b, c), ("300", "100", "200"), strict=True):
        await offer(client, v, intent, price={"amount": amount, "currency": "EUR"})

    async def listed(sort):
        response = await client.get(
            f"/v1/intents/{intent['id']}/offers", params={"sort": sort}, headers=buyer.headers
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    by_price = await listed("price")
    assert [o["price"]["amount"] for o in by_price] == ["100", "200", "300"]
    newest = await listed("newest")
    assert [o["price"]["amount"] for o in newest] == ["200", "100", "300"]
    by_rating = await listed("rating")  # best average first, the unrated last
    assert [o["price"]["amount"] for o in by_rating] == ["300", "200", "100"]
    assert [o["vendor"]["rating"] for o in by_rating] == [
        {"average": 5.0, "count": 1},
        {"average": 3.0, "count": 1},
        {"average": None, "count": 0},
    ]
    bad = await client.get(
        f"/v1/intents/{intent['id']}/offers", params={"sort": "cheapest"}, headers=buyer.headers
    )
    assert bad.status_code == 400


async def reveal_email(client, buyer, vendor, intent):
    response = await client.post(
        f"/v1/intents/{intent['id']}/reveals",
        json={"vendor_id": vendor.id, "fields": ["email"]},
        headers=buyer.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_vendor_reads_only_the_revealed_fields_after_accepting_the_terms(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    rid = await reveal_email(client, buyer, a, intent)
    path = f"/v1/vendor/reveals/{rid}"
    assert (await client.get(path, headers=a.headers)).status_code == 409  # terms first
    for _ in range(2):  # accepting the terms again changes nothing
        assert (await client.post(f"{path}/accept-terms", headers=a.headers)).status_code == 200
    read = (await client.get(path, headers=a.headers)).json()
    assert read["fields"] == {"email": "ada@example.org"}  # exactly the revealed field


async def test_revocation_is_immediate(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    rid = await reveal_email(client, buyer, a, intent)
    path = f"/v1/vendor/reveals/{rid}"
    assert (await client.post(f"{path}/accept-terms", headers=a.headers)).status_code == 200
    assert (await client.delete(f"/v1/reveals/{rid}", headers=buyer.headers)).status_code == 204
    assert (await client.get(path, headers=a.headers)).status_code == 410
    assert (await client.post(f"{path}/accept-terms", headers=a.headers)).status_code == 410
    assert (await client.delete(f"/v1/reveals/{rid}", headers=buyer.headers)).status_code == 204
    assert await event_types(db, a) == ["reveal.granted", "reveal.revoked"]
    ledger = (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
    assert not any(d["active"] for d in ledger)


async def test_disclosure_receipts_verify_with_the_published_key(client, db) -> None:
    buyer, (a, b), intent = await matched_world(client, db)
    rid = await reveal_email(client, buyer, a, intent)
    await client.post(f"/v1/vendor/reveals/{rid}/accept-terms", headers=a.headers)
    await client.delete(f"/v1/reveals/{rid}", headers=buyer.headers)
    key = public_key_from_jwk((await client.get("/v1/receipts/public-key")).json())
    ledger = (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
    assert [d["receipt"]["kind"] for d in ledger] == ["revoke", "terms_accepted", "reveal"]
    for entry in ledger:
        assert verify_receipt(key, entry["receipt"], entry["signature"])
        tampered = copy.deepcopy(entry["receipt"])
        tampered["vendor_id"] = b.id
        assert not verify_receipt(key, tampered, entry["signature"])


async def test_receipts_name_the_buyer_by_a_pseudonym(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    rid = await reveal_email(client, buyer, a, intent)
    await client.post(f"/v1/vendor/reveals/{rid}/accept-terms", headers=a.headers)
    ledger = (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
    pseudonyms = {d["receipt"]["buyer_pseudonym"] for d in ledger}
    assert len(pseudonyms) == 1  # the same on every receipt for one vendor
    assert buyer.id not in pseudonyms.pop()


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
    assert await event_types(db, a) == ["message.created"]
    assert await event_types(db, buyer) == ["message.created"]
    flagged = await client.post(
        f"/v1/messages/{sent['id']}/flag", json={"reason": "test"}, headers=a.headers
    )
    assert flagged.status_code == 202
    assert await db.fetchval("SELECT flag_reason FROM messages WHERE id = $1", sent["id"]) == "test"


async def open_thread(client, vendor, intent):
    response = await client.post(
        f"/v1/intents/{intent['id']}/threads", json={"body": "Hi"}, headers=vendor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_blocked_vendor_can_neither_message_nor_offer_until_unblocked(client, db) -> None:
    buyer, (_, b), intent = await matched_world(client, db)
    thread = await open_thread(client, b, intent)
    path = f"/v1/threads/{thread['id']}/messages"
    await block(client, buyer, b)
    assert (await client.post(path, json={"body": "?"}, headers=b.headers)).status_code == 403
    assert (await offer(client, b, intent)).status_code == 404
    await unblock(client, buyer, b)
    assert (await client.post(path, json={"body": "?"}, headers=b.headers)).status_code == 201


async def test_threads_are_read_only_once_the_intent_closes(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    thread = await open_thread(client, a, intent)
    await client.patch(
        f"/v1/intents/{intent['id']}", json={"status": "withdrawn"}, headers=buyer.headers
    )
    closed = await client.post(
        f"/v1/threads/{thread['id']}/messages", json={"body": "hello?"}, headers=a.headers
    )
    assert closed.status_code == 409
    view = (await client.get(f"/v1/threads/{thread['id']}", headers=buyer.headers)).json()
    assert view["read_only"] is True


async def test_blocking_an_unknown_vendor_is_404(client, buyer) -> None:
    assert (
        await client.post("/v1/vendors/ven_nobody/block", headers=buyer.headers)
    ).status_code == 404


async def test_blocked_vendor_stops_receiving_future_intents(client, buyer, db, pipeline) -> None:
    blocked = await create_vendor(client, db)
    other = await create_vendor(client, db)
    for v in (blocked, other):
        await subscribe(client, v)
    await block(client, buyer, blocked)
    await publish(client, buyer)
    await feed(client, other, at_least=1)  # the same transaction judged both
    assert await feed(client, blocked) == []


async def test_offers_expire_via_the_scheduler(client, db, pipeline) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    created = (await offer(client, a, intent)).json()
    await make_offer_due(db, created["id"])

    async def expired():
        return (
            await db.fetchval("SELECT status FROM offers WHERE id = $1", created["id"]) == "expired"
        )

    await wait_for(expired, within=15)
    assert (
        await client.post(f"/v1/offers/{created['id']}/accept", headers=buyer.headers)
    ).status_code == 409
    assert (await event_types(db, buyer))[-1] == "offer.updated"


async def vendor_sees(client, vendor, thread_id):
    view = (await client.get(f"/v1/threads/{thread_id}", headers=vendor.headers)).json()
    return [m["body"] for m in view["messages"] if m["sender"] == "buyer"]


async def test_revealing_one_field_unscrubs_only_that_kind_in_messages(client, db) -> None:
    """H1: revealing e-mail shows the vendor e-mail addresses in the buyer's messages, and
    nothing else: phone numbers and links stay removed, in the thread and the event."""
    buyer, (a, _), intent = await matched_world(client, db)
    thread = await open_thread(client, a, intent)
    await reveal_email(client, buyer, a, intent)
    words = "Call me on 0151 23456789, mail ada@example.org or see https://ada.example.org"
    sent = (
        await client.post(
            f"/v1/threads/{thread['id']}/messages", json={"body": words}, headers=buyer.headers
        )
    ).json()
    expected = "Call me on [phone removed], mail ada@example.org or see [link removed]"
    assert sent["body"] == words
    assert sent["shown_to_vendor"] == expected
    assert await vendor_sees(client, a, thread["id"]) == [expected]
    event = await db.fetchval(
        """SELECT data FROM vendor_events WHERE vendor_id = $1 AND type = 'message.created'
            ORDER BY seq DESC LIMIT 1""",
        a.id,
    )
    event = json.loads(event) if isinstance(event, str) else event
    assert event["message"]["body"] == expected


async def test_a_revoked_reveal_scrubs_the_thread_again(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    thread = await open_thread(client, a, intent)
    rid = await reveal_email(client, buyer, a, intent)
    await client.post(
        f"/v1/threads/{thread['id']}/messages",
        json={"body": "ada@example.org"},
        headers=buyer.headers,
    )
    assert await vendor_sees(client, a, thread["id"]) == ["ada@example.org"]
    assert (await client.delete(f"/v1/reveals/{rid}", headers=buyer.headers)).status_code == 204
    assert await vendor_sees(client, a, thread["id"]) == ["[email removed]"]


async def test_a_reveal_discloses_the_values_as_granted_not_later_edits(client, db) -> None:
    """M4: changing the persona after a reveal does not reach the vendor without consent."""
    buyer, (a, _), intent = await matched_world(client, db)
    rid = await reveal_email(client, buyer, a, intent)
    path = f"/v1/vendor/reveals/{rid}"
    await client.post(f"{path}/accept-terms", headers=a.headers)
    changed = await client.patch(
        "/v1/me", json={"email": "ada.new-secret@example.org"}, headers=buyer.headers
    )
    assert changed.status_code == 200
    assert (await client.get(path, headers=a.headers)).json()["fields"] == {
        "email": "ada@example.org"
    }
    again = await reveal_email(client, buyer, a, intent)  # a new reveal, a new consent
    await client.post(f"/v1/vendor/reveals/{again}/accept-terms", headers=a.headers)
    read = (await client.get(f"/v1/vendor/reveals/{again}", headers=a.headers)).json()
    assert read["fields"] == {"email": "ada.new-secret@example.org"}
    sealed = await db.fetchval("SELECT sealed_values FROM reveals WHERE id = $1", rid)
    assert sealed is not None and b"ada@example.org" not in bytes(sealed)


async def test_receipts_a_vendor_holds_do_not_link_two_intents_of_one_buyer(client, db) -> None:
    """M5: the pseudonym on the receipts a vendor receives differs between intents."""
    buyer, (a, _), first = await matched_world(client, db)
    second = await publish(client, buyer, title="Tripod for the camera")
    await matched(db, second["id"], a)
    seen = []
    for intent in (first, second):
        rid = await reveal_email(client, buyer, a, intent)
        accepted = await client.post(f"/v1/vendor/reveals/{rid}/accept-terms", headers=a.headers)
        seen.append(accepted.json()["receipt"]["receipt"]["buyer_pseudonym"])
    assert seen[0] != seen[1]


async def test_accepting_a_version_the_vendor_has_since_revised_is_refused(client, db) -> None:
    buyer, (a, _), intent = await matched_world(client, db)
    seen = (await offer(client, a, intent)).json()
    revised = await client.patch(
        f"/v1/offers/{seen['id']}",
        json={"price": {"amount": "1999.00", "currency": "EUR"}},
        headers=a.headers,
    )
    assert revised.json()["version"] == 2
    path = f"/v1/offers/{seen['id']}/accept"
    stale = await client.post(path, json={"version": seen["version"]}, headers=buyer.headers)
    assert stale.status_code == 409
    assert stale.json()["code"] == "offer-changed" and stale.json()["current_version"] == 2
    assert await event_types(db, a) == []  # nothing was accepted
    fresh = await client.post(path, json={"version": 2}, headers=buyer.headers)
    assert fresh.status_code == 200 and fresh.json()["offer"]["status"] == "accepted"


async def test_vendors_see_event_and_relay_times_to_the_minute(client, db) -> None:
    """L2: exact times would give the publish time to the millisecond and link a buyer's
    intents and replies; the buyer's own view keeps them exact."""
    buyer, (a, _), intent = await matched_world(client, db)
    thread = await open_thread(client, a, intent)
    await client.post(
        f"/v1/threads/{thread['id']}/messages", json={"body": "Hello"}, headers=buyer.headers
    )
    await reveal_email(client, buyer, a, intent)  # appends to the vendor's log
    times = [e["created_at"] for e in await feed(client, a, at_least=1)]
    as_vendor = (await client.get(f"/v1/threads/{thread['id']}", headers=a.headers)).json()
    times += [as_vendor["created_at"], as_vendor["updated_at"]]
    times += [m["created_at"] for m in as_vendor["messages"]]
    listed = (await client.get("/v1/threads", headers=a.headers)).json()["items"]
    times += [t["created_at"] for t in listed]
    assert len(times) >= 6
    assert all(t.endswith(":00Z") for t in times), times
    as_buyer = (await client.get(f"/v1/threads/{thread['id']}", headers=buyer.headers)).json()
    assert not all(m["created_at"].endswith(":00Z") for m in as_buyer["messages"])
