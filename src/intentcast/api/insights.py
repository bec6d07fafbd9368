"""``/v1/vendor/insights``: differentially private demand insights for verified vendors
(``services/insights.py`` releases them with OpenDP and keeps each account's privacy
budget). The operators' twin, ``/v1/admin/insights``, shares the parameters and the
answer defined here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from intentcast.api.auth import requires_verified_vendor
from intentcast.api.errors import invalid, problem
from intentcast.api.problem_docs import Problem
from intentcast.config import Settings
from intentcast.domain.errors import RuleViolation
from intentcast.services import insights as service
from intentcast.services.insights import InsightsRelease, PrivacyBudgetExhausted
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.store.accounts import Principal

CategoryParam = Annotated[
    str | None,
    Parameter(
        max_length=200,
        description="A category path (or `gpc:<id>`): its whole subtree counts. "
        "Omitted: every category.",
    ),
]
AreaParam = Annotated[
    str | None,
    Parameter(
        max_length=32,
        description="An ISO 3166-1 alpha-2 country code (`DE`), or an H3 cell no finer than "
        "the location floor: intents whose cell lies inside it count (a coarser intent cell "
        "cannot be placed inside, and does not). Omitted: everywhere.",
    ),
]
WeeksParam = Annotated[
    int,
    Parameter(
        ge=service.MIN_WEEKS,
        le=service.MAX_WEEKS,
        description="How many complete calendar weeks (UTC) before the current one.",
    ),
]

INSIGHTS_RESPONSES = {
    429: ResponseSpec(
        data_container=Problem,
        description="`privacy-budget-exhausted`: this period's privacy budget cannot pay for "
        "a new release (`resets_at` and `Retry-After` say when it is whole again; an "
        "identical query already answered this period is still answered); or, when rate "
        "limiting is on, too many requests.",
        media_type="application/problem+json",
        generate_examples=False,
    )
}


async def answer_insights(
    db: asyncpg.Connection,
    taxonomy: TaxonomyCache,
    settings: Settings,
    *,
    account: str,
    category: str | None,
    area: str | None,
    weeks: int,
) -> InsightsRelease:
    """Validate (400 naming the parameter), release or reuse, refuse with 429."""
    now = datetime.now(UTC)
    try:
        query = await service.build_query(
            db,
            taxonomy,
            category=category,
            area=area,
            weeks=weeks,
            location_floor=settings.location_floor,
        )
        return await service.insights(
            db,
            account=account,
            query=query,
            epsilon=settings.insights_epsilon,
            budget=settings.insights_budget,
            now=now,
        )
    except RuleViolation as exc:
        raise invalid(exc.field, exc.message, status=400) from None
    except PrivacyBudgetExhausted as exc:
        wait = max(1, int((exc.resets_at - now).total_seconds()))
        raise problem(
            429,
            exc.code,
            exc.message,
            title="Privacy budget exhausted",
            headers={"Retry-After": str(wait)},
            **exc.extra,
        ) from None


class VendorInsightsController(Controller):
    path = "/v1/vendor/insights"
    tags = ["vendor"]
    guards = [requires_verified_vendor]

    @get(
        operation_id="vendorInsights",
        summary="Demand insights, released with differential privacy",
        responses=INSIGHTS_RESPONSES,
    )
    async def vendor_insights(
        self,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
        settings: Settings,
        principal: Principal,
        category: CategoryParam = None,
        area: AreaParam = None,
        weeks: WeeksParam = 8,
    ) -> InsightsRelease:
        """Per week, how many intents were published and how many offers were made on
        them, and the band holding the median EUR budget, for a category subtree and an
        area — with noise from OpenDP so that no answer reveals whether any one buyer's
        intents of a week are in the data (ε-differential privacy; the privacy unit is one
        buyer's intents in a calendar week, each buyer-week counting at most
        `privacy.intents_per_buyer_week` intents and `privacy.offers_per_buyer_week`
        offers). Each new answer spends `privacy.epsilon` from your budget for the week
        (`privacy.budget`); asking the identical query again in the same week returns the
        same answer (`privacy.cached`, `privacy.epsilon_spent` 0). When the budget is
        spent: 429 `privacy-budget-exhausted` until `resets_at` (Monday 00:00 UTC)."""
        return await answer_insights(
            db,
            taxonomy,
            settings,
            account=service.vendor_account(principal.subject_id),
            category=category,
            area=area,
            weeks=weeks,
        )
