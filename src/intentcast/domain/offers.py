"""Offers: what a vendor sends, the rules, and the offer state machine.

Statuses: ``live`` (may be revised, withdrawn, accepted, declined, or expire) and the final
``withdrawn``, ``expired``, ``accepted``, ``declined``. One live offer per vendor per intent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from intentcast.domain.codes import is_currency
from intentcast.domain.errors import RuleViolation, StateConflict
from intentcast.domain.intents import MAX_BUDGET, MAX_DECIMALS, AwareDatetime, Quantity

OFFER_FINAL = frozenset({"withdrawn", "expired", "accepted", "declined"})

OfferTitle = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
OfferDetails = Annotated[str, msgspec.Meta(max_length=5000)]
OfferTerms = Annotated[str, msgspec.Meta(max_length=2000)]
DeliveryDays = Annotated[int, msgspec.Meta(ge=0, le=365)]


class Price(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Annotated[Decimal, msgspec.Meta(examples=["1649.00"])]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class OfferDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    price: Price
    quantity: Quantity = 1
    title: OfferTitle
    details: OfferDetails | None = None
    valid_until: AwareDatetime | None = None
    delivery_days: DeliveryDays | None = None
    terms: OfferTerms | None = None


class OfferPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A revision: the fields given replace the current ones and `version` goes up."""

    price: Price | msgspec.UnsetType = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    title: OfferTitle | msgspec.UnsetType = msgspec.UNSET
    details: OfferDetails | None | msgspec.UnsetType = msgspec.UNSET
    valid_until: AwareDatetime | None | msgspec.UnsetType = msgspec.UNSET
    delivery_days: DeliveryDays | None | msgspec.UnsetType = msgspec.UNSET
    terms: OfferTerms | None | msgspec.UnsetType = msgspec.UNSET


def check_price(price: Price, field: str = "price") -> None:
    if not is_currency(price.currency):
        raise RuleViolation(f"{field}.currency", f"{price.currency} is not an ISO 4217 currency")
    amount = price.amount
    if not amount.is_finite() or amount < 0 or amount >= MAX_BUDGET:
        raise RuleViolation(f"{field}.amount", "must be a non-negative amount below 10^12")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise RuleViolation(f"{field}.amount", f"at most {MAX_DECIMALS} decimal places")


def check_offer_fields(
    *,
    price: Price | None,
    quantity: int | None,
    valid_until: datetime | None,
    intent_quantity: int,
    now: datetime,
) -> None:
    if price is not None:
        check_price(price)
    if quantity is not None and quantity > intent_quantity:
        raise RuleViolation(
            "quantity", f"must not exceed the intent's quantity ({intent_quantity})"
        )
    if valid_until is not None and valid_until <= now:
        raise RuleViolation("valid_until", "must be in the future")


def require_live(status: str, action: str) -> None:
    if status != "live":
        raise StateConflict(f"an offer that is {status} cannot be {action}", "offer-not-live")
