"""Data rights and retention: what the retention purge and a buyer's erasure take away, and
what they keep.

**Retention.** An intent that has been closed (``withdrawn``, ``fulfilled``, ``expired``,
``removed``) for longer than the operator's ``retention_days`` loses its free text: the
buyer's original title, description and attributes *and* the scrubbed copy vendors see.
The title becomes :data:`PURGED`, description ``null``, attributes ``{}``, redactions
``[]``; every relay message on the intent gets :data:`PURGED` as its body, and so do the
copies of that text in the vendors' and the buyer's event logs. What is not free text stays
(category, quantity, budget, coarse cell, dates, status, terms, offers), so vendors' records
of their own offers and the buyer's receipts keep their meaning. Vendors see the marker
where the text was, so "purged" is never confused with "empty".

**Erasure** (``DELETE /v1/me``). Everything the retention purge removes, for every intent of
the buyer at once, plus: the persona (all four sealed fields, the display name becomes
:data:`ERASED_NAME`, the country is cleared), the values sealed into reveals, the buyer's own
event log, blocks and rating comments. Live intents are withdrawn first, so matched vendors
hear ``intent.closed``; granted reveals are revoked (with a ``revoke`` receipt), so a
vendor's next read answers 410; every token is revoked and every passkey removed. Consent
receipts stay as they were signed: they name persona *fields*, never values, and the buyer
only under a pseudonym, so they hold nothing to remove and their signatures stay valid.

Pure: the services pass the time and the settings in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args

from intentcast.domain.intents import LIVE_STATUSES, IntentStatus

PURGED = "[purged]"
"""Stands where purged or erased free text was: an intent's title, a message's body."""

ERASED_NAME = "[erased]"
"""The display name of an erased buyer."""

CLOSED_STATUSES: frozenset[str] = frozenset(get_args(IntentStatus)) - LIVE_STATUSES
"""Statuses an intent never leaves; the retention clock runs from the moment it got one."""


def purge_cutoff(now: datetime, retention_days: int) -> datetime:
    """Intents closed at or before this moment are due for the purge (``retention_days``
    0: every closed intent, at the next pass)."""
    if retention_days < 0:
        raise ValueError("retention_days must not be negative")
    return now - timedelta(days=retention_days)
