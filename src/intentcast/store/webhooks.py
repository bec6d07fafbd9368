"""Repository for webhook endpoints, their deliveries and every delivery attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
import msgspec

from intentcast.store.events import LogEvent

CLAIM_LEASE = timedelta(seconds=60)


class EndpointRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    vendor_id: str
    url: str
    secret_sealed: bytes
    events: list[str] | None
    status: str
    disabled_reason: str | None
    created_at: datetime


class DeliveryRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    endpoint_id: str
    vendor_id: str
    event_seq: int
    event_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    request_id: str | None = None
    """The request that caused the event (for log lines), when there was one."""


class AttemptRow(msgspec.Struct, frozen=True, kw_only=True):
    attempted_at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float | None


_ENDPOINT = "id, vendor_id, url, secret_sealed, events, status, disabled_reason, created_at"
_DELIVERY = """id, endpoint_id, vendor_id, event_seq, event_id, status, attempts,
    next_attempt_at, last_status_code, last_error, created_at, delivered_at, request_id"""


def _endpoint(row: asyncpg.Record) -> EndpointRow:
    values = dict(row)
    values["secret_sealed"] = bytes(values["secret_sealed"])
    values["events"] = None if values["events"] is None else list(values["events"])
    return EndpointRow(**values)


def _delivery(row: asyncpg.Record) -> DeliveryRow:
    return DeliveryRow(**dict(row))


_VENDOR_NOT_SUSPENDED = """NOT EXISTS (SELECT 1 FROM vendors v
                    WHERE v.id = webhook_deliveries.vendor_id AND v.status = 'suspended')"""
"""A suspended vendor's deliveries wait (they resume if it is reinstated)."""


class Webhooks:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(
        self,
        vendor_id: str,
        url: str,
        secret_sealed: bytes,
        events: list[str] | None,
        endpoint_id: str,
    ) -> EndpointRow:
        row = await self.conn.fetchrow(
            f"""INSERT INTO webhook_endpoints (id, vendor_id, url, secret_sealed, events)
                VALUES ($1, $2, $3, $4, $5) RETURNING {_ENDPOINT}""",
            endpoint_id,
            vendor_id,
            url,
            secret_sealed,
            events,
        )
        return _endpoint(row)

    async def get(self, vendor_id: str, endpoint_id: str) -> EndpointRow | None:
        row = await self.conn.fetchrow(
            f"""SELECT {_ENDPOINT} FROM webhook_endpoints
                 WHERE id = $1 AND vendor_id = $2 AND deleted_at IS NULL""",
            endpoint_id,
            vendor_id,
        )
        return None if row is None else _endpoint(row)

    async def list_for(self, vendor_id: str, *, limit: int, after: str | None) -> list[EndpointRow]:
        rows = await self.conn.fetch(
            f"""SELECT {_ENDPOINT} FROM webhook_endpoints
                 WHERE vendor_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR id > $2)
                 ORDER BY id LIMIT $3""",
            vendor_id,
            after,
            limit,
        )
        return [_endpoint(r) for r in rows]

    async def count_for(self, vendor_id: str) -> int:
        return await self.conn.fetchval(
            "SELECT count(*) FROM webhook_endpoints WHERE vendor_id = $1 AND deleted_at IS NULL",
            vendor_id,
        )

    async def delete(self, vendor_id: str, endpoint_id: str) -> bool:
        status = await self.conn.execute(
            """UPDATE webhook_endpoints SET deleted_at = now(), status = 'disabled',
                      disabled_reason = 'deleted'
                WHERE id = $1 AND vendor_id = $2 AND deleted_at IS NULL""",
            endpoint_id,
            vendor_id,
        )
        if status.endswith(" 1"):
            await self.conn.execute(
                """UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted'
                    WHERE endpoint_id = $1 AND status = 'pending'""",
                endpoint_id,
            )
            return True
        return False

    async def disable(self, endpoint_id: str, reason: str) -> None:
        await self.conn.execute(
            """UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2,
                      updated_at = now() WHERE id = $1""",
            endpoint_id,
            reason,
        )
        await self.conn.execute(
            """UPDATE webhook_deliveries SET status = 'failed', last_error = $2
                WHERE endpoint_id = $1 AND status = 'pending'""",
            endpoint_id,
            f"endpoint disabled: {reason}",
        )

    async def enqueue(
        self,
        vendor_id: str,
        event_type: str,
        event_seq: int,
        event_id: str,
        request_id: str | None = None,
    ) -> list[str]:
        """Create a pending delivery of one event to each active endpoint that wants it."""
        rows = await self.conn.fetch(
            """INSERT INTO webhook_deliveries
                      (id, endpoint_id, vendor_id, event_seq, event_id, request_id)
               SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), e.id,
                      $1, $3, $4, $5
                 FROM webhook_endpoints e
                WHERE e.vendor_id = $1 AND e.status = 'active' AND e.deleted_at IS NULL
                  AND (e.events IS NULL OR $2 = ANY(e.events))
               ON CONFLICT (endpoint_id, event_id) DO NOTHING
               RETURNING id""",
            vendor_id,
            event_type,
            event_seq,
            event_id,
            request_id,
        )
        return [r["id"] for r in rows]

    async def enqueue_many(
        self, appended: Sequence[tuple[str, LogEvent]], request_id: str | None = None
    ) -> list[str]:
        """``enqueue`` for many ``(vendor_id, event)`` at once (one statement)."""
        queued = await self.enqueue_events([(v, e, request_id) for v, e in appended])
        return [delivery_id for delivery_id, _ in queued]

    async def enqueue_events(
        self, appended: Sequence[tuple[str, LogEvent, str | None]]
    ) -> list[tuple[str, str | None]]:
        """``enqueue_many`` with a request id per ``(vendor_id, event, request_id)`` (a
        matcher batch); returns ``(delivery_id, request_id)``."""
        rows = await self.conn.fetch(
            """INSERT INTO webhook_deliveries
                      (id, endpoint_id, vendor_id, event_seq, event_id, request_id)
               SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), e.id,
                      t.vendor_id, t.seq, t.event_id, t.request_id
                 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
                      AS t(vendor_id, type, seq, event_id, request_id)
                 JOIN webhook_endpoints e ON e.vendor_id = t.vendor_id
                WHERE e.status = 'active' AND e.deleted_at IS NULL
                  AND (e.events IS NULL OR t.type = ANY(e.events))
               ON CONFLICT (endpoint_id, event_id) DO NOTHING
               RETURNING id, request_id""",
            [v for v, _, _ in appended],
            [e.type for _, e, _ in appended],
            [e.seq for _, e, _ in appended],
            [e.id for _, e, _ in appended],
            [r for _, _, r in appended],
        )
        return [(r["id"], r["request_id"]) for r in rows]

    async def replay(
        self, vendor_id: str, endpoint_id: str, after_seq: int, limit: int
    ) -> list[str]:
        """Deliver again every event after ``after_seq`` (a fresh delivery for each)."""
        rows = await self.conn.fetch(
            """WITH events AS (
                   SELECT seq, id FROM vendor_events WHERE vendor_id = $1 AND seq > $3
                    ORDER BY seq LIMIT $4)
               INSERT INTO webhook_deliveries (id, endpoint_id, vendor_id, event_seq, event_id)
               SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), $2, $1,
                      events.seq, events.id FROM events
               ON CONFLICT (endpoint_id, event_id) DO UPDATE
                  SET status = 'pending', next_attempt_at = now(), locked_until = NULL
               RETURNING id""",
            vendor_id,
            endpoint_id,
            after_seq,
            limit,
        )
        return [r["id"] for r in rows]

    async def pending_count(self, endpoint_id: str) -> int:
        """Deliveries to this endpoint not yet delivered or given up (due now or later)."""
        return await self.conn.fetchval(
            """SELECT count(*) FROM webhook_deliveries
                WHERE endpoint_id = $1 AND status = 'pending'""",
            endpoint_id,
        )

    async def claim(self, delivery_id: str) -> DeliveryRow | None:
        """Lease a due delivery for one attempt (no other worker takes it meanwhile)."""
        row = await self.conn.fetchrow(
            f"""UPDATE webhook_deliveries SET locked_until = now() + $2::interval
                 WHERE id = $1 AND status = 'pending' AND next_attempt_at <= now()
                   AND (locked_until IS NULL OR locked_until < now())
                   AND {_VENDOR_NOT_SUSPENDED}
             RETURNING {_DELIVERY}""",
            delivery_id,
            CLAIM_LEASE,
        )
        return None if row is None else _delivery(row)

    async def due(self, limit: int) -> list[str]:
        rows = await self.conn.fetch(
            f"""SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= now()
                  AND (locked_until IS NULL OR locked_until < now())
                  AND {_VENDOR_NOT_SUSPENDED}
                ORDER BY next_attempt_at LIMIT $1""",
            limit,
        )
        return [r["id"] for r in rows]

    async def endpoint_by_id(self, endpoint_id: str) -> EndpointRow | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = $1", endpoint_id
        )
        return None if row is None else _endpoint(row)

    async def record_attempt(
        self,
        delivery_id: str,
        *,
        outcome: str,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        next_attempt_in_s: float | None,
    ) -> None:
        """Log the attempt; then the delivery is delivered, retried later, or failed."""
        await self.conn.execute(
            """INSERT INTO webhook_attempts (delivery_id, outcome, status_code, error, duration_ms)
               VALUES ($1, $2, $3, $4, $5)""",
            delivery_id,
            outcome,
            status_code,
            error,
            duration_ms,
        )
        if outcome == "delivered":
            status, when = "delivered", None
        elif next_attempt_in_s is not None:
            status, when = "pending", next_attempt_in_s
        else:
            status, when = "failed", None
        await self.conn.execute(
            """UPDATE webhook_deliveries
                  SET status = $2, attempts = attempts + 1, locked_until = NULL,
                      last_status_code = $3, last_error = $4,
                      next_attempt_at = CASE WHEN $5::float8 IS NULL THEN next_attempt_at
                                             ELSE now() + make_interval(secs => $5) END,
                      delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
                WHERE id = $1""",
            delivery_id,
            status,
            status_code,
            error,
            when,
        )

    async def deliveries(
        self, endpoint_id: str, *, limit: int, before: tuple[datetime, str] | None
    ) -> list[DeliveryRow]:
        rows = await self.conn.fetch(
            f"""SELECT {_DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1
                  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
                ORDER BY created_at DESC, id DESC LIMIT $4""",
            endpoint_id,
            before[0] if before else None,
            before[1] if before else None,
            limit,
        )
        return [_delivery(r) for r in rows]

    async def attempts(self, delivery_ids: list[str]) -> dict[str, list[AttemptRow]]:
        rows = await self.conn.fetch(
            """SELECT delivery_id, attempted_at, outcome, status_code, error, duration_ms
                 FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY id""",
            delivery_ids,
        )
        out: dict[str, list[AttemptRow]] = {}
        for r in rows:
            values = dict(r)
            out.setdefault(values.pop("delivery_id"), []).append(AttemptRow(**values))
        return out
