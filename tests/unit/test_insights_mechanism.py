"""The differentially private release of demand insights (``services/insights.py``): its
properties, never its noisy numbers — the ε charged is what OpenDP's privacy maps say, the
noise has the scale ε and the contribution bound call for, a buyer-week moves a count by
at most its bound, the median is always one of the bands; and the pure parts around it
(areas, periods, grouping per buyer-week)."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from intentcast.domain.errors import RuleViolation
from intentcast.services import insights as service
from intentcast.services.insights import (
    BUDGET_BANDS,
    INTENTS_PER_BUYER_WEEK,
    OFFERS_PER_BUYER_WEEK,
    BuyerWeek,
    bounded_count,
    buyer_weeks,
    mechanism,
    release_counts,
)
from intentcast.store.insights import IntentFact

MONDAY = date(2026, 11, 16)


def _fact(buyer: str, **overrides) -> IntentFact:
    values = {
        "buyer_id": buyer,
        "week": MONDAY,
        "h3_cell": "871f8d7a4ffffff",  # Munich, resolution 7
        "country": "DE",
        "budget_currency": "EUR",
        "budget_amount": Decimal("300"),
        "offers": 0,
    }
    return IntentFact(**(values | overrides))


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 3.0])
def test_the_epsilon_charged_is_opendps_privacy_map_and_never_more_than_the_setting(
    epsilon: float,
) -> None:
    measure = mechanism(epsilon)
    parts = [m.map(1) for m in (measure.intents, measure.offers, measure.median)]
    assert measure.epsilon == sum(parts)
    assert measure.epsilon <= epsilon * (1 + 1e-9)
    assert measure.epsilon >= epsilon * 0.99  # the budget is used, not wasted
    for part in parts:
        assert part == pytest.approx(epsilon / 3, rel=1e-2)


def test_a_count_is_laplace_noise_of_scale_bound_over_its_share_of_epsilon() -> None:
    epsilon = 1.0
    measure = mechanism(epsilon)
    assert measure.intents_scale == pytest.approx(INTENTS_PER_BUYER_WEEK / (epsilon / 3), 1e-2)
    assert measure.offers_scale == pytest.approx(OFFERS_PER_BUYER_WEEK / (epsilon / 3), 1e-2)
    # the empirical variance of many releases of one dataset is the Laplace variance 2·b²
    dataset = [1, 2, 3, 1, 1]
    releases = [measure.intents(dataset) for _ in range(4000)]
    expected = 2 * measure.intents_scale**2
    assert statistics.pvariance(releases) == pytest.approx(expected, rel=0.2)
    assert statistics.fmean(releases) == pytest.approx(sum(dataset), abs=2.0)


def test_halving_epsilon_doubles_the_noise_scale() -> None:
    assert mechanism(0.5).intents_scale == pytest.approx(2 * mechanism(1.0).intents_scale, 1e-2)


def test_a_buyer_with_a_hundred_intents_moves_a_count_by_at_most_the_bound() -> None:
    # noise of scale 1e-3 is 0 but with probability about 2·e^-1000: what is left is the
    # bounded sum OpenDP computes before adding noise
    nearly_noiseless = bounded_count(INTENTS_PER_BUYER_WEEK, 1e-3)
    assert nearly_noiseless([1, 1]) == 2
    assert nearly_noiseless([1, 1, 100]) - nearly_noiseless([1, 1]) == INTENTS_PER_BUYER_WEEK
    # and the privacy map agrees: one buyer's row costs bound / scale
    assert nearly_noiseless.map(1) == pytest.approx(INTENTS_PER_BUYER_WEEK / 1e-3)


def test_the_median_band_is_always_one_of_the_bands() -> None:
    measure = mechanism(0.3)
    data = {MONDAY: [BuyerWeek(intents=1, offers=0, band=b) for b in (0, 2, 2, 3, 7)]}
    for _ in range(200):
        _, band = release_counts(measure, data, [MONDAY])
        assert (band.min, band.max) in BUDGET_BANDS
        assert band.currency == "EUR"
    _, band = release_counts(measure, {}, [MONDAY])  # no budget at all: still a band
    assert (band.min, band.max) in BUDGET_BANDS


def test_every_week_of_the_window_is_answered_even_an_empty_one() -> None:
    weeks = [date(2026, 11, 2), date(2026, 11, 9), MONDAY]
    counts, _ = release_counts(
        mechanism(1.0), {MONDAY: [BuyerWeek(intents=1, offers=1, band=None)]}, weeks
    )
    assert [c.week_start for c in counts] == weeks
    assert all(c.intents_published >= 0 and c.offers_made >= 0 for c in counts)


def test_one_row_per_buyer_week_with_the_first_eur_budget() -> None:
    facts = [
        _fact("b1", budget_currency="CHF", budget_amount=Decimal("9000")),
        _fact("b1", budget_amount=Decimal("120"), offers=4),
        _fact("b1", budget_amount=Decimal("6000"), offers=1),
        _fact("b2", budget_currency=None, budget_amount=None),
        _fact("b1", week=date(2026, 11, 9)),
    ]
    grouped = buyer_weeks(facts, None)
    assert sorted(grouped[MONDAY], key=lambda r: r.intents) == [
        BuyerWeek(intents=1, offers=0, band=None),
        BuyerWeek(intents=3, offers=5, band=2),
    ]
    assert grouped[date(2026, 11, 9)] == [BuyerWeek(intents=1, offers=0, band=3)]


def test_an_area_is_a_country_or_a_cell_that_contains_the_intent_cell() -> None:
    munich = _fact("b1")
    parent = service.coarsen("871f8d7a4ffffff", 5)
    assert service.in_area(munich, "DE") and not service.in_area(munich, "AT")
    assert service.in_area(munich, parent)
    assert not service.in_area(_fact("b1", h3_cell="851f1d4bfffffff"), parent)  # Berlin
    assert not service.in_area(_fact("b1", h3_cell="851f8d7bfffffff"), "871f8d7a4ffffff")
    assert not service.in_area(_fact("b1", h3_cell=None), parent)


def test_bad_areas_are_refused_naming_area() -> None:
    assert service.parse_area(" de ", location_floor=7) == "DE"
    assert service.parse_area("871F8D7A4FFFFFF", location_floor=7) == "871f8d7a4ffffff"
    assert service.parse_area(None, location_floor=7) is None
    for bad in ("XX", "Munich", "8a1f8d7a498ffff"):  # the last: resolution 10 > floor 7
        with pytest.raises(RuleViolation) as raised:
            service.parse_area(bad, location_floor=7)
        assert raised.value.field == "area"


def test_a_period_is_the_calendar_week_in_utc() -> None:
    sunday_night = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
    assert service.period_start(sunday_night) == MONDAY
    assert service.period_end(MONDAY) == datetime(2026, 11, 23, tzinfo=UTC)
    assert service.period_start(datetime(2026, 11, 23, tzinfo=UTC)) == date(2026, 11, 23)


def test_with_negligible_noise_a_release_is_the_bounded_statistic() -> None:
    # at ε = 300 each part's noise is 0 but with probability below e^-30: what is left is
    # what OpenDP computes from the data — clamped sums and the median band
    measure = mechanism(300.0)
    data = {
        MONDAY: [
            BuyerWeek(intents=100, offers=1, band=2),
            BuyerWeek(intents=1, offers=50, band=2),
            BuyerWeek(intents=2, offers=0, band=5),
            BuyerWeek(intents=1, offers=0, band=1),
            BuyerWeek(intents=1, offers=0, band=2),
        ]
    }
    (counts,), band = release_counts(measure, data, [MONDAY])
    assert counts.intents_published == INTENTS_PER_BUYER_WEEK + 1 + 2 + 1 + 1
    assert counts.offers_made == 1 + OFFERS_PER_BUYER_WEEK + 0
    # bands 1, 2, 2, 2, 5: OpenDP scores a candidate by how many lie below and above it
    assert (band.min, band.max) == BUDGET_BANDS[2]
