"""Operators moderating content: the intent list and removing an intent
(``/v1/admin/intents``), the queue of flagged relay messages and resolving a flag
(``/v1/admin/flags``), and the numbers an operator watches (``/v1/admin/stats``). Each
action's audit entry is checked beside its effect; who may reach these routes at all is
``test_only_operator_tokens_reach_the_admin_routes`` in ``test_admin_vendors.py``."""

from __future__ import annotations

from typing import Any

from tests.helpers import (
    Account,
    create_vendor,
    feed,
    matched,
    publish,
    subscribe,
    types,
)

PRICE = {"amount": "1649.00", "currency": "EUR"}


async def _audit(client, operator: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/audit", params=params, headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _buyer_events(db, buyer: Account) -> list[tuple[str, dict[str, Any]]]:
    import json

    rows = await db.fetch(
        "SELECT type, data FROM buyer_events WHERE buyer_id = $1 ORDER BY seq", buyer.id
    )
    return [(r["type"], json.loads(r["data"])) for r in rows]


# ---- intents --------------------------------------------------------------------------------


async def test_the_intent_list_shows_what_vendors_see_with_counts_never_the_buyer(
    client, db, buyer, vendor, operator
) -> None:
    intent = await publish(
        client, buyer, description="Call me on 0170 1234567 or ada@example.org, Marienplatz 1"
    )
    await matched(db, intent["id"], vendor)
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": PRICE, "title": "A7 IV"},
        headers=vendor.headers,
    )
    assert offer.status_code == 201, offer.text
    response = await client.get("/v1/admin/intents", headers=operator.headers)
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["intent"] == intent["vendor_view"]
    assert item["status"] == "open" and item["closed_at"] is None
    assert (item["matches"], item["offers"], item["live_offers"], item["flags_open"]) == (
        1,
        1,
        1,
        0,
    )
    assert buyer.id not in response.text
    for private in ("1234567", "ada@example.org", intent["description"]):
        assert private not in response.text


async def test_the_intent_list_pages_newest_first_and_filters_by_status(
    client, db, buyer, operator
) -> None:
    published = [(await publish(client, buyer))["id"] for _ in range(5)]
    withdrawn = published[1]
    await client.patch(
        f"/v1/intents/{withdrawn}", json={"status": "withdrawn"}, headers=buyer.headers
    )
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
        page = await client.get("/v1/admin/intents", params=params, headers=operator.headers)
        assert page.status_code == 200, page.text
        seen += [i["intent"]["id"] for i in page.json()["items"]]
        after = page.json()["next"]
        if after is None:
            break
    assert seen == list(reversed(published))
    only = await client.get(
        "/v1/admin/intents", params={"status": "withdrawn"}, headers=operator.headers
    )
    assert [i["intent"]["id"] for i in only.json()["items"]] == [withdrawn]
    assert only.json()["items"][0]["closed_at"] is not None


async def test_intent_list_rejects_a_bad_status_and_a_bad_cursor(client, operator) -> None:
    bad = await client.get("/v1/admin/intents", params={"status": "gone"}, headers=operator.headers)
    assert bad.status_code == 400 and "status" in bad.text
    cursor = await client.get(
        "/v1/admin/intents", params={"after": "not-a-cursor"}, headers=operator.headers
    )
    assert cursor.status_code == 400 and "after" in cursor.text


async def test_removing_an_intent_closes_it_for_vendors_and_tells_the_buyer(
    client, db, buyer, operator, pipeline
) -> None:
    vendors = [await create_vendor(client, db) for _ in range(2)]
    for v in vendors:
        await subscribe(client, v)
    intent = await publish(client, buyer)
    for v in vendors:
        await feed(client, v, at_least=1)
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": PRICE, "title": "A7 IV"},
        headers=vendors[0].headers,
    )
    assert offer.status_code == 201, offer.text

    removed = await client.post(
        f"/v1/admin/intents/{intent['id']}/remove",
        json={"reason": "Counterfeit goods"},
        headers=operator.headers,
    )
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert body["status"] == "removed" and body["intent"]["status"] == "removed"
    assert body["closed_at"] is not None and body["matches"] == 2

    for v in vendors:
        events = await feed(client, v, at_least=2)
        assert types(events) == ["intent.matched", "intent.closed"]
        assert events[1]["data"]["intent"]["status"] == "removed"
    told = await _buyer_events(db, buyer)
    assert [t for t, _ in told] == ["offer.created", "intent.removed"]
    assert told[-1][1] == {
        "intent_id": intent["id"],
        "status": "removed",
        "reason": "Counterfeit goods",
    }
    mine = await client.get(f"/v1/intents/{intent['id']}", headers=buyer.headers)
    assert mine.json()["status"] == "removed"
    # like a withdrawal: the offer can no longer be accepted, the intent takes no new ones
    accept = await client.post(
        f"/v1/offers/{offer.json()['id']}/accept", json={}, headers=buyer.headers
    )
    assert accept.status_code == 409 and accept.json()["code"] == "intent-closed"
    again = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": PRICE, "title": "x"},
        headers=vendors[1].headers,
    )
    assert again.status_code == 409
    # the retention purge counts from closed_at
    closed_at = await db.fetchval("SELECT closed_at FROM intents WHERE id = $1", intent["id"])
    assert closed_at is not None

    (entry,) = await _audit(client, operator, target=intent["id"])
    assert entry["action"] == "intent.remove" and entry["actor"] == operator.id
    assert entry["reason"] == "Counterfeit goods"
    assert entry["details"] == {"from": "open", "to": "removed"}


async def test_removing_a_closed_or_unknown_intent_or_without_reason_is_refused(
    client, db, buyer, operator
) -> None:
    intent = await publish(client, buyer)
    path = f"/v1/admin/intents/{intent['id']}/remove"
    no_reason = await client.post(path, json={}, headers=operator.headers)
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    empty = await client.post(path, json={"reason": ""}, headers=operator.headers)
    assert empty.status_code == 400 and "reason" in empty.text
    extra = await client.post(path, json={"reason": "x", "why": "y"}, headers=operator.headers)
    assert extra.status_code == 400 and "why" in extra.text
    unknown = await client.post(
        "/v1/admin/intents/int_nope/remove", json={"reason": "x"}, headers=operator.headers
    )
    assert unknown.status_code == 404

    first = await client.post(path, json={"reason": "Spam"}, headers=operator.headers)
    assert first.status_code == 200, first.text
    second = await client.post(path, json={"reason": "Spam"}, headers=operator.headers)
    assert second.status_code == 409 and second.json()["code"] == "intent-closed"
    withdrawn = await publish(client, buyer)
    await client.patch(
        f"/v1/intents/{withdrawn['id']}", json={"status": "withdrawn"}, headers=buyer.headers
    )
    closed = await client.post(
        f"/v1/admin/intents/{withdrawn['id']}/remove",
        json={"reason": "x"},
        headers=operator.headers,
    )
    assert closed.status_code == 409
    assert [e["target"] for e in await _audit(client, operator, action="intent.remove")] == [
        intent["id"]
    ]
