"""``/v1/admin/stats``: the numbers an operator watches (``services.stats``)."""

from __future__ import annotations

import asyncpg
from litestar import Controller, get
from redis.asyncio import Redis

from intentcast.services.stats import OperatorStats, operator_stats


class AdminStatsController(Controller):
    path = "/stats"

    @get(operation_id="adminStats", summary="Activity, vendors, flags, delivery lag, backlogs")
    async def stats(self, db: asyncpg.Connection, redis: Redis) -> OperatorStats:
        """Intents by status; intents published, matches and offers per hour over the last
        24 hours (the current hour last); vendors by status; open flags; p50/p95/max of the
        matcher's lag (outbox event → feed) and of webhook first attempts over the last
        hour; and the backlogs: unprocessed outbox events, pending webhook deliveries, and
        each Redis stream's length with its consumer groups' pending and lag counts (null if
        Redis does not answer)."""
        return await operator_stats(db, redis)
