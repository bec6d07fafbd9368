"""The scale-out layout (``intentcast scale``: two API processes, two workers of each role, one
embedded PostgreSQL and Redis) under a matcher crash.

Intents are published alternately through both API processes while one matcher is killed
with SIGKILL holding claimed, unacknowledged work. Every vendor whose subscription matches
gets every matching intent exactly once, in its log's order (seqs 1, 2, 3… without a gap),
on the feed and on a live SSE stream served by the other API process; the supervisor
replaces the dead matcher, and stopping the layout leaves no process behind. A port already
taken is refused before anything starts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
import redis.asyncio as redis
from httpx_sse import aconnect_sse

from intentcast.bus import MATCHER_GROUP, WORK_STREAM
from tests.e2e.conftest import assert_all_gone, embedded_env
from tests.helpers import (
    Account,
    create_buyer,
    create_vendor,
    publish,
    settled,
    subscribe,
    wait_for,
)

pytestmark = pytest.mark.e2e

READY_WITHIN_S = 60.0  # nine processes and two servers, on a shared two-core machine
MIN_INTENTS = 90
MAX_INTENTS = 300  # publishing goes on past MIN_INTENTS until a matcher died holding work
WAVE = 6  # intents published at once, so the matchers have a backlog to be caught with
REDELIVERY_SECONDS = 2
SETTLED_WITHIN_S = 60.0

LAPTOP = {
    "category": "electronics/computers/laptops",
    "title": "14 inch laptop, 32 GB RAM",
    "description": "Refurbished is fine.",
    "attributes": {"condition": "used"},
}
"""Overrides that turn the camera intent of ``tests.helpers.publish`` into a laptop one."""


def free_port_pair() -> int:
    """A port ``p`` with ``p`` and ``p + 1`` both free (the layout's two API processes)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 65535 and _free(port) and _free(port + 1):
            return port
    raise AssertionError("no two consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ScaleLayout:
    """``intentcast scale --apis 2 --workers 2`` over ``data_dir`` on two free ports."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port_pair()
        self.urls = [f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.port + 1}"]
        self.env = embedded_env(data_dir, self.port) | {
            f"INTENTCAST_{k.upper()}": v for k, v in env.items()
        }
        self.log = data_dir.parent / f"scale-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "intentcast", "scale", "--apis", "2", "--workers", "2"]
        argv += ["--base-port", str(self.port), "--data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(
            argv, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + READY_WITHIN_S
        waiting = list(self.urls)
        while waiting and time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(waiting[0] + "/ready", timeout=1).status_code == 200:
                    waiting.pop(0)
                    continue
            time.sleep(0.1)
        assert not waiting, f"{waiting} not ready in {READY_WITHIN_S}s:\n{self.log_tail()}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the layout's output (a crash-looping child repeats itself)."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def tree(self) -> list[psutil.Process]:
        assert self.process is not None
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def workers(self, role: str) -> list[psutil.Process]:
        """The layout's running workers of ``role`` (its direct children)."""
        assert self.process is not None
        found = []
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.cmdline()[-3:] == ["worker", "--role", role]:
                    found.append(child)
        return found

    def stop(self, sig: int = signal.SIGTERM) -> list[psutil.Process]:
        assert self.process is not None
        tree = self.tree()
        self.process.send_signal(sig)
        self.process.wait(60)
        return tree

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def postgres_url(self) -> str:
        from intentcast.embedded import EmbeddedPostgres

        return EmbeddedPostgres(self.data_dir / "postgres" / "data").url

    @property
    def redis_url(self) -> str:
        from intentcast.embedded import EmbeddedRedis

        return EmbeddedRedis(self.data_dir / "redis").url


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[ScaleLayout]:
    scale = ScaleLayout(
        tmp_path / "data",
        auto_verify_vendors="true",
        max_open_intents="1000",
        redelivery_seconds=str(REDELIVERY_SECONDS),
    )
    try:
        scale.start()
        yield scale
    finally:
        if scale.running:
            assert_all_gone(scale.stop())


def consumer_name(process: psutil.Process) -> str:
    """The matcher's consumer name in the work stream's group (``matching.worker``)."""
    return f"{socket.gethostname()}-{process.pid}"


async def kill_a_matcher_holding_work(
    layout: ScaleLayout, client: redis.Redis, publishing_done: asyncio.Event
) -> tuple[str, list[bytes]]:
    """SIGKILL a matcher at a moment it holds work it has claimed and not acknowledged; the
    dead consumer's name and the ids of the messages it left pending.

    Each try freezes a matcher (SIGSTOP) and only then looks at its pending list, so what
    is seen there cannot be acknowledged before the kill; one with nothing pending is let go
    (SIGCONT) and the other tried."""
    for process in itertools.cycle(layout.workers("matcher")):
        if publishing_done.is_set():
            raise AssertionError("publishing ended before a matcher was caught holding work")
        name = consumer_name(process)
        process.send_signal(signal.SIGSTOP)
        pending = await client.xpending_range(
            WORK_STREAM, MATCHER_GROUP, min="-", max="+", count=10_000, consumername=name
        )
        if pending:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            return name, [entry["message_id"] for entry in pending]
        process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.01)
    raise AssertionError("no matcher running")


async def read_whole_feed(http: httpx.AsyncClient, vendor: Account) -> list[dict[str, Any]]:
    """Every event of the vendor's feed, page by page (small pages, so there are several)."""
    events: list[dict[str, Any]] = []
    while True:
        after = events[-1]["seq"] if events else 0
        response = await http.get(
            "/v1/vendor/matches", params={"after": after, "limit": 25}, headers=vendor.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()["items"]
        if not page:
            return events
        events += page


async def collect_stream(
    http: httpx.AsyncClient, vendor: Account, events: list[dict[str, Any]], until: asyncio.Event
) -> None:
    """Append the vendor's SSE events (``id`` and ``data``) to ``events`` until ``until``."""
    async with (
        aconnect_sse(http, "GET", "/v1/vendor/stream", headers=vendor.headers) as source,
        aclosing(source.aiter_sse()) as stream,
    ):
        async for sse in stream:
            if sse.event and sse.data:
                events.append({"sse_id": sse.id, **json.loads(sse.data)})
            if until.is_set():
                return


async def test_matcher_killed_mid_run_every_vendor_gets_each_match_once_in_order(
    layout: ScaleLayout,
) -> None:
    apis = [httpx.AsyncClient(base_url=url, timeout=30) for url in layout.urls]
    work_redis = redis.from_url(layout.redis_url)
    db = await asyncpg.connect(layout.postgres_url)
    try:
        await run_scenario(layout, apis, work_redis, db)
    finally:
        for api in apis:
            await api.aclose()
        await work_redis.aclose()
        await db.close()
    # the supervisor replaced the dead matcher; the layout stops completely
    assert len(layout.workers("matcher")) == 2
    assert_all_gone(layout.stop(signal.SIGINT))
    output = layout.log.read_text()
    assert "matcher-" in output and "exited with -9" in output
    assert output.rstrip().endswith("stopped")


async def run_scenario(
    layout: ScaleLayout,
    apis: list[httpx.AsyncClient],
    work_redis: redis.Redis,
    db: asyncpg.Connection,
) -> None:
    # vendors sign up and subscribe on either API; the server verifies them itself
    cameras = await create_vendor(apis[0], name="Foto Huber")
    generalist = await create_vendor(apis[1], name="Elektro Maier")
    laptops = await create_vendor(apis[0], name="Laptop Land")
    gardener = await create_vendor(apis[1], name="Gartenbau Berg")
    await subscribe(apis[0], cameras, categories=["electronics/cameras"])
    await subscribe(apis[1], generalist, categories=["electronics"])
    await subscribe(apis[0], laptops, categories=["electronics/computers"])
    await subscribe(apis[1], gardener, categories=["home-garden"])
    buyers = [await create_buyer(apis[0], display_name="ada"), await create_buyer(apis[1])]

    # each matching vendor listens live on the API it did not subscribe through
    vendors = {"cameras": cameras, "generalist": generalist, "laptops": laptops}
    stream_api = {"cameras": apis[1], "generalist": apis[0], "laptops": apis[1]}
    streamed: dict[str, list[dict[str, Any]]] = {name: [] for name in vendors}
    streams_done = asyncio.Event()
    listeners = [
        asyncio.create_task(collect_stream(stream_api[n], v, streamed[n], streams_done))
        for n, v in vendors.items()
    ]

    published: dict[str, str] = {}  # intent id -> category kind

    async def publish_one(number: int) -> None:
        api = apis[number % 2]  # alternately through both API processes
        buyer = buyers[(number // 2) % 2]
        kind = "laptop" if number % 3 == 2 else "camera"
        intent = await publish(api, buyer, **(LAPTOP if kind == "laptop" else {}))
        published[intent["id"]] = kind

    publishing_done = asyncio.Event()
    killer: asyncio.Task[tuple[str, list[bytes]]] | None = None
    try:
        numbers = itertools.count()
        while len(published) < MIN_INTENTS or not (killer and killer.done()):
            assert len(published) < MAX_INTENTS, "no matcher was ever caught holding work"
            await asyncio.gather(*(publish_one(next(numbers)) for _ in range(WAVE)))
            if killer is None and len(published) >= MIN_INTENTS // 2:  # mid-run
                killer = asyncio.create_task(
                    kill_a_matcher_holding_work(layout, work_redis, publishing_done)
                )
    finally:
        publishing_done.set()
    dead_consumer, orphaned = await killer
    assert orphaned, "the killed matcher left no claimed work to redeliver"

    # the fence: every outbox row processed, every work message taken and acknowledged —
    # the dead consumer's ones too, after INTENTCAST_REDELIVERY_SECONDS
    await settled(db, work_redis, within=SETTLED_WITHIN_S)
    still_pending = await work_redis.xpending_range(
        WORK_STREAM, MATCHER_GROUP, min="-", max="+", count=10, consumername=dead_consumer
    )
    assert still_pending == []

    expected = {
        "cameras": {i for i, kind in published.items() if kind == "camera"},
        "generalist": set(published),
        "laptops": {i for i, kind in published.items() if kind == "laptop"},
    }
    feeds = {}
    for name, vendor in vendors.items():
        events = await read_whole_feed(apis[0], vendor)
        feeds[name] = events
        intent_ids = [e["data"]["intent"]["id"] for e in events]
        assert {e["type"] for e in events} == {"intent.matched"}, name
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), name
        duplicates = {i for i in intent_ids if intent_ids.count(i) > 1}
        assert not duplicates, f"{name} got these intents more than once: {duplicates}"
        missing = expected[name] - set(intent_ids)
        assert not missing, f"{name} never got {len(missing)} matching intents: {missing}"
        assert set(intent_ids) == expected[name], name
    assert await read_whole_feed(apis[1], gardener) == []

    # the live streams, on the other API process, carry exactly the feed, in the same order
    async def streams_caught_up() -> bool:
        for listener in listeners:
            if listener.done():
                listener.result()  # a stream that ended early says why
        return all(len(streamed[n]) >= len(feeds[n]) for n in vendors)

    await wait_for(streams_caught_up, within=30)
    streams_done.set()
    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    for name in vendors:
        assert [e["sse_id"] for e in streamed[name]] == [str(e["seq"]) for e in feeds[name]]
        assert [{k: v for k, v in e.items() if k != "sse_id"} for e in streamed[name]] == feeds[
            name
        ], name


def test_scale_refuses_a_taken_port_before_starting_anything(tmp_path: Path) -> None:
    port = free_port_pair()
    argv = [sys.executable, "-m", "intentcast", "scale", "--base-port", str(port)]
    argv += ["--data-dir", str(tmp_path / "data")]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        result = subprocess.run(
            argv,
            env=embedded_env(tmp_path / "data", port),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port + 1}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "postgres").exists()  # no server was started
