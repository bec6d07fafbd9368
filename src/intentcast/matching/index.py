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

* ``exact``: cell -> subscriptions having that cell. An intent cell ``c`` at resolution
  ``r`` finds the subscriptions whose cell is an ancestor-or-equal of ``c`` with one lookup
  per resolution that subscriptions of this category use (``parent(c, s)`` for each such
  ``s <= r``, a few integer operations each);
* ``coarse``: cell -> subscriptions having a cell strictly *inside* it (each cell is filed
  under all its proper ancestors, deduplicated per subscription). A coarse intent cell (a
  buyer hiding in a wide region) finds the areas it contains with one lookup, only when the
  category has cells finer than the intent's;
* ``plain``: subscriptions without an area, split by country (``_ANY_COUNTRY`` for those
  naming none), so only the intent's country and the country-less bucket are read.

An intent walks its category's ancestors (``a``, ``a/b``, ``a/b/c``), so a subscription on
``a`` is reached from the whole subtree. Thanks to the reductions above each subscription is
reached at most once per intent: no deduplication is needed.

Each subscription has one entry ``(subscription, check)``. ``check`` is ``None`` when the
layout already proves the match (no constraint beyond category and area / country), else a
shared `_Check`: the constraints left (budget, each attribute, keywords, fulfilment, and
countries for area subscriptions) as `_Part` s, each a bare subscription carrying just that
constraint — the rules are a conjunction, so the leftovers hold iff every part does. `match`
judges a part inline by its kind, with the very test `matches_beyond_category` applies to
that bare subscription (no call, no absent rules to skip). Subscriptions share checks and
parts by value, and an intent judges each distinct check and part once, however many
subscriptions it reaches (a check's leading budget part is simply compared each time).

A bucket is the entry itself while it holds one subscription (most keys), a list of entries
up to `_BIG`, then a dict ``{check: {id: subscription}}``: a crowded bucket costs one
verdict per distinct check plus a C-level ``extend``, and removal from it is O(1). Upsert
and removal touch only the keys of that subscription.

Subscriptions with a cell that is not a canonical H3 cell string are kept aside and checked
with the full predicate on every intent, and an intent whose cell is not canonical is
matched by a full scan — both exceedingly rare, and both keep the result exactly the
predicate's (errors included).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
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

__all__ = ["SubscriptionIndex"]

# H3 index bit layout: resolution in bits 52-55, then 15 digits of 3 bits, unused ones = 7.
_RES_SHIFT = 52
_RES_CLEAR = ~(0xF << _RES_SHIFT)
# parent(cell, r) == (cell & _RES_CLEAR) | _PARENT_BITS[r], for r <= resolution(cell)
_PARENT_BITS = tuple((r << _RES_SHIFT) | ((1 << (3 * (15 - r))) - 1) for r in range(16))
_BIG = 24  # a bucket with more entries than this becomes a dict keyed by subscription id

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
_NO_WORD: Any = object()

Entry = tuple[Subscription, "_Check | None"]
# small: a list of entries; crowded: {check: {id: subscription}} (see the module docstring)
Bucket = Entry | list[Entry] | dict["_Check | None", dict[str, Subscription]]


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


class _Layout(msgspec.Struct, frozen=True):
    """Where one active subscription is filed."""

    roots: list[str]
    exact: list[int] | None  # None: no area (plain buckets)
    coarse: set[int]
    countries: tuple[Any, ...]
    slow: bool = False


def _layout(sub: Subscription) -> _Layout:
    roots = _roots(sub.categories)
    if not sub.cells:
        countries = tuple(set(sub.countries)) if sub.countries else (_ANY_COUNTRY,)
        return _Layout(roots, None, set(), countries)
    ints: set[int] = set()
    for cell in sub.cells:
        value = _cell_int(cell)
        if value is None:
            return _Layout(roots, None, set(), (), slow=True)
        ints.add(value)
    exact: list[int] = []
    coarse: set[int] = set()
    for value in ints:
        base = value & _RES_CLEAR
        resolution = (value >> _RES_SHIFT) & 0xF
        ancestors = [base | _PARENT_BITS[r] for r in range(resolution)]
        if any(a in ints for a in ancestors):
            continue  # inside another of its cells: adds nothing
        exact.append(value)
        coarse.update(ancestors)
    return _Layout(roots, exact, coarse, ())


def _add(buckets: dict[Any, Bucket], key: Any, entry: Entry) -> None:
    bucket = buckets.get(key)
    if bucket is None:
        buckets[key] = entry  # most keys hold one subscription: the entry is the bucket
    elif type(bucket) is tuple:
        buckets[key] = [bucket, entry]
    elif type(bucket) is list:
        bucket.append(entry)
        if len(bucket) > _BIG:
            groups: dict[_Check | None, dict[str, Subscription]] = {}
            for sub, check in bucket:
                groups.setdefault(check, {})[sub.id] = sub
            buckets[key] = groups
    else:
        sub, check = entry
        group = bucket.get(check)  # type: ignore[union-attr]
        if group is None:
            bucket[check] = {sub.id: sub}  # type: ignore[index]
        else:
            group[sub.id] = sub


def _discard(buckets: dict[Any, Bucket], key: Any, entry: Entry) -> None:
    bucket = buckets.get(key)
    if bucket is None:
        return
    if type(bucket) is tuple:
        if bucket is entry:
            del buckets[key]
        return
    if type(bucket) is list:
        for i, e in enumerate(bucket):
            if e is entry:
                del bucket[i]
                break
        if len(bucket) == 1:
            buckets[key] = bucket[0]
        return
    sub, check = entry
    group = bucket.get(check)  # type: ignore[union-attr]
    if group is not None:
        group.pop(sub.id, None)
        if not group:
            del bucket[check]  # type: ignore[union-attr]
            if not bucket:
                del buckets[key]


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
            self.kind = _ANY_OF
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
    """The parts left to judge for subscriptions filed alike, shared by all of them."""

    __slots__ = ("budget_currency", "budget_min", "key", "parts", "rest", "users")

    def __init__(self, key: tuple, parts: tuple[_Part, ...]) -> None:
        self.key = key
        self.parts = parts
        self.users = 0
        # a leading budget part is compared directly (cheaper than caching its verdict);
        # `rest` is judged after it, in order, so a failing part stops the others
        self.budget_min: Any = None
        self.budget_currency: Any = None
        self.rest = parts
        if parts and parts[0].kind == _BUDGET:
            self.budget_min = parts[0].a
            self.budget_currency = parts[0].b
            self.rest = parts[1:]


def _part_specs(sub: Subscription, layout: _Layout) -> list[tuple[tuple, dict[str, Any]]]:
    """(hashable key, fields of the bare subscription) for each constraint the layout does
    not prove. An area subscription's countries are not proved by its cell buckets; a
    plain one's are proved by its country bucket."""
    specs: list[tuple[tuple, dict[str, Any]]] = []
    if layout.exact is not None and sub.countries:
        countries = tuple(sorted(set(sub.countries)))
        specs.append((("countries", countries), {"countries": countries}))
    if sub.budget_min is not None:
        specs.append(
            (
                ("budget", sub.budget_min, sub.budget_currency),
                {"budget_min": sub.budget_min, "budget_currency": sub.budget_currency},
            )
        )
    for key, values in sub.attributes.items():
        specs.append((("attribute", key, values), {"attributes": {key: values}}))
    if sub.keywords:
        keywords = tuple(sorted(set(sub.keywords)))
        specs.append((("keywords", keywords), {"keywords": keywords}))
    if sub.fulfilment:
        specs.append((("fulfilment", sub.fulfilment), {"fulfilment": sub.fulfilment}))
    return specs


class _Category:
    """The buckets of one category root."""

    __slots__ = ("coarse", "exact", "plain", "res", "res_counts")

    def __init__(self) -> None:
        self.exact: dict[int, Bucket] = {}
        self.coarse: dict[int, Bucket] = {}
        self.plain: dict[Any, Bucket] = {}
        self.res_counts = [0] * 16
        self.res: tuple[int, ...] = ()  # resolutions of the exact cells, ascending

    def count_resolution(self, resolution: int, delta: int) -> None:
        counts = self.res_counts
        before = counts[resolution]
        counts[resolution] = before + delta
        if (before == 0) != (counts[resolution] == 0):
            self.res = tuple(r for r in range(16) if counts[r])

    def empty(self) -> bool:
        return not (self.exact or self.coarse or self.plain)


class SubscriptionIndex:
    """All subscriptions of a matcher, indexed by category root and H3 cell.

    Holds inactive subscriptions too (`get`, iteration and ``len`` see them) but never
    returns them from `match`.
    """

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._entries: dict[str, Entry] = {}
        self._categories: dict[str, _Category] = {}
        self._slow: dict[str, Subscription] = {}
        self._checks: dict[tuple, _Check] = {}
        self._parts: dict[tuple, _Part] = {}
        for sub in subscriptions:
            self.upsert(sub)

    # ------------------------------------------------------------------ container API

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Subscription]:
        return (entry[0] for entry in self._entries.values())

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._entries

    def get(self, sub_id: str) -> Subscription | None:
        entry = self._entries.get(sub_id)
        return None if entry is None else entry[0]

    # ------------------------------------------------------------------ writes

    def upsert(self, sub: Subscription) -> None:
        """Add `sub`, replacing the subscription with the same id if there is one."""
        if sub.id in self._entries:
            self.remove(sub.id)
        if not sub.active:
            self._entries[sub.id] = (sub, None)
            return
        layout = _layout(sub)
        if layout.slow:
            self._entries[sub.id] = (sub, None)
            self._slow[sub.id] = sub
            return
        entry = (sub, self._check_for(sub, layout))
        self._entries[sub.id] = entry
        categories = self._categories
        for root in layout.roots:
            category = categories.get(root)
            if category is None:
                category = categories[root] = _Category()
            if layout.exact is None:
                for country in layout.countries:
                    _add(category.plain, country, entry)
                continue
            for cell in layout.exact:
                _add(category.exact, cell, entry)
                category.count_resolution((cell >> _RES_SHIFT) & 0xF, 1)
            for cell in layout.coarse:
                _add(category.coarse, cell, entry)

    def remove(self, sub_id: str) -> None:
        """Forget the subscription `sub_id` (nothing happens if it is unknown)."""
        entry = self._entries.pop(sub_id, None)
        if entry is None:
            return
        sub = entry[0]
        if self._slow.pop(sub_id, None) is not None or not sub.active:
            return
        self._release(entry[1])
        layout = _layout(sub)
        categories = self._categories
        for root in layout.roots:
            category = categories.get(root)
            if category is None:  # pragma: no cover - upsert filed it
                continue
            if layout.exact is None:
                for country in layout.countries:
                    _discard(category.plain, country, entry)
            else:
                for cell in layout.exact:
                    _discard(category.exact, cell, entry)
                    category.count_resolution((cell >> _RES_SHIFT) & 0xF, -1)
                for cell in layout.coarse:
                    _discard(category.coarse, cell, entry)
            if category.empty():
                del categories[root]

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
        cell_int = -1
        resolution = 0
        if intent.cell is not None:
            value = _cell_int(intent.cell)
            if value is None:
                return self._scan(intent)
            cell_int = value
            resolution = (value >> _RES_SHIFT) & 0xF
        base = cell_int & _RES_CLEAR
        categories = self._categories
        category = intent.category
        country = intent.country
        buckets: list[Bucket] = []
        found = buckets.append
        start = 0
        while True:
            cut = category.find("/", start)
            node = categories.get(category if cut < 0 else category[:cut])
            if node is not None:
                plain = node.plain
                if plain:
                    bucket = plain.get(_ANY_COUNTRY)
                    if bucket is not None:
                        found(bucket)
                    bucket = plain.get(country)
                    if bucket is not None:
                        found(bucket)
                if cell_int >= 0 and node.res:
                    exact = node.exact
                    for r in node.res:
                        if r > resolution:
                            bucket = node.coarse.get(cell_int)
                            if bucket is not None:
                                found(bucket)
                            break
                        bucket = exact.get(base | _PARENT_BITS[r])
                        if bucket is not None:
                            found(bucket)
            if cut < 0:
                break
            start = cut + 1
        out: list[Subscription] = []
        keep = out.append
        extend = out.extend
        verdicts: dict[_Check | _Part, bool] = {}
        get = verdicts.get
        words = intent.words
        offers = intent.attributes
        modes = intent.fulfilment
        budget_max = intent.budget_max
        currency = intent.budget_currency

        def judge(check: _Check) -> bool:
            """Whether every part of `check` holds, each part judged once per intent."""
            if (
                check.budget_min is not None
                and budget_max is not None
                and currency == check.budget_currency
                and budget_max < check.budget_min
            ):
                return False
            for part in check.rest:
                held = get(part)
                if held is None:
                    kind = part.kind
                    if kind == _BUDGET:
                        held = not (
                            budget_max is not None and currency == part.b and budget_max < part.a
                        )
                    elif kind == _WORD:
                        held = part.a in words
                    elif kind == _ANY_OF:
                        held = False
                        for atom in part.any_of:
                            if atom.kind == _WORD:
                                if atom.a in words:
                                    held = True
                                    break
                            elif atom.a[0] in words and contains_phrase(words, atom.a):
                                held = True
                                break
                    elif kind == _ATTRIBUTE:
                        offered = offers.get(part.a)
                        held = offered is None or bool(offered & part.b)
                    elif kind == _FULFILMENT:
                        held = not modes or bool(part.a & modes)
                    elif kind == _PHRASE:
                        held = part.a[0] in words and contains_phrase(words, part.a)
                    else:
                        held = country in part.a
                    verdicts[part] = held
                if not held:
                    return False
            return True

        for bucket in buckets:
            kind = type(bucket)
            if kind is not dict:
                for sub, check in (bucket,) if kind is tuple else bucket:  # type: ignore[misc]
                    if check is None:
                        keep(sub)
                        continue
                    verdict = get(check)
                    if verdict is None:
                        verdict = verdicts[check] = judge(check)
                    if verdict:
                        keep(sub)
                continue
            for check, group in bucket.items():  # type: ignore[union-attr]
                if check is not None:
                    verdict = get(check)
                    if verdict is None:
                        verdict = verdicts[check] = judge(check)
                    if not verdict:
                        continue
                extend(group.values())
        if self._slow:
            out.extend(s for s in self._slow.values() if matches(intent, s))
        return out

    def _scan(self, intent: MatchableIntent) -> list[Subscription]:
        return [s for s, _ in self._entries.values() if s.active and matches(intent, s)]
