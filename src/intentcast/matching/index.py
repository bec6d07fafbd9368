"""`SubscriptionIndex`: the in-memory accelerator each matcher process holds.

``index.match(intent)`` returns exactly the active subscriptions ``s`` with
``matches(intent, s)`` — the predicate in `intentcast.domain.matching` stays the one
definition of a match; this module only avoids looking at subscriptions that cannot match.

Layout
------
Per subscription, at write time:

* its categories are reduced to the *roots* (a category inside another listed category's
  subtree adds nothing), so the roots are disjoint subtrees and an intent category lies in
  at most one of them;
* its H3 cells (as 64-bit ints) are reduced to an *antichain* (a cell inside another listed
  cell adds nothing to "overlaps one of them"), so for any intent cell at most one of them
  is an ancestor-or-equal of it, and none can be both that and a descendant.

Per category root, a `_Category` holds:

* ``cells``: the subscriptions' cells as three parallel columns sorted by cell — the cell
  with its resolution bits cleared (``array('q')``), the subscription, its `_Check`. With
  the resolution cleared, a cell's unused digits (all ones) sort it *after* all of its
  descendants and right after them: the cells strictly inside an intent cell ``c`` of
  resolution ``r`` are one contiguous range ``[c - low(r), c)``, found with two bisections
  (a coarse intent cell, a buyer hiding in a wide region, finds the areas it contains), and
  the ancestor-or-equal of ``c`` at resolution ``s`` is the single key ``c | low(s)``, one
  bisection per resolution that subscriptions of this category use;
* ``plain``: subscriptions without an area, split by country (``_ANY_COUNTRY`` for those
  naming none), so only the intent's country and the country-less bucket are read.

An intent walks its category's ancestors (``a``, ``a/b``, ``a/b/c``), so a subscription on
``a`` is reached from the whole subtree. An intent whose category k-anonymity generalised
also matches subscriptions inside its category (``category_matches``): for such intents
only, the roots below it (a bisection of the sorted roots) are reached through the same
lookups as the intent's own category (``_reach``), and deduplicated. Thanks to
the reductions above each subscription is reached at most once per intent, except through
the range of a coarse intent cell (several of its cells may lie inside it), which is
deduplicated.

Each subscription has one ``check``: ``None`` when the layout already proves the match (no
constraint beyond category and area / country), else a shared `_Check`: the tuple of
`_Part` left to judge (budget, countries for area subscriptions, one per attribute key, the
keywords, fulfilment), each part shared by all checks naming the same constraint — the
rules are a conjunction, so a check holds iff none of its parts fails. `match` collects the
distinct checks reached, lets `_Parts` find the parts the intent fails by kind, in C but
for a cache miss (a bisection of the budget thresholds of the intent's currency, cached
failures per country and per set of fulfilment modes, the keyword atoms selected by the
intent's words through an inverted index, the offered attribute keys), then judges each
check by one ``isdisjoint`` and keeps the subscriptions of a run whose check holds by
C-level maps (``compress``): the Python work per intent grows with neither the
subscriptions nor the checks reached.

Memory: the index keeps its own copy of each subscription whose parts that repeat (vendor
ids, categories, cells, countries, budgets, attributes, keywords, fulfilment modes) are
shared with the other subscriptions naming the same values (`_Shared`), and a cell costs 24
bytes per subscription in the sorted columns. Writes after the initial build insert into
and delete from those columns (a memmove of the category's columns); the build appends
and sorts each category once, then copies the subscriptions and checks filed in the order
`match` reads them (`_compact`), so that a run's lie side by side in memory.

Subscriptions with a cell that is not a canonical H3 cell string, or a budget minimum that
is not a number (NaN: unordered, no threshold list holds it), are kept aside and checked
with the full predicate on every intent, and an intent whose cell is not canonical or whose
budget maximum is NaN is matched by a full scan — all exceedingly rare (the API admits
neither), and all keep the result exactly the predicate's (errors included).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain, compress, pairwise
from operator import attrgetter
from typing import Any

import h3
import msgspec

from intentcast.domain.matching import (
    MatchableIntent,
    Subscription,
    contains_phrase,
    in_subtree,
    matches,
)

__all__ = ["BULK_CHANGES", "SubscriptionIndex"]

BULK_CHANGES = 1_000
"""`SubscriptionIndex.apply` sorts each touched category once from this many changes on."""

# H3 index bit layout: resolution in bits 52-55, then 15 digits of 3 bits, unused ones = 7.
_RES_SHIFT = 52
_RES_CLEAR = ~(0xF << _RES_SHIFT)
# with the resolution cleared: parent(cell, r) == cell | _LOW[r] (for r <= resolution), and
# the strict descendants of cell at resolution r are the keys in [cell - _LOW[r], cell)
_LOW = tuple((1 << (3 * (15 - r))) - 1 for r in range(16))

_ANY_COUNTRY: Any = object()  # plain-bucket key of subscriptions naming no country

# the values a part judges (see `_Part`)
_part_atoms, _part_a, _part_b = map(attrgetter, ("atoms", "a", "b"))
_CACHED_VERDICTS = 4096  # bound of each per-intent-value cache of failing parts (`_Parts`)
# tags of `_Shared` keys for values looked up by a key other than themselves
_BUDGET_KEY: Any = object()
_ATTRIBUTES_KEY: Any = object()


def _cell_int(cell: str) -> int | None:
    """The H3 index of a canonical cell string (lower-case hex as h3 writes it), else None."""
    try:
        value = int(cell, 16)
    except (TypeError, ValueError):
        return None
    if format(value, "x") != cell or not h3.is_valid_cell(cell):
        return None
    return value


def _distinct(subs: Iterable[Subscription]) -> Iterable[Subscription]:
    """Each subscription once (by identity), in C."""
    subs = list(subs)
    return dict(zip(map(id, subs), subs, strict=True)).values()


def _roots(categories: Iterable[str]) -> list[str]:
    unique = sorted(set(categories), key=len)
    roots: list[str] = []
    for category in unique:
        if not any(in_subtree(category, root) for root in roots):
            roots.append(sys.intern(category))
    return roots


class _Layout:
    """Where one active subscription is filed: its category roots, and either its cells
    (resolution cleared, an antichain) or, without an area, its country keys."""

    __slots__ = ("cells", "countries", "roots", "slow")

    def __init__(
        self,
        roots: list[str],
        cells: list[int] | None,
        countries: tuple[Any, ...] = (),
        slow: bool = False,
    ) -> None:
        self.roots = roots
        self.cells = cells  # None: no area (plain buckets)
        self.countries = countries
        self.slow = slow


def _layout(sub: Subscription) -> _Layout:
    roots = _roots(sub.categories)
    if sub.budget_min is not None and sub.budget_min.is_nan():
        return _Layout(roots, None, slow=True)  # unordered: see `_Parts.failing`
    if not sub.cells:
        countries = tuple(set(sub.countries)) if sub.countries else (_ANY_COUNTRY,)
        return _Layout(roots, None, countries)
    ints: set[int] = set()
    for cell in sub.cells:
        value = _cell_int(cell)
        if value is None:
            return _Layout(roots, None, slow=True)
        ints.add(value & _RES_CLEAR)
    cells: list[int] = []
    for value in ints:
        resolution = _resolution(value)
        if any((value | _LOW[r]) in ints for r in range(resolution)):
            continue  # inside another of its cells: adds nothing
        cells.append(value)
    return _Layout(roots, cells)


def _resolution(cleared: int) -> int:
    """The resolution of a cell with its resolution bits cleared: 15 minus the number of
    trailing unused (all-ones) digits."""
    low = cleared & _LOW[0]
    resolution = 15
    while resolution and (low & 7) == 7:
        low >>= 3
        resolution -= 1
    return resolution


class _Shared:
    """One object per distinct value of the parts of subscriptions that repeat.

    A matcher holds a million subscriptions loaded row by row, so without this each holds
    its own copy of its vendor id, category paths, cell strings, budget, fulfilment set…
    Values no subscription uses any more are dropped when the table has doubled since the
    last sweep (CPython reference counts tell which)."""

    __slots__ = ("_sweep_at", "_values")

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._sweep_at = 1024

    def __len__(self) -> int:
        return len(self._values)

    def __call__(self, key: Any, value: Any = None) -> Any:
        """The shared object equal to `value` (found by `key`, `value` itself by default)."""
        values = self._values
        shared = values.get(key)
        if shared is None:
            shared = values[key] = key if value is None else value
            if len(values) >= self._sweep_at:
                self.sweep()
                self._sweep_at = max(1024, 2 * len(values))
        return shared

    def sweep(self) -> None:
        """Forget the values held by nothing but this table."""
        values = self._values
        for key in list(values):
            value = values[key]
            # references here: the table's value, `value`, getrefcount's argument; when the
            # key is the value also the table's key, the `list(values)` copy and `key`
            if sys.getrefcount(value) <= (6 if key is value else 3):
                del values[key]

    def subscription(self, sub: Subscription) -> Subscription:
        """`sub` with its repeated parts shared (an equal subscription)."""
        budget = sub.budget_min
        attributes = sub.attributes
        return Subscription(
            id=sub.id,
            vendor_id=self(sub.vendor_id),
            categories=self(tuple(map(self, sub.categories))),
            cells=tuple(map(self, sub.cells)),
            countries=self(tuple(map(self, sub.countries))),
            budget_min=None if budget is None else self((_BUDGET_KEY, str(budget)), budget),
            budget_currency=None if sub.budget_currency is None else self(sub.budget_currency),
            attributes=self((_ATTRIBUTES_KEY, *attributes.items()), attributes),
            keywords=self(sub.keywords),
            fulfilment=self(sub.fulfilment),
            active=sub.active,
            max_per_hour=sub.max_per_hour,
        )


class _Cells:
    """Three parallel columns sorted by cell: the cell (resolution cleared), the
    subscription, its check. Unsorted while the index is being built (`sort` ends that)."""

    __slots__ = ("checks", "keys", "subs")

    def __init__(self) -> None:
        self.keys = array("q")
        self.subs: list[Subscription] = []
        self.checks: list[_Check | None] = []

    def __len__(self) -> int:
        return len(self.keys)

    def append(self, key: int, sub: Subscription, check: _Check | None) -> None:
        self.keys.append(key)
        self.subs.append(sub)
        self.checks.append(check)

    def insert(self, key: int, sub: Subscription, check: _Check | None) -> None:
        i = bisect_right(self.keys, key)
        self.keys.insert(i, key)
        self.subs.insert(i, sub)
        self.checks.insert(i, check)

    def delete(self, key: int, sub: Subscription) -> None:
        keys = self.keys
        subs = self.subs
        i = bisect_left(keys, key)
        while i < len(keys) and keys[i] == key:
            if subs[i] is sub:
                del keys[i]
                del subs[i]
                del self.checks[i]
                return
            i += 1

    def sort(self) -> None:
        keys = self.keys
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.keys = array("q", map(keys.__getitem__, order))
        self.subs = list(map(self.subs.__getitem__, order))
        self.checks = list(map(self.checks.__getitem__, order))


class _Plain:
    """Subscriptions without an area under one country key: two parallel lists."""

    __slots__ = ("checks", "subs")

    def __init__(self) -> None:
        self.subs: list[Subscription] = []
        self.checks: list[_Check | None] = []

    def delete(self, sub: Subscription) -> None:
        subs = self.subs
        for i in range(len(subs)):
            if subs[i] is sub:
                del subs[i]
                del self.checks[i]
                return


class _Part:
    """One constraint of the match rules, shared by all checks naming it (budget ``EUR
    100``, fulfilment ``{pickup}``…); `_Parts` finds those an intent fails.

    ``key`` tells the kind: ``("budget", minimum, currency)``, ``("countries", countries)``,
    ``("attribute", key, accepted values)``, ``("keyword", phrase)`` — an *atom*, never a
    check's part itself — ``("keywords", phrases)`` (holds iff one of its ``atoms``, the
    keyword parts of its phrases, does) or ``("fulfilment", modes)``. ``a`` and ``b`` are
    the values judged (see `_Parts.failing`).
    """

    __slots__ = ("a", "atoms", "b", "key", "users")

    def __init__(
        self, key: tuple, a: Any = None, b: Any = None, atoms: tuple[_Part, ...] = ()
    ) -> None:
        self.key = key
        self.a = a
        self.b = b
        self.atoms = atoms
        self.users = 0


class _Check(tuple):
    """The parts left to judge for subscriptions filed alike (a tuple of `_Part`), shared
    by all of them: the rules are a conjunction, so the check holds iff none of its parts
    fails. Hashed by identity, as objects are (a tuple would hash its parts every time):
    there is one check per distinct tuple of parts."""

    __slots__ = ()
    __hash__ = object.__hash__  # C-level, as `object`'s


def _part_keys(sub: Subscription, layout: _Layout) -> tuple[tuple, ...]:
    """The key of each part for the constraints the layout does not prove. An area
    subscription's countries are not proved by its cells; a plain one's are proved by its
    country bucket."""
    keys: list[tuple] = []
    if sub.budget_min is not None:
        keys.append(("budget", sub.budget_min, sub.budget_currency))
    if layout.cells is not None and sub.countries:
        keys.append(("countries", tuple(sorted(set(sub.countries)))))
    for key, accepted in sorted(sub.attributes.items()):
        keys.append(("attribute", key, frozenset(accepted)))
    if sub.keywords:
        keys.append(("keywords", tuple(sorted(set(sub.keywords)))))
    if sub.fulfilment:
        keys.append(("fulfilment", frozenset(sub.fulfilment)))
    return tuple(keys)


class _Parts:
    """The distinct parts of all checks, and per kind what finds those an intent fails.

    Each part fails exactly when `matches_beyond_category` rejects a subscription carrying
    only its constraint (an absent constraint holds):

    * budgets, one ascending threshold list per currency: the intent's shown maximum, one
      bisection in its currency's list, fails every minimum above it;
    * countries and fulfilment modes (few distinct sets): the parts failed by each intent
      country / set of modes, cached until such a part comes or goes;
    * attributes, judged for the parts of the checks reached, and only for the keys the
      intent offers: fails iff no accepted value is offered;
    * keywords, by an inverted index of their atoms: each one-word phrase by its word, each
      longer phrase by its first two words, so the intent's words and pairs of adjacent
      words select the atoms it holds (a phrase confirmed by `contains_phrase`); a keyword
      part reached fails iff it has no atom held.
    """

    __slots__ = (
        "_budget_order",
        "_countries_failed",
        "_fulfilment_failed",
        "attributes",
        "budgets",
        "by_key",
        "countries",
        "fulfilment",
        "keywords",
        "phrases",
        "words",
    )

    def __init__(self) -> None:
        self.by_key: dict[tuple, _Part] = {}
        self.budgets: set[_Part] = set()
        self.countries: set[_Part] = set()
        self.fulfilment: set[_Part] = set()
        self.attributes: set[_Part] = set()
        self.keywords: set[_Part] = set()  # the checks' keyword parts (not the atoms)
        self.words: dict[str, _Part] = {}  # word -> atom of the one-word phrase
        self.phrases: dict[tuple[str, str], list[_Part]] = {}  # first two words -> atoms
        # currency -> (minimums ascending, their parts); None: to be sorted again
        self._budget_order: dict[Any, tuple[list[Any], list[_Part]]] | None = None
        self._countries_failed: dict[Any, tuple[_Part, ...]] = {}
        self._fulfilment_failed: dict[frozenset[str], tuple[_Part, ...]] = {}

    def __len__(self) -> int:
        return len(self.by_key)

    def acquire(self, key: tuple) -> _Part:
        """The part with this key (made if new), counting one more user."""
        part = self.by_key.get(key)
        if part is None:
            part = self.by_key[key] = self._new(key)
        part.users += 1
        return part

    def _new(self, key: tuple) -> _Part:
        kind = key[0]
        if kind == "budget":
            part = _Part(key, key[1], key[2])
            self.budgets.add(part)
            self._budget_order = None
        elif kind == "countries":
            part = _Part(key, frozenset(key[1]))
            self.countries.add(part)
            self._countries_failed.clear()
        elif kind == "attribute":
            part = _Part(key, key[1], key[2])
            self.attributes.add(part)
        elif kind == "keywords":
            part = _Part(key, atoms=tuple(self.acquire(("keyword", p)) for p in key[1]))
            self.keywords.add(part)
        elif kind == "keyword":
            phrase = key[1]
            part = _Part(key, phrase)
            if len(phrase) == 1:
                self.words[phrase[0]] = part
            elif phrase:  # an empty phrase is in no text: indexed nowhere, never held
                self.phrases.setdefault(phrase[:2], []).append(part)
        else:
            part = _Part(key, key[1])
            self.fulfilment.add(part)
            self._fulfilment_failed.clear()
        return part

    def release(self, part: _Part) -> None:
        """One user fewer; the last one gone, forget the part."""
        part.users -= 1
        if part.users:
            return
        del self.by_key[part.key]
        kind = part.key[0]
        if kind == "budget":
            self.budgets.remove(part)
            self._budget_order = None
        elif kind == "countries":
            self.countries.remove(part)
            self._countries_failed.clear()
        elif kind == "attribute":
            self.attributes.remove(part)
        elif kind == "keywords":
            self.keywords.remove(part)
            for atom in part.atoms:
                self.release(atom)
        elif kind == "keyword":
            phrase = part.a
            if len(phrase) == 1:
                del self.words[phrase[0]]
            elif phrase:
                atoms = self.phrases[phrase[:2]]
                atoms.remove(part)
                if not atoms:
                    del self.phrases[phrase[:2]]
        elif kind == "fulfilment":
            self.fulfilment.remove(part)
            self._fulfilment_failed.clear()

    def failing(self, intent: MatchableIntent, reached: list[_Check]) -> set[_Part]:
        """Parts the intent fails: all such budget, country and fulfilment parts, and the
        failing keyword and attribute parts of the checks `reached`. C-level maps but for a
        cache miss and a phrase to confirm."""
        failing: set[_Part] = set()
        budget_max = intent.budget_max
        if budget_max is not None and self.budgets:
            order = self._budget_order
            if order is None:
                order = self._budget_order = self._sort_budgets()
            thresholds = order.get(intent.budget_currency)
            if thresholds is not None:
                minimums, parts = thresholds
                # fails iff budget_max < minimum, as the predicate compares
                failing.update(parts[bisect_right(minimums, budget_max) :])
        if self.countries:
            failing.update(self._failed_by_country(intent.country))
        modes = intent.fulfilment
        if modes and self.fulfilment:
            failing.update(self._failed_by_modes(frozenset(modes)))
        offers = intent.attributes
        reached_parts = {*chain.from_iterable(reached)}
        if offers and self.attributes:
            attribute_parts = [*reached_parts & self.attributes]
            judged = [
                *compress(attribute_parts, map(offers.__contains__, map(_part_a, attribute_parts)))
            ]
            offered = map(offers.__getitem__, map(_part_a, judged))
            failing.update(
                compress(judged, map(frozenset.isdisjoint, map(_part_b, judged), offered))
            )
        keyword_parts = reached_parts & self.keywords
        if keyword_parts:
            held = self._atoms_held(intent.words)
            judged = [*keyword_parts]
            failing.update(compress(judged, map(held.isdisjoint, map(_part_atoms, judged))))
        return failing

    def _sort_budgets(self) -> dict[Any, tuple[list[Any], list[_Part]]]:
        by_currency: dict[Any, list[_Part]] = {}
        for part in self.budgets:
            by_currency.setdefault(part.b, []).append(part)
        order = {}
        for currency, parts in by_currency.items():
            parts.sort(key=_part_a)
            order[currency] = ([p.a for p in parts], parts)
        return order

    def _failed_by_country(self, country: Any) -> tuple[_Part, ...]:
        failed = self._countries_failed.get(country)
        if failed is None:
            if len(self._countries_failed) >= _CACHED_VERDICTS:
                self._countries_failed.clear()
            failed = tuple(p for p in self.countries if country not in p.a)
            self._countries_failed[country] = failed
        return failed

    def _failed_by_modes(self, modes: frozenset[str]) -> tuple[_Part, ...]:
        failed = self._fulfilment_failed.get(modes)
        if failed is None:
            if len(self._fulfilment_failed) >= _CACHED_VERDICTS:
                self._fulfilment_failed.clear()
            failed = tuple(p for p in self.fulfilment if modes.isdisjoint(p.a))
            self._fulfilment_failed[modes] = failed
        return failed

    def _atoms_held(self, words: tuple[str, ...]) -> set[_Part | None]:
        held: set[_Part | None] = {*map(self.words.get, words)}
        if self.phrases:
            for atoms in filter(None, map(self.phrases.get, pairwise(words))):
                held.update(atom for atom in atoms if contains_phrase(words, atom.a))
        return held


class _Category:
    """The subscriptions of one category root: by cell, and without an area by country."""

    __slots__ = ("cells", "plain", "res", "res_counts")

    def __init__(self) -> None:
        self.cells = _Cells()
        self.plain: dict[Any, _Plain] = {}
        self.res_counts = [0] * 16
        self.res: tuple[int, ...] = ()  # resolutions of the cells, ascending

    def count_resolution(self, resolution: int, delta: int) -> None:
        counts = self.res_counts
        before = counts[resolution]
        counts[resolution] = before + delta
        if (before == 0) != (counts[resolution] == 0):
            self.res = tuple(r for r in range(16) if counts[r])

    def empty(self) -> bool:
        return not (self.cells or self.plain)


def _reach(
    node: _Category,
    country: str | None,
    cell: int,
    resolution: int,
    found: Any,
    inside: Any,
) -> None:
    """The runs of ``node`` an intent in ``country`` and ``cell`` (-1: none) at
    ``resolution`` reaches: ``found`` gets those of its country (or any country) and of the
    cells holding the intent's, ``inside`` those of the cells inside the intent's (a coarse
    intent cell; a subscription may be there more than once)."""
    plain = node.plain
    if plain:
        bucket = plain.get(_ANY_COUNTRY)
        if bucket is not None:
            found((bucket.subs, bucket.checks))
        bucket = plain.get(country)
        if bucket is not None:
            found((bucket.subs, bucket.checks))
    if cell >= 0 and node.res:
        columns = node.cells
        keys = columns.keys
        size = len(keys)
        for r in node.res:
            if r > resolution:  # finer cells: those inside the intent's
                lo = bisect_left(keys, cell - _LOW[resolution])
                hi = bisect_left(keys, cell, lo)
                if lo < hi:
                    inside((columns.subs[lo:hi], columns.checks[lo:hi]))
                break
            key = cell | _LOW[r]
            lo = bisect_left(keys, key)
            if lo < size and keys[lo] == key:
                hi = lo + 1
                if hi < size and keys[hi] == key:
                    hi = bisect_right(keys, key, hi)
                found((columns.subs[lo:hi], columns.checks[lo:hi]))


class SubscriptionIndex:
    """All subscriptions of a matcher, indexed by category root and H3 cell.

    Holds inactive subscriptions too (`get`, iteration and ``len`` see them) but never
    returns them from `match`. What it holds and returns are its own copies of the
    subscriptions given (equal to them, sharing repeated parts: see the module docstring).
    """

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._subs: dict[str, Subscription] = {}
        self._categories: dict[str, _Category] = {}
        self._roots_sorted: list[str] | None = None  # the categories' roots, for prefixes
        self._slow: dict[str, Subscription] = {}
        self._checks: dict[tuple, _Check] = {}  # by the keys of its parts
        self._check_users: dict[tuple, int] = {}
        self._parts = _Parts()
        self._shared = _Shared()
        self._unsorted: set[_Category] | None = set()  # None once built
        for sub in subscriptions:
            self.upsert(sub)
        self._sort()
        self._unsorted = None
        self._compact()

    # ------------------------------------------------------------------ container API

    def __len__(self) -> int:
        return len(self._subs)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._subs.values())

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._subs

    def get(self, sub_id: str) -> Subscription | None:
        return self._subs.get(sub_id)

    # ------------------------------------------------------------------ writes

    def upsert(self, sub: Subscription) -> None:
        """Add `sub`, replacing the subscription with the same id if there is one."""
        if sub.id in self._subs:
            self.remove(sub.id)
        sub = self._shared.subscription(sub)
        self._subs[sub.id] = sub
        if not sub.active:
            return
        layout = _layout(sub)
        if layout.slow:
            self._slow[sub.id] = sub
            return
        check = self._check_for(sub, layout)
        categories = self._categories
        unsorted = self._unsorted
        for root in layout.roots:
            category = categories.get(root)
            if category is None:
                category = categories[root] = _Category()
                self._roots_sorted = None
            if layout.cells is None:
                for country in layout.countries:
                    plain = category.plain.get(country)
                    if plain is None:
                        plain = category.plain[country] = _Plain()
                    plain.subs.append(sub)
                    plain.checks.append(check)
                continue
            cells = category.cells
            for cell in layout.cells:
                if unsorted is None:
                    cells.insert(cell, sub, check)
                else:
                    cells.append(cell, sub, check)
                category.count_resolution(_resolution(cell), 1)
            if unsorted is not None:
                unsorted.add(category)

    def apply(self, changes: Iterable[Subscription]) -> None:
        """Apply a batch of changes in order: an active subscription is upserted, an inactive
        one removed. A batch of at least ``BULK_CHANGES`` files its cells as the build does —
        appended, then each category it touched sorted once — instead of one sorted insert
        per cell (a memmove of the category's columns each: ~1 ms per subscription once a
        category holds a few thousand subscriptions with dozens of cells)."""
        latest = {sub.id: sub for sub in changes}  # an id's last change is what holds
        if len(latest) < BULK_CHANGES:
            for sub in latest.values():
                if sub.active:
                    self.upsert(sub)
                else:
                    self.remove(sub.id)
            return
        for sub_id in latest:  # while the columns are sorted (removal bisects them)
            self.remove(sub_id)
        self._unsorted = set()
        try:
            for sub in latest.values():
                if sub.active:
                    self.upsert(sub)
        finally:
            self._sort()
            self._unsorted = None

    def remove(self, sub_id: str) -> None:
        """Forget the subscription `sub_id` (nothing happens if it is unknown)."""
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return
        if self._slow.pop(sub_id, None) is not None or not sub.active:
            return
        layout = _layout(sub)
        key = _part_keys(sub, layout)
        if key:
            self._release(key)
        self._sort()  # a duplicate id while building: find its cells by bisection
        categories = self._categories
        for root in layout.roots:
            category = categories.get(root)
            if category is None:  # pragma: no cover - upsert filed it
                continue
            if layout.cells is None:
                for country in layout.countries:
                    plain = category.plain.get(country)
                    if plain is not None:
                        plain.delete(sub)
                        if not plain.subs:
                            del category.plain[country]
            else:
                for cell in layout.cells:
                    category.cells.delete(cell, sub)
                    category.count_resolution(_resolution(cell), -1)
            if category.empty():
                del categories[root]
                self._roots_sorted = None

    def _sort(self) -> None:
        if self._unsorted:
            for category in self._unsorted:
                category.cells.sort()
            self._unsorted.clear()

    def _compact(self) -> None:
        """Copy the subscriptions and checks filed, in the order `match` reads them.

        Built row by row, they lie scattered over the heap, and matching an intent costs a
        cache miss for nearly every subscription and check it reaches. Copied column by
        column, the subscriptions of a run (one cell, one country bucket) lie side by side;
        the originals are freed when the copies replace them."""
        subs = self._subs
        copies: dict[str, Subscription] = {}
        checks: dict[_Check, _Check] = {}

        def copy_sub(sub: Subscription) -> Subscription:
            copied = copies.get(sub.id)
            if copied is None:
                copied = copies[sub.id] = msgspec.structs.replace(sub)
            return copied

        def copy_check(check: _Check | None) -> _Check | None:
            if check is None:
                return None
            copied = checks.get(check)
            if copied is None:
                copied = checks[check] = _Check(check)
            return copied

        columns: list[_Cells | _Plain] = []
        for category in self._categories.values():
            columns.append(category.cells)
            columns.extend(category.plain.values())
        for column in columns:
            column.subs = list(map(copy_sub, column.subs))
            column.checks = list(map(copy_check, column.checks))
        self._subs = {sub_id: copies.get(sub_id, sub) for sub_id, sub in subs.items()}
        self._checks = {key: checks.get(check, check) for key, check in self._checks.items()}

    def _check_for(self, sub: Subscription, layout: _Layout) -> _Check | None:
        key = _part_keys(sub, layout)
        if not key:
            return None
        check = self._checks.get(key)
        if check is None:
            check = self._checks[key] = _Check(map(self._parts.acquire, key))
        self._check_users[key] = self._check_users.get(key, 0) + 1
        return check

    def _release(self, key: tuple) -> None:
        users = self._check_users[key] - 1
        if users:
            self._check_users[key] = users
            return
        del self._check_users[key]
        for part in self._checks.pop(key):
            self._parts.release(part)

    # ------------------------------------------------------------------ reads

    def match(self, intent: MatchableIntent) -> list[Subscription]:
        """Exactly the active subscriptions ``s`` with ``matches(intent, s)``, in no order."""
        cell = -1
        resolution = 0
        if intent.budget_max is not None and intent.budget_max.is_nan():
            return self._scan(intent)  # unordered: the predicate's own error, if any
        if intent.cell is not None:
            value = _cell_int(intent.cell)
            if value is None:
                return self._scan(intent)
            cell = value & _RES_CLEAR
            resolution = (value >> _RES_SHIFT) & 0xF
        categories = self._categories
        category = intent.category
        country = intent.country
        # runs of (subscriptions, their checks) reached; those `inside` the intent's cell
        # may hold a subscription more than once (several of its cells in there)
        runs: list[tuple[list[Subscription], list[_Check | None]]] = []
        found = runs.append
        inside: list[tuple[list[Subscription], list[_Check | None]]] = []
        start = 0
        while True:
            cut = category.find("/", start)
            node = categories.get(category if cut < 0 else category[:cut])
            if node is not None:
                _reach(node, country, cell, resolution, found, inside.append)
            if cut < 0:
                break
            start = cut + 1
        # an intent whose category k-anonymity generalised also reaches the subscriptions
        # filed under a root inside that category (``category_matches``), through the same
        # lookups; a subscription under two such roots is reached twice: deduplicated
        beneath: list[tuple[list[Subscription], list[_Check | None]]] = []
        if intent.generalised:
            for root in self._roots_inside(category):
                _reach(categories[root], country, cell, resolution, beneath.append, beneath.append)
        pending: set[_Check | None] = set()
        for _, checks in runs:
            pending.update(checks)
        for _, checks in inside:
            pending.update(checks)
        for _, checks in beneath:
            pending.update(checks)
        pending.discard(None)
        reached = [*pending]
        failing = self._parts.failing(intent, reached) if reached else None
        out: list[Subscription] = []
        extend = out.extend
        if failing:
            # per check and per subscription only C-level maps
            verdicts: dict[_Check | None, bool] = dict(
                zip(reached, map(failing.isdisjoint, reached), strict=True)
            )
            verdicts[None] = True
            verdict_of = verdicts.__getitem__
            for subs, checks in runs:
                extend(compress(subs, map(verdict_of, checks)))
            for subs, checks in inside:
                extend(_distinct(compress(subs, map(verdict_of, checks))))
            if beneath:
                extend(
                    _distinct(
                        chain.from_iterable(compress(s, map(verdict_of, c)) for s, c in beneath)
                    )
                )
        else:
            for subs, _ in runs:
                extend(subs)
            for subs, _ in inside:
                extend(_distinct(subs))
            if beneath:
                extend(_distinct(chain.from_iterable(subs for subs, _ in beneath)))
        if self._slow:
            out.extend(s for s in self._slow.values() if matches(intent, s))
        return out

    def _roots_inside(self, category: str) -> list[str]:
        """The category roots strictly inside ``category`` (a bisection of the sorted
        roots, rebuilt after a root is added or removed)."""
        roots = self._roots_sorted
        if roots is None:
            roots = self._roots_sorted = sorted(self._categories)
        prefix = category + "/"
        lo = bisect_left(roots, prefix)
        hi = bisect_left(roots, prefix[:-1] + chr(ord("/") + 1), lo)
        return roots[lo:hi]

    def _scan(self, intent: MatchableIntent) -> list[Subscription]:
        return [s for s in self._subs.values() if s.active and matches(intent, s)]
