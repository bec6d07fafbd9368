"""``GET|PATCH /v1/admin/settings``: runtime settings an operator changes while everything
runs — where each value comes from, validation, resets, the audit log, and every process
(this one, a second API instance, the workers) following a change within seconds."""

from __future__ import annotations

from typing import Any

import h3
import pytest

from intentcast.services.runtime_settings import POLL_S, RUNTIME_SETTINGS
from tests.helpers import (
    CAMERA,
    create_buyer,
    create_vendor,
    feed,
    publish,
    subscribe,
    wait_for,
)

SETTINGS = "/v1/admin/settings"
FOLLOW_WITHIN_S = POLL_S + 5.0
"""A process follows a change at once (pub/sub) or at its next poll; plus slack."""


async def _audit(client: Any, operator: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/admin/audit", params={"action": "settings.change"}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_get_shows_every_setting_with_its_source(make_client, make_settings, operator):
    client = await make_client(make_settings(location_floor=6))
    response = await client.get(SETTINGS, headers=operator.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["settings"]) == set(RUNTIME_SETTINGS)
    floor = body["settings"]["location_floor"]
    assert floor == {"value": 6, "source": "environment", "reset_value": 6}
    assert body["settings"]["max_open_intents"] == {
        "value": 20,
        "source": "default",
        "reset_value": 20,
    }
    assert body["settings"]["auto_verify_vendors"]["value"] is False


async def test_patch_sets_values_for_this_process_at_once_and_audits_them(
    client, operator, db
) -> None:
    response = await client.patch(
        SETTINGS,
        json={"auto_verify_vendors": True, "max_open_intents": 1},
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text
    changed = response.json()["settings"]
    for name, value in (("auto_verify_vendors", True), ("max_open_intents", 1)):
        assert changed[name]["value"] == value
        assert changed[name]["source"] == "operator"
        assert changed[name]["changed_by"] == operator.id
        assert changed[name]["changed_at"]
    assert changed["location_floor"]["source"] == "default"
    shown = (await client.get(SETTINGS, headers=operator.headers)).json()["settings"]
    assert shown == changed

    # what the settings govern changed with them, without a restart
    signup = await client.post("/v1/vendors", json={"name": "Auto Verified GmbH"})
    assert signup.json()["vendor"]["status"] == "verified"
    buyer = await create_buyer(client)
    await publish(client, buyer)
    second = await client.post("/v1/intents", json=CAMERA, headers=buyer.headers)
    assert second.status_code == 409 and second.json()["code"] == "too-many-open-intents"
    assert "You already have 1 open" in second.json()["detail"]

    (entry,) = await _audit(client, operator)
    assert entry["actor"] == operator.id and entry["target"] == "settings"
    assert entry["details"] == {
        "old": {"auto_verify_vendors": False, "max_open_intents": 20},
        "new": {"auto_verify_vendors": True, "max_open_intents": 1},
    }


async def test_null_resets_a_setting_to_its_environment_value(
    make_client, make_settings, operator
) -> None:
    client = await make_client(make_settings(retention_days=60))
    await client.patch(SETTINGS, json={"retention_days": 5}, headers=operator.headers)
    response = await client.patch(SETTINGS, json={"retention_days": None}, headers=operator.headers)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["retention_days"] == {
        "value": 60,
        "source": "environment",
        "reset_value": 60,
    }
    entries = await _audit(client, operator)
    assert [e["details"] for e in entries] == [
        {"old": {"retention_days": 60}, "new": {"retention_days": 5}},
        {"old": {"retention_days": 5}, "new": {"retention_days": 60}, "reset": ["retention_days"]},
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"location_floor": 16}, "location_floor"),
        ({"location_floor": -1}, "location_floor"),
        ({"max_open_intents": "many"}, "max_open_intents"),
        ({"auto_verify_vendors": "maybe"}, "auto_verify_vendors"),
        ({"rate_limit": -5}, "rate_limit"),
        ({"database_url": "postgresql://elsewhere"}, "database_url"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"default_intent_days": 91}, "default_intent_days"),  # above the default max (90)
        ({"max_intent_days": 10}, "max_intent_days"),  # below the default default (14)
    ],
)
async def test_a_bad_value_is_a_400_naming_the_field_and_changes_nothing(
    client, operator, body, field
) -> None:
    before = (await client.get(SETTINGS, headers=operator.headers)).json()
    response = await client.patch(SETTINGS, json=body, headers=operator.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await client.get(SETTINGS, headers=operator.headers)).json() == before
    assert await _audit(client, operator) == []


async def test_intent_lifetimes_are_checked_against_stored_and_environment_values(
    make_client, make_settings, operator
) -> None:
    client = await make_client(make_settings(default_intent_days=30, max_intent_days=60))
    ok = await client.patch(SETTINGS, json={"max_intent_days": 40}, headers=operator.headers)
    assert ok.status_code == 200, ok.text
    # 50 <= 60 (the environment's max) but not <= 40 (the operator's)
    refused = await client.patch(
        SETTINGS, json={"default_intent_days": 50}, headers=operator.headers
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "default_intent_days"
    # both at once are judged together
    both = await client.patch(
        SETTINGS, json={"default_intent_days": 50, "max_intent_days": 55}, headers=operator.headers
    )
    assert both.status_code == 200, both.text
    values = {k: v["value"] for k, v in both.json()["settings"].items()}
    assert values["default_intent_days"] == 50 and values["max_intent_days"] == 55


async def test_only_operators_read_or_change_settings(client, buyer, vendor, operator) -> None:
    for who, headers, expected in (
        ("anonymous", {}, 401),
        ("buyer", buyer.headers, 403),
        ("vendor", vendor.headers, 403),
    ):
        got = await client.get(SETTINGS, headers=headers)
        assert got.status_code == expected, who
        patched = await client.patch(SETTINGS, json={"location_floor": 3}, headers=headers)
        assert patched.status_code == expected, who
    shown = (await client.get(SETTINGS, headers=operator.headers)).json()
    assert shown["settings"]["location_floor"]["value"] == 7


async def test_the_rate_limit_is_switched_on_and_off_at_run_time(client, operator) -> None:
    buyer = await create_buyer(client)
    assert all(
        [(await client.get("/v1/me", headers=buyer.headers)).status_code == 200 for _ in range(5)]
    )
    on = await client.patch(SETTINGS, json={"rate_limit": 2}, headers=operator.headers)
    assert on.status_code == 200, on.text
    statuses = [(await client.get("/v1/me", headers=buyer.headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    off = await client.patch(SETTINGS, json={"rate_limit": None}, headers=operator.headers)
    assert off.status_code == 200, off.text
    assert off.json()["settings"]["rate_limit"]["value"] == 0
    assert (await client.get("/v1/me", headers=buyer.headers)).status_code == 200


async def test_a_change_reaches_another_api_instance_within_seconds(make_client, operator) -> None:
    """Two app instances on one database and Redis, as two granian workers or two machines
    would be: a change made through one is followed by the other, without a restart."""
    first = await make_client()
    second = await make_client()
    before = await second.post("/v1/vendors", json={"name": "Before The Change GmbH"})
    assert before.json()["vendor"]["status"] == "pending"
    changed = await first.patch(
        SETTINGS, json={"auto_verify_vendors": True}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text

    names = iter(f"After The Change {n} GmbH" for n in range(10_000))

    async def verified_at_sign_up() -> bool:
        response = await second.post("/v1/vendors", json={"name": next(names)})
        return bool(response.json()["vendor"]["status"] == "verified")

    await wait_for(verified_at_sign_up, within=FOLLOW_WITHIN_S, interval=0.2)


async def test_the_matcher_follows_a_changed_location_floor(
    client, db, make_pipeline, operator
) -> None:
    started = await make_pipeline(roles=["matcher"])
    matcher_settings = started["ctx"].runtime_settings
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    buyer = await create_buyer(client)
    fine = {"lat": 52.52, "lng": 13.405, "precision": 9}

    await publish(client, buyer, location=fine)
    (first,) = await feed(client, vendor, at_least=1)
    assert first["data"]["intent"]["location"]["resolution"] == 7  # the environment's floor

    response = await client.patch(SETTINGS, json={"location_floor": 5}, headers=operator.headers)
    assert response.status_code == 200, response.text

    async def matcher_follows() -> bool:
        return bool(matcher_settings.current.location_floor == 5)

    await wait_for(matcher_follows, within=FOLLOW_WITHIN_S)
    await publish(client, buyer, location=fine)
    events = await feed(client, vendor, at_least=2)
    cell = events[1]["data"]["intent"]["location"]["cell"]
    assert events[1]["data"]["intent"]["location"]["resolution"] == 5 == h3.get_resolution(cell)


class _LostAnnouncement:
    """Redis that drops the change's announcement (as a restarting Redis would)."""

    async def publish(self, channel: str, message: str) -> int:
        raise ConnectionError("Redis is restarting")


async def test_a_lost_announcement_leaves_no_process_stale_for_long(
    settings, database_url, redis_url, db
) -> None:
    import redis.asyncio as redis

    from intentcast.services.runtime_settings import RuntimeSettings, change_settings
    from intentcast.store.db import create_pool

    pool = await create_pool(database_url, max_size=2)
    client = redis.from_url(redis_url)
    follower = RuntimeSettings(settings, poll_s=0.2)
    try:
        async with follower.following(pool, client):
            assert follower.current.location_floor == 7
            await change_settings(
                db, _LostAnnouncement(), settings, actor="cli:test", changes={"location_floor": 4}
            )

            async def polled() -> bool:
                return bool(follower.current.location_floor == 4)

            await wait_for(polled, within=5.0)
    finally:
        await pool.close()
        await client.aclose()
