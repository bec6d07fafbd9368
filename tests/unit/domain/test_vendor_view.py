"""The vendor projection without a database: what a vendor sees of an intent, and that it
never carries the buyer's identity, exact point or original text."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import h3
import msgspec
from hypothesis import given
from hypothesis import strategies as st

from intentcast.domain.intents import Budget, Location, Terms
from intentcast.domain.vendor_view import (
    VendorBudget,
    VendorIntent,
    VendorLocation,
    preview_view,
    to_minute,
    vendor_view,
)
from tests.unit.domain.factories import MUNICH, NOW, POLICY, build, draft, make_intent

CELL9 = h3.latlng_to_cell(*MUNICH, 9)
CELL7 = h3.cell_to_parent(CELL9, 7)
CELL5 = h3.cell_to_parent(CELL9, 5)

VENDOR_FIELDS = {
    "id",
    "status",
    "category",
    "title",
    "description",
    "attributes",
    "quantity",
    "budget",
    "location",
    "fulfilment",
    "needed_by",
    "expires_at",
    "published_at",
    "terms",
    "generalised",  # k-anonymity: only whether category or location were generalised
}


def view(**overrides: Any) -> VendorIntent:
    return vendor_view(make_intent(**overrides), location_floor=POLICY.location_floor)


def numbers_in(value: Any) -> list[float | int]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    return []


# ---- what a vendor sees -------------------------------------------------------------------


def test_the_projection_holds_only_what_a_vendor_may_see() -> None:
    assert set(VendorIntent.__struct_fields__) == VENDOR_FIELDS
    assert set(VendorBudget.__struct_fields__) == {"currency", "min", "max"}
    assert set(VendorLocation.__struct_fields__) == {"cell", "resolution", "country"}


def test_a_vendor_sees_the_intent_through_its_scrubbed_copy() -> None:
    intent = build(
        draft(
            title="Sony A7 IV, mail ada@example.org",
            description="Call +49 89 1234567",
            attributes={"note": ["new", "ada@example.org"]},
            needed_by="2026-06-01",
            quantity=2,
        )
    )
    seen = vendor_view(intent, location_floor=7)
    assert (seen.id, seen.status, seen.category, seen.quantity) == (
        "int_1",
        "open",
        "electronics/cameras/mirrorless",
        2,
    )
    assert seen.title == "Sony A7 IV, mail [email removed]"
    assert seen.description == "Call [phone removed]"
    assert seen.attributes == {"note": ["new", "[email removed]"]}
    assert seen.fulfilment == ["pickup", "delivery"]
    assert seen.needed_by == date(2026, 6, 1)
    assert seen.terms == Terms()


def test_a_visible_budget_is_shown_as_decimal_strings() -> None:
    seen = view(budget=Budget(currency="EUR", min=Decimal("100"), max=Decimal("1800.50")))
    assert seen.budget == VendorBudget(currency="EUR", min="100", max="1800.50")
    only_max = view(budget=Budget(currency="EUR", max=Decimal("900")))
    assert only_max.budget == VendorBudget(currency="EUR", min=None, max="900")


def test_a_hidden_budget_is_not_shown_at_all() -> None:
    seen = view(budget=Budget(currency="EUR", min=Decimal(1), max=Decimal(900), visible=False))
    assert seen.budget is None
    assert "900" not in msgspec.json.encode(seen).decode()


def test_no_budget_shows_no_budget() -> None:
    assert view(budget=None).budget is None


# ---- location -----------------------------------------------------------------------------


def test_a_cell_finer_than_the_floor_is_coarsened_to_the_floor() -> None:
    seen = vendor_view(make_intent(location=Location(cell=CELL9, country="DE")), location_floor=7)
    assert seen.location == VendorLocation(cell=CELL7, resolution=7, country="DE")


def test_a_cell_already_coarser_than_the_floor_is_shown_as_it_is() -> None:
    seen = vendor_view(make_intent(location=Location(cell=CELL5)), location_floor=7)
    assert seen.location == VendorLocation(cell=CELL5, resolution=5, country=None)


def test_a_floor_raised_after_publication_applies_to_intents_already_stored() -> None:
    intent = build()  # stored under floor 7
    assert intent.location is not None and intent.location.cell == CELL7
    seen = vendor_view(intent, location_floor=5)
    assert seen.location is not None
    assert (seen.location.cell, seen.location.resolution) == (CELL5, 5)


def test_a_country_without_a_cell_is_shown_without_a_cell() -> None:
    seen = view(location=Location(country="AT"))
    assert seen.location == VendorLocation(cell=None, resolution=None, country="AT")


def test_no_location_shows_no_location() -> None:
    assert view(location=None).location is None


# ---- time ---------------------------------------------------------------------------------


def test_to_minute_drops_seconds_and_microseconds_and_keeps_the_zone() -> None:
    moment = NOW + timedelta(minutes=3, seconds=59, microseconds=999_999)
    rounded = to_minute(moment)
    assert rounded == NOW + timedelta(minutes=3)
    assert rounded.tzinfo is moment.tzinfo


@given(st.datetimes(timezones=st.just(NOW.tzinfo)))
def test_to_minute_rounds_down_by_less_than_a_minute(moment: datetime) -> None:
    rounded = to_minute(moment)
    assert rounded <= moment < rounded + timedelta(minutes=1)
    assert (rounded.second, rounded.microsecond) == (0, 0)


def test_publication_and_expiry_are_shown_to_the_minute() -> None:
    published = NOW + timedelta(seconds=17, microseconds=42)
    seen = view(published_at=published, expires_at=published + timedelta(days=14))
    assert seen.published_at == NOW
    assert seen.expires_at == NOW + timedelta(days=14)


# ---- preview ------------------------------------------------------------------------------


def test_a_preview_is_the_vendor_view_without_an_id() -> None:
    intent = build()
    preview = preview_view(intent, location_floor=7)
    assert preview.id is None
    assert msgspec.structs.replace(preview, id="int_1") == vendor_view(intent, location_floor=7)


# ---- what a vendor never sees -------------------------------------------------------------


def test_the_vendor_view_never_holds_the_buyer_or_the_original_text() -> None:
    intent = build(
        draft(title="Sony A7 IV, mail ada@example.org", description="ring +49 89 1234567"),
        buyer_id="byr_secret_buyer",
    )
    text = msgspec.json.encode(vendor_view(intent, location_floor=7)).decode()
    for secret in ("byr_secret_buyer", "ada@example.org", "1234567", "buyer", "redaction"):
        assert secret not in text


coordinates = st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))


@given(
    point=coordinates,
    precision=st.integers(0, 15),
    floor_at_publication=st.integers(0, 15),
    floor_now=st.integers(0, 15),
)
def test_the_vendor_view_never_exposes_the_exact_point(
    point: tuple[float, float], precision: int, floor_at_publication: int, floor_now: int
) -> None:
    lat, lng = point
    policy = msgspec.structs.replace(POLICY, location_floor=floor_at_publication)
    intent = build(draft(location={"lat": lat, "lng": lng, "precision": precision}), policy=policy)
    seen = vendor_view(intent, location_floor=floor_now)
    assert seen.location is not None and seen.location.cell is not None
    stored = h3.latlng_to_cell(lat, lng, min(precision, floor_at_publication))
    shown = min(precision, floor_at_publication, floor_now)
    assert seen.location.resolution == h3.get_resolution(seen.location.cell) == shown
    assert seen.location.cell == h3.cell_to_parent(stored, shown)
    # no coordinate in any form: the JSON a vendor receives holds no fractional number
    body = json.loads(msgspec.json.encode(seen))
    assert all(isinstance(n, int) for n in numbers_in(body))
    assert "lat" not in json.dumps(body) and "lng" not in json.dumps(body)
