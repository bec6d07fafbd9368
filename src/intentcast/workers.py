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

import asyncpg
import redis.asyncio as redis

from intentcast.bus.outbox_relay import relay_pending
from intentcast.config import Settings
from intentcast.delivery.webhooks import next_delay
from intentcast.delivery.worker import POLL_S, DeliveryWorker, RetryDelay
from intentcast.domain.intents import INTENT_CLOSED
from intentcast.matching.worker import RECLAIM_EVERY_S, Matcher
from intentcast.store.db import create_pool
from intentcast.store.idempotency import IdempotencyKeys
from intentcast.store.intents import Intents
from intentcast.store.outbox import Outbox

log = logging.getLogger(__name__)

SCHEDULER_TICK_S = 5.0
RELAY_TICK_S = 1.0
EXPIRY_BATCH = 500


class WorkerContext:
    """What every role loop gets: settings, a pool, Redis, a stop event, and the workers'
    timings (the defaults in production; tests shorten them)."""

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
        self.settings = settings
        self.pool = pool
        self.redis = redis_client
        self.stopping = asyncio.Event()
        self.reclaim_every_s = reclaim_every_s
        self.delivery_poll_s = delivery_poll_s
        self.retry_delay = retry_delay

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
                    await step(conn, ctx.settings)
        except Exception:  # a failed tick is retried on the next one
            log.exception("scheduler tick failed")
        await ctx.sleep(SCHEDULER_TICK_S)


async def purge_idempotency_keys(conn: asyncpg.Connection, settings: Settings) -> None:
    await IdempotencyKeys(conn).purge_expired()


async def expire_intents(conn: asyncpg.Connection, settings: Settings) -> None:
    """Close intents past ``expires_at``; each gets its ``intent.closed`` event in the same
    transaction. Batches are claimed with SKIP LOCKED, so schedulers can run in parallel."""
    while True:
        async with conn.transaction():
            expired = await Intents(conn).expire_due(limit=EXPIRY_BATCH)
            await Outbox(conn).add_many(
                [(INTENT_CLOSED, i.id, {"version": i.version, "status": i.status}) for i in expired]
            )
        if len(expired) < EXPIRY_BATCH:
            return


async def expire_offers(conn: asyncpg.Connection, settings: Settings) -> None:
    """Close live offers past ``valid_until``; the buyer hears of it as ``offer.updated``."""
    from intentcast.api.deals import tell_buyer
    from intentcast.delivery.notify import Notifier
    from intentcast.store.deals import Offers

    while True:
        async with conn.transaction():
            expired = await Offers(conn).expire_due(EXPIRY_BATCH)
            notifier = Notifier(conn)
            for offer in expired:
                intent = await Intents(conn).get(offer.intent_id)
                assert intent is not None
                await tell_buyer(
                    notifier,
                    conn,
                    intent.buyer_id,
                    "offer.updated",
                    offer,
                    f"offer:{offer.id}:expired",
                )
        if len(expired) < EXPIRY_BATCH:
            return


SCHEDULER_STEPS: list[Callable[[asyncpg.Connection, Settings], Awaitable[None]]] = [
    expire_intents,
    expire_offers,
    purge_idempotency_keys,
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


async def run_scheduler_role(ctx: WorkerContext) -> None:
    await asyncio.gather(run_scheduler(ctx), run_outbox_relay(ctx))


async def run_matcher(ctx: WorkerContext) -> None:
    matcher = Matcher(ctx.settings, ctx.pool, ctx.redis, reclaim_every_s=ctx.reclaim_every_s)
    await matcher.run(ctx.stopping)


async def run_delivery(ctx: WorkerContext) -> None:
    from intentcast.api.app import resolve_secret_key
    from intentcast.security import Sealer

    sealer = Sealer(resolve_secret_key(ctx.settings))
    worker = DeliveryWorker(
        ctx.settings,
        ctx.pool,
        ctx.redis,
        sealer,
        poll_s=ctx.delivery_poll_s,
        retry_delay=ctx.retry_delay,
    )
    await worker.run(ctx.stopping)


ROLES: dict[str, Callable[[WorkerContext], Awaitable[None]]] = {
    "matcher": run_matcher,
    "delivery": run_delivery,
    "scheduler": run_scheduler_role,
}


async def run_worker(role: str, settings: Settings) -> None:
    assert settings.database_url and settings.redis_url
    pool = await create_pool(settings.database_url, max_size=8)
    redis_client = redis.from_url(settings.redis_url)
    ctx = WorkerContext(settings, pool, redis_client)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, ctx.stopping.set)
    log.info("worker %s started", role)
    try:
        await ROLES[role](ctx)
    finally:
        await pool.close()
        await redis_client.aclose()
        log.info("worker %s stopped", role)
