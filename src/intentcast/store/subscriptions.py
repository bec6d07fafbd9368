"""Repository for vendor subscriptions (soft-deleted, versioned for the matchers)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from intentcast.domain.matching import Subscription
from intentcast.domain.subscriptions import for_matching
from intentcast.store.sql import insert_sql, set_clause

_COLUMNS = """id, vendor_id, categories, area, cells, countries, budget_min, budget_currency,
    attributes, keywords, fulfilment, max_per_hour, active, deleted_at, change_version,
    created_at, updated_at"""

# what a vendor's change may set (``soft_delete`` sets ``deleted_at``)
_UPDATABLE = frozenset(
    {
        "categories",
        "area",
        "cells",
        "countries",
        "budget_min",
        "budget_currency",
        "attributes",
        "keywords",
        "fulfilment",
        "max_per_hour",
        "active",
    }
)
_INSERTABLE = _UPDATABLE | {"id", "vendor_id"}


class SubscriptionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    vendor_id: str
    categories: list[str]
    area: dict[str, Any] | None
    cells: list[str]
    countries: list[str]
    budget_min: Decimal | None
    budget_currency: str | None
    attributes: dict[str, str | list[str]]
    keywords: list[str]
    fulfilment: list[str]
    max_per_hour: int | None
    active: bool
    deleted_at: datetime | None
    change_version: int
    created_at: datetime
    updated_at: datetime

    def for_matching(self) -> Subscription:
        return for_matching(
            subscription_id=self.id,
            vendor_id=self.vendor_id,
            categories=self.categories,
            cells=self.cells,
            countries=self.countries,
            budget_min=self.budget_min,
            budget_currency=self.budget_currency,
            attributes=self.attributes,
            keywords=self.keywords,
            fulfilment=self.fulfilment,
            active=self.active and self.deleted_at is None,
            max_per_hour=self.max_per_hour,
        )


def _row(record: asyncpg.Record) -> SubscriptionRow:
    values = dict(record)
    for name in ("categories", "cells", "countries", "keywords", "fulfilment"):
        values[name] = list(values[name])
    return SubscriptionRow(**values)


class Subscriptions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, values: dict[str, Any]) -> SubscriptionRow:
        row = await self.conn.fetchrow(
            insert_sql("subscriptions", values, allowed=_INSERTABLE, returning=_COLUMNS),
            *values.values(),
        )
        return _row(row)

    async def get_for_vendor(
        self, vendor_id: str, subscription_id: str, *, for_update: bool = False
    ) -> SubscriptionRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM subscriptions
                 WHERE id = $1 AND vendor_id = $2 AND deleted_at IS NULL{lock}""",
            subscription_id,
            vendor_id,
        )
        return None if row is None else _row(row)

    async def list_for_vendor(
        self, vendor_id: str, *, limit: int, after: str | None
    ) -> list[SubscriptionRow]:
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM subscriptions
                 WHERE vendor_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR id > $2)
                 ORDER BY id LIMIT $3""",
            vendor_id,
            after,
            limit,
        )
        return [_row(r) for r in rows]

    async def update(self, subscription_id: str, changes: dict[str, Any]) -> SubscriptionRow:
        """Set ``changes`` (column → value) and give the row a new ``change_version``."""
        return await self._set(subscription_id, changes, _UPDATABLE)

    async def soft_delete(self, subscription_id: str) -> SubscriptionRow:
        return await self._set(
            subscription_id, {"deleted_at": datetime.now().astimezone()}, {"deleted_at"}
        )

    async def _set(
        self, subscription_id: str, changes: dict[str, Any], allowed: Collection[str]
    ) -> SubscriptionRow:
        assignments, values = set_clause(
            changes,
            allowed,
            also=("updated_at = now()", "change_version = nextval('subscription_change_seq')"),
        )
        row = await self.conn.fetchrow(
            f"UPDATE subscriptions SET {assignments} WHERE id = $1 RETURNING {_COLUMNS}",
            subscription_id,
            *values,
        )
        return _row(row)

    async def is_active(self, subscription_id: str) -> str | None:
        """The vendor of a subscription that is active and not deleted, else ``None``."""
        return await self.conn.fetchval(
            "SELECT vendor_id FROM subscriptions WHERE id = $1 AND deleted_at IS NULL AND active",
            subscription_id,
        )

    async def count_for_vendor(self, vendor_id: str) -> int:
        return await self.conn.fetchval(
            "SELECT count(*) FROM subscriptions WHERE vendor_id = $1 AND deleted_at IS NULL",
            vendor_id,
        )

    async def changed_since(self, version: int) -> list[SubscriptionRow]:
        """Every subscription changed after ``version`` (deleted ones included)."""
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM subscriptions WHERE change_version > $1
                 ORDER BY change_version""",
            version,
        )
        return [_row(r) for r in rows]

    async def current_version(self) -> int:
        return await self.conn.fetchval(
            "SELECT coalesce(max(change_version), 0) FROM subscriptions"
        )

    async def live_for_matching(self) -> tuple[list[Subscription], int]:
        """All live subscriptions of verified vendors and the version they reflect."""
        async with self.conn.transaction(isolation="repeatable_read", readonly=True):
            version = await self.current_version()
            rows = await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE deleted_at IS NULL"
            )
        return [_row(r).for_matching() for r in rows], version
