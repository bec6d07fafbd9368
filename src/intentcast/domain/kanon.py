"""k-anonymous casting: how much of an intent's (category, location) vendors may see.

Scrubbing removes identifiers, but a rare intent (an unusual category in a small cell) can
still single out one person. The rule: the (category, area) a vendor sees of an intent must
*describe* the open intents of at least ``k`` distinct buyers — an intent is described by a
(category, area) when its own category lies in that category's subtree and its own location
lies in that area. Before an intent reaches vendors it is therefore generalised along two
ladders, both finest first:

* the **area ladder**: the intent's cell at its requested precision, then each parent cell
  down to resolution ``COARSEST_CELL_RESOLUTION``, then the country alone (no cell) — or,
  for an intent without a country, no location at all; the country is shown at every step;
* the **category ladder**: the intent's category, then each ancestor up to the top level.

The disclosure is the first pair, in the order (category finest first, then area finest
first), that ``k`` distinct buyers' open intents share: location is coarsened first, the
category only when even the coarsest area is not enough. When no pair reaches ``k`` (a thin
market: a lone intent in an empty category), the intent is disclosed at the coarsest pair —
top-level category, country — rather than held back: the buyer asked to be found, and that
pair is the least a buyer can say and still be matched. ``k_reached`` then says so (the
buyer's preview shows it). ``k = 1`` never generalises. The counts include the intent's own
buyer.

Pure: no I/O. The store supplies the open intents that could share a pair
(``store.intents.Intents.kanon_neighbours``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable

import h3
import msgspec

from intentcast.domain.intents import Disclosure, Intent

COARSEST_CELL_RESOLUTION = 3
"""The coarsest parent cell tried before the country alone (about 12,000 km², a region)."""


COUNTED_INTENTS = 2000
"""At most this many open intents are counted per decision (those of the intent's own
category and cell first): bounds the cost of a publish in a crowded top-level category.
Counting fewer can only make an intent coarser, never finer."""


class Described(msgspec.Struct, frozen=True):
    """What the rule looks at of one open intent: its buyer, category, cell, country."""

    buyer_id: str
    category: str
    cell: str | None
    country: str | None


class Area(msgspec.Struct, frozen=True):
    """A vendor-visible location: a cell (or none) and the country (or none)."""

    cell: str | None
    country: str | None


class KanonDecision(msgspec.Struct, frozen=True, kw_only=True):
    category: str
    area: Area
    generalised: bool
    """The disclosed pair is coarser than requested."""
    k_reached: bool
    """At least ``k`` distinct buyers share the disclosed pair (false: the coarsest pair,
    which fewer than ``k`` share)."""
    buyers: int
    """Distinct buyers the disclosed pair describes (never shown to vendors)."""


def category_ladder(category: str) -> list[str]:
    """``a/b/c`` → ``[a/b/c, a/b, a]``."""
    parts = category.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


def area_ladder(cell: str | None, country: str | None) -> list[Area]:
    """The areas an intent's location may be disclosed at, finest first."""
    areas: list[Area] = []
    if cell is not None:
        finest = h3.get_resolution(cell)
        areas.append(Area(cell, country))
        for r in range(finest - 1, COARSEST_CELL_RESOLUTION - 1, -1):
            areas.append(Area(h3.cell_to_parent(cell, r), country))
    areas.append(Area(None, country))
    return areas


def _area_ranker(areas: list[Area]) -> Callable[[Described], int | None]:
    """For the ladder ``areas`` (``area_ladder``): a function giving the index of the finest
    area that holds an intent's location, or None. It walks the ladder's cells coarsest
    first and stops at the first that does not hold the intent (a cell holds it only if its
    parent does)."""
    country = areas[-1].country
    whole = len(areas) - 1  # the country (or no location) holds it
    cells = [(j, h3.get_resolution(a.cell), a.cell) for j, a in enumerate(areas) if a.cell]
    cells.reverse()

    def rank(intent: Described) -> int | None:
        if country is not None and intent.country != country:
            return None
        found = whole
        if intent.cell is None or not cells:
            return found
        own = h3.get_resolution(intent.cell)
        for j, resolution, cell in cells:
            if own < resolution:
                break
            parent = (
                intent.cell if own == resolution else h3.cell_to_parent(intent.cell, resolution)
            )
            if parent != cell:
                break
            found = j
        return found

    return rank


def _in_category(category: str, root: str) -> bool:
    return category == root or category.startswith(root + "/")


def describes(category: str, area: Area, intent: Described) -> bool:
    """Whether the vendor-visible pair (``category``, ``area``) describes ``intent``."""
    return _in_category(intent.category, category) and _in_area(intent, area)


def _in_area(intent: Described, area: Area) -> bool:
    if area.country is not None and intent.country != area.country:
        return False
    if area.cell is None:
        return True
    if intent.cell is None:
        return False
    resolution = h3.get_resolution(area.cell)
    own = h3.get_resolution(intent.cell)
    if own < resolution:
        return False
    return (intent.cell if own == resolution else h3.cell_to_parent(intent.cell, resolution)) == (
        area.cell
    )


def decide(subject: Described, open_intents: Iterable[Described], k: int) -> KanonDecision:
    """The finest (category, area) that ``k`` distinct buyers' open intents share (the
    subject's buyer included), or the coarsest pair when none does."""
    categories = category_ladder(subject.category)
    areas = area_ladder(subject.cell, subject.country)
    requested = Area(subject.cell, subject.country)
    if k <= 1:
        return KanonDecision(
            category=categories[0], area=areas[0], generalised=False, k_reached=True, buyers=1
        )
    # Both ladders are nested (each step contains the one before), so an intent is
    # described by (categories[i], areas[j]) exactly when i and j are at least its rank on
    # each ladder: the first step that describes it. Rank every intent once; keep, per
    # buyer and category step i, the finest area step of any of its intents within
    # categories[i]; then a pair's count is how many buyers' step at i is <= j.
    finest_area: dict[str, list[int]] = {}
    never = len(areas)
    area_rank = _area_ranker(areas)
    for other in open_intents:
        if other.buyer_id == subject.buyer_id:
            continue
        ci = next((i for i, c in enumerate(categories) if _in_category(other.category, c)), None)
        if ci is None:
            continue
        aj = area_rank(other)
        if aj is None:
            continue
        steps = finest_area.setdefault(other.buyer_id, [never] * len(categories))
        for i in range(ci, len(categories)):
            if aj < steps[i]:
                steps[i] = aj
    buyers = 1
    for i, category in enumerate(categories):
        at_i = sorted(steps[i] for steps in finest_area.values())
        for j, area in enumerate(areas):
            buyers = 1 + bisect_right(at_i, j)
            if buyers >= k:
                return KanonDecision(
                    category=category,
                    area=area,
                    generalised=(category, area) != (subject.category, requested),
                    k_reached=True,
                    buyers=buyers,
                )
    category, area = categories[-1], areas[-1]
    return KanonDecision(
        category=category,
        area=area,
        generalised=(category, area) != (subject.category, requested),
        k_reached=False,
        buyers=buyers,
    )


def described(intent: Intent) -> Described:
    location = intent.location
    return Described(
        intent.buyer_id,
        intent.category,
        location.cell if location else None,
        location.country if location else None,
    )


def top_category(category: str) -> str:
    return category.split("/", 1)[0]


def disclosure_for(intent: Intent, open_intents: Iterable[Described], k: int) -> Disclosure | None:
    """What to store as ``intent.disclosure``: the decision's pair when it generalised,
    else ``None`` (shown as requested)."""
    decision = decide(described(intent), open_intents, k)
    if not decision.generalised:
        return None
    return Disclosure(
        category=decision.category, cell=decision.area.cell, country=decision.area.country
    )
