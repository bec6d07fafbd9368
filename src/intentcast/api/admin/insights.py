"""``/v1/admin/insights``: the vendors' demand insights for operators, from one privacy
budget the operators share (every operator sees every operator release, so their spending
adds up as one). Reading spends ε and changes nothing else: not audited."""

from __future__ import annotations

import asyncpg
from litestar import Controller, get

from intentcast.api.insights import (
    INSIGHTS_RESPONSES,
    AreaParam,
    CategoryParam,
    WeeksParam,
    answer_insights,
)
from intentcast.config import Settings
from intentcast.services.insights import OPERATORS_ACCOUNT, InsightsRelease
from intentcast.services.taxonomy import TaxonomyCache


class AdminInsightsController(Controller):
    path = "/insights"

    @get(
        operation_id="adminInsights",
        summary="Demand insights with differential privacy, from the operators' budget",
        responses=INSIGHTS_RESPONSES,
    )
    async def admin_insights(
        self,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
        settings: Settings,
        category: CategoryParam = None,
        area: AreaParam = None,
        weeks: WeeksParam = 8,
    ) -> InsightsRelease:
        """The answer vendors get at `GET /v1/vendor/insights` (weekly noisy counts of
        intents published and offers made, the median EUR budget band; OpenDP,
        ε-differential privacy per buyer-week), spent from one budget all operators share
        per calendar week — separate from every vendor's. An identical query in the same
        week is answered from the stored release and spends nothing; when the budget is
        spent: 429 `privacy-budget-exhausted`."""
        return await answer_insights(
            db,
            taxonomy,
            settings,
            account=OPERATORS_ACCOUNT,
            category=category,
            area=area,
            weeks=weeks,
        )
