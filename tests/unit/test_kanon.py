"""k-anonymous casting: the rule (``domain/kanon.py``), the vendor view and matching of a
generalised intent, and the index agreeing with the predicate on generalised intents."""

from __future__ import annotations

from datetime import UTC, datetime

import h3
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentcast.domain.intents import Disclosure, Intent, Location, Terms
from intentcast.domain.kanon import (
    COARSEST_CELL_RESOLUTION,
    Area,
    Described,
    area_ladder,
    category_ladder,
    decide,
    describes,
)
from intentcast.domain.matching import Subscription, matchable, matches
from intentcast.domain.vendor_view import vendor_view
from intentcast.matching.index import SubscriptionIndex
from tests.unit.test_matching_index import intent as matchable_intent
from tests.unit.test_matching_index import world

MUNICH = (48.137, 11.575)
CELL8 = h3.latlng_to_cell(*MUNICH, 8)
CELL7 = h3.cell_to_parent(CELL8, 7)
CELL5 = h3.cell_to_parent(CELL8, 5)
BERLIN8 = h3.latlng_to_cell(52.520, 13.405, 8)
CAMERAS = "electronics/cameras/mirrorless"


def described(buyer: str, category: str = CAMERAS, cell: str | None = CELL8) -> Described:
    return Described(buyer, category, cell, "DE")


def test_ladders() -> None:
    assert category_ladder("a/b/c") == ["a/b/c", "a/b", "a"]
    areas = area_ladder(CELL8, "DE")
    assert areas[0] == Area(CELL8, "DE")
    assert [h3.get_resolution(a.cell) for a in areas[:-1]] == list(
        range(8, COARSEST_CELL_RESOLUTION - 1, -1)
    )
    assert areas[-1] == Area(None, "DE")
    assert area_ladder(None, None) == [Area(None, None)]


def test_a_lone_intent_in_an_empty_market_is_shown_at_the_coarsest_pair() -> None:
    me = described("b1")
    decision = decide(me, [me], 3)
    assert (decision.category, decision.area) == ("electronics", Area(None, "DE"))
    assert decision.generalised and not decision.k_reached and decision.buyers == 1


def test_the_third_buyer_gets_the_requested_precision() -> None:
    first, second, third = described("b1"), described("b2"), described("b3")
    assert decide(second, [first, second], 3).generalised
    decision = decide(third, [first, second, third], 3)
    assert (decision.category, decision.area) == (CAMERAS, Area(CELL8, "DE"))
    assert not decision.generalised and decision.k_reached and decision.buyers == 3


def test_one_buyers_many_intents_count_once() -> None:
    mine = [described("b1"), described("b1"), described("b1")]
    assert decide(mine[0], mine, 2).generalised


def test_location_is_coarsened_before_the_category() -> None:
    """Two other buyers in the same region (another res-8 cell of the same res-5 cell)."""
    near = next(c for c in h3.cell_to_children(CELL5, 8) if h3.cell_to_parent(c, 7) != CELL7)
    others = [described("b2", cell=near), described("b3", cell=near)]
    decision = decide(described("b1"), [*others, described("b1")], 3)
    assert decision.category == CAMERAS and decision.area == Area(CELL5, "DE")
    # in Berlin instead: the country is the first area they share
    far = [described("b2", cell=BERLIN8), described("b3", cell=BERLIN8)]
    assert decide(described("b1"), far, 3).area == Area(None, "DE")
    # in another camera subcategory in Berlin: the parent category is needed too
    other = [described("b2", "electronics/cameras/dslr", BERLIN8), described("b3", "x")]
    decision = decide(described("b1"), other, 2)
    assert decision.category == "electronics/cameras" and decision.area == Area(None, "DE")


describeds = st.builds(
    Described,
    st.sampled_from(("b1", "b2", "b3", "b4", "b5")),
    st.sampled_from(("a", "a/b", "a/b/c", "a/d", "e")),
    st.sampled_from((None, CELL8, CELL7, CELL5, BERLIN8, h3.cell_to_children(CELL5, 8)[5])),
    st.sampled_from((None, "DE", "AT")),
)


@settings(max_examples=300, deadline=None)
@given(describeds, st.lists(describeds, max_size=12), st.integers(1, 6))
def test_the_rule(subject: Described, others: list[Described], k: int) -> None:
    """k = 1 never generalises; the pair shown describes the subject and at least k buyers
    or is the coarsest pair; nothing finer (earlier in the ladder order) reaches k; a larger
    k never gives a finer pair."""
    market = [*others, subject]
    decision = decide(subject, market, k)
    pairs = [
        (c, a)
        for c in category_ladder(subject.category)
        for a in area_ladder(subject.cell, subject.country)
    ]
    chosen = pairs.index((decision.category, decision.area))
    assert describes(decision.category, decision.area, subject)
    if k == 1:
        assert chosen == 0 and not decision.generalised
    buyers = {o.buyer_id for o in market if describes(decision.category, decision.area, o)}
    assert len(buyers) == decision.buyers or k == 1
    if decision.k_reached:
        assert len(buyers) >= k
    else:
        assert chosen == len(pairs) - 1
    for c, a in pairs[:chosen]:
        assert len({o.buyer_id for o in market if describes(c, a, o)}) < k
    assert decision.generalised == (chosen != 0)
    looser = decide(subject, market, k + 1)
    assert pairs.index((looser.category, looser.area)) >= chosen


# ---------------------------------------------------------------- vendor view and matching


def stored_intent(disclosure: Disclosure | None) -> Intent:
    now = datetime(2026, 11, 27, 1, 0, 30, tzinfo=UTC)
    return Intent(
        id="int_1",
        buyer_id="byr_1",
        status="open",
        category=CAMERAS,
        title="Sony A7",
        description=None,
        attributes={},
        public_title="Sony A7",
        public_description=None,
        public_attributes={},
        redactions=[],
        quantity=1,
        budget=None,
        location=Location(cell=CELL8, country="DE"),
        fulfilment=[],
        needed_by=None,
        expires_at=now,
        terms=Terms(),
        published_at=now,
        updated_at=now,
        version=1,
        disclosure=disclosure,
    )


def test_the_vendor_view_shows_the_disclosed_pair_and_only_that_it_was_generalised() -> None:
    exact = vendor_view(stored_intent(None), location_floor=9)
    assert exact.category == CAMERAS and exact.location.cell == CELL8 and not exact.generalised
    coarse = vendor_view(
        stored_intent(Disclosure(category="electronics", country="DE")), location_floor=9
    )
    assert coarse.category == "electronics" and coarse.generalised
    assert coarse.location.cell is None and coarse.location.country == "DE"
    assert CAMERAS not in msgspec.json.encode(coarse).decode()
    assert CELL8 not in msgspec.json.encode(coarse).decode()
    regional = vendor_view(
        stored_intent(Disclosure(category=CAMERAS, cell=CELL5, country="DE")), location_floor=9
    )
    assert regional.location.cell == CELL5 and regional.location.resolution == 5


def test_matching_sees_only_the_disclosed_pair() -> None:
    generalised = matchable(stored_intent(Disclosure(category="electronics", country="DE")))
    assert generalised.generalised and generalised.category == "electronics"
    assert generalised.cell is None

    def sub(**kw: object) -> Subscription:
        return Subscription(id="s", vendor_id="v", **kw)  # type: ignore[arg-type]

    # a subscription inside the generalised category still matches ("matching still works")
    assert matches(generalised, sub(categories=(CAMERAS,)))
    assert matches(generalised, sub(categories=("electronics/phones",), countries=("DE",)))
    assert not matches(generalised, sub(categories=("garden",)))
    # the hidden cell is not used: an area subscription misses a country-level intent
    assert not matches(generalised, sub(categories=(CAMERAS,), cells=(CELL5,)))
    regional = matchable(stored_intent(Disclosure(category=CAMERAS, cell=CELL5, country="DE")))
    assert matches(regional, sub(categories=(CAMERAS,), cells=(CELL8,)))
    # an intent published at a coarse category without generalisation: as before
    plain = matchable_intent(category="electronics")
    assert not matches(plain, sub(categories=(CAMERAS,)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world())
def test_the_index_agrees_with_the_predicate_on_generalised_intents(data: tuple) -> None:
    subs, ops, intents = data
    model = {s.id: s for s in subs}
    index = SubscriptionIndex(subs)
    for op in ops:
        if isinstance(op, Subscription):
            index.upsert(op)
            model[op.id] = op
        else:
            index.remove(op)
            model.pop(op, None)
    for i in intents:
        for generalised in (False, True):
            shown = msgspec.structs.replace(i, generalised=generalised)
            found = [s.id for s in index.match(shown)]
            assert len(found) == len(set(found)), "duplicates"
            assert set(found) == {s.id for s in model.values() if s.active and matches(shown, s)}
