"""Faults during a run: `kill -9` of the matcher mid-stream and a Redis FLUSHALL both end with
every intent matched exactly once in the vendor's log (at-least-once work, idempotent
effects, the outbox relay and XAUTOCLAIM doing the recovery)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis.asyncio as redis

from intentcast.embedded import EmbeddedRedis
from tests.api.test_intents import CAMERA
from tests.e2e.test_serve import Server, assert_all_gone

pytestmark = pytest.mark.e2e

INTENTS = 60


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(
        tmp_path / "data",
        auto_verify_vendors="true",
        max_open_intents="1000",
        redelivery_seconds="2",
    )
    srv.start()
    yield srv
    assert_all_gone(srv.stop())


def matcher_process(server: Server) -> psutil.Process:
    for proc in server.tree():
        if "--role" in proc.cmdline() and "matcher" in proc.cmdline():
            return proc
    raise AssertionError("no matcher process")


async def test_matcher_kill_and_redis_flush_lose_and_duplicate_nothing(server: Server) -> None:
    redis_url = EmbeddedRedis(server.data_dir / "redis").url
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        vendor = (await http.post("/v1/vendors", json={"name": "Foto Huber"})).json()
        auth = {"Authorization": f"Bearer {vendor['token']}"}
        created = await http.post(
            "/v1/subscriptions", json={"categories": ["electronics"]}, headers=auth
        )
        assert created.status_code == 201
        buyer = (await http.post("/v1/buyers", json={"display_name": "ada"})).json()
        buyer_auth = {"Authorization": f"Bearer {buyer['token']}"}

        published: list[str] = []
        for i in range(INTENTS):
            response = await http.post("/v1/intents", json=CAMERA, headers=buyer_auth)
            assert response.status_code == 201, response.text
            published.append(response.json()["id"])
            if i == INTENTS // 3:
                victim = matcher_process(server)
                victim.send_signal(signal.SIGKILL)  # mid-stream, possibly mid-message
                victim.wait(5)
            if i == 2 * INTENTS // 3:
                wiper = redis.from_url(redis_url)
                await wiper.flushall()  # streams, groups and pending lists are gone
                await wiper.aclose()
            await asyncio.sleep(0.05)

        async def matched() -> list[dict]:
            items, after = [], 0
            while True:
                page = (
                    await http.get(
                        "/v1/vendor/matches", params={"after": after, "limit": 1000}, headers=auth
                    )
                ).json()
                items += page["items"]
                if page["next"] is None:
                    return items
                after = page["next"]

        deadline = asyncio.get_running_loop().time() + 90
        while True:
            events = await matched()
            if len(events) >= INTENTS or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # give any duplicate a chance to show up
        events = await matched()

    counts = Counter(e["data"]["intent"]["id"] for e in events if e["type"] == "intent.matched")
    assert set(counts) == set(published), f"missing: {set(published) - set(counts)}"
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # gap-free
    assert matcher_process(server).pid != victim.pid  # the supervisor restarted it
