"""Vendor delivery channels: the durable feed, the SSE stream, matched intents (webhook
endpoints are in ``api.webhooks``).

The feed, the stream and webhooks read one ordered per-vendor log (``vendor_events``); every
payload carries the vendor view of the intent, produced by the one projection in
``domain.vendor_view``.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from intentcast.api.auth import requires_vendor
from intentcast.api.event_docs import (
    AFTER_SEQ,
    LAST_EVENT_ID,
    VendorEvent,
    VendorEventStream,
    stream_response,
)
from intentcast.api.streams import EventStreams, seq_param
from intentcast.config import Settings
from intentcast.domain.vendor_view import VendorIntent
from intentcast.services import feed
from intentcast.store.accounts import Principal


class EventPage(msgspec.Struct):
    items: list[VendorEvent]
    next: str | None
    """Pass as `after` for the next page; null when you are at the end."""
    last_seq: int
    """The last `seq` in this page (or your `after` if empty): resume from it later."""


class VendorFeedController(Controller):
    path = "/v1/vendor"
    tags = ["vendor"]
    guards = [requires_vendor]

    @get("/matches", operation_id="listVendorEvents", summary="The durable, ordered event feed")
    async def matches(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        after: Annotated[
            str | None,
            Parameter(description="Events with a greater `seq` (default 0).", max_length=20),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> EventPage:
        """Every event for this vendor in `seq` order, gap-free: `intent.matched`,
        `intent.updated`, `intent.closed`, … Each item is `{id, seq, type, created_at, data}`
        where `data.intent` is the anonymised vendor view."""
        start = seq_param(after)
        items = await feed.vendor_log(db, principal.subject_id, after=start, limit=limit)
        last = items[-1].seq if items else start
        return EventPage(
            items=items, next=str(last) if len(items) == limit else None, last_seq=last
        )

    @get(
        "/stream",
        operation_id="streamVendorEvents",
        summary="The same events as Server-Sent Events, live",
        responses={200: stream_response(VendorEventStream)},
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        streams: EventStreams,
        after: Annotated[str | None, Parameter(description=AFTER_SEQ, max_length=20)] = None,
        last_event_id: Annotated[
            str | None,
            Parameter(header="Last-Event-ID", description=LAST_EVENT_ID, max_length=20),
        ] = None,
    ) -> ServerSentEvent:
        """Replays events after `Last-Event-ID` (the `seq` of the last event you saw) or
        `?after=`, then streams new ones as they happen; the SSE `id` is the `seq`, the SSE
        `event` the type. A comment every 15 s keeps idle connections open."""
        start = seq_param(last_event_id if last_event_id else after, "after")
        return ServerSentEvent(streams.vendor(principal.subject_id, start))

    @get(
        "/intents/{intent_id:str}", operation_id="getMatchedIntent", summary="An intent you matched"
    )
    async def matched_intent(
        self, intent_id: str, principal: Principal, db: asyncpg.Connection, settings: Settings
    ) -> VendorIntent:
        """The anonymised vendor view, for intents this vendor matched (404 otherwise)."""
        return await feed.matched_intent(
            db,
            vendor_id=principal.subject_id,
            intent_id=intent_id,
            location_floor=settings.location_floor,
        )
