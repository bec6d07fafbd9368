"""Worker processes: ``intentcast worker --role <role>``.

Each role is a loop over PostgreSQL and Redis; any number of processes of each role may run
at once (work is claimed with row locks or consumer groups, never by process identity).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as redis

from intentcast.bus.outbox_relay import relay_pending
from intentcast.config import Settings
from intentcast.delivery.webhooks import next_delay
from intentcast.delivery.worker import POLL_S, DeliveryWorker, RetryDelay
from intentcast.matching.worker import RECLAIM_EVERY_S, Matcher
from intentcast.metrics import sample_backlogs, serve_worker_endpoints
from intentcast.security import Keys
from intentcast.services.intents import expire_due_intents
from intentcast.services.offers import expire_due_offers
from intentcast.services.retention import purge_due_intents
from intentcast.services.runtime_settings import RuntimeSettings
from intentcast.services.webhooks import disable_failing_webhooks, drop_expired_secrets
from intentcast.store.db import create_pool
from intentcast.store.idempotency import IdempotencyKeys

log = logging.getLogger(__name__)

SCHEDULER_TICK_S = 5.0
RELAY_TICK_S = 1.0
EXPIRY_BATCH = 500
RETENTION_BATCH = 200


class WorkerContext:
    """What every role loop gets: settings, a pool, Redis, a stop event, and the workers'
    timings (the defaults in production; tests shorten them). ``settings`` are the effective
    ones: the environment overlaid with the operator's runtime settings, which each role
    follows while it runs (``services/runtime_settings.py``)."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        redis_client: redis.Redis,
        *,
        reclaim_every_s: float = RECLAIM_EVERY_S,
        delivery_poll_s: float = POLL_S,
        retry_delay: RetryDelay = next_delay,
    ) -> None:
        self.runtime_settings = RuntimeSettings(settings)
        self.pool = pool
        self.redis = redis_client
        self.stopping = asyncio.Event()
        self.reclaim_every_s = reclaim_every_s
        self.delivery_poll_s = delivery_poll_s
        self.retry_delay = retry_delay

    @property
    def settings(self) -> Settings:
        return self.runtime_settings.current

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


async def run_scheduler(ctx: WorkerContext) -> None:
    """Time-driven housekeeping, each step safe to run in several processes at once."""
    while not ctx.stopping.is_set():
        try:
            async with ctx.pool.acquire() as conn:
                for step in SCHEDULER_STEPS:
                    await step(conn, ctx.redis)
                await purge_retained(conn, ctx.settings.retention_days)
                await disable_failing_webhooks(
                    conn, ctx.redis, after_days=ctx.settings.webhook_disable_after_days
                )
        except Exception:  # a failed tick is retried on the next one
            log.exception("scheduler tick failed")
        await ctx.sleep(SCHEDULER_TICK_S)


async def purge_idempotency_keys(conn: asyncpg.Connection, client: redis.Redis) -> None:
    await IdempotencyKeys(conn).purge_expired()


async def expire_intents(conn: asyncpg.Connection, client: redis.Redis) -> None:
    """Close intents past ``expires_at``, a batch at a time (``services.intents``)."""
    while await expire_due_intents(conn, client, limit=EXPIRY_BATCH) == EXPIRY_BATCH:
        pass


async def expire_offers(conn: asyncpg.Connection, client: redis.Redis) -> None:
    """Close live offers past ``valid_until``; the buyer hears ``offer.updated``."""
    while await expire_due_offers(conn, client, limit=EXPIRY_BATCH) == EXPIRY_BATCH:
        pass


async def purge_retained(conn: asyncpg.Connection, retention_days: int) -> None:
    """Purge the free text of intents closed longer than ``retention_days`` (0: at this
    pass), a batch at a time (``services.retention``)."""
    now = datetime.now(UTC)
    while (
        await purge_due_intents(conn, retention_days=retention_days, now=now, limit=RETENTION_BATCH)
        == RETENTION_BATCH
    ):
        pass


async def drop_rotated_webhook_secrets(conn: asyncpg.Connection, client: redis.Redis) -> None:
    """Erase webhook secrets replaced by a rotation whose grace period has ended."""
    await drop_expired_secrets(conn, now=datetime.now(UTC))


SCHEDULER_STEPS: list[Callable[[asyncpg.Connection, redis.Redis], Awaitable[None]]] = [
    expire_intents,
    expire_offers,
    purge_idempotency_keys,
    drop_rotated_webhook_secrets,
]


async def run_outbox_relay(ctx: WorkerContext) -> None:
    """Every second, publish outbox events Redis has not (or no longer) got."""
    while not ctx.stopping.is_set():
        try:
            async with ctx.pool.acquire() as conn:
                await relay_pending(
                    conn, ctx.redis, unprocessed_age_s=ctx.settings.redelivery_seconds
                )
        except Exception:
            log.exception("outbox relay failed; retrying")
        await ctx.sleep(RELAY_TICK_S)


async def run_backlog_sampler(ctx: WorkerContext) -> None:
    """Every scheduler tick, sample the outbox and work-stream backlogs into the gauges."""
    while not ctx.stopping.is_set():
        try:
            await sample_backlogs(ctx.pool, ctx.redis)
        except Exception:  # a missed sample is taken on the next tick
            log.exception("sampling the backlogs failed")
        await ctx.sleep(SCHEDULER_TICK_S)


async def run_scheduler_role(ctx: WorkerContext) -> None:
    async with ctx.runtime_settings.following(ctx.pool, ctx.redis):
        await asyncio.gather(run_scheduler(ctx), run_outbox_relay(ctx), run_backlog_sampler(ctx))


async def run_matcher(ctx: WorkerContext) -> None:
    matcher = Matcher(
        ctx.settings,
        ctx.pool,
        ctx.redis,
        reclaim_every_s=ctx.reclaim_every_s,
        runtime_settings=ctx.runtime_settings,
    )
    async with ctx.runtime_settings.following(ctx.pool, ctx.redis):
        await matcher.run(ctx.stopping)


async def run_delivery(ctx: WorkerContext) -> None:
    sealer = Keys.from_settings(ctx.settings).sealer  # follows the keyring file (rotation)
    worker = DeliveryWorker(
        ctx.settings,
        ctx.pool,
        ctx.redis,
        sealer,
        poll_s=ctx.delivery_poll_s,
        retry_delay=ctx.retry_delay,
    )
    async with ctx.runtime_settings.following(ctx.pool, ctx.redis):
        await worker.run(ctx.stopping)


ROLES: dict[str, Callable[[WorkerContext], Awaitable[None]]] = {
    "matcher": run_matcher,
    "delivery": run_delivery,
    "scheduler": run_scheduler_role,
}


async def run_worker(role: str, settings: Settings) -> None:
    if not (settings.database_url and settings.redis_url):
        raise ValueError("a worker needs INTENTCAST_DATABASE_URL and INTENTCAST_REDIS_URL")
    pool = await create_pool(settings.database_url, max_size=8)
    redis_client = redis.from_url(settings.redis_url)
    ctx = WorkerContext(settings, pool, redis_client)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, ctx.stopping.set)
    log.info("worker %s started", role)
    role_task: asyncio.Task[None] | None = None

    def alive() -> bool:
        return role_task is not None and not role_task.done() and not ctx.stopping.is_set()

    endpoints = None
    try:
        if settings.metrics_port:
            endpoints = await serve_worker_endpoints(settings.host, settings.metrics_port, alive)
        role_task = asyncio.create_task(ROLES[role](ctx))
        await role_task
    finally:
        if endpoints is not None:
            endpoints.close()
        await pool.close()
        await redis_client.aclose()
        log.info("worker %s stopped", role)
