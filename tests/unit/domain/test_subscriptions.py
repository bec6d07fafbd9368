"""Subscription rules without a database: an area as cells or as a disk, the covering of a
disk, the country and minimum-budget checks, and the matcher's normalised form."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import h3
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentcast.domain.errors import RuleViolation
from intentcast.domain.matching import Subscription, cells_overlap
from intentcast.domain.money import Money
from intentcast.domain.subscriptions import (
    AreaDraft,
    area_cells,
    check_subscription,
    disk_cells,
    for_matching,
)

MUNICH = (48.137154, 11.576124)
CELL7 = h3.latlng_to_cell(*MUNICH, 7)
CELL5 = h3.cell_to_parent(CELL7, 5)
BERLIN7 = h3.latlng_to_cell(52.520, 13.405, 7)  # 504 km from Munich
VIENNA7 = h3.latlng_to_cell(48.2082, 16.3738, 7)  # 356 km
PARIS7 = h3.latlng_to_cell(48.8566, 2.3522, 7)  # 684 km


def area(**fields: Any) -> AreaDraft:
    return AreaDraft(**fields)


def violation(draft: AreaDraft) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        area_cells(draft)
    return caught.value


def cover(cells: list[str]) -> tuple[int, set[str]]:
    """The finest resolution of a compacted cover and the cover at that resolution."""
    finest = max(h3.get_resolution(c) for c in cells)
    return finest, set(h3.uncompact_cells(cells, finest))


# ---- area as cells ------------------------------------------------------------------------


def test_no_area_means_anywhere() -> None:
    assert area_cells(None) == []


def test_cells_of_any_resolution_are_kept_once_and_sorted() -> None:
    assert area_cells(area(cells=[CELL7, BERLIN7, CELL5, CELL7])) == sorted({CELL7, BERLIN7, CELL5})


def test_an_empty_cell_list_is_refused_rather_than_read_as_anywhere() -> None:
    caught = violation(area(cells=[]))
    assert caught.field == "area.cells"
    assert "omit area" in caught.message


@pytest.mark.parametrize(
    "bad", ["", "zz", "not-a-cell", "8f28308280fffff0", "ffffffffffffffff", CELL7[:-1]]
)
def test_a_string_that_is_no_cell_is_named_by_its_position(bad: str) -> None:
    caught = violation(area(cells=[CELL7, BERLIN7, bad]))
    assert caught.field == "area.cells[2]"
    assert repr(bad) in caught.message


@pytest.mark.parametrize(
    "disk",
    [
        {"lat": 48.1},
        {"lng": 11.5},
        {"radius_km": 5.0},
        {"lat": 48.1, "lng": 11.5, "radius_km": 5.0},
    ],
)
def test_cells_and_a_disk_together_are_refused(disk: dict[str, float]) -> None:
    assert violation(area(cells=[CELL7], **disk)).field == "area"


@pytest.mark.parametrize("spelling", [CELL5.upper(), " " + CELL5])
def test_a_cell_spelled_otherwise_is_refused_or_still_matches_what_it_contains(
    spelling: str,
) -> None:
    try:
        cells = area_cells(area(cells=[spelling]))
    except RuleViolation:
        return
    assert any(cells_overlap(CELL7, c) for c in cells)


# ---- area as a disk -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disk", "missing"),
    [
        ({"lng": 11.5, "radius_km": 5.0}, "lat"),
        ({"lat": 48.1, "radius_km": 5.0}, "lng"),
        ({"lat": 48.1, "lng": 11.5}, "radius_km"),
        ({"radius_km": 5.0}, "lat"),
        ({}, "lat"),
    ],
)
def test_an_incomplete_disk_names_the_first_missing_part(
    disk: dict[str, float], missing: str
) -> None:
    assert violation(area(**disk)).field == f"area.{missing}"


def test_a_disk_wider_than_500_km_is_refused() -> None:
    caught = violation(area(lat=MUNICH[0], lng=MUNICH[1], radius_km=500.001))
    assert caught.field == "area.radius_km"
    assert caught.message == "at most 500 km"


def test_a_disk_of_500_km_is_the_widest_allowed() -> None:
    cells = area_cells(area(lat=MUNICH[0], lng=MUNICH[1], radius_km=500.0))
    assert cells == disk_cells(*MUNICH, 500.0)
    assert any(cells_overlap(VIENNA7, c) for c in cells)
    assert not any(cells_overlap(PARIS7, c) for c in cells)


def test_a_disk_area_is_the_disks_cover() -> None:
    assert area_cells(area(lat=MUNICH[0], lng=MUNICH[1], radius_km=10.0)) == disk_cells(
        *MUNICH, 10.0
    )


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"lat": 90.5, "lng": 0, "radius_km": 1}, "$.lat"),
        ({"lat": 0, "lng": -180.5, "radius_km": 1}, "$.lng"),
        ({"lat": 0, "lng": 0, "radius_km": 0}, "$.radius_km"),
        ({"cells": ["8" * 17]}, "$.cells[0]"),
    ],
)
def test_an_area_out_of_range_is_malformed(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(fields, AreaDraft)
    assert f"`{path}`" in str(caught.value)


# ---- covering a disk ----------------------------------------------------------------------


def _destination(centre: tuple[float, float], km: float, bearing: float) -> tuple[float, float]:
    """The point ``km`` from ``centre`` along ``bearing`` (radians), on the sphere H3 uses."""
    earth = 6371.0088
    lat1, lng1, d = math.radians(centre[0]), math.radians(centre[1]), km / earth
    lat2 = math.asin(
        math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(bearing)
    )
    lng2 = lng1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(lat1),
        math.cos(d) - math.sin(lat1) * math.sin(lat2),
    )
    return math.degrees(lat2), (math.degrees(lng2) + 540) % 360 - 180


@pytest.mark.parametrize(
    ("radius_km", "resolution"),
    [(0.1, 9), (1.0, 9), (4.0, 8), (10.0, 8), (11.1, 7), (50.0, 6), (100.0, 5), (500.0, 4)],
)
def test_a_disk_is_covered_at_the_finest_resolution_its_ring_search_allows(
    radius_km: float, resolution: int
) -> None:
    finest, _ = cover(disk_cells(*MUNICH, radius_km))
    assert finest == resolution


@settings(max_examples=150, deadline=None)
@given(
    lat=st.floats(-80, 80),
    lng=st.floats(-179.9, 179.9),
    radius_km=st.floats(0.05, 500),
    bearing=st.floats(0, 2 * math.pi),
    share=st.floats(0, 0.999),
)
def test_every_place_within_the_radius_lies_in_the_cover(
    lat: float, lng: float, radius_km: float, bearing: float, share: float
) -> None:
    finest, cells = cover(disk_cells(lat, lng, radius_km))
    place = _destination((lat, lng), radius_km * share, bearing)
    assert h3.latlng_to_cell(*place, finest) in cells


@pytest.mark.parametrize("radius_km", [0.5, 10.0, 50.0, 500.0])
def test_the_cover_reaches_at_most_about_one_cell_beyond_the_disk(radius_km: float) -> None:
    finest, cells = cover(disk_cells(*MUNICH, radius_km))
    edge = h3.average_hexagon_edge_length(finest, unit="km")
    farthest = max(h3.great_circle_distance(MUNICH, h3.cell_to_latlng(c), unit="km") for c in cells)
    assert farthest <= radius_km + 2 * edge


def test_a_disk_cover_is_compacted_and_sorted() -> None:
    cells = disk_cells(*MUNICH, 50.0)
    assert cells == sorted(cells)
    assert len({h3.get_resolution(c) for c in cells}) > 1  # whole parents replace children
    assert len(cells) < len(cover(cells)[1])
    assert sorted(h3.compact_cells(cover(cells)[1])) == cells


@pytest.mark.parametrize("radius_km", [0.1, 1.0, 4.0, 10.0, 50.0, 200.0, 500.0])
def test_a_disk_cover_holds_its_centre_and_places_at_half_its_radius(radius_km: float) -> None:
    finest, cells = cover(disk_cells(*MUNICH, radius_km))
    north = (MUNICH[0] + radius_km / 2 / 111.195, MUNICH[1])
    assert h3.great_circle_distance(MUNICH, north, unit="km") == pytest.approx(
        radius_km / 2, rel=1e-3
    )
    assert h3.latlng_to_cell(*MUNICH, finest) in cells
    assert h3.latlng_to_cell(*north, finest) in cells


@pytest.mark.parametrize(
    ("centre", "radius_km"),
    [((45.897, 124.631), 10.0), ((0.269, 173.548), 10.0), ((34.039, 115.375), 50.0)],
    ids=str,
)
def test_a_disk_cover_holds_every_place_within_its_radius(
    centre: tuple[float, float], radius_km: float
) -> None:
    north = (centre[0] + radius_km * 0.8 / 111.195, centre[1])
    assert h3.great_circle_distance(centre, north, unit="km") < radius_km
    finest, cells = cover(disk_cells(*centre, radius_km))
    assert h3.latlng_to_cell(*north, finest) in cells


# ---- countries and minimum budget ---------------------------------------------------------


def test_iso_countries_and_a_sound_minimum_budget_pass() -> None:
    check_subscription(
        countries=["DE", "AT", "CH"], budget_min=Money(amount=Decimal("500.00"), currency="EUR")
    )
    check_subscription(countries=[], budget_min=None)


def test_a_country_outside_iso_3166_is_named_by_its_position() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_subscription(countries=["DE", "XX"], budget_min=None)
    assert caught.value.field == "countries[1]"
    assert "XX" in caught.value.message


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        ("10", "XYZ", "budget_min.currency"),
        ("-1", "EUR", "budget_min.amount"),
        ("NaN", "EUR", "budget_min.amount"),
        ("Infinity", "EUR", "budget_min.amount"),
        ("1000000000000", "EUR", "budget_min.amount"),
        ("1.2345", "EUR", "budget_min.amount"),
    ],
)
def test_a_minimum_budget_obeys_the_money_rules(amount: str, currency: str, field: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_subscription(
            countries=[], budget_min=Money(amount=Decimal(amount), currency=currency)
        )
    assert caught.value.field == field


def test_countries_are_judged_before_the_budget() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_subscription(countries=["XX"], budget_min=Money(amount=Decimal(-1), currency="XYZ"))
    assert caught.value.field == "countries[0]"


# ---- the matcher's form -------------------------------------------------------------------


def test_the_matchers_form_is_normalised_for_case_and_words() -> None:
    subscription = for_matching(
        subscription_id="sub_1",
        vendor_id="vnd_1",
        categories=["electronics/cameras"],
        cells=[CELL7],
        countries=["DE"],
        budget_min=Decimal("500"),
        budget_currency="EUR",
        attributes={"Mount": ["Sony-E ", "canon-rf"], "condition": "New"},
        keywords=["Full-Frame body", "  ", "A7"],
        fulfilment=["pickup", "delivery", "pickup"],
        active=False,
        max_per_hour=10,
    )
    assert subscription == Subscription(
        id="sub_1",
        vendor_id="vnd_1",
        categories=("electronics/cameras",),
        cells=(CELL7,),
        countries=("DE",),
        budget_min=Decimal("500"),
        budget_currency="EUR",
        attributes={"mount": frozenset({"sony-e", "canon-rf"}), "condition": frozenset({"new"})},
        keywords=(("full", "frame", "body"), ("a7",)),
        fulfilment=frozenset({"pickup", "delivery"}),
        active=False,
        max_per_hour=10,
    )
