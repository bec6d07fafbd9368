"""Faults during a run: `kill -9` of the matcher mid-stream and a Redis FLUSHALL both end with
every intent matched exactly once in the vendor's log (at-least-once work, idempotent
effects, the outbox relay and XAUTOCLAIM doing the recovery)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import asyncpg
import httpx
import psutil
import pytest
import redis.asyncio as redis

from tests.e2e.conftest import Server
from tests.helpers import create_buyer, create_vendor, feed, publish, settled, subscribe

pytestmark = pytest.mark.e2e

INTENTS = 60


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true", max_open_intents="1000", redelivery_seconds="2")
    srv.start()
    return srv


def matcher_process(server: Server) -> psutil.Process:
    for proc in server.tree():
        if "--role" in proc.cmdline() and "matcher" in proc.cmdline():
            return proc
    raise AssertionError("no matcher process")


async def test_matcher_kill_and_redis_flush_lose_and_duplicate_nothing(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        vendor = await create_vendor(http)  # the server verifies vendors itself
        await subscribe(http, vendor, categories=["electronics"])
        buyer = await create_buyer(http, display_name="ada")

        published: list[str] = []
        for i in range(INTENTS):
            published.append((await publish(http, buyer))["id"])
            if i == INTENTS // 3:
                victim = matcher_process(server)
                victim.send_signal(signal.SIGKILL)  # mid-stream, possibly mid-message
                victim.wait(5)
            if i == 2 * INTENTS // 3:
                wiper = redis.from_url(server.redis_url)
                await wiper.flushall()  # streams, groups and pending lists are gone
                await wiper.aclose()
            await asyncio.sleep(0.05)

        # the fence: every outbox row processed and every work message taken and
        # acknowledged, so no first, late or duplicate match can still be on its way
        db = await asyncpg.connect(server.postgres_url)
        work = redis.from_url(server.redis_url)
        try:
            await settled(db, work, within=90)
        finally:
            await db.close()
            await work.aclose()
        events = await feed(http, vendor, limit=1000)

    assert len(events) < 1000  # one page holds them all
    counts = Counter(e["data"]["intent"]["id"] for e in events if e["type"] == "intent.matched")
    assert set(counts) == set(published), f"missing: {set(published) - set(counts)}"
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # gap-free
    assert matcher_process(server).pid != victim.pid  # the supervisor restarted it
