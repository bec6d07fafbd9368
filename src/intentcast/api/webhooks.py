"""Vendors' webhook endpoints: register, read, change, rotate the secret, send a test
event, the delivery log and replay. Deliveries carry the same events as the feed
(``api.vendor``), signed with Standard Webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, delete, get, patch, post
from redis.asyncio import Redis

from intentcast.api.auth import requires_vendor
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    Text,
    decode_cursor,
    decode_time_cursor,
    encode_time_cursor,
    next_cursor,
)
from intentcast.config import Settings
from intentcast.domain.events import VendorEventType
from intentcast.domain.webhooks import (
    DEFAULT_GRACE_PERIOD_S,
    MAX_GRACE_PERIOD_S,
    DeliveryStatus,
    EndpointStatus,
)
from intentcast.security import Keys
from intentcast.services import webhooks
from intentcast.store.accounts import Principal
from intentcast.store.webhooks import EndpointRow


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[
        Text,
        msgspec.Meta(
            min_length=8, max_length=2000, examples=["https://shop.example.com/hooks/intentcast"]
        ),
    ]
    events: list[VendorEventType] | None = None
    """Event types to receive; omitted or null means all."""


class WebhookView(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str] | None
    """Event types delivered; null means all."""
    status: EndpointStatus
    disabled_reason: str | None
    """Why it is disabled: `the endpoint answered 410 Gone`, `every delivery failed for N
    days`, `disabled by the vendor`."""
    created_at: datetime
    updated_at: datetime | None = None
    failing_since: datetime | None = None
    """The first failed attempt since the last success; null when deliveries succeed. An
    endpoint failing for the operator's number of days (default 5) is disabled."""
    previous_secret_expires_at: datetime | None = None
    """After a secret rotation: until when deliveries are also signed with the old
    secret; null when only the current secret signs."""


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; absent fields stay as they are."""

    url: (
        Annotated[
            Text,
            msgspec.Meta(
                min_length=8,
                max_length=2000,
                examples=["https://shop.example.com/hooks/intentcast"],
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    """Checked like a new endpoint's URL."""
    events: list[VendorEventType] | None | msgspec.UnsetType = msgspec.UNSET
    """Event types to receive; null means all."""
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    """`false` disables the endpoint (its pending deliveries are given up); `true`
    enables a disabled one and clears its failure state."""


class RotateSecretRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    grace_period_seconds: Annotated[int, msgspec.Meta(ge=0, le=MAX_GRACE_PERIOD_S)] = (
        DEFAULT_GRACE_PERIOD_S
    )
    """How long the old secret keeps signing beside the new one (default 24 h, at most
    7 days; 0 drops it at once)."""


class SecretRotated(msgspec.Struct, kw_only=True):
    id: str
    secret: str
    """The new `whsec_…` secret, shown once."""
    previous_secret_expires_at: datetime | None
    """Until when deliveries also carry the old secret's signature (null: not at all)."""


class WebhookTestQueued(msgspec.Struct, kw_only=True):
    delivery_id: str
    """Find it in this endpoint's delivery log."""
    event_id: str
    """The test event's id (the `webhook-id` header of the request)."""
    type: str
    """`webhook.test`."""


class WebhookCreated(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str] | None
    status: EndpointStatus
    created_at: datetime
    secret: str
    """`whsec_…`, shown once: verify the Standard Webhooks `v1` signature with it."""


class WebhookPage(msgspec.Struct):
    items: list[WebhookView]
    next: str | None


class AttemptView(msgspec.Struct, kw_only=True):
    attempted_at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float | None


class DeliveryView(msgspec.Struct, kw_only=True):
    id: str
    event_id: str
    event_seq: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptView]
    test: bool = False
    """A test event (`POST /v1/vendor/webhooks/{id}/test`), not one of the feed."""


class DeliveryPage(msgspec.Struct):
    items: list[DeliveryView]
    next: str | None


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    after_seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    """Deliver again every event with a greater `seq`."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000


class ReplayResult(msgspec.Struct):
    queued: int


def _webhook_view(row: EndpointRow) -> WebhookView:
    return WebhookView(
        id=row.id,
        url=row.url,
        events=row.events,
        status=row.status,
        disabled_reason=row.disabled_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        failing_since=row.failing_since,
        previous_secret_expires_at=row.previous_secret_expires_at,
    )


class VendorWebhookController(Controller):
    path = "/v1/vendor/webhooks"
    tags = ["vendor"]
    guards = [requires_vendor]

    @post(operation_id="createWebhook", summary="Register a webhook endpoint")
    async def create(
        self,
        data: WebhookCreate,
        principal: Principal,
        db: asyncpg.Connection,
        keys: Keys,
        settings: Settings,
    ) -> WebhookCreated:
        """Events are POSTed as JSON with Standard Webhooks headers (`webhook-id`,
        `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), signed with the
        returned `whsec_` secret (shown once). Failures are retried with exponential backoff
        for about a day; `410 Gone` disables the endpoint, and so do deliveries failing
        for 5 days (the operator's `webhook_disable_after_days`), with a `webhook.disabled`
        event in your feed. URLs must be https (http to loopback only when the operator
        allows it); private addresses are refused."""
        row, secret = await webhooks.register_webhook(
            db,
            keys,
            vendor_id=principal.subject_id,
            url=data.url,
            events=None if data.events is None else [str(e) for e in data.events],
            allow_loopback=settings.webhook_allow_loopback,
        )
        return WebhookCreated(
            id=row.id,
            url=row.url,
            events=row.events,
            status=row.status,
            created_at=row.created_at,
            secret=secret,
        )

    @get(operation_id="listWebhooks", summary="This vendor's webhook endpoints")
    async def list_webhooks(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> WebhookPage:
        """Every endpoint (never its secret), in id order, paginated with `next`."""
        rows = await webhooks.vendor_webhooks(
            db, principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [_webhook_view(r) for r in rows]
        return WebhookPage(items=items, next=next_cursor(items, limit))

    @get("/{webhook_id:str}", operation_id="getWebhook", summary="One webhook endpoint")
    async def show(
        self, webhook_id: str, principal: Principal, db: asyncpg.Connection
    ) -> WebhookView:
        """Its URL, event filter, status (with the reason when disabled), failure state and
        rotation state; never the secret. 404 for another vendor's endpoint."""
        return _webhook_view(await webhooks.get_webhook(db, principal.subject_id, webhook_id))

    @patch("/{webhook_id:str}", operation_id="updateWebhook", summary="Change a webhook endpoint")
    async def update(
        self,
        webhook_id: str,
        data: WebhookPatch,
        principal: Principal,
        db: asyncpg.Connection,
        settings: Settings,
    ) -> WebhookView:
        """Change the `url` (checked like a new endpoint's: 422 naming `url`), the `events`
        filter (null: all) or `enabled`. Re-enabling a disabled endpoint clears its failure
        state; events from while it was disabled can be sent again with `replay`. The
        secret stays (see `rotate-secret`)."""
        row = await webhooks.update_webhook(
            db,
            vendor_id=principal.subject_id,
            webhook_id=webhook_id,
            changes=webhooks.WebhookChanges(
                url=data.url,
                events=(
                    data.events
                    if data.events is None or data.events is msgspec.UNSET
                    else [str(e) for e in data.events]
                ),
                enabled=data.enabled,
            ),
            allow_loopback=settings.webhook_allow_loopback,
        )
        return _webhook_view(row)

    @post(
        "/{webhook_id:str}/rotate-secret",
        operation_id="rotateWebhookSecret",
        summary="Replace the signing secret",
        status_code=200,
    )
    async def rotate_secret(
        self,
        webhook_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        keys: Keys,
        data: RotateSecretRequest | None = None,
    ) -> SecretRotated:
        """Answers the new `whsec_` secret (shown once). Until `previous_secret_expires_at`
        (`grace_period_seconds`, default 24 h) every delivery carries two `v1,` signatures
        in `webhook-signature`, one per secret, so a receiver verifying with either accepts
        it: deploy the new secret within the grace period. A secret replaced by an earlier
        rotation stops signing at once. After the grace period the old secret is erased."""
        request = data or RotateSecretRequest()
        row, secret = await webhooks.rotate_secret(
            db,
            keys,
            vendor_id=principal.subject_id,
            webhook_id=webhook_id,
            grace_period_s=request.grace_period_seconds,
            now=datetime.now(UTC),
        )
        return SecretRotated(
            id=row.id, secret=secret, previous_secret_expires_at=row.previous_secret_expires_at
        )

    @post(
        "/{webhook_id:str}/test",
        operation_id="sendWebhookTest",
        summary="Send a test event",
        status_code=202,
    )
    async def send_test(
        self, webhook_id: str, principal: Principal, db: asyncpg.Connection, redis: Redis
    ) -> WebhookTestQueued:
        """Queues a `webhook.test` event for this endpoint only, delivered like any event
        (signed, retried, in its delivery log as `test: true`). Its `seq` is 0 and its
        `data` synthetic (`{"test": true, "webhook_id": …, "message": …}`): it is no part of
        your feed (not in `/v1/vendor/matches`, the stream, other endpoints or a replay),
        and the event filter does not apply. 409 for a disabled endpoint."""
        delivery_id, event = await webhooks.send_test_event(
            db,
            redis,
            vendor_id=principal.subject_id,
            webhook_id=webhook_id,
            now=datetime.now(UTC),
        )
        return WebhookTestQueued(delivery_id=delivery_id, event_id=event.id, type=event.type)

    @delete("/{webhook_id:str}", operation_id="deleteWebhook", summary="Remove a webhook endpoint")
    async def remove(self, webhook_id: str, principal: Principal, db: asyncpg.Connection) -> None:
        """Deletes the endpoint; its pending deliveries are given up."""
        await webhooks.remove_webhook(db, principal.subject_id, webhook_id)

    @get(
        "/{webhook_id:str}/deliveries", operation_id="listWebhookDeliveries", summary="Delivery log"
    )
    async def deliveries(
        self,
        webhook_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> DeliveryPage:
        """Newest first; each delivery with every attempt (time, outcome, status, error)."""
        rows, attempts = await webhooks.delivery_log(
            db, principal.subject_id, webhook_id, limit=limit, before=decode_time_cursor(after)
        )
        items = [
            DeliveryView(
                id=r.id,
                event_id=r.event_id,
                event_seq=r.event_seq,
                status=r.status,
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
                last_status_code=r.last_status_code,
                last_error=r.last_error,
                created_at=r.created_at,
                delivered_at=r.delivered_at,
                test=r.test,
                attempt_log=[
                    AttemptView(**msgspec.structs.asdict(a)) for a in attempts.get(r.id, [])
                ],
            )
            for r in rows
        ]
        cursor = (
            encode_time_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
        )
        return DeliveryPage(items=items, next=cursor)

    @post(
        "/{webhook_id:str}/replay",
        operation_id="replayWebhook",
        summary="Deliver events again",
        status_code=202,
    )
    async def replay(
        self,
        webhook_id: str,
        data: ReplayRequest,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> ReplayResult:
        """Queues every event after `after_seq` (up to `limit`) for delivery to this
        endpoint again, in `seq` order."""
        queued = await webhooks.replay_webhook(
            db,
            redis,
            vendor_id=principal.subject_id,
            webhook_id=webhook_id,
            after_seq=data.after_seq,
            limit=data.limit,
        )
        return ReplayResult(queued=queued)
