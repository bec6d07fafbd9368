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
``a`` is reached from the whole subtree. Thanks to the reductions above each subscription is
reached at most once per intent, except through the range of a coarse intent cell (several
of its cells may lie inside it), which is deduplicated.

Each subscription has one ``check``: ``None`` when the layout already proves the match (no
constraint beyond category and area / country), else a shared `_Check`: the constraints left
(budget, countries for area subscriptions, attributes, keywords, fulfilment) as at most one
`_Part` of each kind, each a bare subscription carrying just that constraint — the rules are
a conjunction, so the leftovers hold iff every part does. `match` judges each distinct part
of a kind once per intent, inline, with the very test `matches_beyond_category` applies to
that bare subscription (a kind the intent cannot fail — no attributes offered, no modes
named, no budget shown — is skipped); the verdicts of all checks reached are then combined,
and the subscriptions of a run whose check holds kept, by C-level maps (``compress``): the
Python work per intent grows with the distinct constraints reached, not the subscriptions.

Memory: the index keeps its own copy of each subscription whose parts that repeat (vendor
ids, categories, cells, countries, budgets, attributes, keywords, fulfilment modes) are
shared with the other subscriptions naming the same values (`_Shared`), and a cell costs 24
bytes per subscription in the sorted columns. Writes after the initial build insert into
and delete from those columns (a memmove of the category's columns); the build appends
and sorts each category once.

Subscriptions with a cell that is not a canonical H3 cell string are kept aside and checked
with the full predicate on every intent, and an intent whose cell is not canonical is
matched by a full scan — both exceedingly rare, and both keep the result exactly the
predicate's (errors included).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import compress
from operator import and_, attrgetter
from typing import Any

import h3

from intentcast.domain.matching import (
    MatchableIntent,
    Subscription,
    contains_phrase,
    in_subtree,
    matches,
)

__all__ = ["SubscriptionIndex"]

# H3 index bit layout: resolution in bits 52-55, then 15 digits of 3 bits, unused ones = 7.
_RES_SHIFT = 52
_RES_CLEAR = ~(0xF << _RES_SHIFT)
# with the resolution cleared: parent(cell, r) == cell | _LOW[r] (for r <= resolution), and
# the strict descendants of cell at resolution r are the keys in [cell - _LOW[r], cell)
_LOW = tuple((1 << (3 * (15 - r))) - 1 for r in range(16))

_ANY_COUNTRY: Any = object()  # plain-bucket key of subscriptions naming no country

# Part kinds (`_Part.kind`): how `match` judges a part, each exactly as
# `matches_beyond_category` judges that one constraint of the bare subscription.
_COUNTRIES = 0  # a: frozenset of countries; holds iff intent.country in a
_BUDGET = 1  # a: budget_min, b: currency; fails iff a shown max in b is below a
_ATTRIBUTE = 2  # a: key, b: accepted values; fails iff the intent offers a and no value of b
_WORD = 3  # a: one single-word keyword; holds iff a is one of intent.words
_PHRASE = 4  # a: a phrase of 2+ words; holds iff contains_phrase(intent.words, a)
_ANY_OF = 5  # keywords: holds iff one of `any_of` does
_FULFILMENT = 6  # a: frozenset of modes; fails iff the intent names modes and none of a
_ALL_OF = 7  # attributes naming several keys: holds iff each of `any_of` (one per key) does
_NO_WORD: Any = object()
# a check's factor of each kind (see `_Check`)
_FACTORS = ("budget", "countries", "attributes", "keywords", "fulfilment")
_budget_of, _countries_of, _attributes_of, _keywords_of, _fulfilment_of = map(attrgetter, _FACTORS)
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
    """One constraint of the match rules, as a bare subscription carrying only it.

    The rules are a conjunction ("all of which must hold"; an absent constraint holds), so a
    subscription's leftover constraints hold iff each part does, each judged (inline, by
    ``kind``) as `matches_beyond_category` would judge ``sub``. Parts are shared by all
    subscriptions naming the same constraint (budget ``EUR 100``, fulfilment ``{pickup}``…),
    so an intent judges each distinct part once, however many subscriptions it reaches.
    """

    __slots__ = ("a", "any_of", "b", "key", "kind", "sub", "users")

    def __init__(self, key: tuple, sub: Subscription, any_of: tuple[_Part, ...] = ()) -> None:
        self.key = key
        self.sub = sub
        self.users = 0
        # keywords: the rule wants any one of them, so the part holds iff one of these
        # single-keyword parts does (shared across subscriptions naming that keyword)
        self.any_of = any_of
        # how `match` judges it inline (see the kinds above): the same test as
        # `matches_beyond_category(intent, sub)`, without the call and the absent rules
        self.a: Any = None
        self.b: Any = None
        if any_of:
            self.kind = _ALL_OF if key[0] == "attributes" else _ANY_OF
        elif sub.countries:
            self.kind = _COUNTRIES
            self.a = frozenset(sub.countries)
        elif sub.budget_min is not None:
            self.kind = _BUDGET
            self.a = sub.budget_min
            self.b = sub.budget_currency
        elif sub.attributes:
            self.kind = _ATTRIBUTE
            ((self.a, self.b),) = sub.attributes.items()
        elif sub.keywords:
            (phrase,) = sub.keywords
            if len(phrase) <= 1:
                self.kind = _WORD
                # an empty phrase is in no text: a "word" no intent has (compares unequal)
                self.a = phrase[0] if phrase else _NO_WORD
            else:
                self.kind = _PHRASE
                self.a = phrase
        else:
            self.kind = _FULFILMENT
            self.a = sub.fulfilment


class _Check:
    """The parts left to judge for subscriptions filed alike, shared by all of them.

    At most one part of each kind (`_FACTORS`: several attributes are one `_ALL_OF` part,
    several keywords one `_ANY_OF` part), so `match` judges each distinct part of a kind
    once per intent and combines the verdicts of all checks reached with C-level maps.
    """

    __slots__ = (
        "attributes",
        "budget",
        "countries",
        "fulfilment",
        "key",
        "keywords",
        "parts",
        "users",
    )

    def __init__(self, key: tuple, parts: tuple[_Part, ...]) -> None:
        self.key = key
        self.parts = parts
        self.users = 0
        self.budget: _Part | None = None
        self.countries: _Part | None = None
        self.attributes: _Part | None = None
        self.keywords: _Part | None = None
        self.fulfilment: _Part | None = None
        for part in parts:
            kind = part.kind
            if kind == _BUDGET:
                self.budget = part
            elif kind == _COUNTRIES:
                self.countries = part
            elif kind in (_ATTRIBUTE, _ALL_OF):
                self.attributes = part
            elif kind == _FULFILMENT:
                self.fulfilment = part
            else:
                self.keywords = part


def _part_specs(sub: Subscription, layout: _Layout) -> list[tuple[tuple, dict[str, Any]]]:
    """(hashable key, fields of the bare subscription) for each constraint the layout does
    not prove. An area subscription's countries are not proved by its cells; a plain one's
    are proved by its country bucket."""
    specs: list[tuple[tuple, dict[str, Any]]] = []
    if sub.budget_min is not None:  # first: see `_Check`
        specs.append(
            (
                ("budget", sub.budget_min, sub.budget_currency),
                {"budget_min": sub.budget_min, "budget_currency": sub.budget_currency},
            )
        )
    if layout.cells is not None and sub.countries:
        countries = tuple(sorted(set(sub.countries)))
        specs.append((("countries", countries), {"countries": countries}))
    if sub.attributes:
        specs.append(
            (("attributes", *sub.attributes.items()), {"attributes": dict(sub.attributes)})
        )
    if sub.keywords:
        keywords = tuple(sorted(set(sub.keywords)))
        specs.append((("keywords", keywords), {"keywords": keywords}))
    if sub.fulfilment:
        specs.append((("fulfilment", sub.fulfilment), {"fulfilment": sub.fulfilment}))
    return specs


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


class SubscriptionIndex:
    """All subscriptions of a matcher, indexed by category root and H3 cell.

    Holds inactive subscriptions too (`get`, iteration and ``len`` see them) but never
    returns them from `match`. What it holds and returns are its own copies of the
    subscriptions given (equal to them, sharing repeated parts: see the module docstring).
    """

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._subs: dict[str, Subscription] = {}
        self._categories: dict[str, _Category] = {}
        self._slow: dict[str, Subscription] = {}
        self._checks: dict[tuple, _Check] = {}
        self._parts: dict[tuple, _Part] = {}
        self._shared = _Shared()
        self._unsorted: set[_Category] | None = set()  # None once built
        for sub in subscriptions:
            self.upsert(sub)
        self._sort()
        self._unsorted = None

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

    def remove(self, sub_id: str) -> None:
        """Forget the subscription `sub_id` (nothing happens if it is unknown)."""
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return
        if self._slow.pop(sub_id, None) is not None or not sub.active:
            return
        layout = _layout(sub)
        specs = _part_specs(sub, layout)
        if specs:
            self._release(self._checks[tuple(k for k, _ in specs)])
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

    def _sort(self) -> None:
        if self._unsorted:
            for category in self._unsorted:
                category.cells.sort()
            self._unsorted.clear()

    def _check_for(self, sub: Subscription, layout: _Layout) -> _Check | None:
        specs = _part_specs(sub, layout)
        if not specs:
            return None
        key = tuple(k for k, _ in specs)
        check = self._checks.get(key)
        if check is None:
            parts = []
            for part_key, fields in specs:
                part = self._parts.get(part_key)
                if part is None:
                    any_of: tuple[_Part, ...] = ()
                    if part_key[0] == "keywords" and len(fields["keywords"]) > 1:
                        any_of = tuple(
                            self._part(("keyword", k), {"keywords": (k,)})
                            for k in fields["keywords"]
                        )
                    elif part_key[0] == "attributes" and len(fields["attributes"]) > 1:
                        any_of = tuple(
                            self._part(("attribute", k, v), {"attributes": {k: v}})
                            for k, v in fields["attributes"].items()
                        )
                    bare = Subscription(id="", vendor_id="", categories=(), **fields)
                    part = self._parts[part_key] = _Part(part_key, bare, any_of)
                part.users += 1
                parts.append(part)
            check = self._checks[key] = _Check(key, tuple(parts))
        check.users += 1
        return check

    def _part(self, key: tuple, fields: dict[str, Any]) -> _Part:
        part = self._parts.get(key)
        if part is None:
            bare = Subscription(id="", vendor_id="", categories=(), **fields)
            part = self._parts[key] = _Part(key, bare)
        part.users += 1
        return part

    def _release(self, check: _Check | None) -> None:
        if check is None:
            return
        check.users -= 1
        if check.users:
            return
        del self._checks[check.key]
        for part in check.parts:
            self._release_part(part)

    def _release_part(self, part: _Part) -> None:
        part.users -= 1
        if not part.users:
            del self._parts[part.key]
            for atom in part.any_of:
                self._release_part(atom)

    # ------------------------------------------------------------------ reads

    def match(self, intent: MatchableIntent) -> list[Subscription]:
        """Exactly the active subscriptions ``s`` with ``matches(intent, s)``, in no order."""
        cell = -1
        resolution = 0
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
                                inside.append((columns.subs[lo:hi], columns.checks[lo:hi]))
                            break
                        key = cell | _LOW[r]
                        lo = bisect_left(keys, key)
                        if lo < size and keys[lo] == key:
                            hi = lo + 1
                            if hi < size and keys[hi] == key:
                                hi = bisect_right(keys, key, hi)
                            found((columns.subs[lo:hi], columns.checks[lo:hi]))
            if cut < 0:
                break
            start = cut + 1
        out: list[Subscription] = []
        keep = out.append
        extend = out.extend
        verdicts: dict[_Check | None, bool] = {None: True}
        words = intent.words
        offers = intent.attributes
        modes = intent.fulfilment
        budget_max = intent.budget_max
        currency = intent.budget_currency

        def keyword_held(part: _Part) -> bool:
            kind = part.kind
            if kind == _WORD:
                return part.a in words
            if kind == _PHRASE:
                return part.a[0] in words and contains_phrase(words, part.a)
            for atom in part.any_of:
                if atom.kind == _WORD:
                    if atom.a in words:
                        return True
                elif atom.a[0] in words and contains_phrase(words, atom.a):
                    return True
            return False

        def attribute_held(part: _Part) -> bool:
            if part.kind == _ALL_OF:
                return all(map(attribute_held, part.any_of))
            offered = offers.get(part.a)
            return offered is None or bool(offered & part.b)

        pending: set[_Check | None] = set()
        for _, checks in runs:
            pending.update(checks)
        for _, checks in inside:
            pending.update(checks)
        pending.discard(None)
        if pending:
            # Python once per distinct part of each kind; per check and per subscription
            # only C-level maps. A kind the intent cannot fail (no attributes offered, no
            # modes named, no budget shown) is not looked at.
            reached = list(pending)
            columns = []
            for factor, wanted in (
                (_budget_of, budget_max is not None),
                (_countries_of, True),
                (_attributes_of, bool(offers)),
                (_keywords_of, True),
                (_fulfilment_of, bool(modes)),
            ):
                if not wanted:
                    continue
                parts = {*map(factor, reached)}
                parts.discard(None)
                if not parts:
                    continue
                held: dict[_Part | None, bool] = {None: True}
                if factor is _budget_of:
                    for part in parts:
                        held[part] = not (currency == part.b and budget_max < part.a)  # type: ignore[operator]
                elif factor is _countries_of:
                    for part in parts:
                        held[part] = country in part.a
                elif factor is _attributes_of:
                    for part in parts:
                        held[part] = attribute_held(part)
                elif factor is _keywords_of:
                    for part in parts:
                        held[part] = keyword_held(part)
                else:
                    for part in parts:
                        held[part] = bool(part.a & modes)
                columns.append(map(held.__getitem__, map(factor, reached)))
            if not columns:
                verdicts.update(dict.fromkeys(reached, True))
            else:
                holds = columns[0]
                for column in columns[1:]:
                    holds = map(and_, holds, column)
                verdicts.update(zip(reached, holds, strict=True))
        verdict_of = verdicts.__getitem__
        for subs, checks in runs:
            if len(subs) == 1:
                if verdict_of(checks[0]):
                    keep(subs[0])
            else:
                extend(compress(subs, map(verdict_of, checks)))
        for subs, checks in inside:
            kept = list(compress(subs, map(verdict_of, checks)))
            extend(dict(zip(map(id, kept), kept, strict=True)).values())
        if self._slow:
            out.extend(s for s in self._slow.values() if matches(intent, s))
        return out

    def _scan(self, intent: MatchableIntent) -> list[Subscription]:
        return [s for s in self._subs.values() if s.active and matches(intent, s)]
