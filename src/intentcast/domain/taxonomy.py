"""The category taxonomy: a tree of categories addressed by slash-joined slug paths.

This module owns:

* the value types (`Category`, `GoogleCategory`) and `slugify`;
* the packaged default intentcast taxonomy (`default_categories`, read from
  ``intentcast/domain/data/taxonomy.json``) which covers consumer goods *and* services
  (trades, repairs, travel, professional services, events...) that product taxonomies lack;
* parsing the Google Product Taxonomy text file (`parse_google_taxonomy`) and merging it into
  an existing tree so that the result stays ONE tree (`merge_google_taxonomy`);
* the in-memory index used by the API and the matcher (`Taxonomy`): O(1) resolution of a path
  or ``gpc:<id>`` reference, cheap subtree tests, ancestors, "did you mean" suggestions and the
  nested tree served by ``GET /v1/categories``.

It is pure: the only I/O is reading the packaged data file. Persistence of categories and
operator edits belong to the store and admin layers.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

import msgspec

__all__ = [
    "Category",
    "GoogleCategory",
    "Taxonomy",
    "TaxonomyError",
    "TaxonomyFormatError",
    "default_categories",
    "merge_google_taxonomy",
    "parse_google_taxonomy",
    "relocated_paths",
    "slugify",
]

GPC_PREFIX = "gpc:"
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_GOOGLE_LINE_RE = re.compile(r"(\d+)\s+-\s+(.*)")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")
# Letters that NFKD does not decompose into an ASCII base letter.
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
        "'": None,
        "’": None,
    }
)


class TaxonomyError(ValueError):
    """The categories do not form a valid taxonomy tree."""


class TaxonomyFormatError(TaxonomyError):
    """A taxonomy source (Google text file, packaged JSON) is malformed.

    `line` is the 1-based line number for text sources, else None.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class Category(msgspec.Struct, frozen=True):
    """One node of the tree. `path` is the slugs from the root joined by ``/``. A `retired`
    category takes no new intents or subscriptions (what already uses it keeps working) and
    is left out of the served tree; it still resolves, so the refusal can say why."""

    path: str
    name: str
    parent: str | None
    gpc_id: int | None = None
    retired: bool = False

    @property
    def slug(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def depth(self) -> int:
        """1 for a root category."""
        return self.path.count("/") + 1


class GoogleCategory(msgspec.Struct, frozen=True):
    """One line of the Google Product Taxonomy: its id and its ``>``-separated names."""

    gpc_id: int
    names: tuple[str, ...]


class _Node(msgspec.Struct, forbid_unknown_fields=True):
    """Shape of a node in the packaged ``taxonomy.json``."""

    slug: str
    name: str
    gpc: int | None = None
    children: list[_Node] = []


def slugify(name: str) -> str:
    """Lowercase ASCII slug: ``"Animals & Pet Supplies"`` -> ``"animals-pet-supplies"``.

    Accents are folded (``"Café Crème"`` -> ``"cafe-creme"``), apostrophes dropped
    (``"Kids' Bikes"`` -> ``"kids-bikes"``), every other run of separators collapses to one
    ``-``. Returns ``""`` when nothing alphanumeric is left.
    """
    text = unicodedata.normalize("NFKD", name.translate(_FOLD))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    return _NON_ALNUM_RE.sub("-", text).strip("-")


def is_slug(text: str) -> bool:
    """A valid path segment: lowercase ASCII letters and digits, single hyphens between."""
    return _SLUG_RE.fullmatch(text) is not None


def _join(parent: str | None, slug: str) -> str:
    return slug if parent is None else f"{parent}/{slug}"


def _parent_of(path: str) -> str | None:
    head, sep, _ = path.rpartition("/")
    return head if sep else None


# --------------------------------------------------------------------------- default taxonomy


@functools.cache
def _load_default() -> tuple[Category, ...]:
    raw = resources.files("intentcast.domain").joinpath("data").joinpath("taxonomy.json")
    try:
        roots = msgspec.json.decode(raw.read_bytes(), type=list[_Node])
    except msgspec.ValidationError as exc:
        raise TaxonomyFormatError(f"packaged taxonomy.json: {exc}") from exc
    out: list[Category] = []
    seen_gpc: set[int] = set()

    def walk(nodes: list[_Node], parent: str | None) -> None:
        slugs: set[str] = set()
        for node in nodes:
            if not _SLUG_RE.fullmatch(node.slug) or node.slug in slugs:
                raise TaxonomyFormatError(f"bad or duplicate slug {node.slug!r} under {parent!r}")
            if node.gpc is not None:
                if node.gpc in seen_gpc:
                    raise TaxonomyFormatError(f"gpc id {node.gpc} used twice")
                seen_gpc.add(node.gpc)
            slugs.add(node.slug)
            path = _join(parent, node.slug)
            out.append(Category(path=path, name=node.name, parent=parent, gpc_id=node.gpc))
            walk(node.children, path)

    walk(roots, None)
    return tuple(out)


def default_categories() -> list[Category]:
    """The packaged default intentcast taxonomy, parents before children (pre-order)."""
    return list(_load_default())


# --------------------------------------------------------------------------- Google taxonomy


def parse_google_taxonomy(text: str) -> list[GoogleCategory]:
    """Parse ``ID - Top > Sub > Leaf`` lines (the ``*-with-ids`` Google file).

    Blank lines and ``#`` comments are skipped. Raises `TaxonomyFormatError` carrying the
    1-based line number for a malformed line, a duplicate id or a duplicate name path.
    """
    out: list[GoogleCategory] = []
    ids: set[int] = set()
    name_paths: set[tuple[str, ...]] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff").strip()
        if not line or line.startswith("#"):
            continue
        match = _GOOGLE_LINE_RE.fullmatch(line)
        if match is None:
            raise TaxonomyFormatError(f"expected 'ID - Name > Name', got {raw!r}", line=lineno)
        gpc_id = int(match[1])
        if gpc_id <= 0:
            raise TaxonomyFormatError(f"category id must be positive, got {gpc_id}", line=lineno)
        names = tuple(part.strip() for part in match[2].split(">"))
        if any(not part for part in names):
            raise TaxonomyFormatError(f"empty category name in {raw!r}", line=lineno)
        if gpc_id in ids:
            raise TaxonomyFormatError(f"duplicate category id {gpc_id}", line=lineno)
        if names in name_paths:
            raise TaxonomyFormatError(f"duplicate category {' > '.join(names)!r}", line=lineno)
        ids.add(gpc_id)
        name_paths.add(names)
        out.append(GoogleCategory(gpc_id=gpc_id, names=names))
    return out


def merge_google_taxonomy(existing: list[Category], google: list[GoogleCategory]) -> list[Category]:
    """Categories to upsert so that `existing` + the Google taxonomy form ONE tree.

    For each Google category, shallowest first:

    * its parent is the node already carrying the Google parent's id (so Google children of
      a default node mapped to a Google id land under the default node's path), else the
      slugified Google path;
    * if a node already carries its id, that node is it (unchanged, not returned);
    * else a node at ``parent/slugify(leaf)`` without a gpc id gets the id attached (returned,
      name kept);
    * else a new node is created there; when that slug is taken by a sibling carrying another
      gpc id, the slug gets a ``-<gpc_id>`` suffix.

    A Google parent missing from `google` gets an id-less placeholder node so the tree stays
    connected. The result lists parents before children; merging the same file into the
    merged tree returns ``[]``.
    """
    by_path: dict[str, Category] = {c.path: c for c in existing}
    by_gpc: dict[int, Category] = {c.gpc_id: c for c in existing if c.gpc_id is not None}
    changed: dict[str, Category] = {}
    path_of: dict[tuple[str, ...], str] = {}

    def upsert(category: Category) -> None:
        by_path[category.path] = category
        if category.gpc_id is not None:
            by_gpc[category.gpc_id] = category
        changed[category.path] = category

    def parent_path(names: tuple[str, ...]) -> str | None:
        if not names:
            return None
        known = path_of.get(names)
        if known is not None:
            return known
        # The Google parent line is missing: fall back to its slugified path.
        grand = parent_path(names[:-1])
        path = _join(grand, slugify(names[-1]) or "category")
        if path not in by_path:
            upsert(Category(path=path, name=names[-1], parent=grand))
        path_of[names] = path
        return path

    def place(parent: str | None, name: str, gpc_id: int) -> str:
        slug = slugify(name) or f"gpc-{gpc_id}"
        suffixes = itertools.chain(
            ("", f"-{gpc_id}"), (f"-{gpc_id}-{n}" for n in itertools.count(2))
        )
        for suffix in suffixes:  # pragma: no branch - the count is unbounded
            path = _join(parent, slug + suffix)
            found = by_path.get(path)
            if found is None:
                upsert(Category(path=path, name=name, parent=parent, gpc_id=gpc_id))
                return path
            if found.gpc_id is None:
                upsert(msgspec.structs.replace(found, gpc_id=gpc_id))
                return path
        raise AssertionError("unreachable")  # pragma: no cover

    for google_category in sorted(google, key=lambda g: len(g.names)):
        gpc_id, names = google_category.gpc_id, google_category.names
        current = by_gpc.get(gpc_id)
        if current is not None:
            path_of[names] = current.path
            continue
        parent = parent_path(names[:-1])
        path_of[names] = place(parent, names[-1], gpc_id)
    return list(changed.values())


# --------------------------------------------------------------------------- the index


def _normalize_ref(ref: str) -> str:
    """Normalise a ref: ``" /A//B/ "`` -> ``"a/b"``; ``"GPC: 12"`` -> ``"gpc:12"``."""
    text = ref.strip().lower()
    if text.startswith(GPC_PREFIX):
        return GPC_PREFIX + text[len(GPC_PREFIX) :].strip()
    return "/".join(part.strip() for part in text.split("/") if part.strip())


class Taxonomy:
    """Immutable in-memory index over a list of categories forming one tree.

    Raises `TaxonomyError` if a path is not made of valid slugs, is duplicated, names a
    parent inconsistent with its path, has a missing parent, or a gpc id is used twice.
    Iteration yields categories parents-first (pre-order, siblings in input order).
    """

    __slots__ = ("_by_gpc", "_by_path", "_children", "_leaves", "_names", "_order", "_paths")

    def __init__(self, categories: Iterable[Category]) -> None:
        by_path: dict[str, Category] = {}
        by_gpc: dict[int, Category] = {}
        children: dict[str | None, list[str]] = {None: []}
        for category in categories:
            path = category.path
            if not all(_SLUG_RE.fullmatch(part) for part in path.split("/")):
                raise TaxonomyError(f"invalid category path {path!r}")
            if path in by_path:
                raise TaxonomyError(f"duplicate category path {path!r}")
            if category.parent != _parent_of(path):
                raise TaxonomyError(
                    f"category {path!r} has inconsistent parent {category.parent!r}"
                )
            if category.gpc_id is not None:
                other = by_gpc.get(category.gpc_id)
                if other is not None:
                    raise TaxonomyError(
                        f"gpc id {category.gpc_id} on both {other.path!r} and {path!r}"
                    )
                by_gpc[category.gpc_id] = category
            by_path[path] = category
            children.setdefault(category.parent, []).append(path)
        for category in by_path.values():
            if category.parent is not None and category.parent not in by_path:
                raise TaxonomyError(f"category {category.path!r} has no parent {category.parent!r}")

        order: list[Category] = []
        stack = list(reversed(children[None]))
        while stack:
            path = stack.pop()
            order.append(by_path[path])
            stack.extend(reversed(children.get(path, ())))

        self._by_path = by_path
        self._by_gpc = by_gpc
        self._children = children
        self._order: tuple[Category, ...] = tuple(order)
        self._paths = [c.path for c in order]
        leaves: dict[str, list[str]] = {}
        names: dict[str, list[str]] = {}
        for category in order:
            leaves.setdefault(category.slug, []).append(category.path)
            names.setdefault(category.name.lower(), []).append(category.path)
        self._leaves = leaves
        self._names = names

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._order)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self.resolve(ref) is not None

    def __repr__(self) -> str:
        return f"Taxonomy({len(self)} categories)"

    def resolve(self, ref: str) -> Category | None:
        """The category for a path (case/slash tolerant) or a ``gpc:<id>`` ref, else None."""
        found = self._by_path.get(ref)
        if found is not None:
            return found
        key = _normalize_ref(ref)
        if key.startswith(GPC_PREFIX):
            digits = key[len(GPC_PREFIX) :]
            if not (digits.isascii() and digits.isdigit()):
                return None
            return self._by_gpc.get(int(digits))
        return self._by_path.get(key)

    def _canonical(self, ref: str) -> str | None:
        if ref in self._by_path:
            return ref
        key = _normalize_ref(ref)
        if key.startswith(GPC_PREFIX):
            found = self.resolve(key)
            return found.path if found is not None else None
        return key or None

    def contains(self, ancestor_path: str, path: str) -> bool:
        """True if `path` is `ancestor_path` or lies in its subtree (string prefix test).

        Both arguments are normalised like `resolve` (``gpc:<id>`` refs are resolved; an
        unknown ``gpc:`` ref contains / is contained in nothing).
        """
        ancestor = self._canonical(ancestor_path)
        target = self._canonical(path)
        if ancestor is None or target is None:
            return False
        return target == ancestor or target.startswith(ancestor + "/")

    def ancestors(self, path: str) -> list[str]:
        """Paths from the root down to and including `path`. KeyError if unknown."""
        category = self.resolve(path)
        if category is None:
            raise KeyError(path)
        parts = category.path.split("/")
        return ["/".join(parts[: i + 1]) for i in range(len(parts))]

    def children(self, path: str | None = None) -> list[Category]:
        """Direct children of `path` (the roots when None), in order. KeyError if unknown."""
        if path is None:
            return [self._by_path[p] for p in self._children[None]]
        category = self.resolve(path)
        if category is None:
            raise KeyError(path)
        return [self._by_path[p] for p in self._children.get(category.path, ())]

    def suggest(self, ref: str, limit: int = 5) -> list[str]:
        """Up to `limit` existing paths close to `ref`, best first ("did you mean").

        Matches the whole path and, separately, the leaf against every node's slug and name,
        so ``electronics/camera/mirorless`` and plain ``mirrorless`` both find
        ``electronics/cameras/mirrorless``.
        """
        if limit <= 0:
            return []
        key = _normalize_ref(ref)
        if not key or key.startswith(GPC_PREFIX):
            return []
        query_path = "/".join(slugify(part) or part for part in key.split("/"))
        leaf_text = key.rpartition("/")[2]
        query_leaf = slugify(leaf_text) or leaf_text
        query_name = " ".join(leaf_text.replace("-", " ").split())
        pool = max(limit * 4, 10)
        scores: dict[str, float] = {}

        def ratio(a: str, b: str) -> float:
            return difflib.SequenceMatcher(None, a, b).ratio()

        def offer(path: str, score: float) -> None:
            if score > scores.get(path, 0.0):
                scores[path] = score

        for path in difflib.get_close_matches(query_path, self._paths, n=pool, cutoff=0.6):
            offer(path, ratio(query_path, path))
        for slug in difflib.get_close_matches(query_leaf, list(self._leaves), n=pool, cutoff=0.6):
            score = ratio(query_leaf, slug)
            for path in self._leaves[slug]:
                offer(path, score)
        for name in difflib.get_close_matches(query_name, list(self._names), n=pool, cutoff=0.6):
            score = ratio(query_name, name)
            for path in self._names[name]:
                offer(path, score)

        for path in [p for p in scores if self._by_path[p].retired]:
            del scores[path]
        path_score = {path: ratio(query_path, path) for path in scores}
        ranked = sorted(
            scores,
            key=lambda p: (-scores[p], -path_score[p], p.count("/"), p),
        )
        return ranked[:limit]

    def tree(self) -> list[dict[str, Any]]:
        """Nested ``{"path", "name", "gpc_id", "children": [...]}`` dicts from the roots."""

        def build(path: str) -> dict[str, Any]:
            category = self._by_path[path]
            return {
                "path": category.path,
                "name": category.name,
                "gpc_id": category.gpc_id,
                "children": [
                    build(child)
                    for child in self._children.get(path, ())
                    if not self._by_path[child].retired
                ],
            }

        return [build(root) for root in self._children[None] if not self._by_path[root].retired]

    def active_count(self) -> int:
        """How many categories are not retired (the served tree's size)."""
        return sum(1 for c in self._order if not c.retired)

    def subtree(self, path: str) -> list[Category]:
        """``path`` and every category under it, parents first. KeyError if unknown."""
        category = self.resolve(path)
        if category is None:
            raise KeyError(path)
        prefix = category.path + "/"
        return [c for c in self._order if c.path == category.path or c.path.startswith(prefix)]


def relocated_paths(
    taxonomy: Taxonomy, path: str, *, parent: str | None, slug: str
) -> dict[str, str]:
    """Old path → new path for `path` and its subtree when it moves under `parent` (None:
    a root) as `slug`; empty when nothing moves. Raises `TaxonomyError` when `parent` lies
    in the subtree itself, or a new path is taken by another category."""
    category = taxonomy.resolve(path)
    if category is None:
        raise KeyError(path)
    if parent is not None and (parent == category.path or parent.startswith(category.path + "/")):
        raise TaxonomyError(f"{category.path!r} cannot move under itself")
    target = _join(parent, slug)
    if target == category.path:
        return {}
    moved = {c.path: target + c.path[len(category.path) :] for c in taxonomy.subtree(category.path)}
    for new in moved.values():
        if taxonomy.resolve(new) is not None and new not in moved:
            raise TaxonomyError(f"a category {new!r} exists already")
    return moved
