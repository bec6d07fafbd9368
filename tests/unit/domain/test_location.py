"""Location coarsening without a database: the cell for a point, coarsening to a floor,
resolutions and what counts as a cell."""

from __future__ import annotations

import h3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentcast.domain.location import (
    MAX_RESOLUTION,
    MIN_RESOLUTION,
    cell_for,
    coarsen,
    is_cell,
    resolution,
)

MUNICH = (48.137154, 11.576124)
CELL9 = h3.latlng_to_cell(*MUNICH, 9)

coordinates = st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))
resolutions = st.integers(MIN_RESOLUTION, MAX_RESOLUTION)


def test_resolutions_run_from_0_to_15_as_in_h3() -> None:
    assert (MIN_RESOLUTION, MAX_RESOLUTION) == (0, 15)


# ---- the cell for a point -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "floor", "expected"), [(5, 7, 5), (7, 7, 7), (9, 7, 7), (15, 15, 15), (0, 9, 0)]
)
def test_a_point_gets_the_cell_at_its_precision_or_the_floor_whichever_is_coarser(
    precision: int, floor: int, expected: int
) -> None:
    cell = cell_for(*MUNICH, precision, floor)
    assert cell == h3.latlng_to_cell(*MUNICH, expected)
    assert resolution(cell) == expected


@given(coordinates, resolutions, resolutions)
def test_the_cell_for_a_point_contains_it_and_is_never_finer_than_the_floor(
    point: tuple[float, float], precision: int, floor: int
) -> None:
    cell = cell_for(*point, precision, floor)
    assert is_cell(cell)
    assert resolution(cell) == min(precision, floor)
    assert h3.latlng_to_cell(*point, resolution(cell)) == cell


# ---- coarsening ---------------------------------------------------------------------------


def test_a_cell_finer_than_the_floor_becomes_its_ancestor_at_the_floor() -> None:
    assert coarsen(CELL9, 7) == h3.cell_to_parent(CELL9, 7)
    assert coarsen(CELL9, 0) == h3.cell_to_parent(CELL9, 0)


@pytest.mark.parametrize("floor", [9, 10, 15])
def test_a_cell_at_or_coarser_than_the_floor_is_left_alone(floor: int) -> None:
    assert coarsen(CELL9, floor) == CELL9


@given(coordinates, resolutions, resolutions)
def test_coarsening_gives_the_cell_or_an_ancestor_no_finer_than_the_floor(
    point: tuple[float, float], res: int, floor: int
) -> None:
    cell = h3.latlng_to_cell(*point, res)
    coarse = coarsen(cell, floor)
    assert resolution(coarse) == min(res, floor)
    assert h3.cell_to_parent(cell, resolution(coarse)) == coarse
    assert coarsen(coarse, floor) == coarse  # coarsening twice changes nothing


# ---- resolution and validity --------------------------------------------------------------


@pytest.mark.parametrize("res", [0, 5, 9, 15])
def test_resolution_reads_the_cells_resolution(res: int) -> None:
    assert resolution(h3.latlng_to_cell(*MUNICH, res)) == res


@pytest.mark.parametrize(
    "cell",
    [CELL9, h3.cell_to_parent(CELL9, 0), h3.latlng_to_cell(*MUNICH, 15), *h3.get_pentagons(3)[:1]],
)
def test_real_cells_are_cells(cell: str) -> None:
    assert is_cell(cell)


@pytest.mark.parametrize(
    "text",
    ["", "zz", "hello world", "8f2830828052d2", "ffffffffffffffff", "0", CELL9 + "0", "85-1f"],
)
def test_other_strings_are_not_cells(text: str) -> None:
    assert is_cell(text) is False


@pytest.mark.parametrize("value", [None, 5, 3.5, ["891f8d7a49bffff"], {"cell": "891f8d7a49bffff"}])
def test_values_that_are_not_strings_are_not_cells_and_raise_nothing(value: object) -> None:
    assert is_cell(value) is False  # type: ignore[arg-type]


@given(st.text(max_size=20))
def test_is_cell_never_raises(text: str) -> None:
    assert is_cell(text) in (True, False)
