"""Repository for webhook endpoints, their deliveries and every delivery attempt.

An endpoint row also holds what its management needs: the secret a rotation replaced (until
its grace period ends) and the current failure streak (``failing_since`` ..
``last_failure_at``), which ``record_attempts`` keeps with every batch of results. A test
delivery carries its own synthetic event (``test_event``) instead of one of the feed."""

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
    updated_at: datetime | None = None
    previous_secret_sealed: bytes | None = None
    """The secret the last rotation replaced, until the scheduler erases it once
    ``previous_secret_expires_at`` has passed (it signs only before then)."""
    previous_secret_expires_at: datetime | None = None
    failing_since: datetime | None = None
    """The first failed attempt since the last success (``None``: not failing)."""
    last_failure_at: datetime | None = None


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
    test: bool = False
    """A test delivery (``POST /v1/vendor/webhooks/{id}/test``): its event is synthetic."""


class AttemptRow(msgspec.Struct, frozen=True, kw_only=True):
    attempted_at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float | None


class AttemptResultRow(msgspec.Struct, frozen=True):
    """The result of one attempt, to record (``Webhooks.record_attempts``)."""

    delivery_id: str
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float
    next_attempt_in_s: float | None
    """Seconds until the retry; ``None``: no retry (the delivery fails unless delivered)."""
    endpoint_id: str | None = None
    """The endpoint that answered (its failure streak moves on); ``None`` when no attempt
    reached an endpoint (it or the event no longer exists)."""
    finished_at: datetime | None = None
    """When the attempt ended, for the failure streak (``None``: the database's now)."""


class ClaimedDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """A leased delivery with what its attempt needs (``Webhooks.claim_many``)."""

    delivery: DeliveryRow
    endpoint: EndpointRow | None
    event: LogEvent | None


_ENDPOINT = """id, vendor_id, url, secret_sealed, events, status, disabled_reason, created_at,
    updated_at, previous_secret_sealed, previous_secret_expires_at, failing_since,
    last_failure_at"""
_DELIVERY = """id, endpoint_id, vendor_id, event_seq, event_id, status, attempts,
    next_attempt_at, last_status_code, last_error, created_at, delivered_at, request_id,
    test_event IS NOT NULL AS test"""


def _endpoint(row: asyncpg.Record) -> EndpointRow:
    values = dict(row)
    values["secret_sealed"] = bytes(values["secret_sealed"])
    if values["previous_secret_sealed"] is not None:
        values["previous_secret_sealed"] = bytes(values["previous_secret_sealed"])
    values["events"] = None if values["events"] is None else list(values["events"])
    return EndpointRow(**values)


def _delivery(row: asyncpg.Record) -> DeliveryRow:
    return DeliveryRow(**dict(row))


_VENDOR_NOT_SUSPENDED = """NOT EXISTS (SELECT 1 FROM vendors v
                    WHERE v.id = webhook_deliveries.vendor_id AND v.status = 'suspended')"""
"""A suspended vendor's deliveries wait (they resume if it is reinstated)."""


def _status_after(result: AttemptResultRow) -> str:
    if result.outcome == "delivered":
        return "delivered"
    return "pending" if result.next_attempt_in_s is not None else "failed"


# One statement per batch of stream-announced (or polled) deliveries: lease the due rows,
# and read each one's endpoint and event with them. SKIP LOCKED: a row another transaction
# holds is left to the poll (another worker is claiming it, or its state is changing).
_CLAIM = f"""
WITH due AS (
    SELECT id FROM webhook_deliveries
     WHERE id = ANY($1::text[]) AND status = 'pending' AND next_attempt_at <= now()
       AND (locked_until IS NULL OR locked_until < now())
       AND {_VENDOR_NOT_SUSPENDED}
       FOR UPDATE OF webhook_deliveries SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d SET locked_until = now() + $2::interval
      FROM due WHERE d.id = due.id
 RETURNING d.id, d.endpoint_id, d.vendor_id, d.event_seq, d.event_id, d.status, d.attempts,
           d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.delivered_at,
           d.request_id, d.test_event
)
SELECT c.*,
       e.id AS e_id, e.vendor_id AS e_vendor_id, e.url AS e_url, e.secret_sealed AS e_secret_sealed,
       e.events AS e_events, e.status AS e_status, e.disabled_reason AS e_disabled_reason,
       e.created_at AS e_created_at,
       e.previous_secret_sealed AS e_previous_secret_sealed,
       e.previous_secret_expires_at AS e_previous_secret_expires_at,
       ev.id AS ev_id, ev.seq AS ev_seq, ev.type AS ev_type, ev.created_at AS ev_created_at,
       ev.data AS ev_data
  FROM claimed c
  LEFT JOIN webhook_endpoints e ON e.id = c.endpoint_id
  LEFT JOIN vendor_events ev ON ev.id = c.event_id AND ev.vendor_id = c.vendor_id"""

# One statement per batch of attempt results: log each attempt, move each endpoint's failure
# streak on, then move its delivery on (as one transaction: the attempt is never logged
# without its delivery's new state). A success ends the streak; a batch with a success for
# an endpoint counts as a success for it. A healthy endpoint's row is not written.
_RECORD = """
WITH r AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::float8[],
                         $6::text[], $7::float8[], $8::text[], $9::timestamptz[])
        AS r(id, outcome, status_code, error, duration_ms, status, retry_in, endpoint_id,
             finished_at)
), logged AS (
    INSERT INTO webhook_attempts (delivery_id, outcome, status_code, error, duration_ms)
    SELECT id, outcome, status_code, error, duration_ms FROM r
), streak AS (
    SELECT endpoint_id, bool_or(outcome = 'delivered') AS delivered,
           min(coalesce(finished_at, now())) AS first_failure,
           max(coalesce(finished_at, now())) AS last_failure
      FROM r WHERE endpoint_id IS NOT NULL GROUP BY endpoint_id
), streaks AS (
    UPDATE webhook_endpoints e
       SET failing_since = CASE WHEN s.delivered THEN NULL
                                ELSE coalesce(e.failing_since, s.first_failure) END,
           last_failure_at = CASE WHEN s.delivered THEN NULL
                                  ELSE greatest(e.last_failure_at, s.last_failure) END
      FROM streak s
     WHERE e.id = s.endpoint_id AND (NOT s.delivered OR e.failing_since IS NOT NULL)
)
UPDATE webhook_deliveries d
   SET status = r.status, attempts = d.attempts + 1, locked_until = NULL,
       last_status_code = r.status_code, last_error = r.error,
       next_attempt_at = CASE WHEN r.retry_in IS NULL THEN d.next_attempt_at
                              ELSE now() + make_interval(secs => r.retry_in) END,
       delivered_at = CASE WHEN r.status = 'delivered' THEN now() END
  FROM r WHERE d.id = r.id"""


def _claimed(row: asyncpg.Record) -> ClaimedDelivery:
    endpoint = None
    if row["e_id"] is not None:
        events = row["e_events"]
        previous = row["e_previous_secret_sealed"]
        endpoint = EndpointRow(
            id=row["e_id"],
            vendor_id=row["e_vendor_id"],
            url=row["e_url"],
            secret_sealed=bytes(row["e_secret_sealed"]),
            events=None if events is None else list(events),
            status=row["e_status"],
            disabled_reason=row["e_disabled_reason"],
            created_at=row["e_created_at"],
            previous_secret_sealed=None if previous is None else bytes(previous),
            previous_secret_expires_at=row["e_previous_secret_expires_at"],
        )
    event = None
    if row["test_event"] is not None:
        event = msgspec.convert(row["test_event"], LogEvent, strict=False)
    elif row["ev_id"] is not None:
        event = LogEvent(
            id=row["ev_id"],
            seq=row["ev_seq"],
            type=row["ev_type"],
            created_at=row["ev_created_at"],
            data=row["ev_data"],
        )
    delivery = DeliveryRow(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        vendor_id=row["vendor_id"],
        event_seq=row["event_seq"],
        event_id=row["event_id"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
        request_id=row["request_id"],
        test=row["test_event"] is not None,
    )
    return ClaimedDelivery(delivery=delivery, endpoint=endpoint, event=event)


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

    async def disable(self, endpoint_id: str, reason: str) -> bool:
        """Disable an active endpoint with ``reason`` and give up its pending deliveries;
        False when it was not active (already disabled, or deleted)."""
        status = await self.conn.execute(
            """UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2,
                      updated_at = now() WHERE id = $1 AND status = 'active'""",
            endpoint_id,
            reason,
        )
        await self.fail_pending(endpoint_id, f"endpoint disabled: {reason}")
        return status.endswith(" 1")

    async def fail_pending(self, endpoint_id: str, error: str) -> None:
        """Give up every pending delivery to the endpoint (a replay can queue them again)."""
        await self.conn.execute(
            """UPDATE webhook_deliveries SET status = 'failed', last_error = $2
                WHERE endpoint_id = $1 AND status = 'pending'""",
            endpoint_id,
            error,
        )

    async def update(
        self,
        vendor_id: str,
        endpoint_id: str,
        *,
        url: str | None,
        change_events: bool,
        events: list[str] | None,
        enabled: bool | None,
        disabled_reason: str,
    ) -> EndpointRow | None:
        """Change what is given: ``url`` (None: keep), the event filter (when
        ``change_events``; ``events`` None: every type), ``enabled`` (None: keep). Enabling
        a disabled endpoint clears its reason and failure streak; disabling an active one
        records ``disabled_reason``. None when the vendor has no such endpoint."""
        row = await self.conn.fetchrow(
            f"""UPDATE webhook_endpoints SET
                       url = coalesce($3, url),
                       events = CASE WHEN $4 THEN $5::text[] ELSE events END,
                       status = CASE WHEN $6::boolean IS NULL THEN status
                                     WHEN $6 THEN 'active' ELSE 'disabled' END,
                       disabled_reason = CASE WHEN $6 AND status = 'disabled' THEN NULL
                                              WHEN NOT $6 AND status = 'active' THEN $7
                                              ELSE disabled_reason END,
                       failing_since = CASE WHEN $6 AND status = 'disabled' THEN NULL
                                            ELSE failing_since END,
                       last_failure_at = CASE WHEN $6 AND status = 'disabled' THEN NULL
                                              ELSE last_failure_at END,
                       updated_at = now()
                 WHERE id = $1 AND vendor_id = $2 AND deleted_at IS NULL
             RETURNING {_ENDPOINT}""",
            endpoint_id,
            vendor_id,
            url,
            change_events,
            events,
            enabled,
            disabled_reason,
        )
        return None if row is None else _endpoint(row)

    async def rotate_secret(
        self,
        vendor_id: str,
        endpoint_id: str,
        *,
        secret_sealed: bytes,
        previous_secret_sealed: bytes | None,
        previous_expires_at: datetime | None,
    ) -> EndpointRow | None:
        """Replace the secret; the replaced one (sealed again by the caller, or ``None`` to
        drop it) signs until ``previous_expires_at``. A secret an earlier rotation replaced
        is dropped. None when the vendor has no such endpoint."""
        row = await self.conn.fetchrow(
            f"""UPDATE webhook_endpoints SET secret_sealed = $3, previous_secret_sealed = $4,
                       previous_secret_expires_at = $5, updated_at = now()
                 WHERE id = $1 AND vendor_id = $2 AND deleted_at IS NULL
             RETURNING {_ENDPOINT}""",
            endpoint_id,
            vendor_id,
            secret_sealed,
            previous_secret_sealed,
            previous_expires_at,
        )
        return None if row is None else _endpoint(row)

    async def get_for_update(self, vendor_id: str, endpoint_id: str) -> EndpointRow | None:
        """``get``, the row locked until the transaction ends (a rotation reads and writes
        the secret)."""
        row = await self.conn.fetchrow(
            f"""SELECT {_ENDPOINT} FROM webhook_endpoints
                 WHERE id = $1 AND vendor_id = $2 AND deleted_at IS NULL FOR UPDATE""",
            endpoint_id,
            vendor_id,
        )
        return None if row is None else _endpoint(row)

    async def drop_expired_previous_secrets(self, now: datetime) -> int:
        """Erase every replaced secret whose grace period has ended; how many."""
        status = await self.conn.execute(
            """UPDATE webhook_endpoints
                  SET previous_secret_sealed = NULL, previous_secret_expires_at = NULL
                WHERE previous_secret_sealed IS NOT NULL AND previous_secret_expires_at <= $1""",
            now,
        )
        return int(status.split()[-1])

    async def failing_for(self, span: timedelta, limit: int) -> list[EndpointRow]:
        """Active endpoints whose failure streak spans at least ``span`` (candidates for
        ``domain.webhooks.disable_due``), locked, skipping rows another transaction holds."""
        rows = await self.conn.fetch(
            f"""SELECT {_ENDPOINT} FROM webhook_endpoints
                 WHERE failing_since IS NOT NULL AND status = 'active' AND deleted_at IS NULL
                   AND last_failure_at - failing_since >= $1::interval
                 ORDER BY failing_since LIMIT $2
                   FOR UPDATE SKIP LOCKED""",
            span,
            limit,
        )
        return [_endpoint(r) for r in rows]

    async def enqueue_test(self, vendor_id: str, endpoint_id: str, event: LogEvent) -> str:
        """A pending delivery of the synthetic ``event`` to this one endpoint."""
        return await self.conn.fetchval(
            """INSERT INTO webhook_deliveries
                      (id, endpoint_id, vendor_id, event_seq, event_id, test_event)
               VALUES ('dlv_' || replace(gen_random_uuid()::text, '-', ''), $2, $1, $3, $4, $5)
               RETURNING id""",
            vendor_id,
            endpoint_id,
            event.seq,
            event.id,
            msgspec.to_builtins(event),
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
        claimed = await self.claim_many([delivery_id])
        return claimed[0].delivery if claimed else None

    async def claim_many(self, delivery_ids: Sequence[str]) -> list[ClaimedDelivery]:
        """Lease every due delivery of ``delivery_ids`` for one attempt, with its endpoint
        and event, in one statement.

        Skipped: deliveries delivered or given up, not yet due, leased by another worker
        (an expired lease may be taken over), of a suspended vendor, or whose row another
        transaction holds right now (``SKIP LOCKED``: they stay pending, and the worker's
        poll of due rows finds them again). The endpoint or the event is ``None`` when it
        no longer exists."""
        rows = await self.conn.fetch(_CLAIM, list(delivery_ids), CLAIM_LEASE)
        return [_claimed(r) for r in rows]

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
        await self.record_attempts(
            [
                AttemptResultRow(
                    delivery_id, outcome, status_code, error, duration_ms, next_attempt_in_s
                )
            ]
        )

    async def record_attempts(self, results: Sequence[AttemptResultRow]) -> None:
        """``record_attempt`` for several deliveries in one statement (atomic as a whole):
        each attempt is logged, and each delivery is delivered, retried after its
        ``next_attempt_in_s``, or failed."""
        if not results:
            return
        await self.conn.execute(
            _RECORD,
            [r.delivery_id for r in results],
            [r.outcome for r in results],
            [r.status_code for r in results],
            [r.error for r in results],
            [r.duration_ms for r in results],
            [_status_after(r) for r in results],
            [r.next_attempt_in_s if _status_after(r) == "pending" else None for r in results],
            [r.endpoint_id for r in results],
            [r.finished_at for r in results],
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
