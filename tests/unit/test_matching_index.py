"""The match predicate's rules, and `SubscriptionIndex` agreeing with it (property test)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from unittest.mock import patch

import h3
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentcast.domain.matching import (
    MatchableIntent,
    Subscription,
    matches,
    normalise_attributes,
    normalise_keyword,
    words_of,
)
from intentcast.matching import index as index_module
from intentcast.matching.index import SubscriptionIndex

MUNICH = (48.137, 11.575)
BERLIN = (52.520, 13.405)
CELL7 = h3.latlng_to_cell(*MUNICH, 7)
CELL5 = h3.cell_to_parent(CELL7, 5)
CELL9 = h3.cell_to_children(CELL7, 9)[3]
BERLIN7 = h3.latlng_to_cell(*BERLIN, 7)
NEIGHBOUR7 = next(c for c in h3.grid_disk(CELL7, 1) if c != CELL7)


def sub(**kw: object) -> Subscription:
    fields: dict[str, object] = {"id": "s1", "vendor_id": "v1", "categories": ("electronics",)}
    fields.update(kw)
    return Subscription(**fields)  # type: ignore[arg-type]


def intent(**kw: object) -> MatchableIntent:
    fields: dict[str, object] = {
        "id": "i1",
        "buyer_id": "b1",
        "category": "electronics/cameras/mirrorless",
        "cell": CELL7,
        "country": "DE",
        "budget_max": None,
        "budget_currency": None,
        "attributes": {},
        "words": words_of("Looking for a Sony A7 IV body, mint condition"),
        "fulfilment": frozenset(),
    }
    fields.update(kw)
    return MatchableIntent(**fields)  # type: ignore[arg-type]


def check(i: MatchableIntent, s: Subscription, expected: bool) -> None:
    """The predicate says `expected`, and the index agrees."""
    assert matches(i, s) is expected
    found = SubscriptionIndex([s]).match(i)
    assert [x.id for x in found] == ([s.id] if expected else [])


# ---------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (("electronics",), True),
        (("electronics/cameras",), True),
        (("electronics/cameras/mirrorless",), True),
        (("electronics/cameras/mirrorless/full-frame",), False),
        (("electronics/phones",), False),
        (("electro",), False),  # a prefix of a slug is not an ancestor
        (("garden", "electronics/cameras"), True),
        (("garden",), False),
        ((), False),
    ],
)
def test_category_subtree(categories: tuple[str, ...], expected: bool) -> None:
    check(intent(), sub(categories=categories), expected)


@pytest.mark.parametrize(
    ("sub_cells", "intent_cell", "expected"),
    [
        ((), CELL7, True),  # no area: anywhere
        ((), None, True),
        ((CELL7,), CELL7, True),  # same cell
        ((CELL5,), CELL7, True),  # intent inside the area
        ((CELL5,), CELL9, True),
        ((CELL7,), CELL5, True),  # coarse intent containing the area
        ((CELL9,), CELL5, True),
        ((CELL7,), None, False),  # an area needs a located intent
        ((BERLIN7,), CELL7, False),
        ((NEIGHBOUR7,), CELL7, False),  # adjacent is not overlapping
        ((NEIGHBOUR7,), CELL9, False),
        ((BERLIN7, CELL5), CELL9, True),  # any of the cells
        (tuple(h3.grid_disk(CELL7, 1)), CELL9, True),
        ((CELL9, CELL7), CELL5, True),  # redundant cells
    ],
)
def test_area_overlap(sub_cells: tuple[str, ...], intent_cell: str | None, expected: bool) -> None:
    check(intent(cell=intent_cell), sub(cells=sub_cells), expected)


@pytest.mark.parametrize(
    ("countries", "country", "expected"),
    [
        ((), "DE", True),
        ((), None, True),
        (("DE", "AT"), "DE", True),
        (("FR",), "DE", False),
        (("FR",), None, False),
    ],
)
def test_countries(countries: tuple[str, ...], country: str | None, expected: bool) -> None:
    check(intent(country=country), sub(countries=countries), expected)
    # the same with an area
    check(intent(country=country), sub(countries=countries, cells=(CELL5,)), expected)


@pytest.mark.parametrize(
    ("budget_max", "currency", "expected"),
    [
        (Decimal("1500"), "EUR", True),
        (Decimal("1000"), "EUR", True),  # the minimum itself
        (Decimal("999.99"), "EUR", False),
        (Decimal("10"), "USD", True),  # another currency does not exclude
        (None, None, True),  # hidden budget or no maximum
    ],
)
def test_budget(budget_max: Decimal | None, currency: str | None, expected: bool) -> None:
    s = sub(budget_min=Decimal("1000"), budget_currency="EUR")
    check(intent(budget_max=budget_max, budget_currency=currency), s, expected)


@pytest.mark.parametrize(
    ("offered", "accepted", "expected"),
    [
        ({"Color": "Black"}, {"color": ["black", "silver"]}, True),  # case-insensitive
        ({"color": ["RED", "Silver"]}, {"COLOR": "silver"}, True),
        ({"color": "red"}, {"color": ["black", "silver"]}, False),
        ({"mount": "E"}, {"color": ["black"]}, True),  # keys only one side names
        ({}, {"color": "black"}, True),
        ({"color": "black", "mount": "L"}, {"color": "black", "mount": ["e", "rf"]}, False),
    ],
)
def test_attributes(offered: dict, accepted: dict, expected: bool) -> None:
    i = intent(attributes=normalise_attributes(offered))
    check(i, sub(attributes=normalise_attributes(accepted)), expected)


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        (("sony",), True),
        (("SONY A7",), True),  # a phrase, case-insensitive
        (("a7 iv body",), True),
        (("sony iv",), False),  # words present but not as a phrase
        (("son",), False),  # whole words only
        (("canon", "mint"), True),  # any keyword
        (("canon", "nikon"), False),
    ],
)
def test_keywords(keywords: tuple[str, ...], expected: bool) -> None:
    s = sub(keywords=tuple(normalise_keyword(k) for k in keywords))
    check(intent(), s, expected)


@pytest.mark.parametrize(
    ("sub_modes", "intent_modes", "expected"),
    [
        ((), ("pickup",), True),
        (("shipping",), (), True),
        (("shipping", "pickup"), ("pickup",), True),
        (("shipping",), ("pickup",), False),
    ],
)
def test_fulfilment(sub_modes: tuple, intent_modes: tuple, expected: bool) -> None:
    i = intent(fulfilment=frozenset(intent_modes))
    check(i, sub(fulfilment=frozenset(sub_modes)), expected)


def test_inactive_never_returned_and_container_api() -> None:
    index = SubscriptionIndex([sub(id="a"), sub(id="b", active=False)])
    assert len(index) == 2
    assert {s.id for s in index} == {"a", "b"}
    assert [s.id for s in index.match(intent())] == ["a"]
    index.upsert(sub(id="a", active=False))  # replaces
    index.upsert(sub(id="b", cells=(CELL5,)))
    assert index.get("a") is not None and not index.get("a").active  # type: ignore[union-attr]
    assert [s.id for s in index.match(intent())] == ["b"]
    index.remove("b")
    index.remove("missing")
    assert index.get("b") is None and len(index) == 1
    assert index.match(intent()) == []


def test_crowded_buckets_and_removal() -> None:
    subs = [sub(id=f"s{n}", cells=(CELL5,) if n % 2 else ()) for n in range(200)]
    index = SubscriptionIndex(subs)
    assert len(index.match(intent())) == 200
    for n in range(0, 200, 3):
        index.remove(f"s{n}")
    expected = {f"s{n}" for n in range(200) if n % 3}
    assert {s.id for s in index.match(intent())} == expected


def test_non_canonical_cells_fall_back_to_the_predicate() -> None:
    upper = sub(id="u", cells=(CELL5.upper(),))
    index = SubscriptionIndex([upper, sub(id="ok", cells=(CELL5,))])
    for cell in (CELL7, CELL5, CELL5.upper()):
        i = intent(cell=cell)
        expected = {s.id for s in (upper, index.get("ok")) if s and matches(i, s)}
        assert {s.id for s in index.match(i)} == expected


# ---------------------------------------------------------------------------- property test

SEGMENTS = ("a", "b")
categories_st = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join)
COUNTRIES = ("DE", "FR", "US")
CURRENCIES = ("EUR", "USD")
VOCAB = ("red", "bike", "phone", "blue", "cheap", "road")
MODES = ("pickup", "shipping", "remote")


def mostly_absent(strategy: st.SearchStrategy, absent: object) -> st.SearchStrategy:
    """`absent` about two times in three, so that matches are common."""
    return st.one_of(st.just(absent), st.just(absent), strategy)


@st.composite
def world(draw: st.DrawFn) -> tuple[list[Subscription], list, list[MatchableIntent]]:
    """A few random points near each other; cells are those points at resolutions 3..9, so
    they nest, share coarse ancestors, or are apart."""
    lat, lng = draw(st.tuples(st.floats(-60, 60), st.floats(-170, 170)))
    offsets = st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))
    points = [(lat + dy, lng + dx) for dy, dx in draw(st.lists(offsets, min_size=1, max_size=3))]
    cells_st = st.builds(
        lambda p, r: h3.latlng_to_cell(p[0], p[1], r),
        st.sampled_from(points),
        st.integers(3, 9),
    )
    one_cell = st.one_of(
        cells_st,
        cells_st,
        cells_st.map(lambda c: sorted(h3.grid_disk(c, 1))[0]),  # a neighbour sometimes
    )
    area_st = st.one_of(
        st.just(()),
        st.lists(one_cell, min_size=1, max_size=3).map(tuple),
        cells_st.map(lambda c: tuple(h3.grid_disk(c, 1))),
    )
    attrs_st = st.dictionaries(
        st.sampled_from(("color", "size")),
        st.lists(st.sampled_from(("red", "Blue", "L", "xl")), min_size=1, max_size=2),
        max_size=2,
    ).map(normalise_attributes)
    keywords_st = st.lists(
        st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3).map(" ".join),
        min_size=1,
        max_size=2,
    ).map(lambda ks: tuple(normalise_keyword(k) for k in ks))
    sub_categories = st.lists(
        st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=2).map("/".join),
        max_size=2,
    ).map(tuple)
    sub_st = st.builds(
        Subscription,
        id=st.sampled_from([f"s{n}" for n in range(15)]),
        vendor_id=st.just("v"),
        categories=sub_categories,
        cells=area_st,
        countries=mostly_absent(st.lists(st.sampled_from(COUNTRIES), max_size=2).map(tuple), ()),
        budget_min=mostly_absent(
            st.sampled_from((Decimal(10), Decimal("10.0"), Decimal(20), Decimal(100))), None
        ),
        budget_currency=st.sampled_from((None, *CURRENCIES)),
        attributes=mostly_absent(attrs_st, {}),
        keywords=mostly_absent(keywords_st, ()),
        fulfilment=mostly_absent(st.frozensets(st.sampled_from(MODES), max_size=2), frozenset()),
        active=st.sampled_from((True, True, True, False)),
    )
    intents_st = st.builds(
        MatchableIntent,
        id=st.just("i"),
        buyer_id=st.just("b"),
        category=categories_st,
        cell=st.one_of(st.none(), cells_st, cells_st, one_cell),
        country=st.sampled_from((None, *COUNTRIES)),
        budget_max=st.sampled_from((None, Decimal(5), Decimal(10), Decimal(50), Decimal(500))),
        budget_currency=st.sampled_from((None, *CURRENCIES)),
        attributes=attrs_st,
        words=st.lists(st.sampled_from(VOCAB), max_size=5).map(lambda w: words_of(" ".join(w))),
        fulfilment=st.frozensets(st.sampled_from(MODES), max_size=2),
    )
    subs = draw(st.lists(sub_st, max_size=30))
    ops = draw(st.lists(st.one_of(sub_st, sub_st.map(lambda s: s.id)), max_size=15))
    intents = draw(st.lists(intents_st, min_size=1, max_size=8))
    return subs, ops, intents


def assert_agrees(index: SubscriptionIndex, model: dict[str, Subscription], intents: list) -> None:
    assert len(index) == len(model)
    for i in intents:
        found = [s.id for s in index.match(i)]
        assert len(found) == len(set(found)), "duplicates"
        expected = {s.id for s in model.values() if s.active and matches(i, s)}
        assert set(found) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world())
def test_index_equals_brute_force(data: tuple) -> None:
    """Built in one go (appended, then sorted), then changed one by one (inserted into the
    sorted columns), then emptied."""
    subs, ops, intents = data
    model = {s.id: s for s in subs}  # the last one with an id wins, as with upsert
    index = SubscriptionIndex(subs)
    assert_agrees(index, model, intents)
    for op in ops:
        if isinstance(op, Subscription):
            index.upsert(op)
            model[op.id] = op
        else:
            index.remove(op)
            model.pop(op, None)
    assert_agrees(index, model, intents)
    assert all(index.get(sub_id) == s for sub_id, s in model.items())
    for sub_id in list(model):  # removing everything leaves nothing behind
        index.remove(sub_id)
    assert len(index) == 0
    assert not index._categories and not index._slow
    assert not index._checks and not index._check_users and not index._parts
    parts = index._parts
    assert not (parts.budgets or parts.countries or parts.fulfilment or parts.attributes)
    assert not (parts.keywords or parts.words or parts.phrases)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world(), st.booleans())
def test_a_batch_of_changes_agrees_with_the_predicate(data: tuple, bulk: bool) -> None:
    """`apply` (a matcher's refresh): a deactivated subscription leaves, an active one is
    upserted, an id's last change holds — filed one by one, or (``bulk``) appended and each
    touched category sorted once; then changed one by one again (the columns are sorted)."""
    subs, ops, intents = data
    model = {s.id: s for s in subs}
    index = SubscriptionIndex(subs)
    changes = [
        op
        if isinstance(op, Subscription)
        else msgspec.structs.replace(model.get(op) or sub(id=op), active=False)
        for op in ops
    ]
    for change in changes:
        if change.active:
            model[change.id] = change
        else:
            model.pop(change.id, None)
    with patch.object(index_module, "BULK_CHANGES", 1 if bulk else 10**9):
        index.apply(changes)
    assert_agrees(index, model, intents)
    assert all(index.get(sub_id) == s for sub_id, s in model.items())
    for s in subs:
        index.upsert(s)
        model[s.id] = s
    assert_agrees(index, model, intents)


def test_copies_share_repeated_parts_and_forget_them_with_their_subscriptions() -> None:
    def made(n: int) -> Subscription:  # fresh strings, as rows loaded one by one would be
        return sub(
            id=f"s{n}",
            vendor_id="-".join(("vendor", "1")),
            categories=("/".join(("garden", "tools")),),
            cells=(CELL7, NEIGHBOUR7),
            budget_min=Decimal("100.0"),
            budget_currency="EUR",
            fulfilment=frozenset({"pickup"}),
        )

    index = SubscriptionIndex(made(n) for n in range(3))
    one, two = index.get("s1"), index.get("s2")
    assert one == made(1) and two == made(2)
    assert one is not None and two is not None
    assert one.vendor_id is two.vendor_id and one.categories is two.categories
    assert one.budget_min is two.budget_min and str(one.budget_min) == "100.0"
    del one, two
    for n in range(3):
        index.remove(f"s{n}")
    index._shared.sweep()
    index._shared.sweep()  # strings held by a swept tuple go in the second sweep
    assert not any("vendor-1" in repr(v) or "garden" in repr(v) for v in index._shared._values)


def test_keyword_phrases_judged_inline_like_the_predicate() -> None:
    """Empty, single-word and multi-word phrases, alone and among others."""
    i = intent(words=words_of("a mint sony body with lens"))
    for keywords, expected in [
        ((), True),
        (((),), False),
        (((), ("sony",)), True),
        ((("sony", "body"),), True),
        ((("body", "sony"),), False),
        ((("body", "sony"), ()), False),
        ((("canon",), ("with", "lens")), True),
        ((("mint",),), True),
    ]:
        check(i, sub(keywords=keywords), expected)
        check(i, sub(keywords=keywords, cells=(CELL7,), countries=("DE",)), expected)


def test_keyword_atoms_found_by_word_and_by_first_two_words() -> None:
    """Phrases sharing their first words, repeated and overlapping words, a phrase at the
    very end; atoms are forgotten with the last subscription naming them."""
    i = intent(words=words_of("red red bike road bike red bike"))
    cases = [
        ((("red", "bike"),), True),
        ((("red", "bike", "road"),), True),
        ((("red", "bike", "red"),), False),
        ((("red", "red", "bike"),), True),
        ((("red", "bike", "bike"),), False),
        ((("bike", "red", "bike"),), True),  # at the very end
        ((("red", "red", "red"),), False),
        ((("road", "red"),), False),
        ((("red", "bike", "bike"), ("road",)), True),
    ]
    index = SubscriptionIndex()
    for n, (keywords, expected) in enumerate(cases):
        check(i, sub(keywords=keywords), expected)
        index.upsert(sub(id=f"s{n}", keywords=keywords))
    expected_ids = {f"s{n}" for n, (_, expected) in enumerate(cases) if expected}
    assert {s.id for s in index.match(i)} == expected_ids
    for n in range(len(cases)):
        index.remove(f"s{n}")
    assert not index._parts.words and not index._parts.phrases


def test_budget_thresholds_follow_writes() -> None:
    """Minimums added and removed after intents were matched (the sorted thresholds are
    rebuilt), equal minimums written differently, another currency, none."""
    index = SubscriptionIndex([sub(id="eur100", budget_min=Decimal("100"), budget_currency="EUR")])
    i = intent(budget_max=Decimal("100.00"), budget_currency="EUR")
    assert [s.id for s in index.match(i)] == ["eur100"]
    index.upsert(sub(id="eur100.5", budget_min=Decimal("100.5"), budget_currency="EUR"))
    index.upsert(sub(id="eur100.0", budget_min=Decimal("100.0"), budget_currency="EUR"))
    index.upsert(sub(id="usd500", budget_min=Decimal("500"), budget_currency="USD"))
    index.upsert(sub(id="none500", budget_min=Decimal("500"), budget_currency=None))
    assert {s.id for s in index.match(i)} == {"eur100", "eur100.0", "usd500", "none500"}
    no_currency = intent(budget_max=Decimal("499"), budget_currency=None)
    expected = {s.id for s in index if matches(no_currency, s)}
    assert expected == {"eur100", "eur100.5", "eur100.0", "usd500"}
    assert {s.id for s in index.match(no_currency)} == expected
    index.remove("eur100")
    index.remove("eur100.0")
    assert {s.id for s in index.match(i)} == {"usd500", "none500"}


def test_a_budget_that_is_not_a_number_is_judged_by_the_predicate() -> None:
    """Unordered, so kept aside (subscription) or matched by a scan (intent): the result,
    or the error, is the predicate's."""
    nan = sub(id="nan", budget_min=Decimal("NaN"), budget_currency="EUR")
    index = SubscriptionIndex([nan, sub(id="ok", budget_min=Decimal(5), budget_currency="EUR")])
    assert {s.id for s in index.match(intent(budget_max=Decimal(1), budget_currency="USD"))} == {
        "nan",
        "ok",
    }
    with pytest.raises(InvalidOperation):
        matches(intent(budget_max=Decimal(10), budget_currency="EUR"), nan)
    with pytest.raises(InvalidOperation):
        index.match(intent(budget_max=Decimal(10), budget_currency="EUR"))
    index.remove("nan")
    nan_intent = intent(budget_max=Decimal("NaN"), budget_currency="USD")
    assert [s.id for s in index.match(nan_intent)] == ["ok"]
    with pytest.raises(InvalidOperation):
        index.match(intent(budget_max=Decimal("NaN"), budget_currency="EUR"))
