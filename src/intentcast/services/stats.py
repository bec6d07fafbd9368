"""The numbers an operator watches (``GET /v1/admin/stats``), gathered from PostgreSQL (the
truth: intents, matches, offers, vendors, flags, the outbox, webhook deliveries) and Redis
(the streams and their consumer groups).

Windows: activity is the last ``HOURS`` hours bucketed by hour (the current, partial hour
last); lags are over the last ``LAG_WINDOW_S`` seconds. Redis being unreachable leaves its
part null rather than failing the whole answer: that is when an operator most needs the rest.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import get_args

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.bus import (
    DELIVER_STREAM,
    DELIVERY_GROUP,
    MATCHER_GROUP,
    SUBS_STREAM,
    WORK_STREAM,
)
from intentcast.domain.accounts import VendorStatus
from intentcast.domain.intents import IntentStatus
from intentcast.store.accounts import Vendors
from intentcast.store.moderation import Moderation
from intentcast.store.stats import HourCounts, Lag, Stats

log = logging.getLogger(__name__)

HOURS = 24
LAG_WINDOW_S = 3600


class StreamGroup(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    consumers: int
    pending: int
    """Taken by a consumer, not yet acknowledged."""
    lag: int | None
    """Entries not yet taken by the group (null where Redis does not say)."""


class StreamBacklog(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    length: int
    groups: list[StreamGroup]


class Backlogs(msgspec.Struct, frozen=True, kw_only=True):
    outbox_unprocessed: int
    """Outbox events the matchers have not yet handled."""
    outbox_oldest_s: float | None
    webhooks_pending: int
    webhooks_due: int
    """Pending deliveries whose next attempt is due now."""
    streams: list[StreamBacklog] | None
    """Null when Redis did not answer."""


class DeliveryLag(msgspec.Struct, frozen=True, kw_only=True):
    window_s: int
    matcher: Lag
    """Outbox event recorded → matches and vendors' feed events committed."""
    webhook_first_attempt: Lag
    """Webhook delivery queued → its first attempt."""


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    hours: int
    per_hour: list[HourCounts]


class OperatorStats(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    intents: dict[str, int]
    """Intents by status (every status, zeros included); `open` is the live demand."""
    activity: Activity
    vendors: dict[str, int]
    """Vendors by status (`pending` is the review queue)."""
    flags_open: int
    delivery_lag: DeliveryLag
    backlogs: Backlogs


async def operator_stats(
    conn: asyncpg.Connection, client: redis.Redis, *, now: datetime | None = None
) -> OperatorStats:
    stats = Stats(conn)
    by_status = await stats.intents_by_status()
    vendors = await Vendors(conn).count_by_status()
    outbox, oldest = await stats.outbox_backlog()
    pending, due = await stats.webhook_backlog()
    return OperatorStats(
        at=now or datetime.now(UTC),
        intents={s: by_status.get(s, 0) for s in get_args(IntentStatus)},
        activity=Activity(hours=HOURS, per_hour=await stats.per_hour(HOURS)),
        vendors={s: vendors.get(s, 0) for s in get_args(VendorStatus)},
        flags_open=await Moderation(conn).count_open_flags(),
        delivery_lag=DeliveryLag(
            window_s=LAG_WINDOW_S,
            matcher=await stats.matcher_lag(LAG_WINDOW_S),
            webhook_first_attempt=await stats.webhook_first_attempt_lag(LAG_WINDOW_S),
        ),
        backlogs=Backlogs(
            outbox_unprocessed=outbox,
            outbox_oldest_s=oldest,
            webhooks_pending=pending,
            webhooks_due=due,
            streams=await _streams(client),
        ),
    )


_STREAMS = (
    (WORK_STREAM, MATCHER_GROUP),
    (DELIVER_STREAM, DELIVERY_GROUP),
    (SUBS_STREAM, None),
)


async def _streams(client: redis.Redis) -> list[StreamBacklog] | None:
    try:
        out = []
        for stream, group_name in _STREAMS:
            length = await client.xlen(stream)
            groups = []
            if group_name is not None and length:
                for info in await client.xinfo_groups(stream):
                    groups.append(
                        StreamGroup(
                            name=_text(info["name"]),
                            consumers=int(info["consumers"]),
                            pending=int(info["pending"]),
                            lag=None if info.get("lag") is None else int(info["lag"]),
                        )
                    )
            out.append(StreamBacklog(stream=stream, length=int(length), groups=groups))
        return out
    except (redis.RedisError, OSError) as exc:
        log.warning("stats: Redis did not answer (%s)", exc)
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
