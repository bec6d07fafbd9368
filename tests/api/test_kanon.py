"""k-anonymous casting through the real pipeline (API → outbox → matcher → vendor feed) with
the product default k = 3 (the other tests run with k = 1): a lone intent reaches vendors
generalised, the third of three similar intents from three buyers at the requested
precision, the buyer's preview says which, and operators change k at run time."""

from __future__ import annotations

from typing import Any

import h3

from tests.helpers import CAMERA, create_buyer, create_vendor, feed, publish, settled, subscribe

MUNICH = (48.137154, 11.576124)
SETTINGS = "/v1/admin/settings"


async def _preview(client: Any, buyer: Any, body: dict[str, Any] = CAMERA) -> dict[str, Any]:
    response = await client.post("/v1/intents/preview", json=body, headers=buyer.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_lone_intent_is_generalised_and_the_third_similar_one_is_not(
    make_client, make_settings, make_pipeline, db
) -> None:
    settings = make_settings(k_anonymity=3)
    client = await make_client(settings)
    await make_pipeline(custom=settings)
    anywhere = await create_vendor(client, db)
    nearby = await create_vendor(client, db)
    await subscribe(client, anywhere)  # electronics/cameras, no area
    await subscribe(client, nearby, area={"lat": MUNICH[0], "lng": MUNICH[1], "radius_km": 30})
    buyers = [await create_buyer(client) for _ in range(3)]

    # a lone intent in an empty market: the preview warns, vendors see the coarsest pair
    preview = await _preview(client, buyers[0])
    assert preview["generalised"] is True
    assert preview["vendor_view"]["category"] == "electronics"
    assert preview["vendor_view"]["location"] == {"cell": None, "resolution": None, "country": "DE"}
    lone = await publish(client, buyers[0])
    assert lone["vendor_view"]["generalised"] is True
    assert lone["category"] == CAMERA["category"]  # the buyer's own view keeps what was asked
    [event] = await feed(client, anywhere, at_least=1)
    shown = event["data"]["intent"]
    assert shown == lone["vendor_view"] and shown["id"] == lone["id"]
    assert shown["category"] == "electronics" and shown["location"]["cell"] is None
    assert "cameras" not in str(shown) and shown["generalised"] is True
    seen = await client.get(f"/v1/vendor/intents/{lone['id']}", headers=anywhere.headers)
    assert seen.json() == shown

    # the second buyer: two share the pair, still fewer than 3
    second = await publish(client, buyers[1])
    assert second["vendor_view"]["generalised"] is True

    # the third buyer: the preview says it will be shown as asked, and it is
    preview = await _preview(client, buyers[2])
    assert preview["generalised"] is False
    third = await publish(client, buyers[2])
    view = third["vendor_view"]
    assert view["generalised"] is False and view["category"] == CAMERA["category"]
    requested = h3.latlng_to_cell(*MUNICH, settings.location_floor)  # precision 9, floor 7
    assert view["location"] == {"cell": requested, "resolution": 7, "country": "DE"}
    events = await feed(client, anywhere, at_least=3)
    assert [e["data"]["intent"]["generalised"] for e in events] == [True, True, False]
    assert events[2]["data"]["intent"] == view
    # an area subscription never learns of the country-level ones, only of the third
    near = await feed(client, nearby, at_least=1)
    await settled(db)
    assert [e["data"]["intent"]["id"] for e in await feed(client, nearby)] == [third["id"]]
    assert near[0]["data"]["intent"] == view

    # what is stored: the requested pair for the buyer, the disclosed one beside it
    rows = await db.fetch(
        "SELECT id, category, disclosed_category, disclosed_cell FROM intents ORDER BY id"
    )
    disclosed = {r["id"]: (r["disclosed_category"], r["disclosed_cell"]) for r in rows}
    assert disclosed[lone["id"]] == ("electronics", None)
    assert disclosed[third["id"]] == (None, None)


async def test_a_generalised_intent_reaches_new_subscriptions_inside_its_category(
    make_client, make_settings, make_pipeline, db
) -> None:
    """Backfill: a subscription made after the intent, on a category inside the one shown."""
    settings = make_settings(k_anonymity=3)
    client = await make_client(settings)
    await make_pipeline(custom=settings)
    buyer = await create_buyer(client)
    lone = await publish(client, buyer)
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor, categories=["electronics/cameras/mirrorless"])
    [event] = await feed(client, vendor, at_least=1)
    assert event["data"]["intent"] == lone["vendor_view"]
    other = await create_vendor(client, db)
    await subscribe(client, other, categories=["home-services"])
    await settled(db)
    assert await feed(client, other) == []


async def test_operators_change_k_at_run_time(make_client, make_settings, operator) -> None:
    client = await make_client(make_settings(k_anonymity=3))
    buyer = await create_buyer(client)
    assert (await _preview(client, buyer))["generalised"] is True
    response = await client.patch(SETTINGS, json={"k_anonymity": 1}, headers=operator.headers)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["k_anonymity"]["value"] == 1
    preview = await _preview(client, buyer)
    assert preview["generalised"] is False
    assert preview["vendor_view"]["category"] == CAMERA["category"]
    bad = await client.patch(SETTINGS, json={"k_anonymity": 0}, headers=operator.headers)
    assert bad.status_code in (400, 422)
    assert "k_anonymity" in bad.text


async def test_k_defaults_to_3() -> None:
    from intentcast.config import load_settings

    assert load_settings({}).k_anonymity == 3
    assert load_settings({"INTENTCAST_K_ANONYMITY": "5"}).k_anonymity == 5


async def test_the_compose_page_preview_tells_the_buyer(make_client, make_settings) -> None:
    from tests.api.test_web_buyer import FORM, signed_in

    client = await make_client(make_settings(k_anonymity=3))
    _, csrf = await signed_in(client)
    preview = await client.post("/intents/preview", data=FORM, headers={"X-CSRFToken": csrf})
    assert preview.status_code == 200, preview.text
    assert 'data-testid="preview-generalised"' in preview.text
    assert "broader category or a wider area" in preview.text
    assert "km²" not in preview.text  # country level: no cell shown
    for _ in range(2):  # two other buyers ask for the same: now it is shown as asked
        other = await create_buyer(client)
        await publish(client, other, **{"location": CAMERA["location"] | {"precision": 7}})
    preview = await client.post("/intents/preview", data=FORM, headers={"X-CSRFToken": csrf})
    assert 'data-testid="preview-generalised"' not in preview.text
    assert "resolution 7" in preview.text


async def test_a_disclosed_category_follows_a_move(
    make_client, make_settings, operator, db
) -> None:
    client = await make_client(make_settings(k_anonymity=3))
    lone = await publish(client, await create_buyer(client))
    assert lone["vendor_view"]["category"] == "electronics"
    moved = await client.patch(
        "/v1/admin/categories/electronics",
        json={"parent": "home-services"},
        headers=operator.headers,
    )
    assert moved.status_code == 200, moved.text
    row = await db.fetchrow(
        "SELECT category, disclosed_category FROM intents WHERE id = $1", lone["id"]
    )
    assert row["category"] == "home-services/" + CAMERA["category"]
    assert row["disclosed_category"] == "home-services/electronics"


async def test_intents_in_another_country_do_not_count(make_client, make_settings) -> None:
    client = await make_client(make_settings(k_anonymity=3))
    elsewhere = CAMERA["location"] | {"country": "AT"}
    for _ in range(2):
        await publish(client, await create_buyer(client), location=elsewhere)
    buyer = await create_buyer(client)
    assert (await _preview(client, buyer))["generalised"] is True  # alone in DE
    third = await publish(client, await create_buyer(client), location=elsewhere)
    assert third["vendor_view"]["generalised"] is False  # the third in AT


async def test_a_bounded_count_takes_the_most_similar_intents_first(
    make_client, make_settings, monkeypatch
) -> None:
    """Counting at most 2 open intents: the two similar ones are counted, not the older
    ones in other categories; counting 1, the third similar intent stays generalised."""
    from intentcast.services import intents as intent_service

    client = await make_client(make_settings(k_anonymity=3))
    phones = {"category": "electronics/phones", "title": "A phone"}
    for _ in range(3):
        await publish(client, await create_buyer(client), **phones)
    for _ in range(2):
        await publish(client, await create_buyer(client))
    monkeypatch.setattr(intent_service, "COUNTED_INTENTS", 2)
    assert (await _preview(client, await create_buyer(client)))["generalised"] is False
    monkeypatch.setattr(intent_service, "COUNTED_INTENTS", 1)
    assert (await _preview(client, await create_buyer(client)))["generalised"] is True
