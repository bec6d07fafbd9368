"""Offers: what a vendor sends, the rules of the deal, and the offer state machine.

Statuses: ``live`` (may be revised, withdrawn, accepted, declined, or expire) and the final
``withdrawn``, ``expired``, ``accepted``, ``declined``. One live offer per vendor per intent.

The deal's rules, each in one function:

- an intent takes new offers and revisions only while ``open`` (``check_takes_offers``);
- an offer can be accepted while it is live and unexpired and its intent is ``open`` or
  ``paused`` — a buyer who paused the intent may still take an offer already on the table —
  and, when the buyer says which version they saw, only that version (``check_acceptable``);
- when accepted quantities cover the intent's quantity, the intent is fulfilled and every
  other live offer is declined (``settle``);
- only an accepted offer can be rated (``check_rateable``);
- the buyer's list is ranked by price (the intent's currency first), rating or age
  (``rank_offers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

import msgspec

from intentcast.domain.errors import (
    IntentClosed,
    OfferChanged,
    OfferNotAccepted,
    OfferNotLive,
    RuleViolation,
)
from intentcast.domain.intents import AwareDatetime, Quantity, Text, check_calendar, is_live
from intentcast.domain.money import Price, check_money

OfferStatus = Literal["live", "withdrawn", "expired", "accepted", "declined"]
OfferSort = Literal["price", "rating", "newest"]

OfferTitle = Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]
OfferDetails = Annotated[Text, msgspec.Meta(max_length=5000)]
OfferTerms = Annotated[Text, msgspec.Meta(max_length=2000)]
DeliveryDays = Annotated[int, msgspec.Meta(ge=0, le=365)]

__all__ = [
    "OfferDraft",
    "OfferPatch",
    "OfferSort",
    "OfferStatus",
    "Price",
    "RankFacts",
    "Settlement",
    "check_acceptable",
    "check_offer_fields",
    "check_rateable",
    "check_takes_offers",
    "rank_offers",
    "require_live",
    "settle",
]


class OfferDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    price: Price
    quantity: Quantity = 1
    title: OfferTitle
    details: OfferDetails | None = None
    valid_until: AwareDatetime | None = None
    delivery_days: DeliveryDays | None = None
    terms: OfferTerms | None = None

    def __post_init__(self) -> None:
        check_calendar(self, "valid_until")


class OfferPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A revision: the fields given replace the current ones and `version` goes up."""

    price: Price | msgspec.UnsetType = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    title: OfferTitle | msgspec.UnsetType = msgspec.UNSET
    details: OfferDetails | None | msgspec.UnsetType = msgspec.UNSET
    valid_until: AwareDatetime | None | msgspec.UnsetType = msgspec.UNSET
    delivery_days: DeliveryDays | None | msgspec.UnsetType = msgspec.UNSET
    terms: OfferTerms | None | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        check_calendar(self, "valid_until")


def check_offer_fields(
    *,
    price: Price | None,
    quantity: int | None,
    valid_until: datetime | None,
    intent_quantity: int,
    now: datetime,
) -> None:
    if price is not None:
        check_money(price, "price")
    if quantity is not None and quantity > intent_quantity:
        raise RuleViolation(
            "quantity", f"must not exceed the intent's quantity ({intent_quantity})"
        )
    if valid_until is not None and valid_until <= now:
        raise RuleViolation("valid_until", "must be in the future")


def check_takes_offers(intent_status: str) -> None:
    """New offers and revisions only on an ``open`` intent."""
    if intent_status != "open":
        raise IntentClosed(intent_status, "it takes no new or revised offers")


def require_live(status: str, action: str) -> None:
    if status != "live":
        raise OfferNotLive(f"an offer that is {status} cannot be {action}")


def check_acceptable(
    offer_status: str,
    valid_until: datetime | None,
    intent_status: str,
    *,
    now: datetime,
    version: int = 1,
    seen_version: int | None = None,
) -> None:
    """``seen_version``: the version the buyer looked at, when the client says; accepting
    pins it, so a revision in between is never accepted unseen."""
    require_live(offer_status, "accepted")
    if seen_version is not None and seen_version != version:
        raise OfferChanged(seen_version, version)
    if valid_until is not None and valid_until <= now:
        raise OfferNotLive("This offer has expired.")
    if not is_live(intent_status):
        raise IntentClosed(intent_status, "its offers can no longer be accepted")


def check_rateable(offer_status: str) -> None:
    if offer_status != "accepted":
        raise OfferNotAccepted("Only an accepted offer can be rated.")


class Settlement(msgspec.Struct, frozen=True):
    """What an acceptance settles: whether the intent is fulfilled, and which other live
    offers are declined because of it."""

    fulfilled: bool
    decline: list[str]


def settle(
    intent_quantity: int, accepted_quantity: int, live_offer_ids: Sequence[str]
) -> Settlement:
    """``accepted_quantity``: the total of all accepted offers, this acceptance included;
    ``live_offer_ids``: the offers still live after it."""
    if accepted_quantity >= intent_quantity:
        return Settlement(fulfilled=True, decline=list(live_offer_ids))
    return Settlement(fulfilled=False, decline=[])


class RankFacts(msgspec.Struct, frozen=True):
    """What ranking looks at in an offer."""

    amount: Decimal
    currency: str
    rating_average: float | None
    rating_count: int
    created_at: datetime


T = TypeVar("T")


def rank_offers(
    items: Sequence[T], by: OfferSort, *, currency: str | None, facts: Callable[[T], RankFacts]
) -> list[T]:
    """``price``: cheapest first, offers in the intent's ``currency`` before others;
    ``rating``: best average first, then most ratings, then cheapest; ``newest``: newest
    first."""

    def price_key(item: T) -> tuple[bool, str, Decimal]:
        f = facts(item)
        return (f.currency != currency, f.currency, f.amount)

    def rating_key(item: T) -> tuple[float, int, Decimal]:
        f = facts(item)
        return (-(f.rating_average or 0), -f.rating_count, f.amount)

    if by == "price":
        return sorted(items, key=price_key)
    if by == "rating":
        return sorted(items, key=rating_key)
    return sorted(items, key=lambda item: facts(item).created_at, reverse=True)
