"""Metrics: several processes counting into one directory are merged into one exposition; a
worker's own /metrics and /health; the SSE connection gauge; the work-stream backlog."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families

from intentcast.bus import DELIVER_STREAM, DELIVERY_GROUP
from intentcast.metrics import (
    MULTIPROC_ENV,
    SSE_CONNECTIONS,
    counted_stream,
    exposition,
    fresh_multiprocess_dir,
    serve_worker_endpoints,
    stream_backlog,
)

COUNT_IN_A_CHILD = """
import sys
from intentcast import metrics
metrics.INTENTS_PUBLISHED.inc(int(sys.argv[1]))
metrics.WEBHOOK_ATTEMPTS.labels("delivered").inc()
metrics.SSE_CONNECTIONS.labels("vendor").inc()
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of an exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_of_several_processes_are_merged(tmp_path: Path, monkeypatch) -> None:
    directory = fresh_multiprocess_dir(tmp_path / "metrics")
    (directory / "stale.db").write_bytes(b"")  # a previous run's file...
    directory = fresh_multiprocess_dir(directory)
    assert list(directory.iterdir()) == []  # ...is gone
    env = {"PATH": "/usr/bin:/bin", MULTIPROC_ENV: str(directory)}
    for published in (2, 3):
        subprocess.run(
            [sys.executable, "-c", COUNT_IN_A_CHILD, str(published)],
            env=env,
            check=True,
            timeout=60,
        )
    monkeypatch.setenv(MULTIPROC_ENV, str(directory))
    body, content_type = exposition()
    assert content_type.startswith("text/plain")
    values = samples(body.decode())
    assert values[("intentcast_intents_published_total", ())] == 5
    assert values[("intentcast_webhook_attempts_total", (("outcome", "delivered"),))] == 2
    # both processes exited without saying so: their SSE connections still count until the
    # supervisor marks them dead (metrics.process_exited)
    assert values[("intentcast_sse_connections", (("audience", "vendor"),))] == 2


async def test_a_worker_serves_metrics_and_health_while_alive() -> None:
    alive = True
    server = await serve_worker_endpoints("127.0.0.1", 0, lambda: alive)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            health = await http.get("/health")
            assert health.status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "# TYPE intentcast_matches_total counter" in metrics.text
            assert metrics.headers["content-type"].startswith("text/plain")
            assert (await http.get("/other")).status_code == 404
            assert (await http.post("/health")).status_code == 405
            alive = False
            assert (await http.get("/health")).status_code == 503
    finally:
        server.close()
        await server.wait_closed()


async def test_open_streams_are_counted_until_they_close() -> None:
    gauge = SSE_CONNECTIONS.labels("buyer")
    before = gauge._value.get()
    release = asyncio.Event()

    async def events():
        yield 1
        await release.wait()
        yield 2

    stream = counted_stream(events(), "buyer")
    assert await anext(stream) == 1
    assert gauge._value.get() == before + 1
    release.set()
    assert await anext(stream) == 2
    await stream.aclose()  # the client went away
    assert gauge._value.get() == before


async def test_the_stream_backlog_counts_pending_and_unread_messages(redis_url: str) -> None:
    client = redis.from_url(redis_url)
    try:
        assert await stream_backlog(client, DELIVER_STREAM, DELIVERY_GROUP) == 0  # no stream
        for n in range(5):
            await client.xadd(DELIVER_STREAM, {"delivery_id": f"d{n}"})
        assert await stream_backlog(client, DELIVER_STREAM, DELIVERY_GROUP) == 5  # no group
        await client.xgroup_create(DELIVER_STREAM, DELIVERY_GROUP, id="0")
        read = await client.xreadgroup(DELIVERY_GROUP, "c1", {DELIVER_STREAM: ">"}, count=2)
        assert await stream_backlog(client, DELIVER_STREAM, DELIVERY_GROUP) == 5  # 2 pending
        first_id = read[0][1][0][0]
        await client.xack(DELIVER_STREAM, DELIVERY_GROUP, first_id)
        assert await stream_backlog(client, DELIVER_STREAM, DELIVERY_GROUP) == 4
    finally:
        await client.aclose()
