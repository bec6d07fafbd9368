"""A run of published intents read by the matcher at once is handled as one by one would:
caps count the run's earlier intents, each vendor's events are numbered in stream order,
and each webhook delivery keeps the request that published its intent."""

from __future__ import annotations

from tests.helpers import create_buyer, create_vendor, feed, publish, settled, subscribe


async def test_a_run_of_published_intents_is_matched_as_if_one_by_one(
    client, buyer, db, make_pipeline
) -> None:
    capped = await create_vendor(client, db)
    await subscribe(client, capped, max_per_hour=2)
    uncapped = await create_vendor(client, db)
    await subscribe(client, uncapped)
    await client.post(
        "/v1/vendor/webhooks",
        json={"url": "https://hooks.example.com/in", "events": ["intent.matched"]},
        headers=uncapped.headers,
    )
    other = await create_buyer(client)
    # a matcher takes the subscriptions in, then stops
    first = await make_pipeline(roles=["matcher"])
    await settled(db)
    first["ctx"].stopping.set()
    await first["tasks"]["matcher"]
    # no matcher now: the four messages wait in the stream and are read as one run
    published = [
        await publish(client, account, title=f"Camera {n}")
        for n, account in enumerate((buyer, other, buyer, other))
    ]
    await make_pipeline(roles=["matcher"])
    await feed(client, uncapped, at_least=4)
    await settled(db)

    capped_events = await feed(client, capped)
    assert [e["data"]["intent"]["id"] for e in capped_events] == [i["id"] for i in published[:2]]
    uncapped_events = await feed(client, uncapped)
    assert [e["data"]["intent"]["id"] for e in uncapped_events] == [i["id"] for i in published]
    assert [e["seq"] for e in uncapped_events] == [1, 2, 3, 4]
    caused_by = await db.fetch(
        """SELECT d.request_id, e.data -> 'intent' ->> 'id' AS intent_id
             FROM webhook_deliveries d JOIN vendor_events e ON e.id = d.event_id
            WHERE d.vendor_id = $1""",
        uncapped.id,
    )
    by_intent = {r["intent_id"]: r["request_id"] for r in caused_by}
    assert len(by_intent) == 4 and len(set(by_intent.values())) == 4
    assert all(by_intent[i["id"]] for i in published)
