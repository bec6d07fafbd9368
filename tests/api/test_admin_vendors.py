"""Operators verifying, suspending and reinstating vendors (``/v1/admin/vendors``), the audit
log those actions write, who may reach ``/v1/admin`` at all, and what a suspension takes
away: every vendor route, webhooks, live offers, matches and intent updates. (The live
stream closing is shown against a real server in ``tests/e2e/test_operators.py``.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.inprocess import (
    AppCaller,
    Callers,
    committed_openapi,
    one_of_everything,
    operations,
    roles_allowed,
)
from tests.helpers import (
    CAMERA,
    Account,
    create_buyer,
    create_vendor,
    matched,
    publish,
    settled,
    subscribe,
    wait_for,
)

ADMIN_OPERATIONS = [op for op in operations(committed_openapi()) if op.path.startswith("/v1/admin")]


async def _vendor_status(client, operator: Account, vendor_id: str, action: str, **body: Any):
    return await client.post(
        f"/v1/admin/vendors/{vendor_id}/{action}", json=body or None, headers=operator.headers
    )


async def _audit(client, operator: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/audit", params=params, headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# ---- the review queue, verification, the audit log -----------------------------------------


async def test_an_operator_verifies_a_pending_vendor_and_the_audit_log_says_so(
    client, db, operator
) -> None:
    pending = await create_vendor(client, verified=False)
    queue = await client.get(
        "/v1/admin/vendors", params={"status": "pending"}, headers=operator.headers
    )
    assert queue.status_code == 200, queue.text
    assert pending.id in [v["id"] for v in queue.json()["items"]]
    listed = next(v for v in queue.json()["items"] if v["id"] == pending.id)
    assert listed["status"] == "pending" and listed["contact_email"] is None

    verified = await _vendor_status(client, operator, pending.id, "verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified" and verified.json()["verified_at"]
    queue = await client.get(
        "/v1/admin/vendors", params={"status": "pending"}, headers=operator.headers
    )
    assert pending.id not in [v["id"] for v in queue.json()["items"]]
    me = await client.get("/v1/me", headers=pending.headers)
    assert me.json()["status"] == "verified"

    (entry,) = await _audit(client, operator, target=pending.id)
    assert entry["actor"] == operator.id
    assert entry["action"] == "vendor.verify"
    assert entry["details"] == {"from": "pending", "to": "verified"}
    assert "reason" not in entry


async def test_vendor_list_pages_by_cursor_and_filters_by_status(client, db, operator) -> None:
    made = {(await create_vendor(client, verified=False)).id for _ in range(5)}
    seen: list[str] = []
    after = None
    while True:
        params = {"status": "pending", "limit": 2, **({"after": after} if after else {})}
        page = await client.get("/v1/admin/vendors", params=params, headers=operator.headers)
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert len(items) <= 2 and all(v["status"] == "pending" for v in items)
        seen += [v["id"] for v in items]
        after = page.json()["next"]
        if after is None:
            break
    assert made <= set(seen) and len(seen) == len(set(seen))
    bad = await client.get(
        "/v1/admin/vendors", params={"status": "sleeping"}, headers=operator.headers
    )
    assert bad.status_code == 400 and "status" in bad.text
    bad = await client.get("/v1/admin/vendors", params={"after": "!!"}, headers=operator.headers)
    assert bad.status_code == 400 and "after" in bad.text


async def test_actions_the_status_does_not_allow_are_conflicts(client, db, operator) -> None:
    vendor = await create_vendor(client, db)
    for action in ("verify", "reinstate"):
        refused = await _vendor_status(client, operator, vendor.id, action)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "illegal-transition"
        assert "verified" in refused.json()["detail"]
    assert (await _vendor_status(client, operator, "ven_nobody", "verify")).status_code == 404
    no_reason = await _vendor_status(client, operator, vendor.id, "suspend")
    assert no_reason.status_code == 400, no_reason.text
    empty = await _vendor_status(client, operator, vendor.id, "suspend", reason="")
    assert empty.status_code == 400 and "reason" in empty.text
    unknown = await _vendor_status(client, operator, vendor.id, "suspend", reason="x", why="y")
    assert unknown.status_code == 400 and "why" in unknown.text
    assert (await _vendor_status(client, operator, vendor.id, "suspend", reason="spam")).is_success
    again = await _vendor_status(client, operator, vendor.id, "suspend", reason="spam")
    assert again.status_code == 409 and again.json()["code"] == "illegal-transition"
    assert await _audit(client, operator, target=vendor.id, action="vendor.suspend")


async def test_verifying_a_name_a_verified_vendor_has_is_refused(client, db, operator) -> None:
    first = await create_vendor(client, db, name="Kamera Huber")
    second = await create_vendor(client, verified=False, name="kamera huber ")
    refused = await _vendor_status(client, operator, second.id, "verify")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "vendor-name-taken"
    assert first.id != second.id
    assert not await _audit(client, operator, target=second.id)  # nothing happened


async def test_audit_log_pages_both_ways_and_cannot_be_rewritten(client, db, operator) -> None:
    vendors = [await create_vendor(client, verified=False) for _ in range(3)]
    for vendor in vendors:
        assert (await _vendor_status(client, operator, vendor.id, "verify")).is_success
    oldest_first = await _audit(client, operator, limit=200)
    newest_first = await _audit(client, operator, limit=200, order="desc")
    assert [e["id"] for e in oldest_first] == [e["id"] for e in reversed(newest_first)]
    page = await client.get("/v1/admin/audit", params={"limit": 2}, headers=operator.headers)
    rest = await client.get(
        "/v1/admin/audit", params={"after": page.json()["next"]}, headers=operator.headers
    )
    assert [e["id"] for e in page.json()["items"] + rest.json()["items"]] == [
        e["id"] for e in oldest_first
    ]
    import asyncpg

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("UPDATE audit_log SET reason = 'nothing to see'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("DELETE FROM audit_log")


# ---- who reaches /v1/admin ------------------------------------------------------------------


async def test_only_operator_tokens_reach_the_admin_routes(client, db, buyer, vendor, operator):
    assert len(ADMIN_OPERATIONS) >= 6
    pending = await create_vendor(client, verified=False)
    for op in ADMIN_OPERATIONS:
        path = op.path.replace("{vendor_id}", pending.id)
        for path_param in op.path_params:
            path = path.replace("{" + path_param + "}", "none")
        for who, headers, expected in (
            ("anonymous", {}, 401),
            ("buyer", buyer.headers, 403),
            ("vendor", vendor.headers, 403),
            ("pending vendor", pending.headers, 403),
        ):
            response = await client.request(
                op.method, path, headers=headers, json={"reason": "x"} if op.has_body else None
            )
            assert response.status_code == expected, f"{op.operation_id} as {who}: {response.text}"
    # and nothing happened to the pending vendor
    me = await client.get("/v1/me", headers=pending.headers)
    assert me.json()["status"] == "pending"


async def test_an_operator_token_reads_no_persona_anywhere(client, db, buyer, vendor, operator):
    """Every GET an operator may call, with every id there is: no persona value in any
    answer (operators moderate; they are not the buyer's counterparty)."""
    ids = await one_of_everything(client, db, buyer, vendor)
    persona = ("ada@example.org", "4132", "Ada Lovelace", "Marienplatz")
    for op in operations(committed_openapi()):
        if op.method != "GET" or op.streams:
            continue
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", ids.get(name, "none"))
        response = await client.get(path, headers=operator.headers)
        assert response.status_code < 500
        for value in persona:
            assert value not in response.text, f"{op.operation_id} showed {value!r} to an operator"


# ---- what a suspension takes away -----------------------------------------------------------


async def test_a_suspended_vendor_is_refused_on_every_vendor_route(
    client, db, buyer, vendor, operator
) -> None:
    """Which routes a vendor reaches is asked of the app (ids that do not exist, so nothing
    changes); after the suspension every one of them answers 403 ``vendor-suspended`` but
    ``GET /v1/me``, which says why."""
    await one_of_everything(client, db, buyer, vendor)
    all_operations = operations(committed_openapi())
    callers = Callers(buyer=buyer, vendor=vendor, operator=operator.token)
    call = AppCaller(client)
    before = await asyncio.to_thread(roles_allowed, call, callers, all_operations)
    vendor_routes = [
        op
        for op in all_operations
        if "vendor" in before.get(op.operation_id, [])
        and "anonymous" not in before[op.operation_id]
    ]
    ids = {"feed", "streamVendorEvents", "createOffer", "postMessage", "getVendorReveal"}
    assert len(vendor_routes) > 20 and ids & {op.operation_id for op in vendor_routes}

    suspended = await _vendor_status(
        client, operator, vendor.id, "suspend", reason="Listed counterfeit goods"
    )
    assert suspended.status_code == 200, suspended.text
    after = await asyncio.to_thread(roles_allowed, call, callers, vendor_routes)
    still_open = [
        op.operation_id for op in vendor_routes if "vendor" in after.get(op.operation_id, [])
    ]
    assert still_open == ["getMe"]
    for op in vendor_routes:
        if op.operation_id == "getMe" or op.streams:
            continue
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", "none")
        response = await client.request(op.method, path, headers=vendor.headers, json={})
        assert response.status_code == 403, f"{op.operation_id}: {response.text}"
        assert response.json()["code"] == "vendor-suspended", op.operation_id
        assert response.json()["type"].endswith(":vendor-suspended")
    me = await client.get("/v1/me", headers=vendor.headers)
    assert me.json()["status"] == "suspended"
    assert me.json()["status_reason"] == "Listed counterfeit goods"


async def test_suspension_withdraws_offers_stops_matches_updates_and_webhooks(
    client, db, buyer, operator, pipeline
) -> None:
    vendor = await create_vendor(client, db)
    bystander = await create_vendor(client, db)
    await subscribe(client, vendor)
    await subscribe(client, bystander)
    hook = await client.post(
        "/v1/vendor/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=vendor.headers
    )
    assert hook.status_code == 201, hook.text
    intent = await publish(client, buyer)
    await wait_for(lambda: _matched_vendors(db, intent["id"], {vendor.id, bystander.id}))
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "1649.00", "currency": "EUR"}, "title": "A7 IV"},
        headers=vendor.headers,
    )
    assert offer.status_code == 201, offer.text
    await settled(db)
    deliveries_before = await db.fetchval(
        "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
        " WHERE d.vendor_id = $1",
        vendor.id,
    )
    events_before = await db.fetchval(
        "SELECT count(*) FROM vendor_events WHERE vendor_id = $1", vendor.id
    )

    done = await _vendor_status(client, operator, vendor.id, "suspend", reason="fraud")
    assert done.status_code == 200, done.text
    # the live offer is withdrawn, the buyer told, and it leaves the buyer's list
    offers = await client.get(f"/v1/intents/{intent['id']}/offers", headers=buyer.headers)
    assert offers.status_code == 200 and offers.json()["items"] == []
    status = await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.json()["id"])
    assert status == "withdrawn"
    told = await db.fetchval(
        "SELECT count(*) FROM buyer_events WHERE buyer_id = $1 AND type = 'offer.withdrawn'",
        buyer.id,
    )
    assert told == 1
    (entry,) = await _audit(client, operator, target=vendor.id)
    assert entry["reason"] == "fraud" and entry["details"]["offers_withdrawn"] == [
        offer.json()["id"]
    ]

    # no intent.updated for the matched intent, no match for a new one; the bystander gets both
    changed = await client.patch(
        f"/v1/intents/{intent['id']}", json={"title": "Sony A7 IV body only"}, headers=buyer.headers
    )
    assert changed.status_code == 200, changed.text
    second = await publish(client, buyer)
    await wait_for(lambda: _matched_vendors(db, second["id"], {bystander.id}))
    await settled(db)
    assert not await _matched_vendors(db, second["id"], {vendor.id})
    events_after = await db.fetchval(
        "SELECT count(*) FROM vendor_events WHERE vendor_id = $1", vendor.id
    )
    assert events_after == events_before
    bystander_updates = await db.fetchval(
        "SELECT count(*) FROM vendor_events WHERE vendor_id = $1 AND type = 'intent.updated'",
        bystander.id,
    )
    assert bystander_updates == 1
    # its webhook deliveries wait: no attempt is made while it is suspended
    await asyncio.sleep(1.5)
    deliveries_after = await db.fetchval(
        "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
        " WHERE d.vendor_id = $1",
        vendor.id,
    )
    assert deliveries_after == deliveries_before

    # reinstated: access again, the withdrawn offer stays withdrawn
    back = await _vendor_status(client, operator, vendor.id, "reinstate", reason="appeal upheld")
    assert back.status_code == 200 and back.json()["status"] == "verified"
    feed = await client.get("/v1/vendor/matches", headers=vendor.headers)
    assert feed.status_code == 200, feed.text
    status = await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.json()["id"])
    assert status == "withdrawn"
    third = await publish(client, buyer)
    await wait_for(lambda: _matched_vendors(db, third["id"], {vendor.id, bystander.id}))


async def test_a_pending_vendor_manages_its_account_but_gets_no_matches_nor_offers(
    client, db, buyer, operator, pipeline
) -> None:
    pending = await create_vendor(client, verified=False)
    subscription = await subscribe(client, pending)  # allowed while pending
    token = await client.post("/v1/vendor/tokens", json={"label": "ci"}, headers=pending.headers)
    assert token.status_code == 201, token.text
    intent = await publish(client, buyer)
    await settled(db)
    assert not await _matched_vendors(db, intent["id"], {pending.id})
    await matched(db, intent["id"], pending)  # even if it had matched somehow
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "10", "currency": "EUR"}, "title": "x"},
        headers=pending.headers,
    )
    assert offer.status_code == 403 and offer.json()["code"] == "vendor-not-verified"

    assert (await _vendor_status(client, operator, pending.id, "verify")).is_success
    later = await publish(client, buyer)
    await wait_for(lambda: _matched_vendors(db, later["id"], {pending.id}))
    assert subscription["id"]


async def _matched_vendors(db, intent_id: str, vendor_ids: set[str]) -> bool:
    rows = await db.fetch(
        "SELECT DISTINCT vendor_id FROM matches WHERE intent_id = $1 AND vendor_id = ANY($2)",
        intent_id,
        list(vendor_ids),
    )
    return {r["vendor_id"] for r in rows} == vendor_ids


_ = (CAMERA, create_buyer)
