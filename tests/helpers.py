"""Plain helpers shared by the tests: request bodies, accounts, the vendor feed, waiting and
fences, and the few direct state changes a test may make in PostgreSQL (each by name).

Fixtures live in ``conftest.py``; everything here is an ordinary function or constant, so a
test module imports what it uses from here and never from another test module. The account
and feed helpers take any httpx client: the in-process ``AsyncTestClient`` of the API tests
or a plain ``httpx.AsyncClient`` against a real server in the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as redis

from intentcast.bus import MATCHER_GROUP, WORK_STREAM
from intentcast.services.token_cache import forget_here

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOGLE_TAXONOMY_SAMPLE = FIXTURES / "google-taxonomy-sample.txt"
"""A small Google Product Taxonomy ("with ids" format) written for the tests."""

CAMERA: dict[str, Any] = {
    "category": "electronics/cameras/mirrorless",
    "title": "Full-frame mirrorless body, Sony A7 IV or similar",
    "description": "New, with warranty. Pickup in Munich is fine.",
    "attributes": {"condition": "new", "mount": ["sony-e"]},
    "budget": {"max": "1800.00", "currency": "EUR"},
    "location": {"lat": 48.137154, "lng": 11.576124, "precision": 9, "country": "DE"},
    "fulfilment": ["pickup", "delivery"],
}
"""An intent body every camera subscription matches."""


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database (works for TCP and unix-socket URLs)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


# ---------------------------------------------------------------------------------- accounts


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    id: str
    token: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def create_buyer(client: httpx.AsyncClient, **fields: Any) -> Account:
    body = {"display_name": "buyer", **fields}
    response = await client.post("/v1/buyers", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return Account(data["buyer"]["id"], data["token"], data["buyer"])


_vendor_numbers = itertools.count(1)


async def create_vendor(
    client: httpx.AsyncClient,
    db: asyncpg.Connection | None = None,
    *,
    verified: bool = True,
    **fields: Any,
) -> Account:
    """A vendor signed up over HTTP; verified (with ``db``) unless the server already did.
    Each gets a name of its own: verified vendors' names are unique."""
    body = {"name": f"Vendor {next(_vendor_numbers)} GmbH", **fields}
    response = await client.post("/v1/vendors", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    if verified and data["vendor"]["status"] != "verified":
        assert db is not None, "verifying a vendor needs the db fixture"
        await verify_vendor(db, data["vendor"]["id"])
    return Account(data["vendor"]["id"], data["token"], data["vendor"])


async def verify_vendor(db: asyncpg.Connection, vendor_id: str) -> None:
    """A vendor verified behind the API's back, for tests about something else (the
    operators' routes are tested in ``tests/api/test_admin_vendors.py``)."""
    await _set_vendor_status(db, vendor_id, "verified")


async def suspend_vendor(db: asyncpg.Connection, vendor_id: str) -> None:
    """The status alone, without the suspension's consequences (for the guard tests); an
    operator's suspension is ``POST /v1/admin/vendors/{id}/suspend``."""
    await _set_vendor_status(db, vendor_id, "suspended")


async def create_operator(db: asyncpg.Connection, name: str = "operator") -> Account:
    """An operator and a token (as ``intentcast operator create-token`` makes them)."""
    from intentcast.store.accounts import Operators, Tokens

    operator_id = await Operators(db).create(name)
    _, token = await Tokens(db).issue("operator", operator_id, "tests")
    return Account(operator_id, token, {"id": operator_id, "name": name})


async def _set_vendor_status(db: asyncpg.Connection, vendor_id: str, status: str) -> None:
    done = await db.execute(
        """UPDATE vendors SET status = $2,
                  verified_at = CASE WHEN $2 = 'verified' THEN now() ELSE verified_at END
            WHERE id = $1""",
        vendor_id,
        status,
    )
    assert done == "UPDATE 1", f"no vendor {vendor_id}"
    # as an operator's change would (services/vendor_moderation.py): the status is in every
    # API process's cached Principal
    forget_here([vendor_id])


async def block(client: httpx.AsyncClient, buyer: Account, vendor: Account) -> None:
    """The buyer blocks the vendor (over the API)."""
    response = await client.post(f"/v1/vendors/{vendor.id}/block", headers=buyer.headers)
    assert response.status_code == 204, response.text


async def unblock(client: httpx.AsyncClient, buyer: Account, vendor: Account) -> None:
    response = await client.delete(f"/v1/vendors/{vendor.id}/block", headers=buyer.headers)
    assert response.status_code == 204, response.text


async def make_intent_due(db: asyncpg.Connection, intent_id: str) -> None:
    """Move the intent's ``expires_at`` into the past, for the scheduler to expire it."""
    done = await db.execute(
        "UPDATE intents SET expires_at = now() - interval '1 second' WHERE id = $1", intent_id
    )
    assert done == "UPDATE 1", f"no intent {intent_id}"


async def make_offer_due(db: asyncpg.Connection, offer_id: str) -> None:
    """Move the offer's ``valid_until`` into the past, for the scheduler to expire it."""
    done = await db.execute(
        "UPDATE offers SET valid_until = now() - interval '1 second' WHERE id = $1", offer_id
    )
    assert done == "UPDATE 1", f"no offer {offer_id}"


async def rewind_outbox(db: asyncpg.Connection) -> None:
    """Mark every outbox row unpublished and unprocessed, so all of it must go out again."""
    await db.execute("UPDATE outbox SET published_at = NULL, processed_at = NULL")


async def age_outbox_publications(db: asyncpg.Connection, seconds: int) -> None:
    """Pretend every outbox row was published to Redis ``seconds`` ago."""
    await db.execute(
        "UPDATE outbox SET published_at = now() - make_interval(secs => $1)", float(seconds)
    )


# ---------------------------------------------------------------------- intents and matching


async def publish(client: httpx.AsyncClient, buyer: Account, **overrides: Any) -> dict[str, Any]:
    """Publish :data:`CAMERA` (with ``overrides``) as ``buyer``; the intent as answered."""
    response = await client.post("/v1/intents", json=CAMERA | overrides, headers=buyer.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def subscribe(client: httpx.AsyncClient, vendor: Account, **body: Any) -> dict[str, Any]:
    """Subscribe ``vendor`` to cameras (``body`` overrides or adds fields)."""
    response = await client.post(
        "/v1/subscriptions",
        json={"categories": ["electronics/cameras"]} | body,
        headers=vendor.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def matched(db: asyncpg.Connection, intent_id: str, *vendors: Account) -> None:
    """Record ``intent_id`` as matched to each vendor, as the matcher would, without running
    it: one electronics subscription per vendor and its match row (no vendor events)."""
    for vendor in vendors:
        subscription_id = f"sub_{vendor.id}"
        await db.execute(
            """INSERT INTO subscriptions (id, vendor_id, categories)
               VALUES ($1, $2, '{electronics}') ON CONFLICT (id) DO NOTHING""",
            subscription_id,
            vendor.id,
        )
        await db.execute(
            """INSERT INTO matches (intent_id, subscription_id, vendor_id)
               VALUES ($1, $2, $3)""",
            intent_id,
            subscription_id,
            vendor.id,
        )


async def feed(
    client: httpx.AsyncClient,
    vendor: Account,
    *,
    after: int = 0,
    limit: int = 100,
    at_least: int = 0,
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
    within: float = 10.0,
) -> list[dict[str, Any]]:
    """The vendor's event feed (``/v1/vendor/matches``, one page of ``limit``) after ``after``.

    With ``at_least`` or ``until``, the feed is polled until it holds at least that many
    events and ``until(events)`` is true (an ``AssertionError`` after ``within`` seconds).
    """

    async def read() -> list[dict[str, Any]]:
        response = await client.get(
            "/v1/vendor/matches", params={"after": after, "limit": limit}, headers=vendor.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    if not at_least and until is None:
        return await read()

    async def ready() -> list[list[dict[str, Any]]] | None:
        items = await read()
        if len(items) >= at_least and (until is None or until(items)):
            return [items]  # truthy even when the awaited feed is empty
        return None

    (items,) = await wait_for(ready, within=within)
    return items


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


# ---------------------------------------------------------------------------- waiting, fences


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], within: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll an async predicate until it returns something truthy; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value: {value!r})")
        await asyncio.sleep(interval)


async def settled(
    db: asyncpg.Connection, redis_client: redis.Redis | None = None, *, within: float = 20.0
) -> None:
    """The fence before asserting that something did *not* happen.

    Waits until every outbox row has ``processed_at``: the matcher sets it in the same
    transaction as the matches and vendor events the row caused, so after this every
    intent and subscription change so far has had all its effects. With ``redis_client``
    it also waits until the matchers have taken and acknowledged every message on the work
    stream, so not even a redundant second delivery of a processed row is still in flight.
    """

    async def drained() -> bool:
        if await db.fetchval("SELECT count(*) FROM outbox WHERE processed_at IS NULL"):
            return False
        return redis_client is None or await _work_stream_drained(redis_client)

    try:
        await wait_for(drained, within=within)
    except AssertionError:
        rows = await db.fetch("SELECT * FROM outbox WHERE processed_at IS NULL ORDER BY id")
        pending = [dict(r) for r in rows]
        raise AssertionError(
            f"pipeline not settled within {within}s; unprocessed: {pending}"
        ) from None


async def _work_stream_drained(client: redis.Redis) -> bool:
    last = await client.xrevrange(WORK_STREAM, count=1)
    if not last:
        return True  # no stream (or an empty one): nothing to take
    groups = await client.xinfo_groups(WORK_STREAM)
    group = next((g for g in groups if _text(g["name"]) == MATCHER_GROUP), None)
    if group is None:
        return False
    delivered = _stream_id(_text(group["last-delivered-id"]))
    return group["pending"] == 0 and delivered >= _stream_id(_text(last[0][0]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)
