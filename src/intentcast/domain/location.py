"""Location coarsening: exact coordinates become an H3 cell no finer than the floor.

The exact point is used only to pick the cell and is never stored. A buyer chooses the
resolution (``precision``); it is clamped to the operator's floor (the finest resolution a
vendor may see), and the vendor view coarsens again if the floor was raised since.
"""

from __future__ import annotations

import h3

MIN_RESOLUTION = 0
MAX_RESOLUTION = 15


def cell_for(lat: float, lng: float, precision: int, floor: int) -> str:
    """The H3 cell containing the point at ``min(precision, floor)``."""
    return h3.latlng_to_cell(lat, lng, min(precision, floor))


def coarsen(cell: str, floor: int) -> str:
    """``cell`` or its ancestor at ``floor``, whichever is coarser."""
    resolution = h3.get_resolution(cell)
    return cell if resolution <= floor else h3.cell_to_parent(cell, floor)


def resolution(cell: str) -> int:
    return h3.get_resolution(cell)


def is_cell(text: str) -> bool:
    try:
        return h3.is_valid_cell(text)
    except (TypeError, ValueError):
        return False


def canonical_cell(text: str) -> str | None:
    """``text`` as the one spelling matching compares (lower-case hex, no blanks), or None
    when it is not an H3 cell. H3 also accepts upper case and surrounding blanks."""
    if not is_cell(text):
        return None
    return h3.int_to_str(h3.str_to_int(text.strip()))
