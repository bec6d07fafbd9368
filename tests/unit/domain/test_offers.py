"""Offer rules without a database: price, quantity and validity checks, the offer state
machine, whether an intent takes or settles offers, and how offers are ranked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentcast.domain.errors import OfferChanged, RuleViolation, StateConflict
from intentcast.domain.intents import check_transition
from intentcast.domain.offers import (
    OfferDraft,
    Price,
    RankFacts,
    Settlement,
    check_acceptable,
    check_offer_fields,
    check_rateable,
    check_takes_offers,
    rank_offers,
    require_live,
    settle,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
FINAL = ("withdrawn", "expired", "accepted", "declined")
INTENT_STATUSES = ("open", "paused", "withdrawn", "fulfilled", "expired", "removed")


def check(**fields: Any) -> None:
    values: dict[str, Any] = {
        "price": None,
        "quantity": None,
        "valid_until": None,
        "intent_quantity": 5,
        "now": NOW,
    }
    check_offer_fields(**(values | fields))


def price(amount: str, currency: str = "EUR") -> Price:
    return Price(amount=Decimal(amount), currency=currency)


def violation(**fields: Any) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        check(**fields)
    return caught.value


# ---- the fields of an offer ---------------------------------------------------------------


def test_an_offer_with_nothing_to_check_passes() -> None:
    check()


def test_a_sound_offer_passes() -> None:
    check(price=price("1649.00"), quantity=5, valid_until=NOW + timedelta(seconds=1))


@pytest.mark.parametrize("amount", ["0", "0.001", "999999999999.999", "1E+3"])
def test_prices_from_zero_to_just_under_a_trillion_with_three_decimals_pass(amount: str) -> None:
    check(price=price(amount))


@pytest.mark.parametrize(
    "amount", ["-1", "-0.01", "NaN", "Infinity", "-Infinity", "1000000000000", "1E+12"]
)
def test_a_price_that_is_no_amount_is_refused(amount: str) -> None:
    caught = violation(price=price(amount))
    assert caught.field == "price.amount"
    assert "non-negative" in caught.message


@pytest.mark.parametrize("amount", ["1.2345", "0.0001"])
def test_a_price_with_more_than_three_decimals_is_refused(amount: str) -> None:
    caught = violation(price=price(amount))
    assert caught.field == "price.amount"
    assert "decimal places" in caught.message


@pytest.mark.parametrize("currency", ["XYZ", "ABC"])
def test_a_price_in_no_iso_currency_is_refused(currency: str) -> None:
    caught = violation(price=price("10", currency))
    assert caught.field == "price.currency"
    assert currency in caught.message


def test_the_currency_is_judged_before_the_amount() -> None:
    assert violation(price=price("-1", "XYZ")).field == "price.currency"


def test_an_offer_may_cover_all_of_the_intent_but_not_more() -> None:
    check(quantity=5, intent_quantity=5)
    check(quantity=1, intent_quantity=5)
    caught = violation(quantity=6, intent_quantity=5)
    assert caught.field == "quantity"
    assert "(5)" in caught.message


@pytest.mark.parametrize(
    "valid_until", [NOW, NOW - timedelta(microseconds=1), datetime(2020, 1, 1, tzinfo=UTC)]
)
def test_an_offer_valid_until_now_or_earlier_is_refused(valid_until: datetime) -> None:
    caught = violation(valid_until=valid_until)
    assert caught.field == "valid_until"


def test_an_offer_valid_until_a_moment_from_now_passes() -> None:
    check(valid_until=NOW + timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"price": {"amount": "5", "currency": "eur"}}, "$.price.currency"),
        ({"price": {"amount": "lots", "currency": "EUR"}}, "$.price.amount"),
        ({"quantity": 0}, "$.quantity"),
        ({"title": ""}, "$.title"),
        ({"delivery_days": 366}, "$.delivery_days"),
        ({"valid_until": "2027-01-01T00:00:00"}, "$.valid_until"),
        ({"discount": "10%"}, "discount"),
    ],
)
def test_a_malformed_offer_draft_names_the_field(fields: dict[str, Any], path: str) -> None:
    body = {"price": {"amount": "5", "currency": "EUR"}, "title": "Sony A7 IV"} | fields
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(msgspec.json.encode(body), type=OfferDraft)
    assert f"`{path}`" in str(caught.value)


# ---- the offer state machine --------------------------------------------------------------


def test_a_live_offer_can_be_acted_on() -> None:
    require_live("live", "withdrawn")


@pytest.mark.parametrize("status", FINAL)
def test_a_final_offer_cannot_be_acted_on(status: str) -> None:
    with pytest.raises(StateConflict) as caught:
        require_live(status, "revised")
    assert caught.value.code == "offer-not-live"
    assert str(caught.value) == f"an offer that is {status} cannot be revised"


# ---- what the intent allows ----------------------------------------------------------------


def test_an_open_intent_takes_offers() -> None:
    check_takes_offers("open")


@pytest.mark.parametrize("status", [s for s in INTENT_STATUSES if s != "open"])
def test_an_intent_that_is_not_open_takes_no_new_or_revised_offers(status: str) -> None:
    with pytest.raises(StateConflict) as caught:
        check_takes_offers(status)
    assert caught.value.code == "intent-closed"
    assert status in str(caught.value)


@pytest.mark.parametrize("intent_status", ["open", "paused"])
def test_a_live_unexpired_offer_on_a_live_intent_can_be_accepted(intent_status: str) -> None:
    check_acceptable("live", NOW + timedelta(seconds=1), intent_status, now=NOW)
    check_acceptable("live", None, intent_status, now=NOW)


@pytest.mark.parametrize("status", FINAL)
def test_a_final_offer_cannot_be_accepted(status: str) -> None:
    with pytest.raises(StateConflict) as caught:
        check_acceptable(status, None, "open", now=NOW)
    assert caught.value.code == "offer-not-live"


@pytest.mark.parametrize("valid_until", [NOW, NOW - timedelta(days=1)])
def test_an_offer_past_its_validity_cannot_be_accepted(valid_until: datetime) -> None:
    with pytest.raises(StateConflict) as caught:
        check_acceptable("live", valid_until, "open", now=NOW)
    assert caught.value.code == "offer-not-live"
    assert "expired" in str(caught.value)


@pytest.mark.parametrize("intent_status", ["withdrawn", "fulfilled", "expired", "removed"])
def test_an_offer_on_a_closed_intent_cannot_be_accepted(intent_status: str) -> None:
    with pytest.raises(StateConflict) as caught:
        check_acceptable("live", None, intent_status, now=NOW)
    assert caught.value.code == "intent-closed"


def test_acceptance_judges_the_offer_before_the_intent() -> None:
    with pytest.raises(StateConflict) as caught:
        check_acceptable("withdrawn", NOW - timedelta(days=1), "expired", now=NOW)
    assert caught.value.code == "offer-not-live"
    assert "withdrawn" in str(caught.value)


def test_only_an_accepted_offer_can_be_rated() -> None:
    check_rateable("accepted")
    for status in ("live", "withdrawn", "expired", "declined"):
        with pytest.raises(StateConflict) as caught:
            check_rateable(status)
        assert caught.value.code == "offer-not-accepted"


# ---- settlement --------------------------------------------------------------------------


def test_an_acceptance_short_of_the_quantity_settles_nothing() -> None:
    assert settle(5, 4, ["off_a", "off_b"]) == Settlement(fulfilled=False, decline=[])


@pytest.mark.parametrize("accepted", [5, 6])
def test_covering_the_quantity_fulfils_the_intent_and_declines_the_other_live_offers(
    accepted: int,
) -> None:
    assert settle(5, accepted, ["off_a", "off_b"]) == Settlement(
        fulfilled=True, decline=["off_a", "off_b"]
    )


def test_fulfilling_with_no_other_offers_declines_none() -> None:
    assert settle(1, 1, []) == Settlement(fulfilled=True, decline=[])


@given(
    st.integers(1, 100_000),
    st.integers(1, 200_000),
    st.lists(st.text(min_size=1, max_size=8), max_size=5),
)
def test_settlement_fulfils_exactly_when_the_accepted_quantity_covers_the_intent(
    wanted: int, accepted: int, live: list[str]
) -> None:
    outcome = settle(wanted, accepted, live)
    assert outcome.fulfilled is (accepted >= wanted)
    assert outcome.decline == (live if outcome.fulfilled else [])


# ---- ranking ------------------------------------------------------------------------------


class Offer(msgspec.Struct, frozen=True):
    id: str
    amount: str
    currency: str = "EUR"
    rating: float | None = None
    ratings: int = 0
    minutes: int = 0


def facts(offer: Offer) -> RankFacts:
    return RankFacts(
        amount=Decimal(offer.amount),
        currency=offer.currency,
        rating_average=offer.rating,
        rating_count=offer.ratings,
        created_at=NOW + timedelta(minutes=offer.minutes),
    )


def ranked(offers: list[Offer], by: Any, currency: str | None = "EUR") -> list[str]:
    return [o.id for o in rank_offers(offers, by, currency=currency, facts=facts)]


def test_price_ranking_puts_the_intents_currency_first_then_the_cheapest() -> None:
    offers = [
        Offer("usd_cheap", "1", "USD"),
        Offer("eur_dear", "900"),
        Offer("chf", "5", "CHF"),
        Offer("eur_cheap", "100.5"),
        Offer("usd_dear", "2", "USD"),
    ]
    assert ranked(offers, "price") == ["eur_cheap", "eur_dear", "chf", "usd_cheap", "usd_dear"]


def test_price_ranking_compares_amounts_as_numbers_not_text() -> None:
    assert ranked([Offer("a", "1000"), Offer("b", "999.99")], "price") == ["b", "a"]


def test_price_ranking_without_an_intent_currency_groups_by_currency() -> None:
    offers = [Offer("eur", "1"), Offer("chf", "9", "CHF")]
    assert ranked(offers, "price", currency=None) == ["chf", "eur"]


def test_rating_ranking_prefers_the_best_average_then_more_ratings_then_the_cheapest() -> None:
    offers = [
        Offer("unrated", "1"),
        Offer("good_few", "50", rating=4.5, ratings=2),
        Offer("best", "90", rating=5.0, ratings=1),
        Offer("good_many_dear", "80", rating=4.5, ratings=9),
        Offer("good_many_cheap", "70", rating=4.5, ratings=9),
    ]
    assert ranked(offers, "rating") == [
        "best",
        "good_many_cheap",
        "good_many_dear",
        "good_few",
        "unrated",
    ]


def test_newest_ranking_puts_the_latest_offer_first() -> None:
    offers = [
        Offer("old", "1", minutes=0),
        Offer("new", "1", minutes=10),
        Offer("mid", "1", minutes=5),
    ]
    assert ranked(offers, "newest") == ["new", "mid", "old"]


def test_ranking_returns_a_new_list_of_the_same_offers() -> None:
    offers = [Offer("b", "2"), Offer("a", "1")]
    result = rank_offers(offers, "price", currency="EUR", facts=facts)
    assert result == [offers[1], offers[0]]
    assert [o.id for o in offers] == ["b", "a"]


def test_the_intent_state_machine_allows_what_acceptance_allows() -> None:
    try:
        check_acceptable("live", None, "paused", now=NOW)
    except StateConflict:
        return  # paused intents take no acceptance: nothing to reconcile
    assert settle(1, 1, []).fulfilled
    check_transition("paused", "fulfilled")


def test_acceptance_pins_the_version_the_buyer_saw() -> None:
    check_acceptable("live", None, "open", now=NOW, version=3, seen_version=3)
    check_acceptable("live", None, "open", now=NOW, version=3)  # old clients: any version
    with pytest.raises(OfferChanged) as caught:
        check_acceptable("live", None, "open", now=NOW, version=3, seen_version=2)
    assert caught.value.code == "offer-changed" and caught.value.extra["current_version"] == 3
