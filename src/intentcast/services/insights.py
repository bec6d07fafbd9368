"""Differentially private demand insights: weekly counts of intents published and of offers
made on them, and the median budget band, for a category subtree and an area, released
with OpenDP — and the privacy budget each account spends on them.

**Privacy unit**: one buyer's intents in one calendar week (UTC, Monday to Sunday), with
the offers those intents received. Before anything is released each buyer-week is bounded
(clamped by OpenDP's ``make_clamp``): it counts at most ``INTENTS_PER_BUYER_WEEK`` intents
and ``OFFERS_PER_BUYER_WEEK`` offers, and gives at most one budget to the median (its
first intent with a budget shown in EUR).

**Mechanisms** (all OpenDP, ``opendp.prelude``), each a third of the query's ε:

- per week, intents: ``make_clamp(0, C) >> then_sum() >> then_laplace(scale)`` over the
  week's per-buyer intent counts (one row per buyer), where adding or removing one buyer
  changes the sum by at most C; integer (discrete) Laplace noise with scale = C / (ε/3);
- per week, offers: the same with the offers bound;
- the median budget band over the window: ``make_private_quantile(alpha=0.5)`` over one
  band index per buyer-week, the candidates being the fixed bands (``BUDGET_BANDS``) — the
  answer is always one of them.

The weeks partition the buyer-weeks, so a buyer-week is in one week's counts only (parallel
composition): one query costs ε = the sum of the three measurements' ``map(1)``, which is
what the ledger is charged (never more than ``insights_epsilon``).

**Budget**: each vendor, and the operators together (one shared budget: every operator sees
every operator release), may spend ``insights_budget`` ε per calendar week (UTC). The
ledger row of (account, week) is locked for the whole query, so simultaneous queries cannot
overspend; an identical query in the same week is answered from the stored release and
spends nothing. The window is the ``weeks`` complete weeks before the current one.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import opendp.prelude as dp

from intentcast.domain.codes import COUNTRIES
from intentcast.domain.errors import DomainError, RuleViolation
from intentcast.domain.location import canonical_cell, coarsen, resolution
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.store.insights import Insights, IntentFact

dp.enable_features("contrib")  # OpenDP's vetted-but-not-certified mechanisms: all used here

INTENTS_PER_BUYER_WEEK = 3
"""At most this many of one buyer's intents of a week are counted (the intents sensitivity)."""
OFFERS_PER_BUYER_WEEK = 10
"""At most this many offers on one buyer's intents of a week are counted."""
BUDGET_CURRENCY = "EUR"
"""Only budgets in this currency enter the median (no conversion: rates would be a guess)."""
BUDGET_BANDS: tuple[tuple[int, int | None], ...] = (
    (0, 50),
    (50, 100),
    (100, 250),
    (250, 500),
    (500, 1000),
    (1000, 2500),
    (2500, 5000),
    (5000, None),
)
"""The median's candidates: ``[min, max)`` in EUR, the last open-ended."""
MIN_WEEKS, MAX_WEEKS = 1, 26
OPERATORS_ACCOUNT = "operators"
PRIVACY_UNIT = "one buyer's intents (and the offers on them) in one calendar week (UTC)"


class PrivacyBudgetExhausted(DomainError):
    """The account has not enough ε left this period for a new release (429)."""

    code = "privacy-budget-exhausted"

    def __init__(self, *, budget: float, spent: float, needed: float, resets_at: datetime):
        super().__init__(
            f"This query needs ε={needed:g} but only ε={max(budget - spent, 0):g} of this "
            f"week's ε={budget:g} is left; the budget resets at {resets_at.isoformat()}.",
            budget=budget,
            epsilon_spent=spent,
            epsilon_needed=needed,
            resets_at=resets_at.isoformat(),
        )
        self.resets_at = resets_at


class InsightsQuery(msgspec.Struct, frozen=True, kw_only=True):
    category: str | None
    """A taxonomy path: its whole subtree counts; None: every category."""
    area: str | None
    """An ISO 3166-1 alpha-2 country or an H3 cell; None: everywhere."""
    weeks: int

    @property
    def key(self) -> str:
        """The normalised query: what makes two queries identical."""
        return f"category={self.category or '*'}|area={self.area or '*'}|weeks={self.weeks}"


class InsightsWeek(msgspec.Struct, frozen=True, kw_only=True):
    """One week of an insights release."""

    week_start: date
    """Monday (UTC) of the week."""
    intents_published: int
    """Noisy count (never below 0) of intents published that week."""
    offers_made: int
    """Noisy count (never below 0) of offers made on the intents published that week."""


class InsightsBudgetBand(msgspec.Struct, frozen=True, kw_only=True):
    """A budget band: ``[min, max)`` in ``currency``."""

    currency: str
    min: int
    max: int | None
    """Exclusive upper bound; null for the top band."""


class InsightsPrivacy(msgspec.Struct, frozen=True, kw_only=True):
    """What a release cost, what is left of the budget, and the mechanism's parameters."""

    unit: str
    """What the guarantee protects."""
    epsilon: float
    """The ε this release cost when it was made."""
    epsilon_spent: float
    """The ε this answer spent now: 0 when it is the stored release of an identical query."""
    cached: bool
    budget: float
    """The ε the account may spend per period."""
    budget_spent: float
    """The ε the account has spent this period, this answer included."""
    period_start: date
    resets_at: datetime
    """When the period ends and the budget is whole again."""
    intents_per_buyer_week: int
    offers_per_buyer_week: int
    intents_noise_scale: float
    """The (discrete) Laplace scale of each weekly intents count: its standard deviation
    is about √2 times this."""
    offers_noise_scale: float
    median_scale: float
    """The scale of the private quantile's noise."""


class InsightsRelease(msgspec.Struct, frozen=True, kw_only=True):
    """Demand insights released with ε-differential privacy (OpenDP): noisy numbers."""

    category: str | None
    area: str | None
    weeks: list[InsightsWeek]
    """Oldest first; the complete weeks before the current one."""
    median_budget_band: InsightsBudgetBand
    """The band holding the median of the buyer-weeks' EUR budgets (noisy)."""
    privacy: InsightsPrivacy


# ---- the mechanism (pure) -------------------------------------------------------------------


class BuyerWeek(msgspec.Struct, frozen=True, kw_only=True):
    """One buyer's contribution to one week, before OpenDP bounds it."""

    intents: int
    offers: int
    band: int | None
    """Index in ``BUDGET_BANDS`` of the first EUR budget, if any."""


def band_of(amount: Decimal) -> int:
    for index, (low, high) in enumerate(BUDGET_BANDS):
        if amount >= low and (high is None or amount < high):
            return index
    return 0  # a negative budget cannot be stored; the lowest band is the safe answer


def in_area(fact: IntentFact, area: str | None) -> bool:
    """Whether the intent lies in ``area``: its country, or its cell inside the area cell.
    An intent whose cell is coarser than the area cell cannot be placed in it: not counted."""
    if area is None:
        return True
    if len(area) == 2:
        return fact.country == area
    if fact.h3_cell is None or resolution(fact.h3_cell) < resolution(area):
        return False
    return coarsen(fact.h3_cell, resolution(area)) == area


def buyer_weeks(facts: Iterable[IntentFact], area: str | None) -> dict[date, list[BuyerWeek]]:
    """The facts grouped per week and buyer (unbounded: OpenDP clamps them)."""
    grouped: dict[date, dict[str, list[IntentFact]]] = defaultdict(lambda: defaultdict(list))
    for fact in facts:
        if in_area(fact, area):
            grouped[fact.week][fact.buyer_id].append(fact)
    out: dict[date, list[BuyerWeek]] = {}
    for week, buyers in grouped.items():
        out[week] = [
            BuyerWeek(
                intents=len(intents),
                offers=sum(f.offers for f in intents),
                band=next(
                    (
                        band_of(f.budget_amount)
                        for f in intents
                        if f.budget_currency == BUDGET_CURRENCY and f.budget_amount is not None
                    ),
                    None,
                ),
            )
            for intents in buyers.values()
        ]
    return out


def _rows() -> tuple[Any, Any]:
    return dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()


def bounded_count(bound: int, scale: float) -> dp.Measurement:
    """Per-buyer counts (one row per buyer) → their sum with each row clamped to
    ``[0, bound]`` → discrete Laplace noise of ``scale``."""
    domain, metric = _rows()
    return (
        dp.t.make_clamp(domain, metric, bounds=(0, bound))
        >> dp.t.then_sum()
        >> dp.m.then_laplace(scale)
    )


def median_band(scale: float) -> dp.Measurement:
    """Band indices (one per buyer-week) → the private median over every band index."""
    domain, metric = _rows()
    return dp.m.make_private_quantile(
        domain,
        metric,
        dp.max_divergence(),
        candidates=list(range(len(BUDGET_BANDS))),
        alpha=0.5,
        scale=scale,
    )


class Mechanism(msgspec.Struct, frozen=True, kw_only=True):
    """The three OpenDP measurements of one query, each calibrated to a third of ε."""

    intents: Any
    offers: Any
    median: Any
    intents_scale: float
    offers_scale: float
    median_scale: float

    @property
    def epsilon(self) -> float:
        """What one release costs one buyer-week, from OpenDP's own privacy maps (d_in = 1:
        one buyer's row added or removed)."""
        return self.intents.map(1) + self.offers.map(1) + self.median.map(1)


@functools.lru_cache(maxsize=16)
def mechanism(epsilon: float) -> Mechanism:
    """The measurements for a query of ``epsilon`` (each part ≤ ε/3, by OpenDP's search)."""
    part = epsilon / 3
    intents_scale = dp.binary_search_param(
        lambda s: bounded_count(INTENTS_PER_BUYER_WEEK, s), d_in=1, d_out=part
    )
    offers_scale = dp.binary_search_param(
        lambda s: bounded_count(OFFERS_PER_BUYER_WEEK, s), d_in=1, d_out=part
    )
    median_scale = dp.binary_search_param(median_band, d_in=1, d_out=part)
    return Mechanism(
        intents=bounded_count(INTENTS_PER_BUYER_WEEK, intents_scale),
        offers=bounded_count(OFFERS_PER_BUYER_WEEK, offers_scale),
        median=median_band(median_scale),
        intents_scale=intents_scale,
        offers_scale=offers_scale,
        median_scale=median_scale,
    )


def release_counts(
    measure: Mechanism, data: dict[date, list[BuyerWeek]], weeks: list[date]
) -> tuple[list[InsightsWeek], InsightsBudgetBand]:
    """The noisy answer: every week of ``weeks`` (empty ones too: leaving them out would
    tell), and the median band (released even with no budget at all, for the same reason)."""
    counts = []
    bands: list[int] = []
    for week in weeks:
        rows = data.get(week, [])
        counts.append(
            InsightsWeek(
                week_start=week,
                intents_published=max(0, measure.intents([r.intents for r in rows])),
                offers_made=max(0, measure.offers([r.offers for r in rows])),
            )
        )
        bands.extend(r.band for r in rows if r.band is not None)
    low, high = BUDGET_BANDS[measure.median(bands)]
    return counts, InsightsBudgetBand(currency=BUDGET_CURRENCY, min=low, max=high)


# ---- periods and queries --------------------------------------------------------------------


def period_start(now: datetime) -> date:
    """Monday (UTC) of ``now``'s calendar week."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=today.weekday())


def period_end(start: date) -> datetime:
    return datetime.combine(start + timedelta(days=7), time(0), tzinfo=UTC)


def parse_area(area: str | None, *, location_floor: int) -> str | None:
    """``area`` as stored intents spell it: an upper-case country code, or a canonical H3
    cell no finer than the location floor; a rule violation naming ``area`` otherwise."""
    if area is None or not area.strip():
        return None
    text = area.strip()
    if len(text) == 2:
        if text.upper() not in COUNTRIES:
            raise RuleViolation("area", f"{text!r} is not an ISO 3166-1 alpha-2 country code")
        return text.upper()
    cell = canonical_cell(text)
    if cell is None:
        raise RuleViolation("area", f"{text!r} is neither a country code nor an H3 cell")
    if resolution(cell) > location_floor:
        raise RuleViolation(
            "area",
            f"an H3 cell of resolution {resolution(cell)} is finer than the location floor "
            f"({location_floor}): intents are never placed that precisely",
        )
    return cell


async def build_query(
    conn: asyncpg.Connection,
    taxonomy: TaxonomyCache,
    *,
    category: str | None,
    area: str | None,
    weeks: int,
    location_floor: int,
) -> InsightsQuery:
    """The validated, normalised query (errors name ``category``, ``area`` or ``weeks``).
    A retired category is allowed: its intents are history worth counting."""
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise RuleViolation("weeks", f"must be between {MIN_WEEKS} and {MAX_WEEKS}")
    path = None
    if category is not None and category.strip():
        found = (await taxonomy.current(conn)).resolve(category.strip())
        if found is None:
            found = (await taxonomy.load(conn)).resolve(category.strip())
        if found is None:
            raise RuleViolation("category", f"unknown category {category!r}")
        path = found.path
    return InsightsQuery(
        category=path, area=parse_area(area, location_floor=location_floor), weeks=weeks
    )


def vendor_account(vendor_id: str) -> str:
    return f"vendor:{vendor_id}"


async def insights(
    conn: asyncpg.Connection,
    *,
    account: str,
    query: InsightsQuery,
    epsilon: float,
    budget: float,
    now: datetime,
) -> InsightsRelease:
    """The release for ``query``: the stored one if ``account`` asked the same this period
    (spending nothing), else a new OpenDP release charged to the account's ledger; raises
    ``PrivacyBudgetExhausted`` when what is left does not cover it."""
    start = period_start(now)
    resets_at = period_end(start)
    store = Insights(conn)
    async with conn.transaction():
        spent = await store.lock_budget(account, start)
        cached = await store.cached_release(account, start, query.key)
        if cached is not None:
            release = msgspec.convert(cached, InsightsRelease)
            return msgspec.structs.replace(
                release,
                privacy=msgspec.structs.replace(
                    release.privacy,
                    epsilon_spent=0.0,
                    cached=True,
                    budget=budget,
                    budget_spent=spent,
                ),
            )
        # the first query of an ε searches OpenDP for the scales (a few tenths of a second)
        measure = await asyncio.to_thread(mechanism, epsilon)
        cost = measure.epsilon
        if spent + cost > budget + 1e-9:
            raise PrivacyBudgetExhausted(
                budget=budget, spent=spent, needed=cost, resets_at=resets_at
            )
        window = [start - timedelta(weeks=k) for k in range(query.weeks, 0, -1)]
        facts = await store.intent_facts(
            since=datetime.combine(window[0], time(0), tzinfo=UTC),
            until=datetime.combine(start, time(0), tzinfo=UTC),
            category=query.category,
            country=query.area if query.area is not None and len(query.area) == 2 else None,
        )
        counts, band = release_counts(measure, buyer_weeks(facts, query.area), window)
        release = InsightsRelease(
            category=query.category,
            area=query.area,
            weeks=counts,
            median_budget_band=band,
            privacy=InsightsPrivacy(
                unit=PRIVACY_UNIT,
                epsilon=cost,
                epsilon_spent=cost,
                cached=False,
                budget=budget,
                budget_spent=spent + cost,
                period_start=start,
                resets_at=resets_at,
                intents_per_buyer_week=INTENTS_PER_BUYER_WEEK,
                offers_per_buyer_week=OFFERS_PER_BUYER_WEEK,
                intents_noise_scale=measure.intents_scale,
                offers_noise_scale=measure.offers_scale,
                median_scale=measure.median_scale,
            ),
        )
        total = await store.record_release(
            account, start, query.key, msgspec.to_builtins(release), cost
        )
        return msgspec.structs.replace(
            release, privacy=msgspec.structs.replace(release.privacy, budget_spent=total)
        )


__all__ = [
    "BUDGET_BANDS",
    "INTENTS_PER_BUYER_WEEK",
    "OFFERS_PER_BUYER_WEEK",
    "OPERATORS_ACCOUNT",
    "InsightsQuery",
    "InsightsRelease",
    "PrivacyBudgetExhausted",
    "build_query",
    "insights",
    "mechanism",
    "vendor_account",
]
