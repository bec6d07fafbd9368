"""Money: the one rule set for every amount a buyer, vendor or subscription states.

An amount is a finite, non-negative decimal below 10^12 with at most three decimal places;
a currency is an ISO 4217 code. Budgets, prices and a subscription's minimum budget all go
through ``check_amount`` and ``check_currency``, so none accepts what another refuses.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from intentcast.domain.codes import is_currency
from intentcast.domain.errors import RuleViolation

MAX_AMOUNT = Decimal("1000000000000")
MAX_DECIMALS = 3

CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class Money(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Annotated[Decimal, msgspec.Meta(examples=["500.00"])]
    currency: CurrencyCode


class Price(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Annotated[Decimal, msgspec.Meta(examples=["1649.00"])]
    currency: CurrencyCode


def check_currency(code: str, field: str) -> None:
    if not is_currency(code):
        raise RuleViolation(field, f"{code} is not an ISO 4217 currency")


def check_amount(value: Decimal, field: str) -> None:
    if not value.is_finite() or value < 0 or value >= MAX_AMOUNT:
        raise RuleViolation(field, "must be a non-negative amount below 10^12")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise RuleViolation(field, f"at most {MAX_DECIMALS} decimal places")


def check_money(money: Money | Price, field: str) -> None:
    """``field`` names the object (``price``, ``budget_min``); errors name its parts."""
    check_currency(money.currency, f"{field}.currency")
    check_amount(money.amount, f"{field}.amount")
