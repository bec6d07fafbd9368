"""How many statements the matcher sends PostgreSQL for a run of published intents: a fixed
number whatever the run's length (no statement per intent), fewer without hourly caps."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis

from intentcast.bus import MATCHER_GROUP, WORK_STREAM
from intentcast.matching.worker import Matcher
from intentcast.store.db import create_pool
from tests.helpers import create_buyer, create_vendor, feed, publish, settled, subscribe


class _Statements:
    """The statements sent to PostgreSQL (each one round trip)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        extended, simple = asyncpg.Connection._execute, asyncpg.Connection.execute

        async def _execute(conn: Any, query: str, args: Any, *rest: Any, **kw: Any) -> Any:
            self.sent.append(" ".join(query.split())[:60])
            return await extended(conn, query, args, *rest, **kw)

        async def execute(conn: Any, query: str, *args: Any, **kw: Any) -> Any:
            if not args:  # with arguments it goes through _execute
                self.sent.append(" ".join(query.split())[:60])
            return await simple(conn, query, *args, **kw)

        monkeypatch.setattr(asyncpg.Connection, "_execute", _execute)
        monkeypatch.setattr(asyncpg.Connection, "execute", execute)


class _Matcher:
    """A matcher driven by hand: each ``batch`` reads what waits in the work stream and
    handles it as one batch, returning the statements it sent."""

    def __init__(self, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings = settings
        self.monkeypatch = monkeypatch

    async def __aenter__(self) -> _Matcher:
        self.pool = await create_pool(self.settings.database_url, max_size=2)
        self.redis = redis.from_url(self.settings.redis_url)
        self.matcher = Matcher(self.settings, self.pool, self.redis)
        await self.matcher.ensure_group()
        await self.matcher.load()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.redis.aclose()
        await self.pool.close()

    async def batch(self) -> list[str]:
        response = await self.redis.xreadgroup(
            MATCHER_GROUP, self.matcher.consumer, {WORK_STREAM: ">"}, count=64
        )
        entries = [entry for _, batch in response for entry in batch]
        async with self.pool.acquire() as conn:
            await self.matcher.refresh(conn)
        with self.monkeypatch.context() as patch:
            statements = _Statements(patch)
            await self.matcher.process_batch(entries)
        return statements.sent


@pytest.mark.parametrize("cap", [None, 3])
async def test_a_run_takes_a_fixed_number_of_statements(
    client, buyer, db, settings, monkeypatch, cap
) -> None:
    vendors = [await create_vendor(client, db) for _ in range(2)]
    async with _Matcher(settings, monkeypatch) as matcher:
        await subscribe(client, vendors[0], **({"max_per_hour": cap} if cap else {}))
        await subscribe(client, vendors[1])
        await client.post(
            "/v1/vendor/webhooks",
            json={"url": "https://hooks.example.com/in", "events": ["intent.matched"]},
            headers=vendors[1].headers,
        )
        await matcher.batch()  # the subscriptions' backfills
        other = await create_buyer(client)
        published = [
            await publish(client, account, title=f"Camera {n}")
            for n, account in enumerate((buyer, other, buyer, other, buyer))
        ]
        sent = await matcher.batch()
    # BEGIN, the outbox marks, the intents, (eligibility, the caps' lock, counts and
    # earlier matches,) the matches, the log appends, the webhook rows, COMMIT
    assert len(sent) == (7 if cap is None else 11), sent
    await settled(db)
    events = await feed(client, vendors[1])
    assert [e["data"]["intent"]["id"] for e in events] == [i["id"] for i in published]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    capped = await feed(client, vendors[0])
    assert len(capped) == (5 if cap is None else cap)
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 5
