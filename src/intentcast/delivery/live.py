"""Live fan-out for SSE: one Redis pub/sub connection per API process, many listeners.

A hub (one for vendors, one for buyers) subscribes to the channel of each owner that has a
live connection on this process, and only those: an API process does not read the events
of owners connected elsewhere. It hands each message to the owner's local connections.
Listeners treat it as a doorbell, not a source of truth: a listener that sees a gap, a
reconnect, or silence reads its owner's log in PostgreSQL.

A message is read once per process, not once per connection: the hub takes the event's
``seq``, ``type`` and ``created_at`` from it and builds its SSE frame (``sse_frame``) once;
every connection of the owner gets the same ``LiveEvent`` and writes the frame as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime

import msgspec
import redis.asyncio as redis
from redis.asyncio.client import PubSub

from intentcast.bus import STREAM_CLOSE

log = logging.getLogger(__name__)

RESYNC = b""
"""Put on every queue when the hub reconnects: listeners re-read their log."""
QUEUE_SIZE = 1000
STOP_TIMEOUT_S = 2.0
SUBSCRIBE_TIMEOUT_S = 2.0


class _Head(msgspec.Struct):
    """What a listener needs of a log event's wire form (the rest is skipped, not parsed)."""

    seq: int
    type: str
    created_at: datetime


class LiveEvent(msgspec.Struct, frozen=True):
    """A log event as published: its ``seq``, when it was logged, and its SSE frame."""

    seq: int
    created_at: datetime
    frame: bytes


def sse_frame(seq: int, event_type: str, data: bytes) -> bytes:
    """One SSE message: ``id`` (the seq), ``event`` (the type), ``data`` (the event's JSON,
    which never holds a line break: JSON escapes them in strings)."""
    return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (seq, event_type.encode(), data)


def live_event(payload: bytes) -> LiveEvent | bytes:
    """A published payload as a ``LiveEvent``; ``STREAM_CLOSE`` as it is; anything else
    ``RESYNC`` (the listener reads its log)."""
    if payload == STREAM_CLOSE:
        return payload
    try:
        head = _HEAD_DECODER.decode(payload)
    except msgspec.DecodeError:
        return RESYNC
    return LiveEvent(head.seq, head.created_at, sse_frame(head.seq, head.type, payload))


_HEAD_DECODER = msgspec.json.Decoder(_Head)


class LiveHub:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.listeners: dict[str, set[asyncio.Queue[LiveEvent | bytes]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._prefix = prefix
        self._stopping = False
        self._pubsub: PubSub | None = None
        self._confirmations: dict[bytes, asyncio.Event] = {}
        self._changing = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        """Stop listening. The Redis client may swallow a cancellation mid-read, so the loop
        also checks a flag, and shutdown never waits on it for long."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)

    @contextlib.asynccontextmanager
    async def listen(self, vendor_id: str):
        """A queue of the owner's live events, subscribed to once it is handed out: an event
        published after this yields reaches the queue (or, if Redis fails, a ``RESYNC``)."""
        queue: asyncio.Queue[LiveEvent | bytes] = asyncio.Queue(QUEUE_SIZE)
        first = not self.listeners.get(vendor_id)
        self.listeners[vendor_id].add(queue)
        try:
            if first:
                await self._subscribe(vendor_id)
            yield queue
        finally:
            self.listeners[vendor_id].discard(queue)
            if not self.listeners[vendor_id]:
                del self.listeners[vendor_id]
                await self._unsubscribe(vendor_id)

    async def _subscribe(self, owner_id: str) -> None:
        """Subscribe to the owner's channel and wait for Redis to confirm it. If Redis is
        away, the hub subscribes every listening owner when it is back (and resyncs)."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        channel = (self._prefix + owner_id).encode()
        confirmed = self._confirmations.setdefault(channel, asyncio.Event())
        try:
            async with self._changing:  # sent in the order decided (see _unsubscribe)
                await pubsub.subscribe(channel)
            await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_TIMEOUT_S)
        except Exception as exc:  # Redis away or the hub reconnecting
            # the stream still reads the log on every heartbeat
            log.warning("live hub could not confirm a subscription (%r)", exc)
        finally:
            if self._confirmations.get(channel) is confirmed:
                del self._confirmations[channel]

    async def _unsubscribe(self, owner_id: str) -> None:
        """Unsubscribe, unless the owner has listened again meanwhile (checked under the
        lock its new subscription is sent under, so the two cannot cross)."""
        async with self._changing:
            pubsub = self._pubsub
            if pubsub is None or self.listeners.get(owner_id):
                return
            with contextlib.suppress(Exception):  # the hub reconnecting or stopped
                await pubsub.unsubscribe((self._prefix + owner_id).encode())

    def _deliver(self, vendor_id: str, payload: bytes) -> None:
        queues = self.listeners.get(vendor_id)
        if not queues:  # the owner listens on another process (or nowhere)
            return
        item = RESYNC if payload == RESYNC else live_event(payload)
        for queue in list(queues):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a slow reader: it will catch up from the log
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(RESYNC)

    def _resync_all(self) -> None:
        for vendor_id in list(self.listeners):
            self._deliver(vendor_id, RESYNC)

    async def _run(self) -> None:
        prefix = len(self._prefix)
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                # the bare prefix (never published on) keeps the connection subscribed
                # while no owner listens here
                await pubsub.subscribe(self._prefix)
                self._pubsub = pubsub
                owners = list(self.listeners)
                if owners:
                    await pubsub.subscribe(*(self._prefix + owner for owner in owners))
                self._resync_all()
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind == "message":
                        self._deliver(message["channel"][prefix:].decode(), message["data"])
                    elif kind == "subscribe":
                        confirmed = self._confirmations.get(message["channel"])
                        if confirmed is not None:
                            confirmed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: reconnect, listeners resync
                log.warning("live hub lost Redis (%s); reconnecting", exc)
                self._pubsub = None
                self._resync_all()
                await asyncio.sleep(1.0)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
