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
    settled,
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


# ---- flags ----------------------------------------------------------------------------------


async def _flagged_thread(client, db, buyer, vendor):
    """A thread on a matched intent with a vendor message and a buyer message carrying
    contact data, both flagged (the vendor's by the buyer, the buyer's by the vendor)."""
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor)
    opened = await client.post(
        f"/v1/intents/{intent['id']}/threads",
        json={"body": "Send me cash first, we talk off-platform"},
        headers=vendor.headers,
    )
    assert opened.status_code == 201, opened.text
    thread = opened.json()
    from_vendor = thread["messages"][0]
    from_buyer = (
        await client.post(
            f"/v1/threads/{thread['id']}/messages",
            json={"body": "No. Reach me at ada@example.org"},
            headers=buyer.headers,
        )
    ).json()
    for message, who, why in ((from_vendor, buyer, "scam"), (from_buyer, vendor, "rude")):
        flagged = await client.post(
            f"/v1/messages/{message['id']}/flag", json={"reason": why}, headers=who.headers
        )
        assert flagged.status_code == 202, flagged.text
    return intent, thread, from_vendor, from_buyer


async def _flags(client, operator, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/flags", params=params, headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _resolve(client, operator, message_id: str, **body: Any):
    return await client.post(
        f"/v1/admin/flags/{message_id}/resolve", json=body, headers=operator.headers
    )


async def test_the_flag_queue_shows_messages_as_the_vendor_sees_them(
    client, db, buyer, vendor, operator
) -> None:
    intent, thread, from_vendor, from_buyer = await _flagged_thread(client, db, buyer, vendor)
    queue = await _flags(client, operator)
    assert [f["id"] for f in queue] == [from_buyer["id"], from_vendor["id"]]
    newest = queue[0]
    assert newest["thread_id"] == thread["id"] and newest["intent_id"] == intent["id"]
    assert newest["vendor_id"] == vendor.id and newest["sender"] == "buyer"
    assert newest["flagged_by"] == "vendor" and newest["flag_reason"] == "rude"
    assert newest["body"] == from_buyer["shown_to_vendor"]
    assert "ada@example.org" not in str(queue) and buyer.id not in str(queue)
    assert newest["resolution"] is None and newest["removed"] is False
    assert queue[1]["flagged_by"] == "buyer" and queue[1]["sender"] == "vendor"
    assert await _flags(client, operator, status="resolved") == []
    page = await client.get("/v1/admin/flags", params={"limit": 1}, headers=operator.headers)
    second = await client.get(
        "/v1/admin/flags",
        params={"limit": 1, "after": page.json()["next"]},
        headers=operator.headers,
    )
    assert [f["id"] for f in second.json()["items"]] == [from_vendor["id"]]
    bad = await client.get("/v1/admin/flags", params={"status": "all"}, headers=operator.headers)
    assert bad.status_code == 400 and "status" in bad.text


async def test_dismissing_a_flag_changes_nothing_but_the_queue(
    client, db, buyer, vendor, operator
) -> None:
    _, thread, from_vendor, _ = await _flagged_thread(client, db, buyer, vendor)
    dismissed = await _resolve(client, operator, from_vendor["id"], action="dismiss")
    assert dismissed.status_code == 200, dismissed.text
    resolution = dismissed.json()["resolution"]
    assert resolution["action"] == "dismiss" and resolution["by"] == operator.id
    assert resolution["reason"] is None and dismissed.json()["removed"] is False
    assert [f["id"] for f in await _flags(client, operator, status="resolved")] == [
        from_vendor["id"]
    ]
    assert from_vendor["id"] not in [f["id"] for f in await _flags(client, operator)]
    seen = (await client.get(f"/v1/threads/{thread['id']}", headers=buyer.headers)).json()
    assert seen["messages"][0]["body"] == from_vendor["body"]
    (entry,) = await _audit(client, operator, target=from_vendor["id"])
    assert entry["action"] == "flag.resolve" and entry["actor"] == operator.id
    assert entry["details"]["action"] == "dismiss"
    assert entry["details"]["vendor_id"] == vendor.id

    again = await _resolve(client, operator, from_vendor["id"], action="remove_message")
    assert again.status_code == 409 and again.json()["code"] == "flag-resolved"


async def test_removing_a_message_blanks_it_for_both_sides_and_in_their_logs(
    client, db, buyer, vendor, operator
) -> None:
    _, thread, _, from_buyer = await _flagged_thread(client, db, buyer, vendor)
    removed = await _resolve(
        client, operator, from_buyer["id"], action="remove_message", reason="Harassment"
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"] is True
    assert removed.json()["body"] == "[removed by a moderator]"
    for who in (buyer, vendor):
        seen = (await client.get(f"/v1/threads/{thread['id']}", headers=who.headers)).json()
        tombstone = next(m for m in seen["messages"] if m["id"] == from_buyer["id"])
        assert tombstone["body"] == "[removed by a moderator]"
        assert tombstone["sender"] == "buyer"
        assert "ada@example.org" not in str(seen) and "No. Reach me" not in str(seen)
    logs = await db.fetch(
        """SELECT data::text AS data FROM vendor_events WHERE type = 'message.created'
           UNION ALL SELECT data::text FROM buyer_events WHERE type = 'message.created'"""
    )
    assert any(from_buyer["id"] in r["data"] for r in logs)
    assert not any("No. Reach me" in r["data"] for r in logs)
    (entry,) = await _audit(client, operator, target=from_buyer["id"])
    assert entry["reason"] == "Harassment" and entry["details"]["action"] == "remove_message"


async def test_suspending_the_vendor_of_a_flagged_message(
    client, db, buyer, vendor, operator
) -> None:
    _, _, from_vendor, from_buyer = await _flagged_thread(client, db, buyer, vendor)
    no_reason = await _resolve(client, operator, from_vendor["id"], action="suspend_vendor")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"
    buyers_words = await _resolve(
        client, operator, from_buyer["id"], action="suspend_vendor", reason="x"
    )
    assert buyers_words.status_code == 422
    assert buyers_words.json()["errors"][0]["field"] == "action"

    suspended = await _resolve(
        client, operator, from_vendor["id"], action="suspend_vendor", reason="Scam attempt"
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["resolution"]["action"] == "suspend_vendor"
    me = await client.get("/v1/me", headers=vendor.headers)
    assert me.json()["status"] == "suspended" and me.json()["status_reason"] == "Scam attempt"
    refused = await client.get("/v1/vendor/matches", headers=vendor.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "vendor-suspended"
    actions = {e["action"]: e for e in await _audit(client, operator)}
    assert actions["vendor.suspend"]["target"] == vendor.id
    assert actions["vendor.suspend"]["reason"] == "Scam attempt"
    assert actions["flag.resolve"]["target"] == from_vendor["id"]
    assert actions["flag.resolve"]["details"]["action"] == "suspend_vendor"
    # the flag on the buyer's message is still open
    assert [f["id"] for f in await _flags(client, operator)] == [from_buyer["id"]]


async def test_resolving_an_unknown_flag_or_with_a_bad_body_is_refused(
    client, db, buyer, vendor, operator
) -> None:
    _, thread, from_vendor, _ = await _flagged_thread(client, db, buyer, vendor)
    unknown = await _resolve(client, operator, "msg_nope", action="dismiss")
    assert unknown.status_code == 404
    unflagged = (
        await client.post(
            f"/v1/threads/{thread['id']}/messages", json={"body": "fine"}, headers=buyer.headers
        )
    ).json()
    not_flagged = await _resolve(client, operator, unflagged["id"], action="dismiss")
    assert not_flagged.status_code == 404
    for body, field in (
        ({}, "action"),
        ({"action": "ban"}, "action"),
        ({"action": "dismiss", "note": "x"}, "note"),
        ({"action": "dismiss", "reason": ""}, "reason"),
    ):
        response = await _resolve(client, operator, from_vendor["id"], **body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.text, (body, response.text)
    assert await _audit(client, operator, action="flag.resolve") == []


# ---- stats ----------------------------------------------------------------------------------


async def test_stats_count_activity_vendors_flags_lag_and_backlogs(
    client, db, buyer, vendor, operator, pipeline
) -> None:
    await create_vendor(client, verified=False)
    await subscribe(client, vendor)
    intents = [await publish(client, buyer) for _ in range(3)]
    await feed(client, vendor, at_least=3)
    await client.patch(
        f"/v1/intents/{intents[0]['id']}", json={"status": "withdrawn"}, headers=buyer.headers
    )
    offered = await client.post(
        f"/v1/intents/{intents[1]['id']}/offers",
        json={"price": PRICE, "title": "A7 IV"},
        headers=vendor.headers,
    )
    assert offered.status_code == 201, offered.text
    await _flagged_thread(client, db, buyer, vendor)
    await settled(db)

    response = await client.get("/v1/admin/stats", headers=operator.headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["intents"]["open"] == 3 and stats["intents"]["withdrawn"] == 1
    assert stats["intents"]["removed"] == 0
    hours = stats["activity"]["per_hour"]
    assert stats["activity"]["hours"] == 24 and len(hours) == 24
    assert hours == sorted(hours, key=lambda h: h["hour"])
    assert sum(h["intents_published"] for h in hours) == 4
    # four by the matcher, and one more by hand for the flagged thread's intent
    assert sum(h["matches"] for h in hours) == 5
    assert sum(h["offers"] for h in hours) == 1
    assert stats["vendors"] == {"pending": 1, "verified": 1, "suspended": 0}
    assert stats["flags_open"] == 2
    lag = stats["delivery_lag"]
    assert lag["window_s"] == 3600
    assert lag["matcher"]["count"] >= 4
    assert 0 <= lag["matcher"]["p50"] <= lag["matcher"]["p95"] <= lag["matcher"]["max"]
    assert lag["webhook_first_attempt"] == {"count": 0, "p50": None, "p95": None, "max": None}
    backlogs = stats["backlogs"]
    assert backlogs["outbox_unprocessed"] == 0 and backlogs["outbox_oldest_s"] is None
    assert backlogs["webhooks_pending"] == 0 and backlogs["webhooks_due"] == 0
    streams = {s["stream"]: s for s in backlogs["streams"]}
    assert set(streams) == {"ic:work", "ic:deliver", "ic:subs"}
    assert streams["ic:work"]["length"] >= 5
    (matchers,) = streams["ic:work"]["groups"]
    assert matchers["name"] == "matchers" and matchers["consumers"] >= 1
    assert matchers["pending"] == 0
    assert streams["ic:subs"]["length"] >= 1 and streams["ic:subs"]["groups"] == []


async def test_stats_show_an_unprocessed_backlog(client, db, buyer, operator) -> None:
    """No matcher runs: what was published waits in the outbox, and the stats say so."""
    await publish(client, buyer)
    stats = (await client.get("/v1/admin/stats", headers=operator.headers)).json()
    assert stats["backlogs"]["outbox_unprocessed"] == 1
    assert stats["backlogs"]["outbox_oldest_s"] >= 0
    assert stats["delivery_lag"]["matcher"]["count"] == 0
    assert stats["vendors"] == {"pending": 0, "verified": 0, "suspended": 0}
