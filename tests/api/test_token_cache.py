"""The per-process token cache (``services/token_cache.py``): a token the API has just
resolved is refused on the very next request once it is revoked, its account erased or its
vendor suspended — in the process that made the change and, through Redis, in another one."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from intentcast.services import token_cache
from intentcast.services.token_cache import PrincipalCache
from intentcast.store.accounts import Principal
from tests.helpers import bearer, create_vendor, wait_for

ME = "/v1/me"


def _principals(client: Any) -> PrincipalCache:
    return client.app.state.principals


def _as_another_process(client: Any) -> PrincipalCache:
    """This app's cache, no longer reachable by the process-local invalidation: only Redis
    can tell it, as it would tell an API process on another machine."""
    cache = _principals(client)
    token_cache._here.discard(cache)
    return cache


async def _until_told(cache: PrincipalCache, seen: int) -> None:
    """The fence: the cache has handled an invalidation message published after ``seen``."""

    async def told() -> bool:
        return cache.messages > seen

    await wait_for(told, within=5.0, interval=0.005)


async def _second_token(client: Any, account_headers: dict[str, str], path: str) -> dict[str, Any]:
    created = await client.post(path, json={"label": "second"}, headers=account_headers)
    assert created.status_code == 201, created.text
    return created.json()


async def test_a_revoked_token_is_refused_at_once_though_it_was_cached(client, buyer) -> None:
    second = await _second_token(client, buyer.headers, "/v1/me/tokens")
    assert (await client.get(ME, headers=bearer(second["token"]))).status_code == 200
    assert _principals(client).get(second["token"]) is not None  # cached

    revoked = await client.delete(f"/v1/me/tokens/{second['id']}", headers=buyer.headers)
    assert revoked.status_code == 204
    assert (await client.get(ME, headers=bearer(second["token"]))).status_code == 401
    assert (await client.get(ME, headers=buyer.headers)).status_code == 200


async def test_another_api_process_hears_of_the_revocation_through_redis(
    client, make_client, buyer
) -> None:
    other = await make_client()
    other_cache = _as_another_process(other)
    second = await _second_token(client, buyer.headers, "/v1/me/tokens")
    assert (await other.get(ME, headers=bearer(second["token"]))).status_code == 200
    assert other_cache.get(second["token"]) is not None
    seen = other_cache.messages

    revoked = await client.delete(f"/v1/me/tokens/{second['id']}", headers=buyer.headers)
    assert revoked.status_code == 204
    await _until_told(other_cache, seen)
    assert (await other.get(ME, headers=bearer(second["token"]))).status_code == 401


async def test_an_erased_buyers_cached_token_is_refused(client, make_client, buyer) -> None:
    other = await make_client()
    other_cache = _as_another_process(other)
    assert (await client.get(ME, headers=buyer.headers)).status_code == 200
    assert (await other.get(ME, headers=buyer.headers)).status_code == 200
    seen = other_cache.messages

    assert (await client.delete(ME, headers=buyer.headers)).status_code == 204
    assert (await client.get(ME, headers=buyer.headers)).status_code == 401
    await _until_told(other_cache, seen)
    assert (await other.get(ME, headers=buyer.headers)).status_code == 401


async def test_a_suspended_vendors_cached_token_is_refused_everywhere(
    client, make_client, db, operator
) -> None:
    vendor = await create_vendor(client, db)
    other = await make_client()
    other_cache = _as_another_process(other)
    for app in (client, other):
        assert (await app.get("/v1/vendor/matches", headers=vendor.headers)).status_code == 200
    seen = other_cache.messages

    suspended = await client.post(
        f"/v1/admin/vendors/{vendor.id}/suspend", json={"reason": "spam"}, headers=operator.headers
    )
    assert suspended.status_code == 200, suspended.text
    response = await client.get("/v1/vendor/matches", headers=vendor.headers)
    assert response.status_code == 403 and response.json()["code"] == "vendor-suspended"
    await _until_told(other_cache, seen)
    response = await other.get("/v1/vendor/matches", headers=vendor.headers)
    assert response.status_code == 403 and response.json()["code"] == "vendor-suspended"

    reinstated = await client.post(
        f"/v1/admin/vendors/{vendor.id}/reinstate", json={"reason": "ok"}, headers=operator.headers
    )
    assert reinstated.status_code == 200, reinstated.text
    assert (await client.get("/v1/vendor/matches", headers=vendor.headers)).status_code == 200


def _principal(subject_id: str = "byr_1") -> Principal:
    return Principal(role="buyer", subject_id=subject_id, token_id="tok_1")  # noqa: S106 (an id, not a secret)


async def test_a_lost_invalidation_expires_with_the_ttl(redis_url) -> None:
    """Whatever Redis loses, a cached principal is asked for again after ``ttl_s``."""
    client = redis.from_url(redis_url)
    try:
        lasting = PrincipalCache(client, ttl_s=60.0)
        expired = PrincipalCache(client, ttl_s=0.0)
        for cache in (lasting, expired):
            cache.put("icb_x", _principal(), cache.generation)
        assert lasting.get("icb_x") == _principal()
        assert expired.get("icb_x") is None
    finally:
        await client.aclose()


async def test_a_lookup_that_raced_an_invalidation_is_not_stored(redis_url) -> None:
    client = redis.from_url(redis_url)
    try:
        cache = PrincipalCache(client)
        generation = cache.generation  # a lookup starts reading PostgreSQL …
        cache.forget(["byr_1"])  # … the token is revoked meanwhile …
        cache.put("icb_x", _principal(), generation)  # … and the stale answer arrives
        assert cache.get("icb_x") is None
        cache.put("icb_y", _principal("byr_2"), cache.generation)
        cache.forget(["byr_other"])
        assert cache.get("icb_y") == _principal("byr_2")
    finally:
        await client.aclose()
