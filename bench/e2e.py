"""End-to-end benchmark: publish → SSE and publish → webhook latency on real processes.

    .venv/bin/python bench/e2e.py                      # 1,000 vendors, 100k subs, 500/s for 60 s
    .venv/bin/python bench/e2e.py --quick              # 100 vendors, 10k subs, 100/s for 10 s
    .venv/bin/python bench/e2e.py --scenario fanout    # every vendor on SSE, 20/s, 40 hot
                                                       # categories (~38 vendors per intent)
    .venv/bin/python bench/e2e.py --scenario fanout --quick   # 1,000 vendors, 20k subs, 15 s

Options given explicitly win over a scenario's or ``--quick``'s values. On a shared machine
run it under the machine-wide lock: ``flock /tmp/intentcast-bench.lock python bench/e2e.py``.

What it does, all on 127.0.0.1 and on this one machine (the load generator included):

1. starts the server — ``intentcast serve`` (layout ``serve``) or, with ``--layout split``,
   an embedded PostgreSQL + Redis owned by this script and ``intentcast api`` plus
   ``--matchers`` matcher processes, one delivery and one scheduler worker against them —
   with a fresh temporary data dir, auto-verified vendors, loopback webhooks allowed, no
   rate limit;
2. creates the vendors and buyers over HTTP and bulk-loads the subscriptions with ``COPY``
   into PostgreSQL (the matchers pick them up through their ``change_version`` check; a probe
   intent proves they have before the clock starts);
3. starts the receivers as a child process (``bench/loadgen.py receive``: raw-socket SSE
   listeners, one per listening vendor, and a keep-alive webhook receiver), registers one
   webhook per sampled vendor on it and waits until every SSE connection is open — so that
   1,000 SSE connections cost the measuring process nothing;
4. publishes intents open-loop at a fixed rate with pre-encoded requests on keep-alive
   HTTP/1.1 connections (``loadgen.RawPublisher``; sends are scheduled at fixed instants
   whatever the answers do; latency is measured from the moment each POST was written;
   receipt times come from the child, on the same system-wide ``CLOCK_MONOTONIC``);
5. waits a grace period, then reads every listening vendor's durable feed
   (``/v1/vendor/matches``): each ``intent.matched`` event of a benchmark intent there is
   an expected SSE receipt (and, for the sampled vendors, an expected webhook receipt).
   Lost = expected receipts not seen by the end of the grace period (those that came later
   are counted apart); duplicates, unexpected receipts, SSE reconnects and seq gaps are
   counted too.

Results go to stdout and, unless ``--no-write``, to the ``## End to end`` (or ``## Fan-out``)
section of ``bench/RESULTS.md`` (other sections are kept as they are). ``--py-spy DIR``
records every server process (raw collapsed stacks) during the publish window.
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

# ``python bench/e2e.py`` puts bench/ first on sys.path, where a module may shadow the
# standard library's (bench/http.py would hide ``http``); look there last instead
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH] + [str(_BENCH)]

import httpx  # noqa: E402
import psutil  # noqa: E402
from loadgen import RawPublisher  # noqa: E402  (bench/loadgen.py, beside this script)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## End to end"
FANOUT_SECTION = "## Fan-out"

TARGET_SSE_P99_MS = 50.0
TARGET_WEBHOOK_P99_MS = 100.0
FANOUT_SSE_P99_MS = 100.0
FANOUT_HOT = 40

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
    hot_categories: int = 0
    """If set, subscriptions and intents use only that many level-3 categories (more
    vendors per intent: the fan-out scenario)."""
    levels: dict[int, list[Any]] = field(default_factory=dict)  # depth -> categories

    def __post_init__(self) -> None:
        from intentcast.domain.taxonomy import default_categories

        for category in default_categories():
            self.levels.setdefault(category.path.count("/"), []).append(category)
        if self.hot_categories:
            self.levels[2] = self.levels[2][: self.hot_categories]
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
        if self.args.layout == "serve":  # the password file exists once it has started
            self.database_url = EmbeddedPostgres(self.data_dir / "postgres" / "data").url

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

    def footprint(self) -> dict[str, tuple[float, float]]:
        """Per process name of the server tree: (resident memory in MB, CPU seconds)."""
        out: dict[str, tuple[float, float]] = {}
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                argv = proc.cmdline()
                name = " ".join(argv[3:6]) if "python" in proc.name() else proc.name()
                times = proc.cpu_times()
                rss, cpu = out.get(name, (0.0, 0.0))
                out[name] = (rss + proc.memory_info().rss / 2**20, cpu + times.user + times.system)
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


class Receivers:
    """The receiving side (SSE listeners + webhook receiver) as a child process
    (``bench/loadgen.py receive``), so it does not cost the publishing process."""

    def __init__(self, port: int, sse: list[tuple[int, str]], workdir: Path) -> None:
        self.spec = workdir / "receivers.json"
        self.out = workdir / "received.json"
        self.spec.write_text(json.dumps({"sse": sse}))
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("loadgen.py")), "receive",
             "--port", str(port), "--spec", str(self.spec), "--out", str(self.out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        self.hook_port = int(self._expect(b"HOOK").split()[1])

    def _expect(self, word: bytes) -> bytes:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(word):
            raise RuntimeError(f"receivers said {line!r}, expected {word!r}")
        return line

    async def ready(self) -> None:
        await asyncio.to_thread(self._expect, b"READY")

    def cpu_s(self) -> float:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self.process.pid).cpu_times()
            return times.user + times.system
        return 0.0

    async def collect(self) -> dict[str, Any]:
        """Stop the child; its receipts."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"stop\n")
        self.process.stdin.flush()
        await asyncio.to_thread(self._expect, b"DONE")
        await asyncio.to_thread(self.process.wait, 30)
        return json.loads(self.out.read_text())

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# ----------------------------------------------------------------------------- publisher


@dataclass
class Sent:
    scheduled: float
    sent: float
    answered: float
    status: int


async def publish_open_loop(
    client: RawPublisher,
    requests: list[bytes],
    rate: float,
    sent_at: dict[str, Sent],
    failures: list[str],
) -> float:
    """Send pre-encoded ``requests`` at ``rate``/s on a fixed schedule; returns the elapsed
    seconds."""
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic() + 0.05
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(request: bytes, scheduled: float) -> None:
        try:
            async with in_flight:
                status, data, sent = await client.send(request)
        except Exception as exc:
            failures.append(repr(exc))
            return
        answered = time.monotonic()
        if status != 201:
            failures.append(f"{status} {data[:200]!r}")
            return
        intent_id = json.loads(data)["id"]
        sent_at[intent_id] = Sent(scheduled, sent, answered, status)

    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(request, scheduled))
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
    workload = Workload(args.seed, args.hot_categories)
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

    # the sample: webhooks (and SSE) for ``--sse-sample`` vendors; in the fan-out scenario
    # every vendor listens on SSE
    rng = random.Random(args.seed + 7)
    sample = sorted(rng.sample(range(1, len(vendors)), min(args.sse_sample, len(vendors) - 1)))
    sample = [0, *sample[: max(0, args.sse_sample - 1)]]
    listening = list(range(len(vendors))) if args.sse_all else sample
    await wait_for_index(deployment, workload, http, buyer_tokens[0], log)
    before_connections = deployment.footprint()
    receivers = Receivers(
        deployment.port, [(v, vendors[v][1]) for v in listening], deployment.workdir
    )
    try:
        for v in sample:
            r = await http.post(
                "/v1/vendor/webhooks",
                json={
                    "url": f"http://127.0.0.1:{receivers.hook_port}/hook/{v}",
                    "events": ["intent.matched"],
                },
                headers={"Authorization": f"Bearer {vendors[v][1]}"},
            )
            r.raise_for_status()
        await receivers.ready()
        log(f"  {len(listening)} SSE connections, {len(sample)} webhooks")
        idle = await hold_idle(args.idle, deployment, before_connections, len(listening), log)
        return idle | await measure(args, deployment, workload, http, vendors, buyer_tokens, sample,
                             listening, receivers, total_intents, log)  # fmt: skip
    finally:
        receivers.kill()
        await http.aclose()


async def wait_for_index(
    deployment: Deployment, workload: Workload, http: httpx.AsyncClient, token: str, log: Any
) -> None:
    """Publish a probe until it matches: every matcher has loaded the whole index."""
    import asyncpg

    # the probe proves every matcher has the whole index before the clock starts
    t2 = time.monotonic()
    probe = json.loads(workload.intents(1)[0])
    probe.update(category="electronics", title=f"Probe {PROBE_WORD}")
    probe.pop("location")
    deadline = time.monotonic() + 300  # 100k subscriptions take 40-70 s on a busy machine
    probes = 0
    conn = await asyncpg.connect(deployment.database_url)
    try:
        while True:
            r = await http.post(
                "/v1/intents", json=probe, headers={"Authorization": f"Bearer {token}"}
            )
            r.raise_for_status()
            probes += 1
            probe_id = r.json()["id"]
            await asyncio.sleep(1.0)
            if await conn.fetchval("SELECT count(*) FROM matches WHERE intent_id = $1", probe_id):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the matchers never picked up the subscriptions")
    finally:
        await conn.close()
    log(f"  index loaded (probe matched after {time.monotonic() - t2:.1f}s, {probes} probes)")


async def hold_idle(
    seconds: float,
    deployment: Deployment,
    before_connections: dict[str, tuple[float, float]],
    connections: int,
    log: Any,
) -> dict[str, Any]:
    """What the open SSE connections cost the server while nothing is published: its memory
    beyond what it used before they connected, and its CPU over ``seconds`` (heartbeats,
    Redis subscriptions). Nothing when ``seconds`` is 0."""
    if seconds <= 0 or connections == 0:
        return {}
    await asyncio.sleep(2.0)  # the last subscriptions settle
    connected = deployment.footprint()
    await asyncio.sleep(seconds)
    after = deployment.footprint()
    names = sorted(connected, key=lambda n: -(after.get(n, (0, 0))[1] - connected[n][1]))
    per_process = {
        name: {
            "rss_added_mb": round(connected[name][0] - before_connections.get(name, (0, 0))[0], 1),
            "cores": round((after.get(name, connected[name])[1] - connected[name][1]) / seconds, 4),
        }
        for name in names
    }
    rss_added = sum(p["rss_added_mb"] for p in per_process.values())
    cores = sum(p["cores"] for p in per_process.values())
    log(f"  idle {seconds:g} s: RSS +{rss_added:.1f} MB, {cores:.3f} cores; {per_process}")
    return {
        "idle": {
            "seconds": seconds,
            "connections": connections,
            "rss_added_mb": round(rss_added, 1),
            "kb_per_connection": round(rss_added * 1024 / connections, 1),
            "cores": round(cores, 4),
            "us_per_connection_s": round(cores * 1e6 / connections, 2),
            "per_process": per_process,
        }
    }


async def measure(
    args: argparse.Namespace,
    deployment: Deployment,
    workload: Workload,
    http: httpx.AsyncClient,
    vendors: list[tuple[str, str]],
    buyer_tokens: list[str],
    sample: list[int],
    listening: list[int],
    receivers: Receivers,
    total_intents: int,
    log: Any,
) -> dict[str, Any]:
    import asyncpg

    def requests(bodies: list[bytes]) -> list[bytes]:
        return [
            RawPublisher.encode("/v1/intents", buyer_tokens[i % len(buyer_tokens)], body)
            for i, body in enumerate(bodies)
        ]

    client = RawPublisher(deployment.port)
    failures: list[str] = []
    warm: dict[str, Sent] = {}
    if args.warmup > 0:
        bodies = workload.intents(int(args.warmup * args.rate / 2), seed_offset=99)
        await publish_open_loop(client, requests(bodies), args.rate / 2, warm, failures)
        await asyncio.sleep(3)
    to_send = requests(workload.intents(total_intents))
    profilers = deployment.profile(args.py_spy, args.duration) if args.py_spy else []
    cpu_before = deployment.cpu_times()
    bench_cpu_before = sum(psutil.Process().cpu_times()[:2])
    receivers_cpu_before = receivers.cpu_s()

    log(f"  publishing {total_intents} intents at {args.rate}/s ...")
    sent_at: dict[str, Sent] = {}
    elapsed = await publish_open_loop(client, to_send, args.rate, sent_at, failures)
    publish_end = time.monotonic()
    cpu_after = deployment.cpu_times()
    bench_cpu = sum(psutil.Process().cpu_times()[:2]) - bench_cpu_before
    receivers_cpu = receivers.cpu_s() - receivers_cpu_before
    for profiler in profilers:
        profiler.wait()
    await asyncio.sleep(args.grace)
    cutoff = time.monotonic()

    # drain: wait for the outbox and pending webhook deliveries to empty (for the report)
    conn = await asyncpg.connect(deployment.database_url)
    try:
        drain_deadline = time.monotonic() + args.drain
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
    await asyncio.sleep(1.0)  # the last SSE frames of the drain
    received = await receivers.collect()
    client.close()

    # expected: every intent.matched of a benchmark intent in a listening vendor's feed
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

    feeds = dict(zip(listening, await gather_limited(8, [feed(v) for v in listening]), strict=True))
    expected_sse = {(v, i) for v in listening for i in feeds[v] if i in sent_at}
    expected_hook = {(v, i) for v in sample for i in feeds[v] if i in sent_at}

    def latencies(
        seen: list[list[Any]], expected: set[tuple[int, str]]
    ) -> tuple[list[float], int, int, int, int]:
        """(latencies of first receipts by the cutoff, lost by the cutoff, of those arrived
        later, duplicates, unexpected)"""
        first: dict[tuple[int, str], float] = {}
        dupes = 0
        for v, i, t, _ in seen:
            if i not in sent_at:
                continue
            if (v, i) in first:
                dupes += 1
                continue
            first[(v, i)] = t
        on_time = {k for k, t in first.items() if t <= cutoff}
        lat = [first[k] - sent_at[k[1]].sent for k in expected & on_time]
        lost = expected - on_time
        late = len(lost & first.keys())
        return lat, len(lost), late, dupes, len(first.keys() - expected)

    sse_lat, sse_lost, sse_late, sse_dupes, unexpected_sse = latencies(
        received["sse"], expected_sse
    )
    hook_lat, hook_lost, hook_late, hook_dupes, unexpected_hook = latencies(
        received["hook"], expected_hook
    )
    publish_times = [s.sent for s in sent_at.values()]
    post_lat = [s.answered - s.sent for s in sent_at.values()]
    lag = [s.sent - s.scheduled for s in sent_at.values()]
    cpu = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after}
    processed = max(1, len(sent_at) - unprocessed)
    return {
        "published": len(sent_at),
        "attempted": total_intents,
        "failures": len(failures),
        "failure_sample": failures[:5],
        # accepted intents over the span of their actual sends (the schedule may slip)
        "achieved_rate": len(sent_at) / max(1e-9, max(publish_times) - min(publish_times))
        if publish_times
        else 0.0,
        "publish_seconds": elapsed,
        "post": summary(post_lat),
        "send_lag": summary(lag),
        "sse": summary(sse_lat),
        "webhook": summary(hook_lat),
        "expected_sse": len(expected_sse),
        "expected_hook": len(expected_hook),
        "sse_lost": sse_lost,
        "sse_late": sse_late,
        "sse_dupes": sse_dupes,
        "sse_reconnects": received["reconnects"],
        "sse_gaps": received["gaps"],
        "hook_lost": hook_lost,
        "hook_late": hook_late,
        "hook_dupes": hook_dupes,
        "unexpected_sse": unexpected_sse,
        "unexpected_hook": unexpected_hook,
        # over the intents the matchers had processed when measured
        "matched_subs_per_intent": match_stats["subs"] / processed,
        "matched_vendors_per_intent": match_stats["vendors"] / processed,
        "intents_with_match": matched_intents / processed,
        "unprocessed_after_drain": unprocessed,
        "drained_after_s": drained_after,
        "sample": len(sample),
        "listening": len(listening),
        "connections": client.opened,
        "cpu_s": {k: round(v, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
        "bench_cpu_s": round(bench_cpu, 1),
        "receivers_cpu_s": round(receivers_cpu, 1),
        "publish_window_s": publish_end - (publish_end - elapsed),
    }


# ----------------------------------------------------------------------------- report


def fmt(v: float) -> str:
    return "—" if v != v else f"{v:.1f}"


def render(args: argparse.Namespace, layout: str, r: dict[str, Any]) -> str:
    sse, hook, post = r["sse"], r["webhook"], r["post"]
    fanout = args.scenario == "fanout"
    sse_target = FANOUT_SSE_P99_MS if fanout else TARGET_SSE_P99_MS
    sse_ok = sse["p99"] <= sse_target
    hook_ok = fanout or hook["p99"] <= TARGET_WEBHOOK_P99_MS
    rate_ok = r["achieved_rate"] >= 0.95 * args.rate
    lost = r["sse_lost"] + r["hook_lost"] + r["sse_dupes"] + r["hook_dupes"]
    verdict = "all targets met" if sse_ok and hook_ok and rate_ok and not lost else "missed"
    mark = {True: "met", False: "**missed**"}
    cpu = ", ".join(f"{k} {v}" for k, v in list(r["cpu_s"].items())[:8])
    lines = [
        FANOUT_SECTION if fanout else SECTION,
        "",
        f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} with "
        f"`python bench/e2e.py {' '.join(sys.argv[1:])}`"
        f"{' (quick)' if args.quick else ''}; load average before: {args.load_before}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        "**everything on the same machine**: PostgreSQL, Redis, API, workers, the publisher "
        "(pre-encoded keep-alive HTTP/1.1, this process) and the receivers (raw-socket SSE "
        "listeners + webhook receiver, one child process).",
        f"- Layout: {layout}.",
        f"- Parameters: {args.vendors} vendors, {args.subscriptions} subscriptions (COPY-loaded"
        f"{f'; {args.hot_categories} level-3 categories only' if args.hot_categories else ''}), "
        f"intents at {args.rate}/s for {args.duration} s over HTTP (open loop); SSE for "
        f"{r['listening']} vendors, webhooks for {r['sample']}; grace {args.grace} s.",
        f"- Matching: {r['matched_subs_per_intent']:.2f} subscriptions / "
        f"{r['matched_vendors_per_intent']:.2f} vendors per intent "
        f"({100 * r['intents_with_match']:.0f}% of intents matched at least one); expected "
        f"deliveries (from the feeds): SSE {r['expected_sse']} "
        f"({r['expected_sse'] / max(1e-9, r['publish_seconds']):.0f}/s), "
        f"webhook {r['expected_hook']}.",
        "",
        "| metric | target | p50 ms | p95 ms | p99 ms | max ms | n | lost | dup | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| publish → SSE receipt | p99 ≤ {sse_target:.0f} ms, 0 lost | {fmt(sse['p50'])} | "
        f"{fmt(sse['p95'])} | {fmt(sse['p99'])} | {fmt(sse['max'])} | {sse['n']} | "
        f"{r['sse_lost']} | {r['sse_dupes']} | "
        f"{mark[sse_ok and not r['sse_lost'] and not r['sse_dupes']]} |",
        f"| publish → webhook receipt | {'—' if fanout else f'p99 ≤ {TARGET_WEBHOOK_P99_MS:.0f}'}"
        f" ms, 0 lost | {fmt(hook['p50'])} | {fmt(hook['p95'])} | {fmt(hook['p99'])} | "
        f"{fmt(hook['max'])} | {hook['n']} | {r['hook_lost']} | {r['hook_dupes']} | "
        f"{mark[hook_ok and not r['hook_lost'] and not r['hook_dupes']]} |",
        f"| POST /v1/intents (201) | {args.rate:.0f}/s held | {fmt(post['p50'])} | "
        f"{fmt(post['p95'])} | {fmt(post['p99'])} | {fmt(post['max'])} | {post['n']} | — | — | "
        f"{mark[rate_ok]} |",
        "",
        f"- Publishing: {r['published']}/{r['attempted']} accepted ({r['failures']} failed), "
        f"achieved {r['achieved_rate']:.0f}/s on {r['connections']} connections; send lag "
        f"p50 {fmt(r['send_lag']['p50'])} / p99 {fmt(r['send_lag']['p99'])} ms.",
        f"- Lost = in the feed, not received by the end of the grace period; of those arrived "
        f"later: SSE {r['sse_late']}, webhook {r['hook_late']}. Unexpected: SSE "
        f"{r['unexpected_sse']}, webhook {r['unexpected_hook']}. SSE reconnects "
        f"{r['sse_reconnects']}, seq gaps seen {r['sse_gaps']}. Drained "
        f"{r['drained_after_s']:.0f} s after the grace period; unprocessed then: "
        f"{r['unprocessed_after_drain']}.",
        f"- CPU seconds in the publish window: {cpu}; publisher {r['bench_cpu_s']}, receivers "
        f"{r['receivers_cpu_s']}.",
        f"- Overall: {verdict}.",
    ]
    if idle := r.get("idle"):
        from intentcast.api.streams import HEARTBEAT_S

        lines.insert(
            -1,
            f"- Idle, before publishing: {idle['connections']} SSE connections open for "
            f"{idle['seconds']:g} s cost the server {idle['rss_added_mb']} MB of resident memory "
            f"beyond its footprint before they connected ({idle['kb_per_connection']} kB per "
            f"connection) and {idle['cores']} cores ({idle['us_per_connection_s']} µs of CPU "
            f"per connection per second: heartbeats every {HEARTBEAT_S:g} s). Per delivery: "
            f"the API's CPU seconds above over the SSE deliveries.",
        )
    if args.notes:
        lines += ["", args.notes]
    return "\n".join(lines) + "\n"


def write_section(text: str, section: str) -> None:
    """Replace (or append) the head of our section of RESULTS.md (the latest run); leave
    its ``###`` parts and every other section alone."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\n" + text)
        return
    lines = RESULTS.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == section), None)
    if start is None:
        body = "".join(lines)
        RESULTS.write_text(body + ("" if body.endswith("\n\n") else "\n") + text)
        return
    # the section's latest run, up to its first ``###`` part: the parts (earlier runs with
    # their before/after notes) stay
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "### "))),
        len(lines),
    )
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
    parser.add_argument("--drain", type=float, default=180.0, help="max s to wait for backlog")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at half rate")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument(
        "--scenario",
        choices=["latency", "fanout"],
        default="latency",
        help="latency: the defaults above; fanout: every vendor on SSE, 20 intents/s, "
        f"{FANOUT_HOT} hot categories (options given explicitly still win)",
    )
    parser.add_argument("--hot-categories", type=int, default=None, help="level-3 categories")
    parser.add_argument("--sse-all", action="store_true", help="every vendor listens on SSE")
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="hold the SSE connections this many seconds before publishing and report "
        "their memory and CPU",
    )
    parser.add_argument("--py-spy", default="", help="profile the server into this folder")
    parser.add_argument("--notes", default="", help="a paragraph appended to the section")
    given = {a.split("=")[0] for a in sys.argv[1:] if a.startswith("--")}
    args = parser.parse_args()
    defaults: dict[str, Any] = {}
    if args.scenario == "fanout":
        defaults.update(rate=20.0, sse_all=True, hot_categories=FANOUT_HOT)
    if args.quick:
        defaults.update(vendors=100, subscriptions=10_000, rate=100.0, duration=10.0)
        if args.scenario == "fanout":
            defaults.update(vendors=1000, subscriptions=20_000, rate=20.0, duration=15.0)
    for name, value in defaults.items():
        if "--" + name.replace("_", "-") not in given:
            setattr(args, name, value)
    args.hot_categories = args.hot_categories or 0
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
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
        section = FANOUT_SECTION if args.scenario == "fanout" else SECTION
        write_section(text, section)
        print(f"wrote {RESULTS.relative_to(ROOT)} ({section})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
