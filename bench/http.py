"""HTTP benchmark: what the server costs per request, against what the stack costs alone.

    .venv/bin/python bench/http.py                    # 20 s per test, 1 web worker (~3 min)
    .venv/bin/python bench/http.py --quick            # 5 s per test (~1 min)
    .venv/bin/python bench/http.py --web-workers 2    # scaling
    .venv/bin/python bench/http.py --profile /tmp/prof --no-write   # py-spy + round trips

Everything on 127.0.0.1 and on this one machine, in one run (so the ratios compare numbers
taken under the same conditions):

1. ``intentcast serve`` (embedded PostgreSQL + Redis, ``--web-workers`` granian workers, one
   matcher, delivery and scheduler process) in a fresh temporary data dir, with
   ``INTENTCAST_MAX_OPEN_INTENTS=10000`` (the default cap of 20 open intents per buyer would
   turn most POSTs into 409s after a few seconds) and no rate limit; 64 buyers, 4 vendors
   each subscribed to one root category (no area: every intent of the category matches), and
   one published intent per buyer (the GET test reads them; each vendor's feed holds the
   matches of its category, ~16 events);
2. the bare reference app (``bench/http_reference/reference_app.py``: Litestar + msgspec on
   granian, same worker count, no middleware) on the same PostgreSQL;
3. raw asyncpg single-row INSERTs from this process (a pool of ``--connections``
   connections, one task per connection), the write ceiling of this PostgreSQL;
4. wrk (``bench/wrk/rotate.lua``, ``--threads`` threads, ``--connections`` connections) per
   test, after a short warm-up: reference ``GET /item`` and ``POST /rows``; intentcast
   ``GET /v1/intents/{id}`` (rotating the 64 buyers and their intents),
   ``GET /v1/vendor/matches`` (rotating the vendors) and ``POST /v1/intents`` (rotating the
   64 buyer tokens and realistic bodies; a counter in each title so no two bodies are equal).

It reports requests/s, latency p50/p99, errors (wrk's connect/read/write/timeout errors and
responses >= 400; any is printed and reported) and the CPU each process used, then the
ratios POST-intent / raw-INSERT and GET-intent / bare-GET against the targets, into the
``## HTTP`` section of ``bench/RESULTS.md`` (a ``### <label>`` part per ``--label``; other
parts and sections are kept) unless ``--no-write``.

``--server-src DIR`` runs the server from another checkout (``PYTHONPATH=DIR``, same venv), e.g.
a git worktree of an older commit for "before" numbers. ``--profile DIR`` skips the reference
tests and instead, for each intentcast test, records the API worker with py-spy (raw
collapsed stacks in DIR) and counts PostgreSQL statements and Redis commands per request
(``bench/http_roundtrips/sitecustomize.py``), then prints where the time goes by layer.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/http.py``, this file's folder comes first on sys.path, where this
# module would shadow the standard library's ``http`` package (httpx, litestar import it).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
SECTION = "## HTTP"
WRK_SCRIPT = BENCH / "wrk" / "rotate.lua"
ROUNDTRIP_COUNTERS = BENCH / "http_roundtrips"
REFERENCE_APP = BENCH / "http_reference" / "reference_app.py"

REFERENCE_TESTS = ("ref_get", "ref_get_row", "ref_post")
ALL_TESTS = ("raw_insert", *REFERENCE_TESTS, "get_intent", "get_feed", "post_intent")
TARGET_POST_RATIO = 0.15  # POST /v1/intents vs raw asyncpg single-row INSERTs
TARGET_GET_RATIO = 0.30  # GET /v1/intents/{id} vs the bare app's GET

BUYERS = 64
VENDOR_CATEGORIES = ["electronics", "home-garden", "sports", "furniture"]
MAX_OPEN_INTENTS = 10_000  # the setting's maximum; the default (20) would refuse most POSTs

CITIES = [
    ("Munich", 48.137, 11.575, "DE"),
    ("Berlin", 52.520, 13.405, "DE"),
    ("Vienna", 48.208, 16.373, "AT"),
    ("Paris", 48.857, 2.352, "FR"),
    ("Madrid", 40.417, -3.704, "ES"),
    ("Milan", 45.464, 9.190, "IT"),
    ("Amsterdam", 52.368, 4.904, "NL"),
    ("London", 51.507, -0.128, "GB"),
    ("Warsaw", 52.230, 21.012, "PL"),
    ("New York", 40.713, -74.006, "US"),
]
ADJECTIVES = ["used", "refurbished", "vintage", "compact", "wireless", "portable", "quality",
              "modern", "classic", "electric", "sturdy", "lightweight"]  # fmt: skip
DESCRIPTIONS = [
    "Looking for a good offer, pickup or delivery.",
    "Needed within two weeks; good condition is enough, original packaging not required.",
    "For a small flat, so it should not be too big. Happy to collect on a weekend.",
    "Replacing an old one that broke. Prefer a seller who can deliver and set it up.",
]


# ----------------------------------------------------------------------------- workload


def intent_bodies(seed: int, n: int) -> list[dict[str, Any]]:
    """Realistic intent bodies: a level-2/3 category under one of the vendors' roots, two
    adjectives in the title, a description, a EUR budget, a point near a city, fulfilment."""
    from intentcast.domain.taxonomy import default_categories

    categories = [
        c
        for c in default_categories()
        if c.path.split("/")[0] in VENDOR_CATEGORIES and c.path.count("/") >= 1
    ]
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        category = rng.choice(categories)
        _, lat, lng, country = rng.choice(CITIES)
        words = rng.sample(ADJECTIVES, 2)
        bodies.append(
            {
                "category": category.path,
                "title": f"{words[0].capitalize()} {words[1]} {category.name.lower()}",
                "description": rng.choice(DESCRIPTIONS),
                "budget": {"max": str(rng.choice([80, 150, 300, 800, 2000])), "currency": "EUR"},
                "location": {
                    "lat": round(lat + rng.uniform(-0.1, 0.1), 5),
                    "lng": round(lng + rng.uniform(-0.1, 0.1), 5),
                    "precision": 7,
                    "country": country,
                },
                "fulfilment": rng.sample(["pickup", "delivery"], rng.randint(1, 2)),
            }
        )
    return bodies


def numbered(body: dict[str, Any]) -> str:
    """The body as one JSON line whose title ends in ``#N#`` (the wrk script's counter)."""
    body = dict(body, title=body["title"] + " #N#")
    text = json.dumps(body, separators=(",", ":"))
    assert "\t" not in text and "\n" not in text
    return text


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Every process this benchmark starts; ``stop`` ends them (and their children) by pid."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def tree(self, name: str) -> list[psutil.Process]:
        process = self.started.get(name)
        if process is None or process.poll() is not None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(process.pid)
            return [parent, *parent.children(recursive=True)]
        return []

    def stop(self) -> list[str]:
        """SIGTERM each (the supervisor stops its children and the embedded servers), wait;
        whatever of the trees is still alive then is killed and named."""
        trees = [p for name in self.started for p in self.tree(name)]
        for process in reversed(list(self.started.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _, alive = psutil.wait_procs(trees, timeout=10)
        survivors = []
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                survivors.append(f"{proc.pid} {proc.name()}")
                proc.kill()
        return survivors


def wait_http(url: str, processes: Processes, name: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = processes.started[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{processes.log(name)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready in {timeout}s:\n{processes.log(name)}")


def server_env(args: argparse.Namespace, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env.update(
        INTENTCAST_DATA_DIR=str(data_dir),
        INTENTCAST_HOST="127.0.0.1",
        INTENTCAST_PORT=str(port),
        INTENTCAST_WEB_WORKERS=str(args.web_workers),
        INTENTCAST_AUTO_VERIFY_VENDORS="true",
        INTENTCAST_MAX_OPEN_INTENTS=str(MAX_OPEN_INTENTS),
        INTENTCAST_RATE_LIMIT="0",
        INTENTCAST_LOG_LEVEL="warning",
    )
    paths = []
    if args.profile:
        paths.append(str(ROUNDTRIP_COUNTERS))
        env["BENCH_ROUNDTRIPS_DIR"] = str(Path(args.profile) / "roundtrips")
    for assignment in args.server_env:
        name, _, value = assignment.partition("=")
        env[name] = value
    if args.server_src:
        paths.append(str(Path(args.server_src).resolve()))
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def role_of(proc: psutil.Process, api_pids: set[int]) -> str:
    """A short name for a process of the trees: api worker, postgres, matcher, wrk, ..."""
    try:
        name = proc.name()
        argv = proc.cmdline()
    except psutil.Error:
        return "gone"
    if proc.pid in api_pids:
        return "api workers"
    if "postgres" in name:
        return "postgresql"
    if "redis" in name:
        return "redis"
    if "reference_app.py" in " ".join(argv):
        return "reference app"
    if "--role" in argv:
        return argv[argv.index("--role") + 1]
    if "serve" in argv or "api" in argv:
        return "supervisor/granian main"
    return name


def api_worker_pids(processes: Processes) -> set[int]:
    """granian's worker processes under ``intentcast api`` (its children)."""
    for proc in processes.tree("intentcast"):
        with contextlib.suppress(psutil.Error):
            argv = proc.cmdline()
            if argv[-1:] == ["api"] or argv[-2:-1] == ["api"] or ("api" in argv[2:4]):
                return {c.pid for c in proc.children()}
    return set()


def reference_worker_pids(processes: Processes) -> set[int]:
    tree = processes.tree("reference")
    return {p.pid for p in tree[1:]} if tree else set()


class CpuMeter:
    """CPU seconds per role over an interval, for every process this benchmark started."""

    def __init__(self, processes: Processes, api_pids: set[int]) -> None:
        self.processes = processes
        self.api_pids = api_pids
        self.before: dict[int, tuple[str, float]] = {}

    def _sample(self) -> dict[int, tuple[str, float]]:
        out = {}
        procs = [p for name in self.processes.started for p in self.processes.tree(name)]
        procs.append(psutil.Process())
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                out[proc.pid] = (role_of(proc, self.api_pids), t.user + t.system)
        return out

    @staticmethod
    def _waited_children() -> float:
        """CPU of this process's finished children: wrk."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> None:
        self.before = self._sample()
        self.children_before = self._waited_children()
        self.started_at = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Cores used per role (CPU seconds / wall seconds) since ``start``."""
        after = self._sample()
        seconds = time.monotonic() - self.started_at
        used: Counter[str] = Counter()
        for pid, (role, cpu) in after.items():
            role = "bench (this process)" if pid == os.getpid() else role
            used[role] += cpu - self.before.get(pid, (role, 0.0))[1]
        used["wrk"] += self._waited_children() - self.children_before
        return {k: round(v / seconds, 2) for k, v in used.most_common() if v / seconds >= 0.01}


# ----------------------------------------------------------------------------- setup


async def prepare_intentcast(url: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Buyers, vendors with subscriptions, one intent per buyer; waits until the matcher has
    put every intent into its vendor's feed."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def buyer(i: int) -> str:
            r = await http.post("/v1/buyers", json={"display_name": f"bench buyer {i}"})
            r.raise_for_status()
            return r.json()["token"]

        async def vendor(i: int, category: str) -> str:
            r = await http.post("/v1/vendors", json={"name": f"bench vendor {i}"})
            r.raise_for_status()
            token = r.json()["token"]
            r = await http.post(
                "/v1/subscriptions",
                json={"categories": [category]},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            return token

        buyers = await asyncio.gather(*(buyer(i) for i in range(BUYERS)))
        vendors = [await vendor(i, c) for i, c in enumerate(VENDOR_CATEGORIES)]
        await asyncio.sleep(1.0)  # the matcher picks the subscriptions up from ic:subs

        async def publish(token: str, body: dict[str, Any]) -> str:
            r = await http.post(
                "/v1/intents", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            r.raise_for_status()
            return r.json()["id"]

        intent_ids = await asyncio.gather(
            *(publish(t, b) for t, b in zip(buyers, bodies, strict=False))
        )

        async def feed_size(token: str) -> int:
            r = await http.get("/v1/vendor/matches", headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()
            return sum(1 for e in r.json()["items"] if e["type"] == "intent.matched")

        deadline = time.monotonic() + 60
        sizes: list[int] = []
        while time.monotonic() < deadline:
            sizes = [await feed_size(t) for t in vendors]
            if sum(sizes) >= len(intent_ids):
                break
            await asyncio.sleep(0.5)
    return {"buyers": buyers, "vendors": vendors, "intent_ids": intent_ids, "feed_sizes": sizes}


async def create_reference_table(database_url: str) -> None:
    import asyncpg
    from reference_app import CREATE_TABLE_SQL, INSERT_ROW_SQL, READ_ROWS

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(CREATE_TABLE_SQL)
        await conn.executemany(
            INSERT_ROW_SQL + " ON CONFLICT (id) DO NOTHING",
            [(row_id, "electronics", "a row to read", "{}") for row_id in READ_ROWS],
        )
    finally:
        await conn.close()


async def raw_inserts(
    database_url: str,
    bodies: list[dict[str, Any]],
    connections: int,
    seconds: float,
    meter: CpuMeter,
) -> dict[str, Any]:
    """Single-row INSERTs (the reference app's statement) from ``connections`` tasks, each
    on its own pool connection, for ``seconds``; returns rows/s and latency percentiles.
    The CPU is read before the pool closes (its PostgreSQL backends exit with it)."""
    import asyncpg
    from reference_app import INSERT_ROW_SQL

    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections)
    latencies: list[float] = []
    texts = [json.dumps(b) for b in bodies]
    stop_at = 0.0

    async def worker(w: int) -> None:
        i = w
        async with pool.acquire() as conn:
            while time.monotonic() < stop_at:
                body = bodies[i % len(bodies)]
                t0 = time.perf_counter()
                await conn.execute(
                    INSERT_ROW_SQL,
                    f"raw{w}-{i}-{time.monotonic_ns()}",
                    body["category"],
                    body["title"],
                    texts[i % len(texts)],
                )
                latencies.append(time.perf_counter() - t0)
                i += connections

    try:
        stop_at = time.monotonic() + 1.0  # warm-up
        await asyncio.gather(*(worker(w) for w in range(connections)))
        latencies.clear()
        meter.start()
        start = time.monotonic()
        stop_at = start + seconds
        await asyncio.gather(*(worker(w) for w in range(connections)))
        elapsed = time.monotonic() - start
        cpu = meter.stop()
    finally:
        await pool.close()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": 0,
        "cpu": cpu,
    }


# ----------------------------------------------------------------------------- wrk


def write_requests(path: Path, lines: list[tuple[str, str, str, str]]) -> Path:
    with path.open("w") as out:
        for method, target, token, body in lines:
            out.write(f"{method}\t{target}\t{token or '-'}\t{body or '-'}\n")
    return path


def run_wrk(args: argparse.Namespace, base_url: str, data: Path, seconds: float) -> dict[str, Any]:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s",
            "--timeout", "10s", "-s", str(WRK_SCRIPT), base_url, "--", str(data)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^WRKJSON (\{.*\})$", done.stdout, re.M)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(match.group(1))
    errors = sum(
        raw[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": errors,
        "error_detail": {k: v for k, v in raw.items() if k.endswith(("errors", "timeouts")) and v},
    }


def sanity_check(base_url: str, line: tuple[str, str, str, str], expect: int) -> None:
    """One request of the kind wrk will send, so a test never measures error answers."""
    method, target, token, body = line
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = body.replace("#N#", "0") if body else None
    if content:
        headers["Content-Type"] = "application/json"
    r = httpx.request(method, base_url + target, headers=headers, content=content, timeout=30)
    if r.status_code != expect:
        raise RuntimeError(f"{method} {target}: {r.status_code} {r.text[:300]}")


# ----------------------------------------------------------------------------- profile

# A py-spy frame reads ``function (path/to/file.py:line)``; walking from the leaf, the first
# frame matching a pattern names the layer (standard-library frames are transparent: time in
# ``re`` called by the scrubber is scrubbing).
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    ("auth (BearerTokenMiddleware, guards)", re.compile(r"intentcast/api/auth\.py")),
    ("idempotency middleware", re.compile(r"intentcast/api/idempotency\.py")),
    (
        "request id / metrics wrapper",
        re.compile(r"intentcast/api/observability\.py|intentcast/metrics\.py|prometheus_client/"),
    ),
    ("control-character guard", re.compile(r"^(handle|_?refuse\w*) \(.*intentcast/api/errors")),
    ("CheckedRequest / problem mapping", re.compile(r"intentcast/api/errors\.py")),
    ("rate limiter", re.compile(r"rate_limit|RuntimeRateLimit")),
    ("scrubbing", re.compile(r"intentcast/domain/scrubbing\.py|phonenumbers/")),
    (
        "asyncpg + PostgreSQL/Redis socket I/O",
        re.compile(r"asyncpg/|^_SelectorSocketTransport\."),
    ),
    ("redis client (redis-py)", re.compile(r"redis/")),
    ("logging", re.compile(r"intentcast/logs\.py|^\S+ \(logging/")),
    (
        "msgspec decode/encode (via litestar)",
        re.compile(r"litestar/serialization|msgspec|litestar/_signature|_kwargs/extractors"),
    ),
    ("intentcast services/store/domain", re.compile(r"intentcast/(services|store|domain|bus)/")),
    ("intentcast controllers / app", re.compile(r"intentcast/")),
    ("litestar routing/DI/response", re.compile(r"litestar/")),
    ("anyio (cancel scopes, thread pool)", re.compile(r"anyio/")),
    ("granian / ASGI glue (Python)", re.compile(r"granian/")),
]
STDLIB_PACKAGES = ("asyncio/", "json/", "re/", "collections/", "concurrent/", "email/",
                   "http/", "urllib/", "multiprocessing/", "importlib/", "encodings/")  # fmt: skip
NO_FRAME = "no Python frame (granian's Rust threads holding the GIL)"
# granian's send/receive are native: their cost shows as the leaf on the awaiting line
NATIVE_CALL = "granian send/receive (native, awaited from the app)"
NATIVE_CALL_LEAF = re.compile(
    r"send_with_id \(intentcast/api/observability\.py|Request\.stream \(litestar/connection/"
)


def _stdlib(frame: str) -> bool:
    location = frame[frame.rfind("(") + 1 :]
    return (
        "/" not in location.split(":")[0]  # copy.py, selectors.py, random.py, ...
        or location.startswith(STDLIB_PACKAGES)
        or location.startswith("<frozen")
    )


def classify(stack: list[str]) -> str:
    """The layer of the frame nearest the leaf that belongs to a known layer. A stack of
    nothing but asyncio/stdlib frames is the event loop itself."""
    if stack == [""]:
        return NO_FRAME
    if NATIVE_CALL_LEAF.search(stack[-1]):
        return NATIVE_CALL
    for frame in reversed(stack):
        for name, pattern in LAYERS:
            if pattern.search(frame):
                return name
        if not _stdlib(frame):
            return "other"
    return "asyncio event loop (scheduling, epoll)"


def breakdown(raw_path: Path) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack_text, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack_text.split(";")
        counts[classify(frames)] += int(n)
        total += int(n)
    return counts, total


def top_functions(raw_path: Path, limit: int = 12) -> list[tuple[str, int]]:
    leaf: Counter[str] = Counter()
    for line in raw_path.read_text().splitlines():
        stack_text, _, n = line.rpartition(" ")
        if n.isdigit():
            leaf[stack_text.split(";")[-1]] += int(n)
    return leaf.most_common(limit)


def read_roundtrips(directory: Path, pids: set[int]) -> dict[str, Counter[str]]:
    out = {"pg": Counter(), "redis": Counter()}
    for pid in pids:
        path = directory / f"{pid}.json"
        if path.exists():
            data = json.loads(path.read_text())
            out["pg"].update(data["pg"])
            out["redis"].update(data["redis"])
    return out


def sample_backends(database_url: str, stop: threading.Event, out: Counter[str]) -> None:
    """What PostgreSQL's client backends are doing, every 20 ms until ``stop``: counts of
    ``state / wait event`` over the non-idle ones (``idle in transaction`` = waiting for the
    client's next statement; ``Lock`` = a lock; ``IO``/``LWLock`` WAL = a commit)."""
    import asyncpg

    async def loop() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            while not stop.is_set():
                rows = await conn.fetch(
                    """SELECT state, wait_event_type, wait_event FROM pg_stat_activity
                        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                          AND state <> 'idle'"""
                )
                out["(samples)"] += 1
                for row in rows:
                    wait = f"{row['wait_event_type']}:{row['wait_event']}"
                    out[f"{row['state']} / {wait if row['wait_event_type'] else 'on CPU'}"] += 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    asyncio.run(loop())


def profile_test(
    args: argparse.Namespace, name: str, base_url: str, data: Path, api_pids: set[int],
    processes: Processes, database_url: str,
) -> dict[str, Any]:  # fmt: skip
    """wrk for ``--profile-seconds`` with py-spy on each API worker and the round-trip
    counters read before and after."""
    out_dir = Path(args.profile)
    counters = out_dir / "roundtrips"
    spy = str(Path(sys.executable).parent / "py-spy")
    run_wrk(args, base_url, data, 2)  # warm-up: statement caches, connections
    time.sleep(0.5)
    before = read_roundtrips(counters, api_pids)
    spies = []
    for pid in sorted(api_pids):
        raw = out_dir / f"{name}-{pid}.txt"
        argv = [spy, "record", "--gil", "--nonblocking", "-r", str(args.profile_rate), "-f", "raw",
                "-d", str(int(args.profile_seconds)), "-p", str(pid), "-o", str(raw)]  # fmt: skip
        spies.append(
            (raw, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        )
    time.sleep(0.5)  # py-spy attaches
    backends: Counter[str] = Counter()
    stop = threading.Event()
    sampler = threading.Thread(target=sample_backends, args=(database_url, stop, backends))
    sampler.start()
    meter = CpuMeter(processes, api_pids)
    meter.start()
    result = run_wrk(args, base_url, data, args.profile_seconds - 1)
    result["cpu"] = meter.stop()
    stop.set()
    sampler.join()
    n_samples = max(1, backends.pop("(samples)", 0))
    result["backends"] = {k: v / n_samples for k, v in backends.most_common()}
    time.sleep(0.6)  # the counters' next dump
    after = read_roundtrips(counters, api_pids)
    for _, spy_process in spies:
        spy_process.wait(args.profile_seconds + 30)
    summarize_raw([raw for raw, _ in spies if raw.exists()], result)
    result["rate"] = args.profile_rate
    result["seconds"] = args.profile_seconds - 1
    n_req = max(1, result["requests"])
    result["pg_per_request"] = {
        k: (after["pg"][k] - before["pg"][k]) / n_req
        for k in after["pg"]
        if after["pg"][k] - before["pg"][k] > 0
    }
    result["redis_per_request"] = {
        k: (after["redis"][k] - before["redis"][k]) / n_req
        for k in after["redis"]
        if after["redis"][k] - before["redis"][k] > 0
    }
    return result


def summarize_raw(raw_files: list[Path], result: dict[str, Any]) -> None:
    """Layers, sample count and top leaf frames of ``raw_files`` into ``result``."""
    layers: Counter[str] = Counter()
    samples = 0
    tops: list[tuple[str, int]] = []
    for raw in raw_files:
        c, n = breakdown(raw)
        layers.update(c)
        samples += n
        tops += top_functions(raw)
    result["layers"] = {k: v / max(1, samples) for k, v in layers.most_common()}
    result["samples"] = samples
    result["top"] = sorted(tops, key=lambda t: -t[1])[:12]


def analyze(folder: Path) -> str:
    """The breakdown of an earlier ``--profile`` run, from its raw stacks (after a change to
    the layer patterns, say)."""
    results = json.loads((folder / "profile.json").read_text())
    for name, result in results.items():
        summarize_raw(sorted(folder.glob(f"{name}-*.txt")), result)
    text = render_profile(results)
    (folder / "profile.md").write_text(text)
    return text


def render_profile(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, r in results.items():
        api_cpu = r["cpu"].get("api workers", 0.0)
        ms = 1000 * api_cpu / max(1e-9, r["rps"])
        # py-spy --gil: one sample per tick while a thread holds the GIL, so samples / rate
        # is the time Python held the GIL; per request, over the requests of the same window
        gil_ms = 1000 * r["samples"] / r.get("rate", 200) / max(1, r["rps"] * r.get("seconds", 1))
        lines += [
            f"#### {name}: {r['rps']:,.0f} req/s; API worker CPU {api_cpu:.2f} cores = "
            f"{ms:.2f} ms CPU per request, of which ~{gil_ms:.2f} ms holding the GIL "
            f"({r['samples']} py-spy --gil samples)",
            "",
            "| layer | % of GIL-holding samples | ≈ ms per request |",
            "|---|---:|---:|",
        ]
        for layer, share in r["layers"].items():
            lines.append(f"| {layer} | {100 * share:.1f} % | {share * gil_ms:.3f} |")
        pg = sum(r["pg_per_request"].values())
        rd = sum(r["redis_per_request"].values())
        lines += [
            "",
            f"Round trips per request: PostgreSQL {pg:.2f}, Redis {rd:.2f}.",
            "",
            "| PostgreSQL statement (first 120 chars) | per request |",
            "|---|---:|",
        ]
        for stmt, n in sorted(r["pg_per_request"].items(), key=lambda kv: -kv[1]):
            if n >= 0.01:
                lines.append(f"| `{stmt.replace('|', '/')}` | {n:.2f} |")
        lines += ["", "| Redis command | per request |", "|---|---:|"]
        for cmd, n in sorted(r["redis_per_request"].items(), key=lambda kv: -kv[1]):
            if n >= 0.01:
                lines.append(f"| `{cmd}` | {n:.2f} |")
        lines += [
            "",
            "PostgreSQL client backends, not idle, sampled every 20 ms (average number "
            "in each state):",
            "",
        ]
        for state, n in r.get("backends", {}).items():
            lines.append(f"- {state}: {n:.2f}")
        lines += ["", "Top leaf frames (py-spy samples):", ""]
        for frame, n in r["top"]:
            lines.append(f"- {n} `{frame}`")
        lines += ["", f"CPU (cores) during the run: {fmt_cpu(r['cpu'])}", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- report


def fmt_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())


def render(
    args: argparse.Namespace, results: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> str:
    rows = [
        ("raw_insert", "raw asyncpg single-row INSERT (reference)"),
        ("ref_get", "bare Litestar GET /item (reference)"),
        ("ref_get_row", "bare Litestar GET /rows/{id}: 1 SELECT (reference)"),
        ("ref_post", "bare Litestar POST /rows: decode + 1 INSERT (reference)"),
        ("get_intent", "intentcast GET /v1/intents/{id}"),
        ("get_feed", "intentcast GET /v1/vendor/matches"),
        ("post_intent", "intentcast POST /v1/intents"),
    ]
    lines = [
        f"### {args.label}",
        "",
        f"Run {meta['when']} with `{meta['command']}`; {meta['machine']}; load before the run: "
        f"{meta['load']}. Server code: {meta['server_code']}. {args.web_workers} web "
        f"worker(s); wrk -t{args.threads} -c{args.connections}, {meta['seconds']:g} s per test "
        f"after a {meta['warmup']:g} s warm-up; raw INSERTs: {args.connections} connections.",
        "",
        "| test | req/s | p50 ms | p99 ms | errors | CPU (cores) during the test |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, label in rows:
        r = results.get(key)
        if r is None:
            continue
        lines.append(
            f"| {label} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['errors']} | {fmt_cpu(r.get('cpu', {}))} |"
        )
    mark = {True: "met", False: "**missed**"}
    rps = {k: r["rps"] for k, r in results.items()}
    lines.append("")
    if {"post_intent", "raw_insert", "ref_post"} <= rps.keys():
        post = rps["post_intent"] / rps["raw_insert"]
        lines.append(
            f"- POST intent / raw INSERT = **{100 * post:.1f} %** (target ≥ "
            f"{100 * TARGET_POST_RATIO:.0f} %: {mark[post >= TARGET_POST_RATIO]}); POST intent "
            f"/ bare POST = {100 * rps['post_intent'] / rps['ref_post']:.1f} %."
        )
    if {"get_intent", "ref_get", "get_feed"} <= rps.keys():
        get = rps["get_intent"] / rps["ref_get"]
        lines.append(
            f"- GET intent / bare GET = **{100 * get:.1f} %** (target ≥ "
            f"{100 * TARGET_GET_RATIO:.0f} %: {mark[get >= TARGET_GET_RATIO]}); GET feed / bare "
            f"GET = {100 * rps['get_feed'] / rps['ref_get']:.1f} %."
        )
    if {"get_intent", "ref_get_row"} <= rps.keys():
        lines.append(
            f"- GET intent / bare GET with one SELECT = "
            f"{100 * rps['get_intent'] / rps['ref_get_row']:.1f} % (no target: what the one "
            f"round trip leaves for intentcast's own work)."
        )
    lines += [
        f"- Data: {BUYERS} buyers, {len(VENDOR_CATEGORIES)} vendors (one root category each), "
        f"feed sizes {meta['feed_sizes']} events; INTENTCAST_MAX_OPEN_INTENTS={MAX_OPEN_INTENTS}.",
    ]
    errors = {k: r["error_detail"] for k, r in results.items() if r.get("error_detail")}
    if errors:
        lines.append(f"- wrk errors: {errors}")
    if args.notes:
        lines += ["", args.notes]
    return "\n".join(lines) + "\n"


def write_part(text: str, label: str) -> None:
    """Replace (or add) the ``### label`` part of the ``## HTTP`` section of RESULTS.md;
    every other part and section stays as it is."""
    content = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = content.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        intro = (
            f"{SECTION}\n\n`make bench-http` (`bench/http.py`, wrk with `bench/wrk/rotate.lua`): "
            "intentcast against a bare Litestar + msgspec app and raw asyncpg INSERTs, in "
            "one run on this machine (bench/README.md).\n\n"
        )
        body = "".join(lines)
        RESULTS.write_text(body + ("" if body.endswith("\n\n") else "\n") + intro + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    header = f"### {label}"
    part = next((i for i in range(start, end) if lines[i].rstrip() == header), None)
    if part is None:
        section = "".join(lines[start:end]).rstrip("\n") + "\n\n" + text
    else:
        part_end = next(
            (i for i in range(part + 1, end) if lines[i].startswith(("### ", "## "))), end
        )
        section = "".join(lines[start:part]) + text
        if part_end < end:
            section += "\n" + "".join(lines[part_end:end]).rstrip("\n") + "\n"
    tail = "".join(lines[end:])
    RESULTS.write_text("".join(lines[:start]) + section + ("\n" + tail if tail else ""))


# ----------------------------------------------------------------------------- main


def run(args: argparse.Namespace, workdir: Path, processes: Processes) -> tuple[dict, dict]:
    from intentcast.embedded import EmbeddedPostgres

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = workdir / "data"
    if args.profile:
        (Path(args.profile) / "roundtrips").mkdir(parents=True, exist_ok=True)
    env = server_env(args, data_dir, port)
    processes.spawn("intentcast", [sys.executable, "-m", "intentcast", "serve"], env)
    wait_http(url + "/ready", processes, "intentcast")
    code = subprocess.run(
        [sys.executable, "-c", "import intentcast; print(intentcast.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"intentcast serve on {url} (code: {code})", flush=True)

    bodies = intent_bodies(args.seed, 512)
    setup = asyncio.run(prepare_intentcast(url, bodies[:BUYERS]))
    print(f"  {BUYERS} buyers, {len(setup['vendors'])} vendors, feeds {setup['feed_sizes']}")
    database_url = EmbeddedPostgres(data_dir / "postgres" / "data").url
    api_pids = api_worker_pids(processes)
    if len(api_pids) != args.web_workers:
        print(f"  WARNING: found API worker pids {api_pids}", file=sys.stderr)

    from reference_app import READ_ROWS

    buyers, intent_ids, vendors = setup["buyers"], setup["intent_ids"], setup["vendors"]
    files = {
        "get_intent": [
            ("GET", f"/v1/intents/{i}", t, "") for t, i in zip(buyers, intent_ids, strict=True)
        ],
        "get_feed": [("GET", "/v1/vendor/matches", t, "") for t in vendors],
        "post_intent": [
            ("POST", "/v1/intents", buyers[i % BUYERS], numbered(b)) for i, b in enumerate(bodies)
        ],
        "ref_get": [("GET", "/item", "", "")],
        "ref_get_row": [("GET", f"/rows/{row_id}", "", "") for row_id in READ_ROWS],
        "ref_post": [("POST", "/rows", "", numbered(b)) for b in bodies],
    }
    data = {k: write_requests(workdir / f"{k}.tsv", v) for k, v in files.items()}
    expect = {
        "get_intent": 200,
        "get_feed": 200,
        "post_intent": 201,
        "ref_get": 200,
        "ref_get_row": 200,
        "ref_post": 201,
    }
    for key in ("get_intent", "get_feed", "post_intent"):
        sanity_check(url, files[key][0], expect[key])

    meta = {
        "server_code": f"`{Path(code).parent.parent}`",
        "feed_sizes": setup["feed_sizes"],
    }
    results: dict[str, dict[str, Any]] = {}
    selected = set(args.tests.split(","))
    intentcast_tests = [t for t in ("get_intent", "get_feed", "post_intent") if t in selected]
    if args.profile:
        for key in intentcast_tests:
            print(f"  profiling {key} ...", flush=True)
            results[key] = profile_test(
                args, key, url, data[key], api_pids, processes, database_url
            )
        return results, meta

    asyncio.run(create_reference_table(database_url))
    ref_port = free_port()
    ref_url = f"http://127.0.0.1:{ref_port}"
    processes.spawn(
        "reference",
        [sys.executable, str(REFERENCE_APP), "--port", str(ref_port),
         "--workers", str(args.web_workers), "--database-url", database_url],
        {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")},
    )  # fmt: skip
    wait_http(ref_url + "/item", processes, "reference")
    for key in REFERENCE_TESTS:
        sanity_check(ref_url, files[key][0], expect[key])
    ref_pids = reference_worker_pids(processes)

    print(f"  raw INSERTs ({args.connections} connections, {args.seconds:g} s) ...", flush=True)
    if "raw_insert" in selected:
        meter = CpuMeter(processes, api_pids | ref_pids)
        results["raw_insert"] = asyncio.run(
            raw_inserts(database_url, bodies, args.connections, args.seconds, meter)
        )
    for key in [t for t in REFERENCE_TESTS if t in selected] + intentcast_tests:
        base = ref_url if key.startswith("ref_") else url
        run_wrk(args, base, data[key], args.warmup)
        print(f"  {key} ({args.seconds:g} s) ...", flush=True)
        meter = CpuMeter(processes, api_pids | ref_pids)
        meter.start()
        results[key] = run_wrk(args, base, data[key], args.seconds)
        results[key]["cpu"] = meter.stop()
        r = results[key]
        print(f"    {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
              f"errors {r['errors']}; CPU {fmt_cpu(r['cpu'])}", flush=True)  # fmt: skip
    return results, meta


def main() -> int:
    sys.path.insert(0, str(REFERENCE_APP.parent))  # its table and INSERT statement
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-workers", type=int, default=1, help="granian workers (both apps)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per test")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per test")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--connections", type=int, default=32, help="wrk connections; raw INSERT tasks"
    )
    parser.add_argument("--quick", action="store_true", help="5 s per test, 2 s warm-up (~1 min)")
    parser.add_argument("--no-write", action="store_true", help="print only; RESULTS.md untouched")
    parser.add_argument("--label", default="", help="the ### part of the section (default: a date)")
    parser.add_argument("--server-src", default="", help="run intentcast from this src dir")
    parser.add_argument("--profile", default="", help="py-spy + round trips into this folder")
    parser.add_argument("--profile-seconds", type=float, default=12.0)
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument(
        "--analyze", default="", help="re-render a --profile folder's breakdown and exit"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra variable for intentcast serve, e.g. INTENTCAST_DB_POOL_SIZE=20",
    )
    parser.add_argument(
        "--tests",
        default=",".join(ALL_TESTS),
        help=f"a subset of {','.join(ALL_TESTS)} (ratios need both sides)",
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--notes", default="", help="a paragraph appended to the part")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup = 5.0, 2.0
    if args.analyze:
        print(analyze(Path(args.analyze)))
        return 0
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    if args.profile and not (Path(sys.executable).parent / "py-spy").exists():
        parser.error("--profile needs py-spy in the venv (pip install -e '.[bench]')")
    when = dt.datetime.now().astimezone()
    args.label = args.label or f"{when:%Y-%m-%d %H:%M %Z}, {args.web_workers} web worker(s)"
    load = "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())

    workdir = Path(tempfile.mkdtemp(prefix="intentcast-http-"))
    processes = Processes(workdir)
    try:
        results, meta = run(args, workdir, processes)
    finally:
        survivors = processes.stop()
        if survivors:
            print(f"WARNING: killed leftover processes: {survivors}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    meta.update(
        when=f"{when:%Y-%m-%d %H:%M %Z}",
        command="python bench/http.py " + " ".join(sys.argv[1:]),
        machine=f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        "servers, PostgreSQL, Redis and wrk on the same cores",
        load=load,
        seconds=args.seconds,
        warmup=args.warmup,
    )
    if args.profile:
        text = render_profile(results)
        print()
        print(text)
        (Path(args.profile) / "profile.md").write_text(text)
        (Path(args.profile) / "profile.json").write_text(json.dumps(results, indent=1))
        return 2 if survivors else 0
    text = render(args, results, meta)
    print()
    print(text)
    if survivors:
        return 2
    if not args.no_write:
        write_part(text, args.label)
        print(f"wrote {RESULTS.relative_to(ROOT)} ({SECTION} / ### {args.label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
