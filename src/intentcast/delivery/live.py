"""Live fan-out for SSE: one Redis pub/sub connection per API process, many listeners.

A hub pattern-subscribes to every channel under its prefix (one hub for vendors, one
for buyers) and hands each message to the local SSE connections of the channel's owner.
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

from intentcast.bus import STREAM_CLOSE

log = logging.getLogger(__name__)

RESYNC = b""
"""Put on every queue when the hub reconnects: listeners re-read their log."""
QUEUE_SIZE = 1000
STOP_TIMEOUT_S = 2.0


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
        queue: asyncio.Queue[LiveEvent | bytes] = asyncio.Queue(QUEUE_SIZE)
        self.listeners[vendor_id].add(queue)
        try:
            yield queue
        finally:
            self.listeners[vendor_id].discard(queue)
            if not self.listeners[vendor_id]:
                del self.listeners[vendor_id]

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
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                self._resync_all()
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()
                    self._deliver(channel[len(self._prefix) :], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: reconnect, listeners resync
                log.warning("live hub lost Redis (%s); reconnecting", exc)
                self._resync_all()
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
