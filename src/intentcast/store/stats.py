"""SQL of the operators' numbers (``GET /v1/admin/stats``): counts, hourly activity, delivery
lag percentiles and the backlogs PostgreSQL holds. Every query reads indexed columns or a
bounded window; none locks anything."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec


class HourCounts(msgspec.Struct, frozen=True, kw_only=True):
    hour: datetime
    """The start of the hour (UTC)."""
    intents_published: int
    matches: int
    offers: int


class Lag(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds; ``count`` samples (percentiles are null without any)."""

    count: int
    p50: float | None
    p95: float | None
    max: float | None


class Stats:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def intents_by_status(self) -> dict[str, int]:
        rows = await self.conn.fetch("SELECT status, count(*) AS n FROM intents GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    async def per_hour(self, hours: int) -> list[HourCounts]:
        """The last ``hours`` hours, the current (partial) one last."""
        rows = await self.conn.fetch(
            """WITH hours AS (
                   SELECT generate_series(date_trunc('hour', now()) - ($1 - 1) * interval '1 hour',
                                          date_trunc('hour', now()), interval '1 hour') AS hour),
                 since AS (SELECT min(hour) AS start FROM hours)
               SELECT h.hour,
                      coalesce(i.n, 0) AS intents_published,
                      coalesce(m.n, 0) AS matches,
                      coalesce(o.n, 0) AS offers
                 FROM hours h
                 LEFT JOIN (SELECT date_trunc('hour', published_at) AS hour, count(*) AS n
                              FROM intents, since WHERE published_at >= since.start
                             GROUP BY 1) i USING (hour)
                 LEFT JOIN (SELECT date_trunc('hour', matched_at) AS hour, count(*) AS n
                              FROM matches, since WHERE matched_at >= since.start
                             GROUP BY 1) m USING (hour)
                 LEFT JOIN (SELECT date_trunc('hour', created_at) AS hour, count(*) AS n
                              FROM offers, since WHERE created_at >= since.start
                             GROUP BY 1) o USING (hour)
                ORDER BY h.hour""",
            hours,
        )
        return [HourCounts(**dict(r)) for r in rows]

    async def matcher_lag(self, seconds: int) -> Lag:
        """From an outbox event's recording to the matcher committing its effects (matches
        and the vendors' feed events), for events recorded in the last ``seconds``."""
        row = await self.conn.fetchrow(
            f"""SELECT {_LAG} FROM (
                   SELECT extract(epoch FROM processed_at - created_at)::float8 AS lag FROM outbox
                    WHERE created_at >= now() - make_interval(secs => $1)
                      AND processed_at IS NOT NULL) samples""",
            float(seconds),
        )
        return Lag(**dict(row))

    async def webhook_first_attempt_lag(self, seconds: int) -> Lag:
        """From a webhook delivery being queued to its first attempt, for deliveries
        queued in the last ``seconds``."""
        row = await self.conn.fetchrow(
            f"""SELECT {_LAG} FROM (
                   SELECT extract(epoch FROM first.at - d.created_at)::float8 AS lag
                     FROM webhook_deliveries d
                     JOIN LATERAL (SELECT min(attempted_at) AS at FROM webhook_attempts a
                                    WHERE a.delivery_id = d.id) first ON first.at IS NOT NULL
                    WHERE d.created_at >= now() - make_interval(secs => $1)) samples""",
            float(seconds),
        )
        return Lag(**dict(row))

    async def outbox_backlog(self) -> tuple[int, float | None]:
        """Outbox rows the matchers have not processed, and the oldest one's age (seconds)."""
        row = await self.conn.fetchrow(
            """SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS oldest
                 FROM outbox WHERE processed_at IS NULL"""
        )
        return row["n"], None if row["oldest"] is None else float(row["oldest"])

    async def webhook_backlog(self) -> tuple[int, int]:
        """Pending webhook deliveries, and how many of them are due now."""
        row = await self.conn.fetchrow(
            """SELECT count(*) AS pending, count(*) FILTER (WHERE next_attempt_at <= now()) AS due
                 FROM webhook_deliveries WHERE status = 'pending'"""
        )
        return row["pending"], row["due"]


_LAG = """count(lag) AS count,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) AS p95,
    max(lag)::float8 AS max"""
