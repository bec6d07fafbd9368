"""The matching predicate: when a vendor's standing subscription wants an intent.

This module is the one definition of a match. The in-memory index (``intentcast.matching``)
only accelerates it, and a property test checks that both agree.

Rules, all of which must hold (an absent constraint always holds):

* **category** — the intent's category is the subscription's category or inside its subtree
  (``electronics`` covers ``electronics/cameras/mirrorless``). An intent whose category
  k-anonymity generalised (``generalised``) also matches a subscription inside the disclosed
  category's subtree: ``electronics/cameras`` gets an intent shown as ``electronics``, since
  the buyer may want a camera — as a coarse cell matches the areas inside it. The vendor
  learns nothing beyond the disclosed pair.

Matching sees only what vendors see: the *disclosed* category and location
(``domain.vendor_view.disclosed_pair``), never the requested ones a generalised intent hides.
* **area** — the intent has a cell, and it *overlaps* one of the subscription's cells: one is
  the other or an ancestor of it. Cells are hierarchical, so an intent cell inside a vendor's
  area matches, and so does a coarse intent cell (a buyer hiding in a wide region) that
  contains part of the area: the buyer may be where the vendor serves.
* **countries** — the intent names one of them.
* **budget_min** — if the intent shows a maximum budget in the same currency, it is at least
  ``budget_min``; a hidden budget, one without maximum, or another currency does not exclude.
* **attributes** — for every key that both sides name, the value sets intersect
  (case-insensitive).
* **keywords** — at least one keyword (or phrase) appears as whole words in the intent's
  scrubbed title or description (case-insensitive).
* **fulfilment** — if both name modes, they intersect.

Outside the predicate, the matcher also requires the subscription to be active, its vendor
verified and not blocked by the buyer, and its hourly cap not exhausted.
"""

from __future__ import annotations

import re
from decimal import Decimal

import h3
import msgspec

from intentcast.domain.intents import Intent
from intentcast.domain.vendor_view import disclosed_pair

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words_of(text: str) -> tuple[str, ...]:
    """Lower-case word tokens, the unit keywords are matched against."""
    return tuple(_WORD.findall(text.lower()))


def normalise_keyword(keyword: str) -> tuple[str, ...]:
    return words_of(keyword)


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription as the matcher sees it (normalised at write time)."""

    id: str
    vendor_id: str
    categories: tuple[str, ...]
    cells: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    budget_min: Decimal | None = None
    budget_currency: str | None = None
    attributes: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)
    keywords: tuple[tuple[str, ...], ...] = ()
    fulfilment: frozenset[str] = frozenset()
    active: bool = True
    max_per_hour: int | None = None


class MatchableIntent(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of an intent matching looks at: only what vendors may see."""

    id: str
    buyer_id: str
    category: str
    cell: str | None
    country: str | None
    budget_max: Decimal | None
    budget_currency: str | None
    attributes: dict[str, frozenset[str]]
    words: tuple[str, ...]
    fulfilment: frozenset[str]
    generalised: bool = False
    """k-anonymity generalised the category or location (``domain/kanon.py``)."""


def _values(value: str | list[str]) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    return frozenset(v.strip().lower() for v in items)


def normalise_attributes(attributes: dict[str, str | list[str]]) -> dict[str, frozenset[str]]:
    return {k.lower(): _values(v) for k, v in attributes.items()}


def matchable(intent: Intent) -> MatchableIntent:
    budget = intent.budget
    shows_max = budget is not None and budget.visible and budget.max is not None
    text = intent.public_title + "\n" + (intent.public_description or "")
    category, location = disclosed_pair(intent)
    return MatchableIntent(
        id=intent.id,
        buyer_id=intent.buyer_id,
        category=category,
        cell=location.cell if location else None,
        country=location.country if location else None,
        budget_max=budget.max if shows_max and budget else None,
        budget_currency=budget.currency if shows_max and budget else None,
        attributes=normalise_attributes(intent.public_attributes),
        words=words_of(text),
        fulfilment=frozenset(intent.fulfilment),
        generalised=intent.disclosure is not None,
    )


def in_subtree(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def category_matches(intent: MatchableIntent, root: str) -> bool:
    """The category rule for one of a subscription's categories."""
    return in_subtree(intent.category, root) or (
        intent.generalised and in_subtree(root, intent.category)
    )


def cells_overlap(a: str, b: str) -> bool:
    """One cell is the other or an ancestor of it."""
    ra, rb = h3.get_resolution(a), h3.get_resolution(b)
    if ra == rb:
        return a == b
    if ra < rb:
        return h3.cell_to_parent(b, ra) == a
    return h3.cell_to_parent(a, rb) == b


def contains_phrase(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    if not phrase:
        return False
    if len(phrase) == 1:
        return phrase[0] in words
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def matches(intent: MatchableIntent, sub: Subscription) -> bool:
    """The match predicate (content rules only; see the module docstring)."""
    if not any(category_matches(intent, root) for root in sub.categories):
        return False
    return matches_beyond_category(intent, sub)


def matches_beyond_category(intent: MatchableIntent, sub: Subscription) -> bool:
    """Every rule but the category one (the index checks that by construction)."""
    if sub.cells and (
        intent.cell is None or not any(cells_overlap(intent.cell, c) for c in sub.cells)
    ):
        return False
    if sub.countries and intent.country not in sub.countries:
        return False
    if (
        sub.budget_min is not None
        and intent.budget_max is not None
        and intent.budget_currency == sub.budget_currency
        and intent.budget_max < sub.budget_min
    ):
        return False
    for key, accepted in sub.attributes.items():
        offered = intent.attributes.get(key)
        if offered is not None and not (offered & accepted):
            return False
    if sub.keywords and not any(contains_phrase(intent.words, k) for k in sub.keywords):
        return False
    return not (sub.fulfilment and intent.fulfilment and not (sub.fulfilment & intent.fulfilment))
