"""The event catalogue of the OpenAPI document (``api/event_docs.py``) is true to the logs:
a marketplace run through the API and the real matcher produces every event type of both
audiences, and each event, as stored, decodes as its type's documented envelope and encodes
back to the same JSON (no field left undocumented, none missing)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from intentcast.api.event_docs import (
    BUYER_ENVELOPES,
    BUYER_EVENTS,
    VENDOR_ENVELOPES,
    VENDOR_EVENTS,
)
from tests.helpers import (
    create_buyer,
    create_vendor,
    feed,
    publish,
    settled,
    subscribe,
    types,
)

PRICE = {"amount": "1649.00", "currency": "EUR"}
NOT_MADE_HERE = {"webhook.disabled"}
"""Takes an endpoint failing for days: ``tests/unit/test_openapi_docs.py`` checks its data
against the domain function that makes it."""


async def _matched_everywhere(client, vendors, intent_id: str) -> None:
    for vendor in vendors:
        await feed(
            client,
            vendor,
            until=lambda events: any(
                e["type"] == "intent.matched" and e["data"]["intent"]["id"] == intent_id
                for e in events
            ),
        )


async def _post(client, path: str, account, body: Any = None, status: int = 200) -> Any:
    response = await client.post(path, json=body, headers=account.headers)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def _run_the_marketplace(client, db, operator) -> None:
    """Every kind of step that tells a vendor or a buyer something."""
    buyer = await create_buyer(client, email="ada@example.org", country="DE")
    a, b, c = [await create_vendor(client, db) for _ in range(3)]
    for vendor in (a, b, c):
        await subscribe(client, vendor)
    intent = await publish(client, buyer)
    await _matched_everywhere(client, (a, b, c), intent["id"])  # intent.matched

    edited = await client.patch(
        f"/v1/intents/{intent['id']}", json={"title": "Sony A7 IV body"}, headers=buyer.headers
    )
    assert edited.status_code == 200, edited.text  # intent.updated

    offers = f"/v1/intents/{intent['id']}/offers"
    offer_a = await _post(client, offers, a, {"price": PRICE, "title": "A7 IV"}, 201)
    revised = await client.patch(  # offer.created, then offer.updated to the buyer
        f"/v1/offers/{offer_a['id']}", json={"title": "A7 IV, boxed"}, headers=a.headers
    )
    assert revised.status_code == 200, revised.text
    offer_b = await _post(client, offers, b, {"price": PRICE, "title": "A7 IV"}, 201)
    await _post(client, f"/v1/offers/{offer_b['id']}/decline", buyer)  # offer.declined
    offer_c = await _post(client, offers, c, {"price": PRICE, "title": "A7 IV"}, 201)
    await _post(client, f"/v1/offers/{offer_c['id']}/withdraw", c)  # offer.withdrawn

    thread = await _post(  # message.created to the buyer
        client, f"/v1/intents/{intent['id']}/threads", a, {"body": "Still looking?"}, 201
    )
    await _post(  # message.created to the vendor
        client, f"/v1/threads/{thread['id']}/messages", buyer, {"body": "Yes: ada@example.org"}, 201
    )
    reveal = await _post(  # reveal.granted
        client,
        f"/v1/intents/{intent['id']}/reveals",
        buyer,
        {"vendor_id": a.id, "fields": ["email"]},
        201,
    )
    revoked = await client.delete(f"/v1/reveals/{reveal['id']}", headers=buyer.headers)
    assert revoked.status_code == 204  # reveal.revoked
    await _post(client, f"/v1/offers/{offer_a['id']}/accept", buyer)  # offer.accepted, closed

    removed_intent = await publish(client, buyer)
    await _matched_everywhere(client, (a,), removed_intent["id"])
    await _post(  # intent.removed to the buyer, intent.closed to the vendors
        client,
        f"/v1/admin/intents/{removed_intent['id']}/remove",
        operator,
        {"reason": "Counterfeit goods"},
    )
    await settled(db)
    closed = [
        e for e in await feed(client, a, limit=1000) if e["type"] == "intent.closed"
    ]  # from both the acceptance and the removal, through the outbox
    assert {e["data"]["intent"]["status"] for e in closed} == {"fulfilled", "removed"}, types(
        closed
    )


def _as_documented(row: Any, envelopes: dict[str, type[msgspec.Struct]]) -> None:
    data = row["data"]
    stored = {
        "id": row["id"],
        "seq": row["seq"],
        "type": row["type"],
        "created_at": row["created_at"],
        "data": json.loads(data) if isinstance(data, str) else data,
    }
    wire = msgspec.json.encode(stored)
    decoded = msgspec.json.decode(wire, type=envelopes[row["type"]])
    assert msgspec.json.decode(msgspec.json.encode(decoded)) == msgspec.json.decode(wire), row[
        "type"
    ]


async def test_every_event_in_the_logs_is_its_documented_schema(
    client, db, pipeline, operator
) -> None:
    await _run_the_marketplace(client, db, operator)
    for table, envelopes, catalogue in (
        ("vendor_events", VENDOR_ENVELOPES, VENDOR_EVENTS),
        ("buyer_events", BUYER_ENVELOPES, BUYER_EVENTS),
    ):
        rows = await db.fetch(f"SELECT id, seq, type, created_at, data FROM {table}")
        assert {r["type"] for r in rows} == set(catalogue) - NOT_MADE_HERE, table
        for row in rows:
            _as_documented(row, envelopes)
