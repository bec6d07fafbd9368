"""Repository for intents: create, read, list, change, and expire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from intentcast.domain.intents import Budget, Disclosure, Intent, Location, Terms
from intentcast.domain.kanon import Described
from intentcast.domain.scrubbing import Redaction
from intentcast.store.errors import found
from intentcast.store.locks import lock_key, serialize
from intentcast.store.outbox import OutboxEvent
from intentcast.store.sql import insert_sql, set_clause

_COLUMNS = """id, buyer_id, status, category, title, description, attributes, public_title,
    public_description, public_attributes, redactions, quantity, budget_currency, budget_min,
    budget_max, budget_visible, h3_cell, country, fulfilment, needed_by, expires_at, terms,
    published_at, updated_at, version, disclosed_category, disclosed_cell, disclosed_country"""

# columns a change may set directly (status, text, expiry, …); see ``Intents.update``
_UPDATABLE = frozenset(
    {
        "status",
        "title",
        "description",
        "attributes",
        "public_title",
        "public_description",
        "public_attributes",
        "redactions",
        "quantity",
        "budget_currency",
        "budget_min",
        "budget_max",
        "budget_visible",
        "fulfilment",
        "needed_by",
        "expires_at",
        "terms",
        "closed_at",
    }
)
# columns set once, when the intent is published
_INSERTABLE = (_UPDATABLE - {"closed_at"}) | {
    "id",
    "buyer_id",
    "category",
    "h3_cell",
    "country",
    "disclosed_category",
    "disclosed_cell",
    "disclosed_country",
}


def _intent(row: asyncpg.Record) -> Intent:
    budget = None
    if row["budget_currency"] is not None:
        budget = Budget(
            currency=row["budget_currency"],
            min=row["budget_min"],
            max=row["budget_max"],
            visible=row["budget_visible"],
        )
    location = None
    if row["h3_cell"] is not None or row["country"] is not None:
        location = Location(cell=row["h3_cell"], country=row["country"])
    return Intent(
        id=row["id"],
        buyer_id=row["buyer_id"],
        status=row["status"],
        category=row["category"],
        title=row["title"],
        description=row["description"],
        attributes=row["attributes"],
        public_title=row["public_title"],
        public_description=row["public_description"],
        public_attributes=row["public_attributes"],
        redactions=msgspec.convert(row["redactions"], list[Redaction]),
        quantity=row["quantity"],
        budget=budget,
        location=location,
        fulfilment=list(row["fulfilment"]),
        needed_by=row["needed_by"],
        expires_at=row["expires_at"],
        terms=msgspec.convert(row["terms"], Terms),
        published_at=row["published_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        disclosure=(
            None
            if row["disclosed_category"] is None
            else Disclosure(
                category=row["disclosed_category"],
                cell=row["disclosed_cell"],
                country=row["disclosed_country"],
            )
        ),
    )


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def intent_columns(intent: Intent) -> dict[str, Any]:
    """The stored columns of an intent (the inverse of reading a row)."""
    budget = intent.budget
    return {
        "status": intent.status,
        "title": intent.title,
        "description": intent.description,
        "attributes": intent.attributes,
        "public_title": intent.public_title,
        "public_description": intent.public_description,
        "public_attributes": intent.public_attributes,
        "redactions": msgspec.to_builtins(intent.redactions),
        "quantity": intent.quantity,
        "budget_currency": budget.currency if budget else None,
        "budget_min": budget.min if budget else None,
        "budget_max": budget.max if budget else None,
        "budget_visible": budget.visible if budget else True,
        "fulfilment": intent.fulfilment,
        "needed_by": intent.needed_by,
        "expires_at": intent.expires_at,
        "terms": msgspec.to_builtins(intent.terms),
    }


def _publish_columns(intent: Intent) -> dict[str, Any]:
    columns = intent_columns(intent)
    columns.update(
        id=intent.id,
        buyer_id=intent.buyer_id,
        category=intent.category,
        h3_cell=intent.location.cell if intent.location else None,
        country=intent.location.country if intent.location else None,
        disclosed_category=intent.disclosure.category if intent.disclosure else None,
        disclosed_cell=intent.disclosure.cell if intent.disclosure else None,
        disclosed_country=intent.disclosure.country if intent.disclosure else None,
    )
    return columns


_PUBLISH_COLUMNS = tuple(sorted(_INSERTABLE))
_BUYER_PARAM = _PUBLISH_COLUMNS.index("buyer_id") + 1
_PUBLISH_SQL = f"""
WITH live AS (
    SELECT count(*) AS n FROM intents
     WHERE buyer_id = ${_BUYER_PARAM} AND status IN ('open', 'paused')
), inserted AS (
    {insert_sql("intents", _PUBLISH_COLUMNS, allowed=_INSERTABLE, returning=_COLUMNS)}
), event AS (
    INSERT INTO outbox (event_type, aggregate_id, payload, request_id, published_at)
    SELECT ${len(_PUBLISH_COLUMNS) + 1}, id, jsonb_build_object('version', version),
           ${len(_PUBLISH_COLUMNS) + 2}, now()
      FROM inserted
    RETURNING id, created_at
)
SELECT inserted.*, (SELECT n FROM live) AS live_before, event.id AS outbox_id,
       event.created_at AS outbox_created_at
  FROM inserted, event"""
"""The intent, its outbox row and the buyer's live count before it, in one round trip
(the count's snapshot does not see the row inserted beside it). The outbox row is marked
published: the unit of work announces it after commit, or clears the mark if it cannot
(``store/outbox.py``)."""
_LOCK_PUBLISHER_SQL = """SELECT (SELECT country FROM buyers WHERE id = $2)
  FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS locked"""


class Intents:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get_for_buyer(
        self, buyer_id: str, intent_id: str, *, for_update: bool = False
    ) -> Intent | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM intents WHERE id = $1 AND buyer_id = $2{lock}",
            intent_id,
            buyer_id,
        )
        return None if row is None else _intent(row)

    async def get(self, intent_id: str, *, for_update: bool = False) -> Intent | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM intents WHERE id = $1{lock}", intent_id
        )
        return None if row is None else _intent(row)

    async def get_many(self, intent_ids: list[str]) -> dict[str, Intent]:
        """The intents of these ids that exist, by id, in one statement (a matcher run)."""
        if not intent_ids:
            return {}
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM intents WHERE id = ANY($1::text[])", intent_ids
        )
        return {r["id"]: _intent(r) for r in rows}

    async def require(self, intent_id: str) -> Intent:
        """Like ``get``, for an intent that must exist (an offer's, a thread's); else
        ``RowNotFound``."""
        return found(await self.get(intent_id), "intents", intent_id)

    async def list_for_buyer(
        self,
        buyer_id: str,
        *,
        statuses: list[str] | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[Intent]:
        """Newest first; ``before`` is the (published_at, id) of the last item seen."""
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM intents
                 WHERE buyer_id = $1
                   AND ($2::text[] IS NULL OR status = ANY($2))
                   AND ($3::timestamptz IS NULL OR (published_at, id) < ($3, $4))
                 ORDER BY published_at DESC, id DESC LIMIT $5""",
            buyer_id,
            statuses,
            before[0] if before else None,
            before[1] if before else None,
            limit,
        )
        return [_intent(r) for r in rows]

    async def page(
        self, *, status: str | None, limit: int, before: tuple[datetime, str] | None
    ) -> list[Intent]:
        """Every buyer's intents, newest first (the operators' list); ``before`` is the
        (published_at, id) of the last item seen."""
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM intents
                 WHERE ($1::text IS NULL OR status = $1)
                   AND ($2::timestamptz IS NULL OR (published_at, id) < ($2, $3))
                 ORDER BY published_at DESC, id DESC LIMIT $4""",
            status,
            before[0] if before else None,
            before[1] if before else None,
            limit,
        )
        return [_intent(r) for r in rows]

    async def lock_publisher(self, buyer_id: str) -> str | None:
        """``lock_buyer`` and the buyer's country (scrubbing's phone region), in one round
        trip; ``None`` without a country (or without such a buyer)."""
        if not self.conn.is_in_transaction():
            raise RuntimeError("lock_publisher() needs a transaction: the lock ends with it")
        return await self.conn.fetchval(
            _LOCK_PUBLISHER_SQL, lock_key("intents", buyer_id), buyer_id
        )

    async def insert_published(
        self, intent: Intent, *, event_type: str, request_id: str | None
    ) -> tuple[Intent, OutboxEvent, int]:
        """Insert ``intent`` and its outbox row (payload ``{"version": …}``, marked
        published: pass it to ``Work.recorded``) in one statement; return them with how many
        live (open or paused) intents the buyer had before it. The caller holds
        ``lock_buyer`` and rolls back if that was too many."""
        columns = _publish_columns(intent)
        row = await self.conn.fetchrow(
            _PUBLISH_SQL, *(columns[name] for name in _PUBLISH_COLUMNS), event_type, request_id
        )
        stored = _intent(row)
        event = OutboxEvent(
            id=row["outbox_id"],
            event_type=event_type,
            aggregate_id=stored.id,
            payload={"version": stored.version},
            created_at=row["outbox_created_at"],
            request_id=request_id,
        )
        return stored, event, row["live_before"]

    async def lock_buyer(self, buyer_id: str) -> None:
        """Serialise a buyer's publishes (for the open-intent limit) until commit."""
        await serialize(self.conn, "intents", buyer_id)

    async def count_live(self, buyer_id: str) -> int:
        return await self.conn.fetchval(
            "SELECT count(*) FROM intents WHERE buyer_id = $1 AND status IN ('open', 'paused')",
            buyer_id,
        )

    async def update(self, intent_id: str, changes: dict[str, Any]) -> Intent:
        """Set ``changes`` (column → value), bump ``version`` and ``updated_at``."""
        assignments, values = set_clause(
            changes, _UPDATABLE, also=("version = version + 1", "updated_at = now()")
        )
        row = await self.conn.fetchrow(
            f"UPDATE intents SET {assignments} WHERE id = $1 RETURNING {_COLUMNS}",
            intent_id,
            *values,
        )
        return _intent(row)

    async def save(self, before: Intent, after: Intent) -> Intent:
        """Store what changed between two versions of an intent (from ``apply_patch``)."""
        old, new = intent_columns(before), intent_columns(after)
        changes = {k: v for k, v in new.items() if old[k] != v}
        if "status" in changes and after.status not in ("open", "paused"):
            changes["closed_at"] = after.updated_at
        return await self.update(after.id, changes)

    async def kanon_neighbours(
        self, subject: Described, top_category: str, *, limit: int
    ) -> list[Described]:
        """The open intents k-anonymity counts (``domain/kanon.py``): those in the
        top-level category's subtree — in the subject's country when it names one (each
        area it may be shown at names it) — as (buyer, category, cell, country); at most
        ``limit``, those of the subject's own category and then its own cell first. Fewer
        rows can only make the count smaller, so the intent coarser, never finer. One range
        scan of ``intents_open_category_idx``."""
        rows = await self.conn.fetch(
            """SELECT buyer_id, category, h3_cell, country FROM intents
                WHERE status = 'open' AND (category = $1 OR category LIKE $2)
                  AND ($3::text IS NULL OR country = $3)
                ORDER BY category = $4 DESC, h3_cell IS NOT DISTINCT FROM $5 DESC
                LIMIT $6""",
            top_category,
            _like_prefix(top_category) + "/%",
            subject.country,
            subject.category,
            subject.cell,
            limit,
        )
        return [Described(r["buyer_id"], r["category"], r["h3_cell"], r["country"]) for r in rows]

    async def open_in_categories(self, roots: list[str], limit: int) -> list[Intent]:
        """Open intents in any of the subtrees ``roots``, and those k-anonymity shows at a
        category above one of ``roots`` (``domain.matching.category_matches``), newest first
        (for backfill; the predicate judges each)."""
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM intents
                 WHERE status = 'open'
                   AND (category = ANY($1) OR category LIKE ANY($2)
                        OR (disclosed_category IS NOT NULL
                            AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS root
                                         WHERE starts_with(root, disclosed_category || '/'))))
                 ORDER BY published_at DESC LIMIT $3""",
            roots,
            [_like_prefix(r) + "/%" for r in roots],
            limit,
        )
        return [_intent(r) for r in rows]

    async def expire_due(self, *, limit: int = 500) -> list[Intent]:
        """Move live intents past their expiry to ``expired``; return them."""
        rows = await self.conn.fetch(
            f"""UPDATE intents SET status = 'expired', closed_at = now(), updated_at = now(),
                       version = version + 1
                 WHERE id IN (SELECT id FROM intents
                               WHERE status IN ('open', 'paused') AND expires_at <= now()
                               ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING {_COLUMNS}""",
            limit,
        )
        return [_intent(r) for r in rows]

    # ---- data rights and retention (``services.data_rights``, ``services.retention``) ----

    async def withdraw_live_of_buyer(self, buyer_id: str, live: list[str]) -> list[Intent]:
        """Withdraw every intent of the buyer whose status is in ``live``; return them."""
        rows = await self.conn.fetch(
            f"""UPDATE intents SET status = 'withdrawn', closed_at = now(), updated_at = now(),
                       version = version + 1
                 WHERE buyer_id = $1 AND status = ANY($2::text[])
             RETURNING {_COLUMNS}""",
            buyer_id,
            live,
        )
        return [_intent(r) for r in rows]

    async def ids_of_buyer(self, buyer_id: str) -> list[str]:
        rows = await self.conn.fetch("SELECT id FROM intents WHERE buyer_id = $1", buyer_id)
        return [r["id"] for r in rows]

    async def purge_text_of_buyer(self, buyer_id: str, marker: str) -> list[str]:
        """Replace the free text of every intent of the buyer not yet purged (``marker`` as
        title, no description, attributes or redactions); return their ids."""
        rows = await self.conn.fetch(
            f"""UPDATE intents SET {_PURGE_SET}
                 WHERE buyer_id = $1 AND purged_at IS NULL RETURNING id""",
            buyer_id,
            marker,
        )
        return [r["id"] for r in rows]

    async def purge_due(
        self, *, closed_before: datetime, closed: list[str], marker: str, limit: int
    ) -> list[str]:
        """Purge the free text of up to ``limit`` intents closed (status in ``closed``) at
        or before ``closed_before``; return their ids. Claimed with SKIP LOCKED, so several
        schedulers share the work. An intent with an outbox event the matcher has not yet
        processed waits for the next pass: once every event is processed, nothing can copy
        its text into a vendor's log after the purge."""
        rows = await self.conn.fetch(
            f"""UPDATE intents SET {_PURGE_SET}
                 WHERE id IN (
                       SELECT i.id FROM intents i
                        WHERE i.purged_at IS NULL AND i.closed_at IS NOT NULL
                          AND i.closed_at <= $3 AND i.status = ANY($4::text[])
                          AND NOT EXISTS (SELECT 1 FROM outbox o
                                           WHERE o.aggregate_id = i.id
                                             AND o.processed_at IS NULL)
                        ORDER BY i.closed_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING id""",
            limit,
            marker,
            closed_before,
            closed,
        )
        return [r["id"] for r in rows]

    async def purge_times(self, buyer_id: str) -> dict[str, datetime]:
        """``purged_at`` of the buyer's purged intents, by id."""
        rows = await self.conn.fetch(
            "SELECT id, purged_at FROM intents WHERE buyer_id = $1 AND purged_at IS NOT NULL",
            buyer_id,
        )
        return {r["id"]: r["purged_at"] for r in rows}


# $2 is the marker that stands where the text was
_PURGE_SET = """title = $2, description = NULL, attributes = '{}', public_title = $2,
    public_description = NULL, public_attributes = '{}', redactions = '[]',
    purged_at = now()"""
