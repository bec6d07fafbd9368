"""The buyer's offer list (``GET /v1/intents/{id}/offers``) is cursor-paginated like every
list: ``limit``/``after`` and ``next``, in each sort's order, with cursors bound to their sort
and intent."""

from __future__ import annotations

import pytest

from tests.helpers import create_buyer, create_vendor, matched, publish


async def offers_world(client, db, prices):
    """A buyer's intent with one offer per price, each from its own vendor."""
    buyer = await create_buyer(client, email="ada@example.org", country="DE")
    vendors = [await create_vendor(client, db) for _ in prices]
    intent = await publish(client, buyer)
    await matched(db, intent["id"], *vendors)
    for vendor, price in zip(vendors, prices, strict=True):
        response = await client.post(
            f"/v1/intents/{intent['id']}/offers",
            json={"price": price, "title": "A7 IV"},
            headers=vendor.headers,
        )
        assert response.status_code == 201, response.text
    return buyer, intent


async def all_pages(client, buyer, intent, **params):
    ids, after, pages = [], None, 0
    while True:
        query = params | ({"after": after} if after else {})
        response = await client.get(
            f"/v1/intents/{intent['id']}/offers", params=query, headers=buyer.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 50)
        ids += [o["id"] for o in page["items"]]
        pages += 1
        after = page["next"]
        if after is None:
            return ids, pages


PRICES = [
    {"amount": "1700.00", "currency": "EUR"},
    {"amount": "1500.00", "currency": "EUR"},
    {"amount": "1500.00", "currency": "EUR"},
    {"amount": "1400.00", "currency": "USD"},
    {"amount": "1600.00", "currency": "EUR"},
]


@pytest.mark.parametrize("sort", ["price", "rating", "newest"])
async def test_pages_follow_the_sort_without_gaps_or_repeats(client, db, sort) -> None:
    buyer, intent = await offers_world(client, db, PRICES)
    whole = await client.get(
        f"/v1/intents/{intent['id']}/offers", params={"sort": sort}, headers=buyer.headers
    )
    assert whole.json()["next"] is None
    expected = [o["id"] for o in whole.json()["items"]]
    assert len(expected) == 5
    paged, pages = await all_pages(client, buyer, intent, sort=sort, limit=2)
    assert paged == expected and pages == 3
    if sort == "price":
        amounts = [o["price"] for o in whole.json()["items"]]
        assert amounts[0]["amount"] == "1500.00" and amounts[-1]["currency"] == "USD"


async def test_a_cursor_of_another_sort_intent_or_edited_is_a_400(client, db) -> None:
    buyer, intent = await offers_world(client, db, PRICES[:3])
    other = await publish(client, buyer)
    first = await client.get(
        f"/v1/intents/{intent['id']}/offers",
        params={"sort": "price", "limit": 1},
        headers=buyer.headers,
    )
    cursor = first.json()["next"]
    assert cursor
    for path, params in (
        (intent["id"], {"sort": "rating", "after": cursor}),
        (intent["id"], {"after": cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")}),
        (intent["id"], {"after": "not-a-cursor"}),
        (other["id"], {"after": cursor}),
    ):
        response = await client.get(
            f"/v1/intents/{path}/offers", params=params, headers=buyer.headers
        )
        assert response.status_code == 400, (params, response.text)
        assert response.json()["errors"][0]["field"] == "query.after"


async def test_status_filter_and_limit_bounds(client, db) -> None:
    buyer, intent = await offers_world(client, db, PRICES[:2])
    response = await client.get(
        f"/v1/intents/{intent['id']}/offers", params={"limit": 0}, headers=buyer.headers
    )
    assert response.status_code == 400
    live, _ = await all_pages(client, buyer, intent, status="live", limit=1)
    assert len(live) == 2
    none, _ = await all_pages(client, buyer, intent, status="accepted", limit=1)
    assert none == []
