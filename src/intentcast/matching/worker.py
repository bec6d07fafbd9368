"""The matcher worker: consumes the work stream, matches intents, appends vendor events.

Each matcher holds a ``SubscriptionIndex`` of all live subscriptions, loaded from PostgreSQL
at start. It stays current two ways: the ``ic:subs`` stream wakes it on every change, and
before each batch it compares its version with PostgreSQL's (``change_version``) and applies
whatever changed — so a lost or trimmed stream message (a gap) costs nothing but a query.

Work is at-least-once: messages are acknowledged only after their effects committed, a
crashed consumer's messages are reclaimed with XAUTOCLAIM, matches are unique per (intent,
subscription) and vendor events per dedupe key, so redelivery never duplicates anything.

Published intents are handled a run at a time: consecutive ``intent.published`` messages of
one stream read are matched together in one transaction (one statement each for the
outbox marks, the intents, eligibility, the hourly caps, the matches, the vendor-log
appends and the webhook rows), announced in one Redis pipeline and acknowledged with one
XACK. The result
is the one of handling them one by one in stream order: caps count the earlier intents of
the run, each vendor's events are numbered in stream order, and each delivery keeps the
request that caused it. A run that fails is retried one message at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.bus import MATCHER_GROUP, SUBS_STREAM, WORK_STREAM
from intentcast.config import Settings
from intentcast.domain.events import OutboxEventType, VendorEventType, dedupe
from intentcast.domain.intents import Intent
from intentcast.domain.matching import Subscription, matchable, matches
from intentcast.domain.vendor_view import vendor_view
from intentcast.logs import current_request_id, using_request_id
from intentcast.matching.index import SubscriptionIndex
from intentcast.metrics import MATCHES, observe_delivery_lag, observe_match_latency
from intentcast.services.runtime_settings import RuntimeSettings
from intentcast.services.work import Work, unit_of_work
from intentcast.store.intents import Intents
from intentcast.store.matches import Matches
from intentcast.store.outbox import Outbox
from intentcast.store.subscriptions import Subscriptions

log = logging.getLogger(__name__)

BATCH = 64
PUBLISHED = OutboxEventType.INTENT_PUBLISHED.encode()
BLOCK_MS = 1000
RECLAIM_EVERY_S = 5.0
BACKFILL_LIMIT = 5000


class _Published(msgspec.Struct, frozen=True):
    """An ``intent.published`` work-stream message."""

    outbox_id: int
    intent_id: str
    recorded_at: datetime | None
    request_id: str | None

    @classmethod
    def of(cls, fields: dict[bytes, bytes]) -> _Published:
        recorded = fields.get(b"created_at")
        request_id = fields.get(b"request_id")
        return cls(
            outbox_id=int(fields[b"outbox_id"]),
            intent_id=fields[b"aggregate_id"].decode(),
            recorded_at=datetime.fromisoformat(recorded.decode()) if recorded else None,
            request_id=request_id.decode() if request_id else None,
        )


Candidates = tuple[str | None, Intent, dict[str, Any], list[Subscription]]
"""One intent of a matcher run: the request that caused it, the intent, its vendor view and
the subscriptions the index matched."""


class Matcher:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        client: redis.Redis,
        *,
        reclaim_every_s: float = RECLAIM_EVERY_S,
        runtime_settings: RuntimeSettings | None = None,
    ) -> None:
        self.settings = settings
        self.runtime_settings = runtime_settings
        self.pool = pool
        self.redis = client
        self.index = SubscriptionIndex()
        self.version = 0
        self.subs_cursor = "0-0"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.reclaim_idle_ms = settings.redelivery_seconds * 1000
        self.reclaim_every_s = reclaim_every_s

    @property
    def location_floor(self) -> int:
        """The operator's current floor when following runtime settings (``workers.py``)."""
        live = self.runtime_settings.current if self.runtime_settings else self.settings
        return live.location_floor

    # ---- the index ---------------------------------------------------------------------

    async def load(self) -> None:
        last = await self.redis.xrevrange(SUBS_STREAM, count=1)
        self.subs_cursor = last[0][0].decode() if last else "0-0"
        async with self.pool.acquire() as conn:
            subscriptions, self.version = await Subscriptions(conn).live_for_matching()
        self.index = SubscriptionIndex(s for s in subscriptions if s.active)
        log.info("matcher index: %d subscriptions at version %d", len(self.index), self.version)

    async def refresh(self, conn: asyncpg.Connection) -> None:
        """Apply subscription changes newer than our version (stream hint + PG check)."""
        messages = await self.redis.xread({SUBS_STREAM: self.subs_cursor}, count=10_000)
        for _, entries in messages:
            if entries:
                self.subs_cursor = entries[-1][0].decode()
        current = await Subscriptions(conn).current_version()
        if current <= self.version:
            return
        rows = await Subscriptions(conn).changed_since(self.version)
        self.index.apply(row.for_matching() for row in rows)
        self.version = max([self.version, *(row.change_version for row in rows)])

    # ---- work --------------------------------------------------------------------------

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(WORK_STREAM, MATCHER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def handle(self, fields: dict[bytes, bytes], *, refresh: bool = True) -> None:
        """Handle one work-stream message, logging under the request id it carries."""
        request_id = fields.get(b"request_id")
        with using_request_id(request_id.decode() if request_id else None):
            await self._handle(fields, refresh=refresh)

    async def _handle(self, fields: dict[bytes, bytes], *, refresh: bool) -> None:
        event_type = fields[b"type"].decode()
        aggregate_id = fields[b"aggregate_id"].decode()
        outbox_id = int(fields[b"outbox_id"])
        recorded = fields.get(b"created_at")
        new_matches = 0
        async with self.pool.acquire() as conn:
            if refresh:
                await self.refresh(conn)
            async with unit_of_work(conn, self.redis) as work:
                if event_type == OutboxEventType.SUBSCRIPTION_CHANGED:
                    new_matches = await self.backfill(work, aggregate_id)
                else:
                    intent = await Intents(conn).get(aggregate_id)
                    if intent is not None:
                        new_matches = await self.on_intent_event(
                            work, intent, event_type, outbox_id
                        )
                await Outbox(conn).mark_processed(outbox_id)
        # committed: count and tell the log what it produced
        recorded_at = datetime.fromisoformat(recorded.decode()) if recorded else None
        MATCHES.inc(new_matches)
        if recorded_at is not None:
            for _ in work.vendor_events:
                observe_delivery_lag("feed", recorded_at)
            if new_matches and event_type == OutboxEventType.INTENT_PUBLISHED:
                observe_match_latency(recorded_at)
        matched_vendors = sum(
            1 for _, e in work.vendor_events if e.type == VendorEventType.INTENT_MATCHED
        )
        log.info(
            "%s %s: %d new matches, %d vendors newly matched, %d vendor events",
            event_type,
            aggregate_id,
            new_matches,
            matched_vendors,
            len(work.vendor_events),
            extra={
                "event": event_type,
                "aggregate_id": aggregate_id,
                "outbox_id": outbox_id,
                "matches": new_matches,
                "vendors_told": len(work.vendor_events),
            },
        )

    async def on_intent_event(
        self, work: Work, intent: Intent, event_type: str, outbox_id: int
    ) -> int:
        """Tell followers of an update or close; match a published or updated open intent.
        Returns how many new matches were recorded."""
        view = msgspec.to_builtins(vendor_view(intent, location_floor=self.location_floor))
        if event_type in (OutboxEventType.INTENT_UPDATED, OutboxEventType.INTENT_CLOSED):
            # every vendor that matched (and was not blocked since) hears about the change, in
            # its own log order
            vendor_event = VendorEventType(event_type)
            await work.tell_vendors(
                [
                    (vendor_id, vendor_event, {"intent": view}, dedupe.outbox(outbox_id))
                    for vendor_id in await Matches(work.conn).vendors_following(intent.id)
                ]
            )
        if (
            event_type in (OutboxEventType.INTENT_PUBLISHED, OutboxEventType.INTENT_UPDATED)
            and intent.status == "open"
        ):
            candidates = self.index.match(matchable(intent))
            return await self.record_matches(work, intent, view, candidates)
        return 0

    async def record_matches(
        self,
        work: Work,
        intent: Intent,
        view: dict[str, Any],
        candidates: list[Subscription],
    ) -> int:
        """``record_run`` for one intent, on behalf of the current request."""
        new = await self.record_run(work, [(current_request_id(), intent, view, candidates)])
        return new.get(intent.id, 0)

    async def backfill(self, work: Work, subscription_id: str) -> int:
        """Match a new or changed subscription against the intents already open; return
        how many new matches were recorded."""
        conn = work.conn
        if await Subscriptions(conn).is_active(subscription_id) is None:
            return 0
        subscription = self.index.get(subscription_id)
        if subscription is None:
            return 0
        intents = await Intents(conn).open_in_categories(
            list(subscription.categories), BACKFILL_LIMIT
        )
        request_id = current_request_id()
        run = [
            (
                request_id,
                intent,
                msgspec.to_builtins(vendor_view(intent, location_floor=self.location_floor)),
                [subscription],
            )
            for intent in intents
            if matches(matchable(intent), subscription)
        ]
        return sum((await self.record_run(work, run)).values())

    async def run(self, stopping: asyncio.Event) -> None:
        await self.ensure_group()
        await self.load()
        last_reclaim = 0.0
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            try:
                if loop.time() - last_reclaim > self.reclaim_every_s:
                    last_reclaim = loop.time()
                    await self.reclaim()
                response = await self.redis.xreadgroup(
                    MATCHER_GROUP, self.consumer, {WORK_STREAM: ">"}, count=BATCH, block=BLOCK_MS
                )
                entries = [entry for _, batch in response or [] for entry in batch]
                async with self.pool.acquire() as conn:
                    await self.refresh(conn)  # the version check, once per batch
                if entries:
                    await self.process_batch(entries)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("matcher lost Redis (%s); retrying", exc)
                await asyncio.sleep(1.0)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis was wiped: recreate; the relay republishes
                    await self.ensure_group()
                else:
                    raise

    async def process_batch(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Handle a batch in stream order, the index already refreshed for it: each run of
        published intents together, anything else one at a time. Sequential on purpose:
        concurrent messages would read hourly-cap counts before each other's matches
        commit and let a capped subscription exceed its cap."""
        run: list[tuple[bytes, dict[bytes, bytes]]] = []
        for message_id, fields in entries:
            if fields.get(b"type") == PUBLISHED:
                run.append((message_id, fields))
                continue
            await self.process_published(run)
            run = []
            await self.process(message_id, fields, refresh=False)
        await self.process_published(run)

    async def process_published(self, run: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """A run of ``intent.published`` messages in one transaction; one at a time if it
        fails (left pending if that fails too: reclaimed and retried later)."""
        if not run:
            return
        try:
            await self.handle_published([_Published.of(fields) for _, fields in run])
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("matcher could not handle a run of %d (%s); one at a time", len(run), exc)
            for message_id, fields in run:
                await self.process(message_id, fields, refresh=False)
            return
        await self.redis.xack(WORK_STREAM, MATCHER_GROUP, *(message_id for message_id, _ in run))

    async def handle_published(self, messages: list[_Published]) -> None:
        matched: list[Candidates] = []
        async with self.pool.acquire() as conn:
            async with unit_of_work(conn, self.redis) as work:
                # marked processed first (rolled back with the rest if the run fails): a
                # message the relay published again while the first copy waited in the
                # stream is left out, its effects are committed and matching it again would
                # find nothing new
                fresh = await Outbox(conn).claim_unprocessed([m.outbox_id for m in messages])
                todo = []
                for message in messages:  # a copy read twice in one run counts once
                    if message.outbox_id in fresh:
                        fresh.discard(message.outbox_id)
                        todo.append(message)
                intents = await Intents(conn).get_many(list({m.intent_id for m in todo}))
                for message in todo:
                    intent = intents.get(message.intent_id)
                    if intent is None or intent.status != "open":
                        continue
                    view = msgspec.to_builtins(
                        vendor_view(intent, location_floor=self.location_floor)
                    )
                    matched.append(
                        (message.request_id, intent, view, self.index.match(matchable(intent)))
                    )
                new = await self.record_run(work, matched)
        # committed: count and tell the log what each message produced
        told: dict[str, int] = defaultdict(int)
        for _, event in work.vendor_events:
            told[event.data["intent"]["id"]] += 1
        for message in messages:
            new_matches = new.get(message.intent_id, 0)
            MATCHES.inc(new_matches)
            if message.recorded_at is not None:
                for _ in range(told[message.intent_id]):
                    observe_delivery_lag("feed", message.recorded_at)
                if new_matches:
                    observe_match_latency(message.recorded_at)
            with using_request_id(message.request_id):
                log.info(
                    "%s %s: %d new matches, %d vendors newly matched, %d vendor events",
                    OutboxEventType.INTENT_PUBLISHED,
                    message.intent_id,
                    new_matches,
                    told[message.intent_id],
                    told[message.intent_id],
                    extra={
                        "event": str(OutboxEventType.INTENT_PUBLISHED),
                        "aggregate_id": message.intent_id,
                        "outbox_id": message.outbox_id,
                        "matches": new_matches,
                        "vendors_told": told[message.intent_id],
                    },
                )

    async def record_run(
        self,
        work: Work,
        matched: list[Candidates],
    ) -> dict[str, int]:
        """Keep each intent's eligible candidates within their hourly caps, record them and
        tell each newly matched vendor once, for a run of intents in stream order: a
        statement per step for the whole run (eligibility and the matches in one when no
        candidate has an hourly cap); returns the number of new matches per intent id."""
        store = Matches(work.conn)
        if not any(c for *_, c in matched):
            return {}
        if not any(s.max_per_hour is not None for *_, c in matched for s in c):
            # no hourly cap in the run: eligibility and the matches in one statement
            new = await store.record_eligible(
                [
                    (intent.id, intent.buyer_id, s.id, s.vendor_id)
                    for _, intent, _, c in matched
                    for s in c
                ]
            )
            chosen = matched
        else:
            chosen = await self.within_caps(store, matched)
            new = await store.record_many(
                [(intent.id, s.id, s.vendor_id) for _, intent, _, c in chosen for s in c]
            )
        by_intent: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for intent_id, subscription_id, vendor_id in new:
            by_intent[intent_id][vendor_id].append(subscription_id)
        items: list[tuple[str, VendorEventType, dict[str, Any], str]] = []
        request_ids: list[str | None] = []
        for request_id, intent, view, _ in chosen:
            for vendor_id, subscription_ids in sorted(by_intent[intent.id].items()):
                items.append(
                    (
                        vendor_id,
                        VendorEventType.INTENT_MATCHED,
                        {"intent": view, "subscription_ids": sorted(subscription_ids)},
                        dedupe.matched(intent.id),
                    )
                )
                request_ids.append(request_id)
        await work.tell_vendors(items, request_ids)
        counted: dict[str, int] = defaultdict(int)
        for intent_id, _, _ in new:
            counted[intent_id] += 1
        return counted

    async def within_caps(
        self,
        store: Matches,
        matched: list[Candidates],
    ) -> list[Candidates]:
        """The eligible candidates of a run within their subscriptions' hourly caps."""
        pairs = sorted({(i.buyer_id, s.vendor_id) for _, i, _, c in matched for s in c})
        eligible = await store.eligible_pairs(pairs)
        chosen = [
            (request_id, intent, view, [s for s in c if (intent.buyer_id, s.vendor_id) in eligible])
            for request_id, intent, view, c in matched
        ]
        capped = sorted({s.id for *_, c in chosen for s in c if s.max_per_hour is not None})
        if not capped:
            return chosen
        # every capped subscription of the run locked at once, in id order (no lock cycles
        # with another matcher), before the counts are read; each intent's count includes
        # the earlier intents' new matches, as it would one transaction per intent
        await store.lock_capped(capped)
        counts = await store.hourly_counts(capped)
        already = await store.recorded_pairs([i.id for _, i, _, _ in chosen], capped)
        within_caps = []
        for request_id, intent, view, subscriptions in chosen:
            kept = []
            for s in subscriptions:
                if s.max_per_hour is None:
                    kept.append(s)
                elif counts.get(s.id, 0) < s.max_per_hour:
                    kept.append(s)
                    if (intent.id, s.id) not in already:
                        counts[s.id] = counts.get(s.id, 0) + 1
            within_caps.append((request_id, intent, view, kept))
        return within_caps

    async def process(
        self, message_id: bytes, fields: dict[bytes, bytes], *, refresh: bool = True
    ) -> None:
        try:
            await self.handle(fields, refresh=refresh)
        except (asyncpg.PostgresError, OSError) as exc:
            # left pending: reclaimed and retried later
            log.warning("matcher could not handle %s: %s", message_id, exc)
            return
        await self.redis.xack(WORK_STREAM, MATCHER_GROUP, message_id)

    async def reclaim(self) -> None:
        """Take over messages a crashed or stuck matcher left pending."""
        start = "0-0"
        while True:
            start, claimed, *_ = await self.redis.xautoclaim(
                WORK_STREAM,
                MATCHER_GROUP,
                self.consumer,
                self.reclaim_idle_ms,
                start_id=start,
                count=BATCH,
            )
            for message_id, fields in claimed:
                if fields:
                    await self.process(message_id, fields)
                else:  # trimmed away: the relay republishes from the outbox
                    await self.redis.xack(WORK_STREAM, MATCHER_GROUP, message_id)
            if start in (b"0-0", "0-0"):
                return


__all__ = ["Matcher"]
