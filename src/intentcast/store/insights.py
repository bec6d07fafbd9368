"""SQL of the demand insights (``services/insights.py``): the intents a release is computed
from, and the privacy-budget ledger and cached releases of migration 0017.

The ledger row of an (account, period) is the lock that serialises that account's
releases: ``lock_budget`` creates it if needed and holds it ``FOR UPDATE`` until the
caller's transaction ends, so two simultaneous queries can neither overspend nor both
compute the same release."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec


class IntentFact(msgspec.Struct, frozen=True, kw_only=True):
    """One published intent as the insights see it: who, which week, where, the budget the
    buyer showed vendors, and how many offers it received. No text, no exact time."""

    buyer_id: str
    week: date
    """Monday (UTC) of the week the intent was published."""
    h3_cell: str | None
    country: str | None
    budget_currency: str | None
    budget_amount: Decimal | None
    """``budget_max`` if set, else ``budget_min``; null when the buyer hid the budget."""
    offers: int


class Insights:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def intent_facts(
        self,
        *,
        since: datetime,
        until: datetime,
        category: str | None,
        country: str | None,
    ) -> list[IntentFact]:
        """Intents published in ``[since, until)`` in ``category``'s subtree (every category
        when None) and ``country`` (every country when None), removed ones excepted; in the
        order they were published."""
        rows = await self.conn.fetch(
            """SELECT i.buyer_id,
                      date_trunc('week', i.published_at AT TIME ZONE 'UTC')::date AS week,
                      i.h3_cell, i.country,
                      CASE WHEN i.budget_visible THEN i.budget_currency END AS budget_currency,
                      CASE WHEN i.budget_visible THEN coalesce(i.budget_max, i.budget_min)
                      END AS budget_amount,
                      (SELECT count(*) FROM offers o WHERE o.intent_id = i.id) AS offers
                 FROM intents i
                WHERE i.published_at >= $1 AND i.published_at < $2
                  AND ($3::text IS NULL OR i.category = $3 OR starts_with(i.category, $3 || '/'))
                  AND ($4::text IS NULL OR i.country = $4)
                  AND i.status <> 'removed'
                ORDER BY i.published_at, i.id""",
            since,
            until,
            category,
            country,
        )
        return [
            IntentFact(
                buyer_id=r["buyer_id"],
                week=r["week"],
                h3_cell=r["h3_cell"],
                country=r["country"].strip() if r["country"] else None,
                budget_currency=r["budget_currency"],
                budget_amount=r["budget_amount"],
                offers=r["offers"],
            )
            for r in rows
        ]

    async def lock_budget(self, account: str, period_start: date) -> float:
        """The ε ``account`` has spent in the period, its ledger row locked until the end of
        the caller's transaction (created at 0 if it is the period's first query)."""
        await self.conn.execute(
            """INSERT INTO insight_budgets (account, period_start) VALUES ($1, $2)
               ON CONFLICT DO NOTHING""",
            account,
            period_start,
        )
        spent = await self.conn.fetchval(
            """SELECT epsilon_spent FROM insight_budgets
                WHERE account = $1 AND period_start = $2 FOR UPDATE""",
            account,
            period_start,
        )
        return float(spent)

    async def cached_release(
        self, account: str, period_start: date, query: str
    ) -> dict[str, Any] | None:
        raw = await self.conn.fetchval(
            """SELECT release::text FROM insight_releases
                WHERE account = $1 AND period_start = $2 AND query = $3""",
            account,
            period_start,
            query,
        )
        return None if raw is None else json.loads(raw)

    async def record_release(
        self,
        account: str,
        period_start: date,
        query: str,
        release: dict[str, Any],
        epsilon: float,
    ) -> float:
        """Store the release (as text: the same with or without the pool's JSON codecs)
        and add its ε to the ledger (whose row ``lock_budget`` holds); the ε spent in the
        period afterwards."""
        await self.conn.execute(
            """INSERT INTO insight_releases (account, period_start, query, release, epsilon)
               VALUES ($1, $2, $3, $4::text::jsonb, $5)""",
            account,
            period_start,
            query,
            json.dumps(release),
            epsilon,
        )
        spent = await self.conn.fetchval(
            """UPDATE insight_budgets
                  SET epsilon_spent = epsilon_spent + $3, updated_at = now()
                WHERE account = $1 AND period_start = $2
            RETURNING epsilon_spent""",
            account,
            period_start,
            epsilon,
        )
        return float(spent)
