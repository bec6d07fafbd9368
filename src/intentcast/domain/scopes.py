"""Token scopes: what a scoped (delegated) buyer token may do, and the rules for minting one.

A buyer may hand an agent of its own (an AI assistant, a script) a token that can do only
part of what the buyer can: preview, publish and manage intents, read offers, read and
answer relay threads. A scoped token can never disclose the buyer's identity (reveal), read
the buyer's persona, accept an offer, export or erase the account, or mint or manage tokens:
no scope grants those, so only a full token (``scopes`` NULL) does.

Which scope each route needs is declared in ``api/scopes.py``; this module owns the
vocabulary and the validation of a requested scope set and expiry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from intentcast.domain.errors import RuleViolation

SCOPES: dict[str, str] = {
    "intents:read": "list and read your intents",
    "intents:write": "preview, publish, change, pause and withdraw intents",
    "offers:read": "read the offers on your intents (and vendors' public profiles)",
    "offers:write": "decline offers (never accept)",
    "relay:read": "list and read your relay threads",
    "relay:write": "answer relay threads and flag messages",
    "events:read": "follow your live event stream (intents, offers, messages)",
}
"""Every scope a token may hold, with what it allows (shown on the tokens page)."""

OPEN_TO_ALL = "*"
"""What a route open to everyone (no token needed) requires: any token may call it."""

MAX_SCOPED_LIFETIME = timedelta(days=366)
"""A token's expiry is at most this far ahead."""

MIN_LIFETIME = timedelta(minutes=1)
"""…and at least this far (an expiry in the past or the next seconds is a mistake)."""


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The requested scopes as a set; unknown or none at all → ``RuleViolation('scopes')``."""
    requested = list(scopes)
    if not requested:
        raise RuleViolation(
            "scopes",
            "A scoped token needs at least one scope; leave scopes out for a full token.",
        )
    unknown = sorted({s for s in requested if s not in SCOPES})
    if unknown:
        raise RuleViolation(
            "scopes",
            f"Unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(SCOPES))}.",
        )
    return frozenset(requested)


def validate_expiry(expires_at: datetime, now: datetime) -> datetime:
    """``expires_at`` if it lies between ``MIN_LIFETIME`` and ``MAX_SCOPED_LIFETIME`` from
    ``now``; else ``RuleViolation('expires_at')``."""
    if expires_at.tzinfo is None:
        raise RuleViolation("expires_at", "Give the expiry with a time zone (e.g. ...Z).")
    if expires_at < now + MIN_LIFETIME:
        raise RuleViolation("expires_at", "The expiry must be at least a minute in the future.")
    if expires_at > now + MAX_SCOPED_LIFETIME:
        raise RuleViolation("expires_at", "The expiry may be at most a year ahead.")
    return expires_at


def allows(scopes: frozenset[str] | None, required: str | None) -> bool:
    """Whether a token holding ``scopes`` (None: a full token) may use a route needing
    ``required`` (None: full tokens only; ``OPEN_TO_ALL``: any token)."""
    if scopes is None or required == OPEN_TO_ALL:
        return True
    return required is not None and required in scopes
