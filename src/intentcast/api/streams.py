"""Server-Sent Events over an owner's event log (vendors' ``/v1/vendor/stream`` and buyers'
``/v1/me/stream``): subscribe to the live hub first, replay the log after the client's last
``seq``, then forward live events in ``seq`` order, reading the log on any gap.

``EventStreams`` is what a controller is given (a typed dependency): the pool and both
live hubs, with one method per audience."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from litestar.response import ServerSentEventMessage

from intentcast.api.errors import invalid
from intentcast.bus import STREAM_CLOSE
from intentcast.delivery.live import RESYNC, LiveEvent, LiveHub, sse_frame
from intentcast.metrics import counted_stream, observe_delivery_lag
from intentcast.services.feed import buyer_log, vendor_log, vendor_may_listen
from intentcast.store.events import LogEvent, encode_event

HEARTBEAT_S = 15.0
REPLAY_PAGE = 500

ReadAfter = Callable[[asyncpg.Connection, str, int, int], Awaitable[list[LogEvent]]]
StillAllowed = Callable[[asyncpg.Connection, str], Awaitable[bool]]


def seq_param(value: str | None, name: str = "after") -> int:
    """A resume position (`after` or `Last-Event-ID`): a non-negative integer seq, in ASCII
    digits only (``str.isdigit`` alone also takes ``١٢`` or ``²``)."""
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise invalid(f"query.{name}", "must be an event seq (a non-negative integer)", status=400)
    return int(value)


class _Frame(ServerSentEventMessage):
    """An SSE message already encoded (by the live hub, once for every connection)."""

    def __init__(self, frame: bytes) -> None:
        super().__init__()
        self.frame = frame

    def encode(self) -> bytes:
        return self.frame


def _message(event: LogEvent) -> ServerSentEventMessage:
    return _Frame(sse_frame(event.seq, event.type, encode_event(event)))


async def event_stream(
    pool: asyncpg.Pool,
    hub: LiveHub,
    owner_id: str,
    start: int,
    read_after: ReadAfter,
    still_allowed: StillAllowed | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The owner's events after ``start``, then live ones, until the client goes or the
    owner may no longer listen: told at once (``STREAM_CLOSE`` on its channel) or found at
    the next heartbeat by ``still_allowed`` (a close message lost with Redis)."""
    last = start

    async def catch_up() -> AsyncIterator[ServerSentEventMessage]:
        nonlocal last
        while True:
            async with pool.acquire() as conn:
                events = await read_after(conn, owner_id, last, REPLAY_PAGE)
            for event in events:
                last = event.seq
                yield _message(event)
            if len(events) < REPLAY_PAGE:
                return

    async with hub.listen(owner_id) as queue:
        async for message in catch_up():
            yield message
        while True:
            try:
                payload = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                if still_allowed is not None:
                    async with pool.acquire() as conn:
                        if not await still_allowed(conn, owner_id):
                            return
                yield ServerSentEventMessage(comment="keep-alive")
                async for message in catch_up():  # silence is cheap to double-check
                    yield message
                continue
            if payload == STREAM_CLOSE:
                return
            if payload == RESYNC:
                async for message in catch_up():
                    yield message
                continue
            if not isinstance(payload, LiveEvent):
                continue
            if payload.seq <= last:
                continue
            if payload.seq == last + 1:
                last = payload.seq
                observe_delivery_lag("sse", payload.created_at)
                yield _Frame(payload.frame)
            else:  # a gap: read the log
                async for message in catch_up():
                    yield message


async def _read_vendor_log(
    conn: asyncpg.Connection, vendor_id: str, after: int, limit: int
) -> list[LogEvent]:
    return await vendor_log(conn, vendor_id, after=after, limit=limit)


async def _read_buyer_log(
    conn: asyncpg.Connection, buyer_id: str, after: int, limit: int
) -> list[LogEvent]:
    return await buyer_log(conn, buyer_id, after=after, limit=limit)


class EventStreams:
    """The live streams of this process: one per audience, over the same code."""

    def __init__(self, pool: asyncpg.Pool, vendor_hub: LiveHub, buyer_hub: LiveHub) -> None:
        self.pool = pool
        self.vendor_hub = vendor_hub
        self.buyer_hub = buyer_hub

    def vendor(self, vendor_id: str, start: int) -> AsyncIterator[ServerSentEventMessage]:
        return counted_stream(
            event_stream(
                self.pool, self.vendor_hub, vendor_id, start, _read_vendor_log, vendor_may_listen
            ),
            "vendor",
        )

    def buyer(self, buyer_id: str, start: int) -> AsyncIterator[ServerSentEventMessage]:
        return counted_stream(
            event_stream(self.pool, self.buyer_hub, buyer_id, start, _read_buyer_log), "buyer"
        )
