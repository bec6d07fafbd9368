"""Vendor subscriptions: what a vendor sends, the rules it must meet, and its area as cells.

A subscription's area is a set of H3 cells of any resolution, given directly or as a disk
(``lat``, ``lng``, ``radius_km``) converted to covering cells. Matching semantics live in
``intentcast.domain.matching``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated

import h3
import msgspec

from intentcast.domain.codes import is_country
from intentcast.domain.errors import RuleViolation
from intentcast.domain.intents import Attributes, Fulfilment, Text
from intentcast.domain.location import canonical_cell
from intentcast.domain.matching import Subscription, normalise_attributes, normalise_keyword
from intentcast.domain.money import Money, check_money

MAX_SUBSCRIPTIONS_PER_VENDOR = 1000
MAX_CATEGORIES = 50
MAX_CELLS = 2000
MAX_RADIUS_KM = 500.0
MAX_KEYWORDS = 50
DISK_MAX_RING = 24  # rings searched around the centre cell when covering a radius
# Cells of one resolution differ in size across the globe (up to ~1.4x in width) and a ring
# reaches only cos(30°) of its spacing towards its corners: search rings as if cells were
# half their average spacing apart, then keep the cells that can touch the disk.
_RING_SPACING_FACTOR = 0.5
MIN_COVER_RESOLUTION = 2


class AreaDraft(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """`{"cells": [...]}` (H3 cells, any resolution) or `{"lat", "lng", "radius_km"}`."""

    cells: (
        Annotated[
            list[Annotated[Text, msgspec.Meta(max_length=16)]], msgspec.Meta(max_length=MAX_CELLS)
        ]
        | None
    ) = None
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    radius_km: Annotated[float, msgspec.Meta(gt=0)] | None = None


CategoryRef = Annotated[Text, msgspec.Meta(min_length=1, max_length=300)]
Keyword = Annotated[Text, msgspec.Meta(min_length=1, max_length=100)]


class SubscriptionDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A standing subscription: which intents this vendor wants delivered."""

    categories: Annotated[
        list[CategoryRef],
        msgspec.Meta(
            min_length=1, max_length=MAX_CATEGORIES, examples=[["electronics/cameras", "gpc:152"]]
        ),
    ]
    area: AreaDraft | None = None
    countries: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]], msgspec.Meta(max_length=250)
    ] = msgspec.field(default_factory=list)
    budget_min: Money | None = None
    attributes: Attributes = msgspec.field(default_factory=dict)
    keywords: Annotated[list[Keyword], msgspec.Meta(max_length=MAX_KEYWORDS)] = msgspec.field(
        default_factory=list
    )
    fulfilment: Annotated[list[Fulfilment], msgspec.Meta(max_length=4)] = msgspec.field(
        default_factory=list
    )
    max_per_hour: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    active: bool = True


class SubscriptionPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fields to change; `null` clears an optional constraint."""

    categories: (
        Annotated[list[CategoryRef], msgspec.Meta(min_length=1, max_length=MAX_CATEGORIES)]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    area: AreaDraft | msgspec.UnsetType | None = msgspec.UNSET
    countries: (
        Annotated[
            list[Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]], msgspec.Meta(max_length=250)
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    budget_min: Money | msgspec.UnsetType | None = msgspec.UNSET
    attributes: Attributes | msgspec.UnsetType = msgspec.UNSET
    keywords: (
        Annotated[list[Keyword], msgspec.Meta(max_length=MAX_KEYWORDS)] | msgspec.UnsetType
    ) = msgspec.UNSET
    fulfilment: Annotated[list[Fulfilment], msgspec.Meta(max_length=4)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    max_per_hour: Annotated[int, msgspec.Meta(ge=1, le=1000000)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    active: bool | msgspec.UnsetType = msgspec.UNSET


def area_cells(area: AreaDraft | None) -> list[str]:
    """The area as a compact list of H3 cells (empty: anywhere)."""
    if area is None:
        return []
    has_disk = area.lat is not None or area.lng is not None or area.radius_km is not None
    if area.cells is not None and has_disk:
        raise RuleViolation("area", "give either cells or lat, lng and radius_km, not both")
    if area.cells is not None:
        if not area.cells:
            raise RuleViolation("area.cells", "must not be empty; omit area to match anywhere")
        cells: set[str] = set()
        for i, cell in enumerate(area.cells):
            canonical = canonical_cell(cell)
            if canonical is None:
                raise RuleViolation(f"area.cells[{i}]", f"{cell!r} is not an H3 cell")
            cells.add(canonical)
        return sorted(cells)
    if area.lat is None or area.lng is None or area.radius_km is None:
        missing = next(n for n in ("lat", "lng", "radius_km") if getattr(area, n) is None)
        raise RuleViolation(f"area.{missing}", "a disk needs lat, lng and radius_km")
    if area.radius_km > MAX_RADIUS_KM:
        raise RuleViolation("area.radius_km", f"at most {MAX_RADIUS_KM:g} km")
    return disk_cells(area.lat, area.lng, area.radius_km)


def disk_cells(lat: float, lng: float, radius_km: float) -> list[str]:
    """Cells covering a disk, compacted: every place within ``radius_km`` of the centre lies
    in one of them. Chosen at the finest resolution whose ring search stays within
    ``DISK_MAX_RING`` rings; a cell is kept when its centre is within the radius plus two
    edge lengths (a hexagon's circumradius is its edge; the second edge absorbs distortion),
    so the cover reaches at most about one cell beyond the disk."""
    for res in range(9, MIN_COVER_RESOLUTION - 1, -1):
        edge = h3.average_hexagon_edge_length(res, unit="km")
        rings = math.ceil(radius_km / (edge * math.sqrt(3) * _RING_SPACING_FACTOR)) + 1
        if rings <= DISK_MAX_RING:
            break
    centre = (lat, lng)
    reach = radius_km + 2 * edge
    cells = [
        cell
        for cell in h3.grid_disk(h3.latlng_to_cell(lat, lng, res), rings)
        if h3.great_circle_distance(centre, h3.cell_to_latlng(cell), unit="km") <= reach
    ]
    return sorted(h3.compact_cells(cells))


def check_subscription(
    *,
    countries: list[str],
    budget_min: Money | None,
) -> None:
    for i, country in enumerate(countries):
        if not is_country(country):
            raise RuleViolation(f"countries[{i}]", f"{country} is not an ISO 3166 country")
    if budget_min is not None:
        check_money(budget_min, "budget_min")


def for_matching(
    *,
    subscription_id: str,
    vendor_id: str,
    categories: list[str],
    cells: list[str],
    countries: list[str],
    budget_min: Decimal | None,
    budget_currency: str | None,
    attributes: dict[str, str | list[str]],
    keywords: list[str],
    fulfilment: list[str],
    active: bool,
    max_per_hour: int | None,
) -> Subscription:
    """The normalised form the matcher and its index use."""
    return Subscription(
        id=subscription_id,
        vendor_id=vendor_id,
        categories=tuple(categories),
        cells=tuple(cells),
        countries=tuple(countries),
        budget_min=budget_min,
        budget_currency=budget_currency,
        attributes=normalise_attributes(attributes),
        keywords=tuple(k for k in (normalise_keyword(w) for w in keywords) if k),
        fulfilment=frozenset(fulfilment),
        active=active,
        max_per_hour=max_per_hour,
    )
