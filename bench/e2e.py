"""End-to-end benchmark: publish → SSE and publish → webhook latency on real processes.

    .venv/bin/python bench/e2e.py            # 1,000 vendors, 100k subscriptions, 500/s for 60 s
    .venv/bin/python bench/e2e.py --quick    # 100 vendors, 10k subscriptions, 100/s for 10 s

What it does, all on 127.0.0.1 and on this one machine (the load generator included):

1. starts the server — ``intentcast serve`` (layout ``serve``) or, with ``--layout split``,
   an embedded PostgreSQL + Redis owned by this script and ``intentcast api`` plus
   ``--matchers`` matcher processes, one delivery and one scheduler worker against them —
   with a fresh temporary data dir, auto-verified vendors, loopback webhooks allowed, no
   rate limit;
2. creates the vendors and buyers over HTTP and bulk-loads the subscriptions with ``COPY``
   into PostgreSQL (the matchers pick them up through their ``change_version`` check; a probe
   intent proves they have before the clock starts);
3. registers one webhook per sampled vendor on a local asyncio HTTP receiver and opens one
   SSE connection (``/v1/vendor/stream``) per sampled vendor;
4. publishes intents open-loop at a fixed rate with a minimal keep-alive HTTP/1.1 client
   (sends are scheduled at fixed instants whatever the answers do; latency is measured
   from the moment each POST was written);
5. waits a grace period, then reads every sampled vendor's durable feed
   (``/v1/vendor/matches``): each ``intent.matched`` event of a benchmark intent there is
   an expected SSE receipt and an expected webhook receipt. Loss = expected receipts not
   seen by the end of the grace period.

Results go to stdout and, unless ``--no-write``, to the ``## End to end`` section of
``bench/RESULTS.md`` (other sections are kept as they are).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## End to end"

TARGET_SSE_P99_MS = 50.0
TARGET_WEBHOOK_P99_MS = 100.0

# ----------------------------------------------------------------------------- workload

CITIES: list[tuple[str, float, float, str]] = [
    ("Munich", 48.137, 11.575, "DE"),
    ("Berlin", 52.520, 13.405, "DE"),
    ("Hamburg", 53.551, 9.993, "DE"),
    ("Cologne", 50.938, 6.960, "DE"),
    ("Frankfurt", 50.110, 8.682, "DE"),
    ("Stuttgart", 48.776, 9.183, "DE"),
    ("Vienna", 48.208, 16.373, "AT"),
    ("Zurich", 47.377, 8.542, "CH"),
    ("Paris", 48.857, 2.352, "FR"),
    ("Lyon", 45.764, 4.836, "FR"),
    ("Marseille", 43.296, 5.370, "FR"),
    ("Madrid", 40.417, -3.704, "ES"),
    ("Barcelona", 41.385, 2.173, "ES"),
    ("Lisbon", 38.722, -9.139, "PT"),
    ("Rome", 41.903, 12.496, "IT"),
    ("Milan", 45.464, 9.190, "IT"),
    ("Amsterdam", 52.368, 4.904, "NL"),
    ("Brussels", 50.850, 4.352, "BE"),
    ("London", 51.507, -0.128, "GB"),
    ("Manchester", 53.481, -2.243, "GB"),
    ("Dublin", 53.350, -6.260, "IE"),
    ("Copenhagen", 55.676, 12.568, "DK"),
    ("Stockholm", 59.329, 18.069, "SE"),
    ("Oslo", 59.914, 10.752, "NO"),
    ("Helsinki", 60.170, 24.938, "FI"),
    ("Warsaw", 52.230, 21.012, "PL"),
    ("Prague", 50.076, 14.438, "CZ"),
    ("Budapest", 47.498, 19.040, "HU"),
    ("Athens", 37.984, 23.728, "GR"),
    ("New York", 40.713, -74.006, "US"),
    ("Chicago", 41.878, -87.630, "US"),
    ("San Francisco", 37.775, -122.419, "US"),
    ("Los Angeles", 34.052, -118.244, "US"),
    ("Toronto", 43.653, -79.383, "CA"),
    ("Tokyo", 35.676, 139.650, "JP"),
    ("Sydney", -33.869, 151.209, "AU"),
    ("Sao Paulo", -23.551, -46.633, "BR"),
    ("Mexico City", 19.433, -99.133, "MX"),
    ("Seoul", 37.567, 126.978, "KR"),
    ("Singapore", 1.352, 103.820, "SG"),
]
ADJECTIVES = [
    "new", "used", "refurbished", "vintage", "premium", "compact", "wireless", "professional",
    "portable", "large", "small", "cheap", "quality", "original", "modern", "classic",
    "electric", "manual", "heavy", "light",
]  # fmt: skip
RADII_KM = [5, 10, 20, 30, 50]
FULFILMENT = ["pickup", "delivery", "digital", "onsite"]
PROBE_WORD = "zqxprobe"
MAX_IN_FLIGHT = 1000  # open-loop, but bounded: beyond this, sends queue (and lag shows it)


@dataclass
class Workload:
    """Deterministic subscriptions and intents (``random.Random(seed)``)."""

    seed: int
    levels: dict[int, list[Any]] = field(default_factory=dict)  # depth -> categories

    def __post_init__(self) -> None:
        from intentcast.domain.taxonomy import default_categories

        for category in default_categories():
            self.levels.setdefault(category.path.count("/"), []).append(category)
        self._disks: dict[tuple[int, int], list[str]] = {}

    def disk(self, city: int, radius: int) -> list[str]:
        from intentcast.domain.subscriptions import disk_cells

        key = (city, radius)
        if key not in self._disks:
            _, lat, lng, _ = CITIES[city]
            self._disks[key] = disk_cells(lat, lng, radius)
        return self._disks[key]

    def subscriptions(self, vendor_ids: list[str], n: int) -> list[tuple[Any, ...]]:
        """Rows for COPY: categories are taxonomy subtrees at levels 1-3, areas are disks
        around a few dozen cities (or a country only), some carry keywords or budget_min."""
        rng = random.Random(self.seed)
        rows = []
        for i in range(n):
            vendor_id = vendor_ids[i % len(vendor_ids)]
            depth = rng.choices([0, 1, 2], weights=[1, 4, 35])[0]
            categories = [rng.choice(self.levels[depth]).path]
            if rng.random() < 0.1:
                categories.append(rng.choice(self.levels[2]).path)
            city = rng.randrange(len(CITIES))
            area, cells, countries = None, [], []
            if rng.random() < 0.85:
                radius = rng.choice(RADII_KM)
                _, lat, lng, _ = CITIES[city]
                area = json.dumps({"lat": lat, "lng": lng, "radius_km": float(radius)})
                cells = self.disk(city, radius)
            else:
                countries = [CITIES[city][3]]
            keywords = rng.sample(ADJECTIVES, rng.randint(1, 3)) if rng.random() < 0.2 else []
            budget = rng.choice([50, 100, 200, 500]) if rng.random() < 0.25 else None
            fulfilment = rng.sample(FULFILMENT, rng.randint(1, 2)) if rng.random() < 0.3 else []
            rows.append(
                (
                    f"sub_bench{i:07d}",
                    vendor_id,
                    categories,
                    area,
                    cells,
                    countries,
                    None if budget is None else Decimal(budget),
                    None if budget is None else "EUR",
                    keywords,
                    fulfilment,
                )
            )
        return rows

    def intents(self, n: int, seed_offset: int = 1) -> list[bytes]:
        """Request bodies: a level-3 (sometimes level-2) category, a point near a city at
        H3 resolution 7, a visible EUR budget, two adjectives in the title."""
        rng = random.Random(self.seed + seed_offset)
        bodies = []
        for _ in range(n):
            depth = 2 if rng.random() < 0.85 else 1
            category = rng.choice(self.levels[depth])
            _, lat, lng, country = CITIES[rng.randrange(len(CITIES))]
            lat += rng.uniform(-0.12, 0.12)
            lng += rng.uniform(-0.12, 0.12)
            words = rng.sample(ADJECTIVES, 2)
            body = {
                "category": category.path,
                "title": f"{words[0].capitalize()} {words[1]} {category.name.lower()}",
                "description": "Looking for a good offer, pickup or delivery.",
                "budget": {"max": str(rng.choice([80, 150, 300, 800, 2000])), "currency": "EUR"},
                "location": {"lat": round(lat, 5), "lng": round(lng, 5), "precision": 7,
                             "country": country},
                "fulfilment": rng.sample(FULFILMENT, rng.randint(1, 2)),
            }  # fmt: skip
            bodies.append(json.dumps(body).encode())
        return bodies


# ----------------------------------------------------------------------------- servers
#
# ``free_port``, ``base_env`` and ``HookReceiver`` resemble ``tests/e2e/conftest.py``
# (``free_port``, ``embedded_env``) and ``tests/webhook_receiver.py`` on purpose, but are not
# imported from there: this script runs as ``python bench/e2e.py``, and ``tests`` is not an
# installed package, so importing it would need ``sys.path`` surgery, and would load a
# pytest ``conftest`` (and pytest) outside pytest. ``HookReceiver`` also differs in what it
# is for: it keeps only (vendor, intent, arrival time) from the path and body, with a deep
# accept backlog, to cost the load generator little on the cores it shares with the server;
# the tests' receiver keeps every request whole for assertions. Swapping it would change
# what the recorded baseline in RESULTS.md measured.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(data_dir: Path, port: int, web_workers: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env.update(
        INTENTCAST_DATA_DIR=str(data_dir),
        INTENTCAST_HOST="127.0.0.1",
        INTENTCAST_PORT=str(port),
        INTENTCAST_WEB_WORKERS=str(web_workers),
        INTENTCAST_AUTO_VERIFY_VENDORS="true",
        INTENTCAST_WEBHOOK_ALLOW_LOOPBACK="true",
        INTENTCAST_MAX_OPEN_INTENTS="10000",
        INTENTCAST_RATE_LIMIT="0",
        INTENTCAST_LOG_LEVEL="warning",
    )
    return env


class Deployment:
    """The server processes under test; ``stop`` leaves nothing running."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.services: Any = None
        self.database_url = ""
        self.description = ""

    def _spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.log_path.open("ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "intentcast", *argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self.processes.append(process)
        return process

    def start(self) -> None:
        from intentcast.embedded import EmbeddedPostgres, EmbeddedServices

        env = base_env(self.data_dir, self.port, self.args.web_workers)
        if self.args.layout == "serve":
            self._spawn(["serve"], env)
            self.database_url = EmbeddedPostgres(self.data_dir / "postgres" / "data").url
            self.description = (
                f"`intentcast serve` (embedded PostgreSQL 18 + Redis 6.2; API with "
                f"{self.args.web_workers} granian worker(s); one matcher, one delivery, "
                "one scheduler process)"
            )
        else:
            import base64

            self.services = EmbeddedServices(self.data_dir)
            self.services.start()
            self.database_url = self.services.postgres.url
            env.update(
                INTENTCAST_DATABASE_URL=self.database_url,
                INTENTCAST_REDIS_URL=self.services.redis.url,
                INTENTCAST_SECRET_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            )
            self._spawn(["api"], env)
            self._wait_ready()
            for _ in range(self.args.matchers):
                self._spawn(["worker", "--role", "matcher"], env)
            self._spawn(["worker", "--role", "delivery"], env)
            self._spawn(["worker", "--role", "scheduler"], env)
            self.description = (
                f"split: embedded PostgreSQL 18 + Redis 6.2, `intentcast api` with "
                f"{self.args.web_workers} granian worker(s), {self.args.matchers} matcher, "
                "1 delivery, 1 scheduler process"
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"not ready in {timeout}s:\n{self.log_path.read_text()}")

    def tree(self) -> list[psutil.Process]:
        out = []
        for process in self.processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(process.pid)
                out += [parent, *parent.children(recursive=True)]
        if self.services is not None:
            me = psutil.Process()
            out += me.children(recursive=True)
        return out

    def stop(self) -> list[str]:
        """SIGTERM, wait; anything of the tree still alive after that is killed and named."""
        tree = self.tree()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.services is not None:
            self.services.stop()
        _, alive = psutil.wait_procs(tree, timeout=10)
        survivors = []
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                survivors.append(f"{proc.pid} {proc.name()}")
                proc.kill()
        return survivors

    def profile(self, out_dir: str, seconds: float) -> list[subprocess.Popen[bytes]]:
        """py-spy (raw collapsed stacks) on every Python process of the tree."""
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).parent / "py-spy")
        out = []
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                argv = proc.cmdline()
                if "python" not in proc.name() and "granian" not in " ".join(argv):
                    continue
                name = "_".join(a.strip("-") for a in argv[3:6]) or proc.name()
                argv = [spy, "record", "--nonblocking", "-r", "50", "-d", str(int(seconds))]
                argv += ["-f", "raw", "-p", str(proc.pid), "-o", f"{out_dir}/{name}-{proc.pid}.txt"]
                out.append(
                    subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
        return out

    def cpu_times(self) -> dict[str, float]:
        """CPU seconds per process name of the tree (children included)."""
        out: dict[str, float] = {}
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                argv = proc.cmdline()
                cmd = " ".join(argv[3:6]) if "python" in proc.name() else proc.name()
                out[cmd] = out.get(cmd, 0.0) + times.user + times.system
        return out


# ----------------------------------------------------------------------------- receivers


class HookReceiver:
    """A minimal keep-alive HTTP/1.1 server recording (vendor, intent id, receipt time)."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str, float]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.close()
            await asyncio.sleep(0.2)  # handlers see EOF and return
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                target = lines[0].split(b" ")[1].decode()
                length = 0
                chunked = False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if chunked:
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        body += await reader.readexactly(size + 2)
                        if size == 0:
                            break
                else:
                    body = await reader.readexactly(length)
                now = time.monotonic()
                try:
                    event = json.loads(body)
                    if event.get("type") == "intent.matched":
                        vendor = int(target.rsplit("/", 1)[1])
                        self.received.append((vendor, event["data"]["intent"]["id"], now))
                except (ValueError, KeyError, IndexError):
                    pass
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def sse_reader(
    url: str, vendor: int, token: str, out: list[tuple[int, str, float]], ready: asyncio.Event
) -> None:
    """One vendor's SSE connection; reconnects with Last-Event-ID if it drops."""
    from httpx_sse import aconnect_sse

    last = None
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(5, read=None)) as http:
        while True:
            headers = {"Authorization": f"Bearer {token}"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                async with aconnect_sse(http, "GET", "/v1/vendor/stream", headers=headers) as src:
                    ready.set()
                    async for sse in src.aiter_sse():
                        now = time.monotonic()
                        if sse.id:
                            last = sse.id
                        if sse.event == "intent.matched":
                            out.append((vendor, json.loads(sse.data)["data"]["intent"]["id"], now))
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.2)


# ----------------------------------------------------------------------------- publisher


class RawClient:
    """Keep-alive HTTP/1.1 connections for the POSTs: far cheaper per request than a full
    client, so the load generator takes little of the two cores it shares with the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def post(self, path: str, token: str, body: bytes) -> tuple[int, bytes, float]:
        """Returns (status, body, send time)."""
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.opened += 1
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        sent = time.monotonic()
        writer.write(head + body)
        try:
            status_line = await reader.readuntil(b"\r\n")
            headers = await reader.readuntil(b"\r\n\r\n")
        except Exception:
            writer.close()
            raise
        status = int(status_line.split(b" ")[1])
        length = None
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            writer.close()
            raise RuntimeError("response without content-length")
        data = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, data, sent

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


@dataclass
class Sent:
    scheduled: float
    sent: float
    answered: float
    status: int


async def publish_open_loop(
    client: RawClient,
    tokens: list[str],
    bodies: list[bytes],
    rate: float,
    sent_at: dict[str, Sent],
    failures: list[str],
) -> float:
    """Send ``bodies`` at ``rate``/s on a fixed schedule; returns the elapsed seconds."""
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic() + 0.05
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(i: int, scheduled: float) -> None:
        try:
            async with in_flight:
                status, data, sent = await client.post(
                    "/v1/intents", tokens[i % len(tokens)], bodies[i]
                )
        except Exception as exc:
            failures.append(repr(exc))
            return
        answered = time.monotonic()
        if status != 201:
            failures.append(f"{status} {data[:200]!r}")
            return
        intent_id = json.loads(data)["id"]
        sent_at[intent_id] = Sent(scheduled, sent, answered, status)

    for i in range(len(bodies)):
        scheduled = start + i / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    elapsed = time.monotonic() - start
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    return elapsed


# ----------------------------------------------------------------------------- the run


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "max": max(ms) if ms else float("nan"),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


async def gather_limited(n: int, coros: list[Any]) -> list[Any]:
    slots = asyncio.Semaphore(n)

    async def run(coro: Any) -> Any:
        async with slots:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def run_bench(args: argparse.Namespace, deployment: Deployment) -> dict[str, Any]:
    import asyncpg

    log = print
    workload = Workload(args.seed)
    http = httpx.AsyncClient(
        base_url=deployment.url,
        timeout=60,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )
    t0 = time.monotonic()

    async def new_vendor(i: int) -> tuple[str, str]:
        r = await http.post("/v1/vendors", json={"name": f"bench vendor {i}"})
        r.raise_for_status()
        body = r.json()
        return body["vendor"]["id"], body["token"]

    vendors = await gather_limited(32, [new_vendor(i) for i in range(args.vendors)])
    vendor_ids = [v for v, _ in vendors]
    total_intents = int(args.rate * args.duration)
    n_buyers = max(4, math.ceil(total_intents / 5000) + 2)

    async def new_buyer(i: int) -> str:
        r = await http.post("/v1/buyers", json={"display_name": f"bench buyer {i}"})
        r.raise_for_status()
        return r.json()["token"]

    buyer_tokens = await gather_limited(16, [new_buyer(i) for i in range(n_buyers)])
    log(f"  {len(vendors)} vendors, {n_buyers} buyers in {time.monotonic() - t0:.1f}s")

    # subscriptions: COPY, then a probe subscription last (the highest change_version)
    t1 = time.monotonic()
    rows = workload.subscriptions(vendor_ids, args.subscriptions - 1)
    rows.append(
        ("sub_benchprobe", vendor_ids[0], ["electronics"], None, [], [], None, None,
         [PROBE_WORD], [])
    )  # fmt: skip
    conn = await asyncpg.connect(deployment.database_url)
    try:
        await conn.copy_records_to_table(
            "subscriptions",
            records=rows,
            columns=[
                "id", "vendor_id", "categories", "area", "cells", "countries", "budget_min",
                "budget_currency", "keywords", "fulfilment",
            ],
        )  # fmt: skip
    finally:
        await conn.close()
    log(f"  {len(rows)} subscriptions copied in {time.monotonic() - t1:.1f}s")

    # the sample: webhooks + SSE
    rng = random.Random(args.seed + 7)
    sample = sorted(rng.sample(range(1, len(vendors)), min(args.sse_sample, len(vendors) - 1)))
    sample = [0, *sample[: max(0, args.sse_sample - 1)]]
    receiver = HookReceiver()
    await receiver.start()
    for v in sample:
        r = await http.post(
            "/v1/vendor/webhooks",
            json={
                "url": f"http://127.0.0.1:{receiver.port}/hook/{v}",
                "events": ["intent.matched"],
            },
            headers={"Authorization": f"Bearer {vendors[v][1]}"},
        )
        r.raise_for_status()
    sse_seen: list[tuple[int, str, float]] = []
    readies = [asyncio.Event() for _ in sample]
    sse_tasks = [
        asyncio.create_task(sse_reader(deployment.url, v, vendors[v][1], sse_seen, ready))
        for v, ready in zip(sample, readies, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 30)

    # the probe proves every matcher has the whole index before the clock starts
    t2 = time.monotonic()
    probe = json.loads(workload.intents(1)[0])
    probe.update(category="electronics", title=f"Probe {PROBE_WORD}")
    probe.pop("location")
    deadline = time.monotonic() + 120
    probes = 0
    while True:
        r = await http.post(
            "/v1/intents", json=probe, headers={"Authorization": f"Bearer {buyer_tokens[0]}"}
        )
        r.raise_for_status()
        probes += 1
        probe_id = r.json()["id"]
        await asyncio.sleep(1.0)
        if any(i == probe_id for _, i, _ in receiver.received):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the matchers never picked up the subscriptions")
    log(f"  index loaded (probe matched after {time.monotonic() - t2:.1f}s, {probes} probes)")

    client = RawClient(deployment.port)
    failures: list[str] = []
    warm: dict[str, Sent] = {}
    if args.warmup > 0:
        bodies = workload.intents(int(args.warmup * args.rate / 2), seed_offset=99)
        await publish_open_loop(client, buyer_tokens, bodies, args.rate / 2, warm, failures)
        await asyncio.sleep(3)
    profilers = deployment.profile(args.py_spy, args.duration) if args.py_spy else []
    cpu_before = deployment.cpu_times()
    bench_cpu_before = sum(psutil.Process().cpu_times()[:2])

    log(f"  publishing {total_intents} intents at {args.rate}/s ...")
    sent_at: dict[str, Sent] = {}
    bodies = workload.intents(total_intents)
    elapsed = await publish_open_loop(client, buyer_tokens, bodies, args.rate, sent_at, failures)
    publish_end = time.monotonic()
    cpu_after = deployment.cpu_times()
    for profiler in profilers:
        profiler.wait()
    bench_cpu = sum(psutil.Process().cpu_times()[:2]) - bench_cpu_before
    await asyncio.sleep(args.grace)
    cutoff = time.monotonic()
    sse_cut, hook_cut = len(sse_seen), len(receiver.received)

    # drain: wait for the outbox and pending webhook deliveries to empty (for the report)
    conn = await asyncpg.connect(deployment.database_url)
    try:
        drain_deadline = time.monotonic() + 180
        while time.monotonic() < drain_deadline:
            backlog = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE processed_at IS NULL AND event_type = $1",
                "intent.published",
            )
            pending = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            )
            if not backlog and not pending:
                break
            await asyncio.sleep(1)
        drained_after = time.monotonic() - cutoff
        ids = list(sent_at)
        match_stats = await conn.fetchrow(
            """SELECT count(*) AS subs, count(DISTINCT (intent_id, vendor_id)) AS vendors
                 FROM matches WHERE intent_id = ANY($1)""",
            ids,
        )
        matched_intents = await conn.fetchval(
            "SELECT count(DISTINCT intent_id) FROM matches WHERE intent_id = ANY($1)", ids
        )
        unprocessed = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE processed_at IS NULL AND aggregate_id = ANY($1)",
            ids,
        )
    finally:
        await conn.close()

    # expected: every intent.matched of a benchmark intent in a sampled vendor's feed
    async def feed(v: int) -> list[str]:
        out, after = [], 0
        while True:
            r = await http.get(
                "/v1/vendor/matches",
                params={"after": str(after), "limit": 1000},
                headers={"Authorization": f"Bearer {vendors[v][1]}"},
            )
            r.raise_for_status()
            page = r.json()
            out += [
                e["data"]["intent"]["id"] for e in page["items"] if e["type"] == "intent.matched"
            ]
            if page["next"] is None:
                return out
            after = page["last_seq"]

    feeds = await gather_limited(8, [feed(v) for v in sample])
    for task in sse_tasks:
        task.cancel()
    await asyncio.gather(*sse_tasks, return_exceptions=True)
    await receiver.stop()
    client.close()
    await http.aclose()

    expected = {
        (v, i) for v, items in zip(sample, feeds, strict=True) for i in items if i in sent_at
    }

    def latencies(seen: list[tuple[int, str, float]], cut: int) -> tuple[list[float], int, int]:
        first: dict[tuple[int, str], float] = {}
        dupes = 0
        for v, i, t in seen[:cut]:
            if i not in sent_at:
                continue
            if (v, i) in first:
                dupes += 1
                continue
            first[(v, i)] = t
        lat = [first[k] - sent_at[k[1]].sent for k in expected if k in first]
        lost = len(expected - first.keys())
        late = len({(v, i) for v, i, _ in seen[cut:]} & (expected - first.keys()))
        return lat, lost, late + dupes * 0

    sse_lat, sse_lost, sse_late = latencies(sse_seen, sse_cut)
    hook_lat, hook_lost, hook_late = latencies(receiver.received, hook_cut)
    unexpected_sse = len({(v, i) for v, i, _ in sse_seen if i in sent_at} - expected)
    unexpected_hook = len({(v, i) for v, i, _ in receiver.received if i in sent_at} - expected)

    post_lat = [s.answered - s.sent for s in sent_at.values()]
    lag = [s.sent - s.scheduled for s in sent_at.values()]
    cpu = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after}
    return {
        "published": len(sent_at),
        "attempted": total_intents,
        "failures": len(failures),
        "failure_sample": failures[:5],
        # accepted intents over the span of their actual sends (the schedule may slip)
        "achieved_rate": len(sent_at)
        / max(1e-9, max(x.sent for x in sent_at.values()) - min(x.sent for x in sent_at.values())),
        "publish_seconds": elapsed,
        "post": summary(post_lat),
        "send_lag": summary(lag),
        "sse": summary(sse_lat),
        "webhook": summary(hook_lat),
        "expected": len(expected),
        "sse_lost": sse_lost,
        "sse_late": sse_late,
        "hook_lost": hook_lost,
        "hook_late": hook_late,
        "unexpected_sse": unexpected_sse,
        "unexpected_hook": unexpected_hook,
        # over the intents the matchers had processed when measured
        "matched_subs_per_intent": match_stats["subs"] / max(1, len(sent_at) - unprocessed),
        "matched_vendors_per_intent": match_stats["vendors"] / max(1, len(sent_at) - unprocessed),
        "intents_with_match": matched_intents / max(1, len(sent_at) - unprocessed),
        "unprocessed_after_drain": unprocessed,
        "drained_after_s": drained_after,
        "sample": len(sample),
        "connections": client.opened,
        "cpu_s": {k: round(v, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
        "bench_cpu_s": round(bench_cpu, 1),
        "publish_window_s": publish_end - (publish_end - elapsed),
    }


# ----------------------------------------------------------------------------- report


def fmt(v: float) -> str:
    return "—" if v != v else f"{v:.1f}"


def render(args: argparse.Namespace, layout: str, r: dict[str, Any]) -> str:
    sse, hook, post = r["sse"], r["webhook"], r["post"]
    sse_ok = sse["p99"] <= TARGET_SSE_P99_MS
    hook_ok = hook["p99"] <= TARGET_WEBHOOK_P99_MS
    lost = r["sse_lost"] + r["hook_lost"]
    mark = {True: "met", False: "**missed**"}
    cpu = ", ".join(f"{k} {v}" for k, v in list(r["cpu_s"].items())[:8])
    lines = [
        SECTION,
        "",
        f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} with "
        f"`python bench/e2e.py {' '.join(sys.argv[1:])}`"
        f"{' (quick)' if args.quick else ''}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        "**everything on the same machine**: PostgreSQL, Redis, API, workers, and the load "
        "generator, SSE clients and webhook receiver (one asyncio process).",
        f"- Layout: {layout}.",
        f"- Parameters: {args.vendors} vendors, {args.subscriptions} subscriptions (COPY-loaded; "
        f"taxonomy subtrees at levels 1-3, disks of {min(RADII_KM)}-{max(RADII_KM)} km around "
        f"{len(CITIES)} cities or a country, 20% with keywords, 25% with budget_min), "
        f"intents at {args.rate}/s for {args.duration} s over HTTP (open loop), SSE + one "
        f"webhook each for {r['sample']} sampled vendors, grace {args.grace} s.",
        f"- Matching: {r['matched_subs_per_intent']:.2f} subscriptions / "
        f"{r['matched_vendors_per_intent']:.2f} vendors per intent on average "
        f"({100 * r['intents_with_match']:.0f}% of intents matched at least one; averages over "
        f"the {r['published'] - r['unprocessed_after_drain']} intents matched by the end); "
        f"{r['expected']} expected deliveries to the sample on each channel.",
        "",
        "| metric | target | p50 ms | p95 ms | p99 ms | max ms | n | lost | result |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| publish → SSE receipt | p99 ≤ {TARGET_SSE_P99_MS:.0f} ms, 0 lost | {fmt(sse['p50'])} | "
        f"{fmt(sse['p95'])} | {fmt(sse['p99'])} | {fmt(sse['max'])} | {sse['n']} | "
        f"{r['sse_lost']} | {mark[sse_ok and not r['sse_lost']]} |",
        f"| publish → webhook receipt | p99 ≤ {TARGET_WEBHOOK_P99_MS:.0f} ms, 0 lost | "
        f"{fmt(hook['p50'])} | {fmt(hook['p95'])} | {fmt(hook['p99'])} | {fmt(hook['max'])} | "
        f"{hook['n']} | {r['hook_lost']} | {mark[hook_ok and not r['hook_lost']]} |",
        f"| POST /v1/intents (201) | — | {fmt(post['p50'])} | {fmt(post['p95'])} | "
        f"{fmt(post['p99'])} | {fmt(post['max'])} | {post['n']} | — | — |",
        "",
        f"- Publishing: {r['published']}/{r['attempted']} intents accepted "
        f"({r['failures']} failed); sends scheduled over {r['publish_seconds']:.1f} s, "
        f"achieved {r['achieved_rate']:.0f}/s over the actual sends on {r['connections']} "
        f"connections (at most {MAX_IN_FLIGHT} in flight); send lag behind the fixed "
        f"schedule p50 {fmt(r['send_lag']['p50'])} / p99 {fmt(r['send_lag']['p99'])} ms.",
        f"- Loss counts expected deliveries (from the vendors' durable feeds) not received by "
        f"the end of the grace period; of those, arrived later: SSE {r['sse_late']}, webhook "
        f"{r['hook_late']}. Unexpected receipts (not in the feed): SSE "
        f"{r['unexpected_sse']}, webhook {r['unexpected_hook']}. Backlog drained "
        f"{r['drained_after_s']:.0f} s after the grace period; unprocessed intents then: "
        f"{r['unprocessed_after_drain']}.",
        f"- CPU seconds during the publish window: {cpu}; load generator {r['bench_cpu_s']}.",
        f"- Overall: {'all targets met' if sse_ok and hook_ok and not lost else 'targets missed'}.",
    ]
    if args.notes:
        lines += ["", args.notes]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) our section of RESULTS.md; leave every other section alone."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\n" + text)
        return
    lines = RESULTS.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        body = "".join(lines)
        RESULTS.write_text(body + ("" if body.endswith("\n\n") else "\n") + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = lines[end:]
    RESULTS.write_text("".join(lines[:start]) + text + ("\n" if tail else "") + "".join(tail))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vendors", type=int, default=1000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0, help="intents per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of publishing")
    parser.add_argument("--sse-sample", type=int, default=50, help="vendors with SSE + webhook")
    parser.add_argument("--web-workers", type=int, default=2, help="granian workers")
    parser.add_argument("--layout", choices=["serve", "split"], default="serve")
    parser.add_argument("--matchers", type=int, default=2, help="matchers (split layout)")
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at half rate")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--quick", action="store_true", help="100 vendors, 10k subs, 100/s, 10 s")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--py-spy", default="", help="profile the server into this folder")
    parser.add_argument("--notes", default="", help="a paragraph appended to the section")
    args = parser.parse_args()
    if args.quick:
        args.vendors, args.subscriptions, args.rate, args.duration = 100, 10_000, 100.0, 10.0
    if args.sse_sample >= args.vendors:
        parser.error("--sse-sample must be below --vendors")

    workdir = Path(tempfile.mkdtemp(prefix="intentcast-e2e-"))
    deployment = Deployment(args, workdir)
    survivors: list[str] = []
    try:
        print(f"starting ({args.layout}) in {workdir} ...", flush=True)
        deployment.start()
        result = asyncio.run(run_bench(args, deployment))
    finally:
        survivors = deployment.stop()
        if survivors:
            print(f"WARNING: killed leftover processes: {survivors}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")
    text = render(args, deployment.description, result)
    print()
    print(text)
    print(json.dumps({k: v for k, v in result.items() if k != "failure_sample"}, indent=1))
    if result["failure_sample"]:
        print("failures:", result["failure_sample"])
    if survivors:
        return 2
    if not args.no_write:
        write_section(text)
        print(f"wrote {RESULTS.relative_to(ROOT)} ({SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
