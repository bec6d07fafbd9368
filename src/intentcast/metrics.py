"""Prometheus metrics: the domain's (intents, matches, deliveries, backlogs, SSE) and the
API's HTTP metrics, and how they are exposed.

Every process of ``intentcast serve`` counts into its own files in one directory
(``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor, or by ``intentcast api`` for its granian
workers, to ``<data dir>/metrics``, emptied at start); the API's ``/metrics`` merges them
(:func:`exposition`). A worker run on its own (``intentcast worker --metrics-port N``) serves
its own ``/metrics`` and ``/health`` (:func:`serve_worker_endpoints`).

prometheus_client picks its storage when first imported, so the variable must be set before
any module imports this one in that process (the commands do that).

Names follow Prometheus conventions: ``intentcast_`` prefix, ``_total`` counters, base units
(``_seconds``). Labels take a handful of values each (never ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import asyncpg
import redis.asyncio as redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from intentcast.bus import DELIVER_STREAM, DELIVERY_GROUP, MATCHER_GROUP, WORK_STREAM
from intentcast.store.outbox import Outbox

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# ---- the domain ----------------------------------------------------------------------------

INTENTS_PUBLISHED = Counter(
    "intentcast_intents_published_total", "Intents published (committed) by buyers."
)
MATCHES = Counter(
    "intentcast_matches_total", "Matches recorded: an intent matched to a vendor's subscription."
)
MATCH_LATENCY = Histogram(
    "intentcast_match_latency_seconds",
    "From an intent's publication (its outbox row) to its matches committed.",
    buckets=LATENCY_BUCKETS,
)
DELIVERY_LAG = Histogram(
    "intentcast_delivery_lag_seconds",
    "How long an event took to reach a vendor, per channel: feed (the change that caused it, "
    "an intent published or updated or a subscription changed, to the event appended to the "
    "vendor's log by the matcher), sse (the event appended to sent on a live stream), "
    "webhook (the event appended to a delivery answered 2xx).",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_ATTEMPTS = Counter(
    "intentcast_webhook_attempts_total",
    "Webhook delivery attempts by outcome (delivered, retry, failed, gone).",
    ["outcome"],
)
STREAM_BACKLOG = Gauge(
    "intentcast_stream_backlog",
    "Messages of a Redis work stream its consumer group has not acknowledged yet "
    "(pending plus not yet read), sampled by the scheduler.",
    ["stream"],
    multiprocess_mode="mostrecent",
)
OUTBOX_BACKLOG = Gauge(
    "intentcast_outbox_backlog",
    "Outbox rows the matchers have not processed yet, sampled by the scheduler.",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "intentcast_outbox_oldest_age_seconds",
    "Age of the oldest unprocessed outbox row (0 when none), sampled by the scheduler.",
    multiprocess_mode="mostrecent",
)
SSE_CONNECTIONS = Gauge(
    "intentcast_sse_connections",
    "Open Server-Sent Events streams, by audience (vendor, buyer).",
    ["audience"],
    multiprocess_mode="livesum",
)

# ---- HTTP (the API) ------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "intentcast_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "path", "status_code"],
)
HTTP_DURATION = Histogram(
    "intentcast_request_duration_seconds",
    "HTTP request duration (to the end of the response), by method and route template.",
    ["method", "path"],
)
HTTP_IN_PROGRESS = Gauge(
    "intentcast_requests_in_progress",
    "HTTP requests being answered (open SSE streams included), by method.",
    ["method"],
    multiprocess_mode="livesum",
)


def _seconds_since(moment: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def observe_delivery_lag(channel: str, since: datetime) -> None:
    """An event reached a vendor on ``channel`` (``feed``, ``sse``, ``webhook``); ``since``
    is when it became due there."""
    DELIVERY_LAG.labels(channel).observe(_seconds_since(since))


def observe_match_latency(published_at: datetime) -> None:
    MATCH_LATENCY.observe(_seconds_since(published_at))


Item = TypeVar("Item")


async def counted_stream(stream: AsyncIterator[Item], audience: str) -> AsyncIterator[Item]:
    """``stream``, counted in ``intentcast_sse_connections`` while it is open."""
    gauge = SSE_CONNECTIONS.labels(audience)
    gauge.inc()
    try:
        async for item in stream:
            yield item
    finally:
        gauge.dec()
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


# ---- backlogs ------------------------------------------------------------------------------

BACKLOG_COUNT_CAP = 100_000
"""Unread stream messages are counted up to this (the streams are trimmed near it anyway)."""


async def stream_backlog(client: redis.Redis, stream: str, group: str) -> int:
    """Pending (read, not acknowledged) plus unread messages of ``group`` on ``stream``."""
    try:
        groups = await client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream yet
        return 0
    for info in groups:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name != group:
            continue
        last = info["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else last
        unread = await client.xrange(stream, min=f"({last}", max="+", count=BACKLOG_COUNT_CAP)
        return int(info["pending"]) + len(unread)
    return await client.xlen(stream)  # no consumer has joined: everything waits


async def sample_backlogs(pool: asyncpg.Pool, client: redis.Redis) -> None:
    """Set the backlog gauges from PostgreSQL (outbox) and Redis (work streams)."""
    async with pool.acquire() as conn:
        count, oldest = await Outbox(conn).backlog()
    OUTBOX_BACKLOG.set(count)
    OUTBOX_OLDEST_AGE.set(_seconds_since(oldest) if oldest is not None else 0.0)
    for stream, group in ((WORK_STREAM, MATCHER_GROUP), (DELIVER_STREAM, DELIVERY_GROUP)):
        STREAM_BACKLOG.labels(stream).set(await stream_backlog(client, stream, group))


# ---- exposition ----------------------------------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process's metrics, or, in multiprocess mode, of every
    process counting into ``PROMETHEUS_MULTIPROC_DIR``; and its content type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def fresh_multiprocess_dir(path: Path) -> Path:
    """Empty (or create) ``path`` for a new process tree's metric files; return it."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    return path


def process_exited(pid: int, directory: Path) -> None:
    """Drop a dead process's live gauges (in-progress requests, SSE connections) from the
    metric files in ``directory``."""
    _multiprocess.mark_process_dead(pid, str(directory))


# ---- a worker's own endpoints --------------------------------------------------------------

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
REQUEST_TIMEOUT_S = 5.0


async def serve_worker_endpoints(host: str, port: int, alive: Callable[[], bool]) -> asyncio.Server:
    """Serve ``GET /metrics`` and ``GET /health`` (200 while ``alive()``, else 503) on
    ``host:port``: a minimal HTTP/1.1 server for a worker deployed on its own."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                request_line = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: nothing here needs them
            method, target = [*request_line, "", ""][:2]
            path = target.split("?", 1)[0]
            content_type = "text/plain; charset=utf-8"
            if method not in ("GET", "HEAD"):
                status, body = 405, b"method not allowed\n"
            elif path == "/metrics":
                status = 200
                body, content_type = exposition()
            elif path == "/health":
                status, body = (200, b"ok\n") if alive() else (503, b"stopping\n")
            else:
                status, body = 404, b"not found\n"
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    log.info("worker metrics and health on http://%s:%d", host, port, extra={"port": port})
    return server
