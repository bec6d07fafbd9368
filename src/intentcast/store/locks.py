"""Transaction-scoped advisory locks: the one place that names what the code serialises.

``serialize(conn, scope, *key)`` takes ``pg_advisory_xact_lock`` on the 64-bit hash of
``scope:k1:k2…`` and holds it until the surrounding transaction ends (so it must be called
inside one). Every lock uses this format, so two call sites that mean the same thing take
the same lock, and different scopes cannot collide by accident of concatenation.

Scopes:

- ``intents``: a buyer's publishes (the open-intent limit), key ``buyer_id``;
- ``offers``: one vendor's offer on one intent, key ``intent_id, vendor_id``;
- ``subs``: a vendor's subscriptions (the per-vendor limit), key ``vendor_id``;
- ``webhooks``: a vendor's webhook endpoints (the per-vendor limit), key ``vendor_id``;
- ``tokens``: one account's tokens (never revoke the last one), key ``subject_id``;
- ``operators``: creating the first operator on first start, no key;
- ``categories``: changes to the taxonomy, no key. (``Categories.lock`` takes a table lock
  instead, which also holds off writers that do not ask for this lock.)
"""

from __future__ import annotations

from typing import Literal

import asyncpg

__all__ = ["Scope", "lock_key", "serialize"]

Scope = Literal["intents", "offers", "subs", "webhooks", "tokens", "operators", "categories"]


def lock_key(scope: Scope, *key: str) -> str:
    """The text that is hashed into the lock id: ``scope:k1:k2``."""
    return ":".join((scope, *key))


async def serialize(conn: asyncpg.Connection, scope: Scope, *key: str) -> None:
    """Wait for, then hold until commit or rollback, the lock named by ``scope`` and ``key``."""
    if not conn.is_in_transaction():
        raise RuntimeError("serialize() needs a transaction: the lock is released at its end")
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock_key(scope, *key)
    )
