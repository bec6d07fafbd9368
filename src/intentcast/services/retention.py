"""The retention purge: closed intents lose their free text after ``retention_days``.

Run by the scheduler (``workers.purge_retained``) a batch at a time, claimed with SKIP
LOCKED like expiry, so any number of schedulers share the work. What is taken and what
stays is decided in ``domain.data_rights``; :func:`purge_copies` also serves a buyer's
erasure (``services.data_rights``), which purges every intent of the buyer at once.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from intentcast.domain.data_rights import CLOSED_STATUSES, PURGED, purge_cutoff
from intentcast.store.events import BuyerEvents, VendorEvents
from intentcast.store.intents import Intents
from intentcast.store.relay import Threads


async def purge_copies(conn: asyncpg.Connection, intent_ids: list[str]) -> None:
    """Remove the text of these intents everywhere it was copied: the relay messages on
    them, the intent views and messages in vendors' logs, the messages in the buyer's log.
    (The intents' own text is replaced by the caller, in the same transaction.)"""
    if not intent_ids:
        return
    await Threads(conn).purge_messages(intent_ids, PURGED)
    await VendorEvents(conn).purge_intent_text(intent_ids, PURGED)
    await BuyerEvents(conn).purge_messages(intent_ids, PURGED)


async def purge_due_intents(
    conn: asyncpg.Connection, *, retention_days: int, now: datetime, limit: int
) -> int:
    """Purge one batch of intents closed longer than ``retention_days`` before ``now``
    (0: every closed intent); return how many. Each intent is purged with all copies of
    its text in one transaction."""
    async with conn.transaction():
        purged = await Intents(conn).purge_due(
            closed_before=purge_cutoff(now, retention_days),
            closed=sorted(CLOSED_STATUSES),
            marker=PURGED,
            limit=limit,
        )
        await purge_copies(conn, purged)
    return len(purged)
