"""Subscriptions and the matching pipeline (outbox → Redis → matcher → vendor log), with
every worker role running against the real PostgreSQL and Redis."""

from __future__ import annotations

import h3
import pytest
import redis.asyncio as redis

from intentcast.bus import MATCHER_GROUP, WORK_STREAM
from tests.helpers import (
    age_outbox_publications,
    block,
    create_buyer,
    create_vendor,
    feed,
    publish,
    rewind_outbox,
    settled,
    subscribe,
    suspend_vendor,
    types,
)

MUNICH = (48.137154, 11.576124)
BERLIN = (52.52, 13.405)


async def test_subscription_crud_and_ownership(client, vendor, db) -> None:
    sub = await subscribe(
        client,
        vendor,
        area={"lat": MUNICH[0], "lng": MUNICH[1], "radius_km": 25},
        budget_min={"amount": "500", "currency": "EUR"},
        keywords=["sony"],
    )
    assert sub["id"].startswith("sub_") and sub["cells"]
    assert sub["budget_min"] == {"amount": "500", "currency": "EUR"}
    centre = h3.latlng_to_cell(*MUNICH, 9)
    assert any(h3.cell_to_parent(centre, h3.get_resolution(c)) == c for c in sub["cells"])
    path = f"/v1/subscriptions/{sub['id']}"
    got = await client.get(path, headers=vendor.headers)
    assert got.json() == sub
    patched = await client.patch(
        path, json={"keywords": [], "active": False}, headers=vendor.headers
    )
    assert patched.status_code == 200 and patched.json()["active"] is False
    other = await create_vendor(client, db)
    assert (await client.get(path, headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404
    listing = (await client.get("/v1/subscriptions", headers=vendor.headers)).json()
    assert [s["id"] for s in listing["items"]] == [sub["id"]]
    assert (await client.delete(path, headers=vendor.headers)).status_code == 204
    assert (await client.get(path, headers=vendor.headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"categories": ["electronics/camera"]}, "categories[0]", 422),
        ({"categories": []}, "categories", 400),
        ({"area": {"lat": 48.1, "lng": 11.5, "radius_km": 501}}, "area.radius_km", 422),
        ({"area": {"lat": 48.1, "lng": 11.5}}, "area.radius_km", 422),
        ({"area": {"cells": ["not-a-cell"]}}, "area.cells[0]", 422),
        ({"area": {"cells": []}}, "area.cells", 422),
        ({"area": {"cells": ["871f8d7a4ffffff"] * 2001}}, "area.cells", 400),
        ({"countries": ["XX"]}, "countries[0]", 422),
        ({"budget_min": {"amount": "5", "currency": "ABC"}}, "budget_min.currency", 422),
        ({"budget_min": {"amount": "-5", "currency": "EUR"}}, "budget_min.amount", 422),
        ({"fulfilment": ["by-owl"]}, "fulfilment", 400),
        ({"max_per_hour": 0}, "max_per_hour", 400),
        ({"colour": "red"}, "colour", 400),
    ],
)
async def test_bad_subscriptions_name_the_field(client, vendor, body, field, status) -> None:
    response = await client.post(
        "/v1/subscriptions", json={"categories": ["electronics"]} | body, headers=vendor.headers
    )
    assert response.status_code == status, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(
        f == field or f.startswith(field + "[") or f.startswith(field + ".") for f in fields
    ), fields


async def test_vendors_subscribe_while_pending_but_not_when_suspended(client, buyer, db) -> None:
    """A pending vendor sets up its subscriptions before it is verified (it gets matches
    once it is: ``test_admin_vendors.py``); a suspended one, buyers and nobody cannot."""
    pending = await create_vendor(client, verified=False)
    body = {"categories": ["electronics"]}
    response = await client.post("/v1/subscriptions", json=body, headers=pending.headers)
    assert response.status_code == 201, response.text
    await suspend_vendor(db, pending.id)
    response = await client.post("/v1/subscriptions", json=body, headers=pending.headers)
    assert response.status_code == 403 and response.json()["code"] == "vendor-suspended"
    assert (
        await client.post("/v1/subscriptions", json=body, headers=buyer.headers)
    ).status_code == 403
    assert (await client.post("/v1/subscriptions", json=body)).status_code == 401


async def test_matching_vendor_is_told_and_others_are_not(client, buyer, db, pipeline) -> None:
    near = await create_vendor(client, db)
    far = await create_vendor(client, db)
    wrong_category = await create_vendor(client, db)
    await subscribe(client, near, area={"lat": MUNICH[0], "lng": MUNICH[1], "radius_km": 30})
    await subscribe(client, far, area={"lat": BERLIN[0], "lng": BERLIN[1], "radius_km": 30})
    await subscribe(client, wrong_category, categories=["home-services"])
    intent = await publish(client, buyer)
    events = await feed(client, near, at_least=1)
    assert [(e["seq"], e["type"]) for e in events] == [(1, "intent.matched")]
    assert events[0]["id"].startswith("evt_")
    assert events[0]["data"]["intent"] == intent["vendor_view"]
    # one transaction judged every subscription against the intent: near's event proves
    # that far and wrong_category were judged too
    assert await feed(client, far) == [] and await feed(client, wrong_category) == []
    seen = await client.get(f"/v1/vendor/intents/{intent['id']}", headers=near.headers)
    assert seen.status_code == 200 and seen.json() == intent["vendor_view"]
    hidden = await client.get(f"/v1/vendor/intents/{intent['id']}", headers=far.headers)
    assert hidden.status_code == 404


async def test_updates_and_close_reach_every_matched_vendor_in_order(
    client, buyer, db, pipeline
) -> None:
    vendors = [await create_vendor(client, db) for _ in range(2)]
    for v in vendors:
        await subscribe(client, v)
    intent = await publish(client, buyer)
    path = f"/v1/intents/{intent['id']}"
    for v in vendors:
        await feed(client, v, at_least=1)
    await client.patch(path, json={"title": "Sony A7 IV body only"}, headers=buyer.headers)
    await client.patch(path, json={"status": "withdrawn"}, headers=buyer.headers)
    for v in vendors:
        events = await feed(client, v, at_least=3)
        assert [(e["seq"], e["type"]) for e in events] == [
            (1, "intent.matched"),
            (2, "intent.updated"),
            (3, "intent.closed"),
        ]
        assert events[1]["data"]["intent"]["title"] == "Sony A7 IV body only"
        assert events[2]["data"]["intent"]["status"] == "withdrawn"


async def test_backfill_delivers_open_intents_to_a_new_subscription(
    client, buyer, db, pipeline
) -> None:
    open_intent = await publish(client, buyer)
    closed = await publish(client, buyer)
    await client.patch(
        f"/v1/intents/{closed['id']}", json={"status": "withdrawn"}, headers=buyer.headers
    )
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    events = await feed(client, vendor, at_least=1)
    assert [e["data"]["intent"]["id"] for e in events] == [open_intent["id"]]


async def test_widening_a_subscription_backfills(client, buyer, db, pipeline) -> None:
    intent = await publish(client, buyer)
    vendor = await create_vendor(client, db)
    sub = await subscribe(client, vendor, categories=["home-services"])
    await settled(db)  # the intent and the new subscription's backfill are both handled
    assert await feed(client, vendor) == []
    await client.patch(
        f"/v1/subscriptions/{sub['id']}",
        json={"categories": ["electronics"]},
        headers=vendor.headers,
    )
    events = await feed(client, vendor, at_least=1)
    assert events[0]["data"]["intent"]["id"] == intent["id"]


async def test_blocked_suspended_and_inactive_get_nothing(client, buyer, db, pipeline) -> None:
    blocked, suspended, inactive, fine = [await create_vendor(client, db) for _ in range(4)]
    for v in (blocked, suspended, fine):
        await subscribe(client, v)
    await subscribe(client, inactive, active=False)
    await block(client, buyer, blocked)
    await suspend_vendor(db, suspended.id)
    await publish(client, buyer)
    await feed(client, fine, at_least=1)  # the same transaction judged all four
    for v in (blocked, inactive):
        assert await feed(client, v) == []
    assert (
        await db.fetchval("SELECT count(*) FROM vendor_events WHERE vendor_id = $1", suspended.id)
        == 0
    )


async def test_hourly_cap_limits_matches(client, buyer, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor, max_per_hour=2)
    other = await create_buyer(client)
    for account in (buyer, buyer, other):
        await publish(client, account)
    await feed(client, vendor, at_least=2)
    await settled(db)  # the third intent has been judged too
    assert len(await feed(client, vendor)) == 2


async def test_backfill_keeps_the_hourly_cap_across_the_open_intents(
    client, buyer, db, pipeline
) -> None:
    """A new capped subscription backfills the open intents in one run: the cap counts the
    matches the run itself records, not only those committed before it."""
    other = await create_buyer(client)
    for account in (buyer, other, buyer):
        await publish(client, account)
    await settled(db)
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor, max_per_hour=2)
    await feed(client, vendor, at_least=2)
    await settled(db)
    assert len(await feed(client, vendor)) == 2
    assert await db.fetchval("SELECT count(*) FROM matches WHERE vendor_id = $1", vendor.id) == 2


async def test_predicate_rules_apply_through_the_pipeline(client, buyer, db, pipeline) -> None:
    keyword = await create_vendor(client, db)
    budget = await create_vendor(client, db)
    attribute = await create_vendor(client, db)
    await subscribe(client, keyword, keywords=["nikon"])
    await subscribe(client, budget, budget_min={"amount": "2500", "currency": "EUR"})
    await subscribe(client, attribute, attributes={"condition": ["used"]})
    control = await create_vendor(client, db)
    await subscribe(client, control, keywords=["sony"], attributes={"condition": "NEW"})
    await publish(client, buyer)
    await feed(client, control, at_least=1)  # the same transaction judged all four
    for v in (keyword, budget, attribute):
        assert await feed(client, v) == []


async def test_redelivery_never_duplicates(client, buyer, db, pipeline, settings) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    intent = await publish(client, buyer)
    await feed(client, vendor, at_least=1)
    # every outbox row must go out again, as after a Redis wipe: the scheduler's relay
    # publishes them, the matcher handles them a second time
    await rewind_outbox(db)
    await settled(db, pipeline["ctx"].redis, within=20)
    events = await feed(client, vendor)
    assert len(events) == 1 and events[0]["data"]["intent"]["id"] == intent["id"]
    assert await db.fetchval("SELECT count(*) FROM matches") == 1


async def test_lost_redis_messages_are_republished_by_the_relay(
    client, buyer, db, settings, make_pipeline
) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    intent = await publish(client, buyer)  # no workers yet: the message waits in Redis
    wiper = redis.from_url(settings.redis_url)
    await wiper.flushall()  # Redis loses everything
    await wiper.aclose()
    # published but never processed: the relay republishes it once it is old enough
    await age_outbox_publications(db, 60)
    await make_pipeline(roles=["matcher", "scheduler"])
    events = await feed(client, vendor, at_least=1, within=15)
    assert events[0]["data"]["intent"]["id"] == intent["id"]


async def test_crashed_matchers_messages_are_reclaimed(
    client, buyer, db, make_settings, make_pipeline
) -> None:
    settings = make_settings(redelivery_seconds=1)
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    r = redis.from_url(settings.redis_url)
    await r.xgroup_create(WORK_STREAM, MATCHER_GROUP, id="0", mkstream=True)
    await publish(client, buyer)
    # a matcher that takes the messages and dies before acknowledging them
    taken = await r.xreadgroup(MATCHER_GROUP, "crashed", {WORK_STREAM: ">"}, count=100)
    assert sum(len(entries) for _, entries in taken) >= 2
    await r.aclose()
    await make_pipeline(roles=["matcher"], custom=settings, reclaim_every_s=0.2)
    events = await feed(client, vendor, at_least=1)
    assert [e["type"] for e in events] == ["intent.matched"]


async def test_feed_pagination_and_bad_cursor(client, buyer, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    for _ in range(5):
        await publish(client, buyer)
    await feed(client, vendor, at_least=5)
    page = (
        await client.get("/v1/vendor/matches", params={"limit": 2}, headers=vendor.headers)
    ).json()
    assert [e["seq"] for e in page["items"]] == [1, 2] and page["next"] == "2"
    rest = (
        await client.get("/v1/vendor/matches", params={"after": 2}, headers=vendor.headers)
    ).json()
    assert [e["seq"] for e in rest["items"]] == [3, 4, 5] and rest["next"] is None
    assert rest["last_seq"] == 5
    bad = await client.get("/v1/vendor/matches", params={"after": "-1"}, headers=vendor.headers)
    assert bad.status_code == 400
    buyer_try = await client.get("/v1/vendor/matches", headers=buyer.headers)
    assert buyer_try.status_code == 403


async def test_two_matchers_share_the_work_without_duplicates(
    client, buyer, db, pipeline, make_pipeline
) -> None:
    await make_pipeline(roles=["matcher"])  # a second consumer in the group
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    other = await create_buyer(client)
    ids = [(await publish(client, b))["id"] for b in (buyer, other) * 5]
    await feed(client, vendor, at_least=10)
    await settled(db, pipeline["ctx"].redis)  # every message taken and acknowledged
    events = await feed(client, vendor)
    assert sorted(e["data"]["intent"]["id"] for e in events) == sorted(ids)
    assert [e["seq"] for e in events] == list(range(1, 11))


async def test_a_blocked_vendor_is_cut_off_an_intent_it_already_matched(
    client, buyer, db, pipeline
) -> None:
    """L1: after a block the vendor hears no updates, cannot read the intent, and cannot
    revise its offer; the other vendor still follows the intent."""
    blocked, other = [await create_vendor(client, db) for _ in range(2)]
    for v in (blocked, other):
        await subscribe(client, v)
    intent = await publish(client, buyer)
    for v in (blocked, other):
        await feed(client, v, at_least=1)
    offered = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "1500", "currency": "EUR"}, "title": "A7 IV"},
        headers=blocked.headers,
    )
    assert offered.status_code == 201, offered.text
    await block(client, buyer, blocked)
    await client.patch(
        f"/v1/intents/{intent['id']}", json={"title": "Sony A7 IV, black"}, headers=buyer.headers
    )
    assert types(await feed(client, other, at_least=2)) == ["intent.matched", "intent.updated"]
    await settled(db)
    assert types(await feed(client, blocked)) == ["intent.matched"]
    view = await client.get(f"/v1/vendor/intents/{intent['id']}", headers=blocked.headers)
    assert view.status_code == 404
    revised = await client.patch(
        f"/v1/offers/{offered.json()['id']}",
        json={"price": {"amount": "1", "currency": "EUR"}},
        headers=blocked.headers,
    )
    assert revised.status_code == 404
