"""Tests for intentcast.domain.taxonomy: default tree, Google import/merge, the index."""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentcast.domain.taxonomy import (
    Category,
    GoogleCategory,
    Taxonomy,
    TaxonomyError,
    TaxonomyFormatError,
    default_categories,
    merge_google_taxonomy,
    parse_google_taxonomy,
    slugify,
)
from tests.helpers import GOOGLE_TAXONOMY_SAMPLE

FULL_GOOGLE_PATH = os.environ.get("INTENTCAST_GOOGLE_TAXONOMY_FILE")
FULL_GOOGLE_FILE = Path(FULL_GOOGLE_PATH) if FULL_GOOGLE_PATH else None
"""The whole published Google file is optional (a clone has only the committed sample):
``INTENTCAST_GOOGLE_TAXONOMY_FILE=/path/to/google-product-taxonomy-with-ids.en-US.txt``
runs the test that imports all of it; without it that test is skipped, saying so."""
SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@pytest.fixture(scope="module")
def defaults() -> list[Category]:
    return default_categories()


@pytest.fixture(scope="module")
def google() -> list[GoogleCategory]:
    return parse_google_taxonomy(GOOGLE_TAXONOMY_SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def upserts(defaults: list[Category], google: list[GoogleCategory]) -> list[Category]:
    return merge_google_taxonomy(defaults, google)


@pytest.fixture(scope="module")
def merged(defaults: list[Category], upserts: list[Category]) -> Taxonomy:
    by_path = {c.path: c for c in defaults}
    by_path.update({c.path: c for c in upserts})
    return Taxonomy(list(by_path.values()))


@pytest.fixture(scope="module")
def tax(defaults: list[Category]) -> Taxonomy:
    return Taxonomy(defaults)


def cat(path: str, name: str | None = None, gpc_id: int | None = None) -> Category:
    parent = path.rpartition("/")[0] or None
    return Category(
        path=path, name=name or path.rpartition("/")[2].title(), parent=parent, gpc_id=gpc_id
    )


def g(gpc_id: int, *names: str) -> GoogleCategory:
    return GoogleCategory(gpc_id=gpc_id, names=names)


# ------------------------------------------------------------------------------ default tree


def test_default_taxonomy_size_and_depth(defaults: list[Category]) -> None:
    assert len(defaults) >= 260
    depths = [c.path.count("/") + 1 for c in defaults]
    assert max(depths) >= 3
    assert sum(1 for d in depths if d >= 3) >= 100


def test_default_paths_unique_slugs_valid_parents_first(defaults: list[Category]) -> None:
    paths = [c.path for c in defaults]
    assert len(paths) == len(set(paths))
    seen: set[str] = set()
    for c in defaults:
        assert all(SLUG.fullmatch(part) for part in c.path.split("/")), c.path
        assert c.name.strip() == c.name and c.name
        if c.parent is None:
            assert "/" not in c.path
        else:
            assert c.path == f"{c.parent}/{c.slug}"
            assert c.parent in seen, f"{c.path} listed before its parent"
        seen.add(c.path)


def test_default_gpc_ids_are_unique(defaults: list[Category]) -> None:
    ids = [c.gpc_id for c in defaults if c.gpc_id is not None]
    assert len(ids) >= 100
    assert len(ids) == len(set(ids))


def test_default_covers_goods_and_services(tax: Taxonomy) -> None:
    for path in [
        "electronics/cameras/mirrorless",
        "electronics/phones/smartphones",
        "electronics/computers/laptops",
        "home-garden",
        "furniture",
        "appliances",
        "vehicles/bikes",
        "fashion",
        "sports",
        "toys-games",
        "baby",
        "health-beauty",
        "books-media",
        "musical-instruments",
        "pets",
        "groceries",
        "home-services/plumbing",
        "home-services/electrical",
        "home-services/painting",
        "home-services/roofing",
        "home-services/carpentry",
        "home-services/locksmith",
        "home-services/hvac",
        "home-services/cleaning",
        "home-services/moving",
        "home-services/gardening",
        "repairs/phone-repair",
        "repairs/bike-repair",
        "repairs/car-repair",
        "repairs/appliance-repair",
        "repairs/computer-repair",
        "travel/flights",
        "travel/hotels",
        "travel/holiday-rentals",
        "travel/car-rental",
        "travel/tours",
        "professional-services/legal",
        "professional-services/accounting",
        "professional-services/tutoring",
        "professional-services/translation",
        "professional-services/photography",
        "events",
        "health-services",
    ]:
        assert tax.resolve(path) is not None, path
    assert tax.resolve("electronics").gpc_id == 222
    assert tax.resolve("electronics/cameras").gpc_id == 142


def test_default_categories_returns_fresh_list(defaults: list[Category]) -> None:
    first = default_categories()
    first.clear()
    assert default_categories() == defaults


# ------------------------------------------------------------------------------ google parse


def test_google_file_parses(google: list[GoogleCategory]) -> None:
    # the sample: three comment lines, then 39 categories
    assert len(google) == 39
    assert len({item.gpc_id for item in google}) == 39
    assert google[0] == GoogleCategory(gpc_id=1, names=("Animals & Pet Supplies",))
    assert max(len(item.names) for item in google) == 7
    by_id = {item.gpc_id: item for item in google}
    assert by_id[152].names == ("Cameras & Optics", "Cameras", "Digital Cameras")
    assert by_id[6551].names == ("Apparel & Accessories", "Handbags, Wallets & Cases")


def test_parse_skips_comments_blank_lines_and_bom() -> None:
    text = "\ufeff# Google_Product_Taxonomy_Version: x\n\n1 - A\n  \n# c\n2 - A > B & C\n"
    assert parse_google_taxonomy(text) == [g(1, "A"), g(2, "A", "B & C")]


@pytest.mark.parametrize(
    ("bad_line", "fragment"),
    [
        ("garbage", "expected"),
        ("12 A > B", "expected"),
        ("x - A", "expected"),
        ("7 - ", "expected"),
        ("7 - A >  > B", "empty"),
        ("1 - Z", "duplicate category id"),
        ("9 - A", "duplicate category"),
        ("0 - Zero", "positive"),
    ],
)
def test_parse_malformed_line_reports_line_number(bad_line: str, fragment: str) -> None:
    text = f"# header\n1 - A\n\n{bad_line}\n2 - A > B\n"
    with pytest.raises(TaxonomyFormatError) as info:
        parse_google_taxonomy(text)
    assert info.value.line == 4
    assert str(info.value).startswith("line 4:")
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------- merge (the sample)


def test_merge_google_file_yields_one_tree(
    defaults: list[Category], upserts: list[Category], merged: Taxonomy
) -> None:
    assert len(merged) == len({c.path for c in defaults} | {c.path for c in upserts})
    for c in merged:
        assert c.parent is None or merged.resolve(c.parent) is not None
    roots = [c.path for c in merged if c.parent is None]
    # Google roots mapped onto default roots do not create new ones.
    for path in ["electronics", "home-garden", "furniture", "pets", "vehicles", "diy"]:
        assert path in roots
    assert "animals-pet-supplies" not in roots
    assert "hardware" not in roots
    # upserts are ordered parents before children
    known = {c.path for c in defaults}
    for c in upserts:
        assert c.parent is None or c.parent in known
        known.add(c.path)


def test_merge_google_file_every_gpc_resolves_under_its_google_parent(
    defaults: list[Category], google: list[GoogleCategory], merged: Taxonomy
) -> None:
    id_of = {item.names: item.gpc_id for item in google}
    mapped_in_defaults = {c.gpc_id for c in defaults}
    for item in google:
        node = merged.resolve(f"gpc:{item.gpc_id}")
        assert node is not None, item
        assert node.gpc_id == item.gpc_id
        if item.gpc_id in mapped_in_defaults:
            continue  # default nodes keep their own place in the tree
        if len(item.names) > 1:
            parent = merged.resolve(f"gpc:{id_of[item.names[:-1]]}")
            assert node.parent == parent.path, (item, node)
        else:
            assert node.parent is None


def test_merge_google_file_maps_onto_default_nodes(
    defaults: list[Category], upserts: list[Category], merged: Taxonomy
) -> None:
    # A Google id attached to a default node resolves to that default node, unchanged.
    assert merged.resolve("gpc:142").path == "electronics/cameras"
    assert merged.resolve("gpc:142").name == "Cameras"
    assert merged.resolve("gpc:1").path == "pets"
    default_gpc = {c.gpc_id for c in defaults if c.gpc_id is not None}
    assert not [c for c in upserts if c.gpc_id in default_gpc]
    default_paths = {c.path for c in defaults}
    assert not [c for c in upserts if c.path in default_paths]
    # A Google child of such a node lands under the default node's path.
    digital = merged.resolve("gpc:152")  # Cameras & Optics > Cameras > Digital Cameras
    assert digital.path == "electronics/cameras/digital-cameras"
    assert digital.name == "Digital Cameras"
    assert merged.contains("electronics/cameras", "gpc:152")
    bird_cages = merged.resolve("gpc:4989")  # ... > Pet Supplies > Bird Supplies > Bird Cages
    assert bird_cages.path == "pets/birds/bird-cages-stands"
    # The unmapped Google parent of a mapped node becomes a sibling, mapped children stay put.
    assert merged.resolve("gpc:141").path == "cameras-optics"
    assert merged.resolve("gpc:2").path == "pets/pet-supplies"
    assert merged.resolve("gpc:5").path == "pets/dogs"


def test_merge_google_file_twice_returns_nothing(
    google: list[GoogleCategory], merged: Taxonomy
) -> None:
    assert merge_google_taxonomy(list(merged), google) == []


@pytest.mark.skipif(
    FULL_GOOGLE_FILE is None or not FULL_GOOGLE_FILE.is_file(),
    reason="the full Google taxonomy is optional: set INTENTCAST_GOOGLE_TAXONOMY_FILE to the "
    "published file to run this test"
    + (f" ({FULL_GOOGLE_FILE} is not a file)" if FULL_GOOGLE_FILE else ""),
)
def test_full_google_taxonomy_merges_into_the_defaults(defaults: list[Category]) -> None:
    """The whole published file: it parses, holds every gpc id the default tree names, and
    merges into one tree in which every Google category resolves; a second merge is a no-op."""
    assert FULL_GOOGLE_FILE is not None
    google = parse_google_taxonomy(FULL_GOOGLE_FILE.read_text(encoding="utf-8"))
    # 5,596 non-blank lines: one "# Google_Product_Taxonomy_Version" header + 5,595 categories
    # (``wc -l`` says 5,595 only because the last line has no trailing newline).
    assert len(google) == len({item.gpc_id for item in google}) == 5595
    assert {c.gpc_id for c in defaults if c.gpc_id is not None} <= {g.gpc_id for g in google}
    by_path = {c.path: c for c in defaults}
    by_path.update({c.path: c for c in merge_google_taxonomy(defaults, google)})
    merged = Taxonomy(list(by_path.values()))
    assert all(merged.resolve(f"gpc:{item.gpc_id}") is not None for item in google)
    assert merge_google_taxonomy(list(merged), google) == []


# ------------------------------------------------------------------------------ merge (rules)


def test_merge_attaches_id_to_existing_node_at_computed_path() -> None:
    existing = [cat("electronics", gpc_id=222), cat("electronics/audio", "Audio & Hi-Fi")]
    out = merge_google_taxonomy(existing, [g(222, "Electronics"), g(223, "Electronics", "Audio")])
    assert out == [Category("electronics/audio", "Audio & Hi-Fi", "electronics", 223)]


def test_merge_existing_id_elsewhere_is_unchanged_and_adopts_children() -> None:
    existing = [cat("gear", gpc_id=9), cat("gear/photo", "Photo", gpc_id=10)]
    google = [g(9, "Stuff"), g(10, "Stuff", "Cameras"), g(11, "Stuff", "Cameras", "Film")]
    assert merge_google_taxonomy(existing, google) == [
        Category("gear/photo/film", "Film", "gear/photo", 11)
    ]


def test_merge_slug_collision_gets_gpc_suffix() -> None:
    existing = [cat("a", gpc_id=1), cat("a/b-c", "B-C", gpc_id=50)]
    google = [g(1, "A"), g(2, "A", "B & C"), g(3, "A", "B, C")]
    out = merge_google_taxonomy(existing, google)
    assert [c.path for c in out] == ["a/b-c-2", "a/b-c-3"]
    assert [c.gpc_id for c in out] == [2, 3]
    assert [c.name for c in out] == ["B & C", "B, C"]


def test_merge_sorts_by_depth_and_fills_missing_parents() -> None:
    google = [g(3, "Top", "Mid", "Leaf"), g(1, "Top"), g(4, "Other", "Orphan")]
    out = merge_google_taxonomy([], google)
    assert out == [
        Category("top", "Top", None, 1),
        Category("other", "Other", None, None),
        Category("other/orphan", "Orphan", "other", 4),
        Category("top/mid", "Mid", "top", None),
        Category("top/mid/leaf", "Leaf", "top/mid", 3),
    ]
    tree = Taxonomy(out)
    assert merge_google_taxonomy(list(tree), google) == []
    # a later file containing the missing parent attaches its id to the placeholder
    assert merge_google_taxonomy(list(tree), [g(2, "Top", "Mid")]) == [
        Category("top/mid", "Mid", "top", 2)
    ]


# ------------------------------------------------------------------------------ slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Animals & Pet Supplies", "animals-pet-supplies"),
        ("Print, Copy, Scan & Fax", "print-copy-scan-fax"),
        ("  Café   Crème -- Brûlée ", "cafe-creme-brulee"),
        ("Kids' Bikes", "kids-bikes"),
        ("Straße Ærø", "strasse-aero"),
        ("3D Printers", "3d-printers"),
        ("E-Book Readers", "e-book-readers"),
        ("!!!", ""),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@given(st.text(max_size=40))
def test_slugify_always_yields_a_valid_slug_or_nothing(name: str) -> None:
    slug = slugify(name)
    assert slug == "" or SLUG.fullmatch(slug)
    assert slugify(slug) == slug


@given(
    st.lists(
        st.lists(st.sampled_from(["A", "B", "b", "C & D", "C, D", "É"]), min_size=1, max_size=3),
        max_size=12,
        unique_by=tuple,
    )
)
def test_merge_arbitrary_google_lists_is_one_tree_and_idempotent(name_paths) -> None:
    google = [g(i + 1, *names) for i, names in enumerate(name_paths)]
    existing = [cat("a", gpc_id=999), cat("a/b")]
    out = merge_google_taxonomy(existing, google)
    by_path = {c.path: c for c in existing} | {c.path: c for c in out}
    tree = Taxonomy(list(by_path.values()))
    for item in google:
        assert tree.resolve(f"gpc:{item.gpc_id}") is not None
    assert merge_google_taxonomy(list(tree), google) == []


# ------------------------------------------------------------------------------ index


def test_resolve(tax: Taxonomy) -> None:
    mirrorless = tax.resolve("electronics/cameras/mirrorless")
    assert mirrorless is not None
    assert mirrorless.parent == "electronics/cameras"
    assert tax.resolve("/Electronics/Cameras/MIRRORLESS/") == mirrorless
    assert tax.resolve(" electronics//cameras/mirrorless ") == mirrorless
    assert tax.resolve("gpc:142").path == "electronics/cameras"
    assert tax.resolve("GPC: 142").path == "electronics/cameras"
    assert tax.resolve("gpc:152") is None  # not in the default tree
    assert tax.resolve("gpc:abc") is None
    assert tax.resolve("gpc:") is None
    assert tax.resolve("electronics/cameras/nope") is None
    assert tax.resolve("") is None
    assert "electronics/cameras" in tax
    assert "gpc:999999999" not in tax


def test_contains(tax: Taxonomy) -> None:
    assert tax.contains("electronics", "electronics/cameras/mirrorless")
    assert tax.contains("electronics/cameras", "electronics/cameras")
    assert tax.contains("Electronics/", "/electronics/cameras/mirrorless")
    assert tax.contains("gpc:222", "electronics/cameras/mirrorless")
    assert not tax.contains("electronics/cameras/mirrorless", "electronics/cameras")
    assert not tax.contains("electronics/cameras", "electronics/computers/laptops")
    assert not tax.contains("electronics/cam", "electronics/cameras")
    assert not tax.contains("repairs", "repairs-and-more/x")
    assert not tax.contains("gpc:424242424", "electronics")
    assert not tax.contains("", "electronics")


def test_ancestors(tax: Taxonomy) -> None:
    assert tax.ancestors("electronics/cameras/mirrorless") == [
        "electronics",
        "electronics/cameras",
        "electronics/cameras/mirrorless",
    ]
    assert tax.ancestors("ELECTRONICS") == ["electronics"]
    assert tax.ancestors("gpc:142") == ["electronics", "electronics/cameras"]
    with pytest.raises(KeyError):
        tax.ancestors("electronics/nope")


def test_children(tax: Taxonomy) -> None:
    roots = tax.children()
    assert [c.path for c in roots][:2] == ["electronics", "home-garden"]
    assert all(c.parent is None for c in roots)
    cams = [c.path for c in tax.children("electronics/cameras")]
    assert "electronics/cameras/mirrorless" in cams
    with pytest.raises(KeyError):
        tax.children("nope")


def test_suggest(tax: Taxonomy, merged: Taxonomy) -> None:
    for index in (tax, merged):
        assert index.suggest("electronics/camera/mirorless")[0] == "electronics/cameras/mirrorless"
        assert index.suggest("mirrorless")[0] == "electronics/cameras/mirrorless"
        assert index.suggest("Mirrorless Cameras")[0] == "electronics/cameras/mirrorless"
    assert tax.suggest("electronics/cameras/mirrorless")[0] == "electronics/cameras/mirrorless"
    assert tax.suggest("smartphone")[0] == "electronics/phones/smartphones"
    assert "repairs/bike-repair" in tax.suggest("bike repair")
    assert len(merged.suggest("accessories", limit=3)) == 3
    assert tax.suggest("mirrorless", limit=0) == []
    assert tax.suggest("gpc:1") == []
    assert tax.suggest("") == []
    assert tax.suggest("qqqqzzzzxxxx") == []


def test_tree_and_iteration(tax: Taxonomy, defaults: list[Category]) -> None:
    tree = tax.tree()
    assert [node["path"] for node in tree] == [c.path for c in tax.children()]
    flat: list[dict] = []
    stack = list(tree)
    while stack:
        node = stack.pop()
        flat.append(node)
        assert set(node) == {"path", "name", "gpc_id", "children"}
        for child in node["children"]:
            assert child["path"].rpartition("/")[0] == node["path"]
        stack.extend(node["children"])
    assert len(flat) == len(tax) == len(defaults)
    electronics = next(node for node in tree if node["path"] == "electronics")
    assert electronics["gpc_id"] == 222
    assert electronics["name"] == "Electronics"
    assert list(tax) == defaults  # pre-order, parents first
    msgspec.json.encode(tree)  # JSON-serialisable for the API


def test_iteration_is_parents_first_for_unordered_input() -> None:
    shuffled = [cat("a/b/c"), cat("b"), cat("a"), cat("a/b")]
    # roots keep input order, each followed by its subtree
    assert [c.path for c in Taxonomy(shuffled)] == ["b", "a", "a/b", "a/b/c"]


@pytest.mark.parametrize(
    ("categories", "fragment"),
    [
        ([cat("a"), cat("a")], "duplicate"),
        ([cat("a/b")], "no parent"),
        ([cat("A")], "invalid"),
        ([cat("a"), cat("a//b")], "invalid"),
        ([Category("a/b", "B", None), cat("a")], "inconsistent parent"),
        ([cat("a", gpc_id=1), cat("b", gpc_id=1)], "gpc id 1"),
    ],
)
def test_taxonomy_rejects_invalid_trees(categories: list[Category], fragment: str) -> None:
    with pytest.raises(TaxonomyError, match=fragment):
        Taxonomy(categories)
