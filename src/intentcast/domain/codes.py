"""ISO code lists: ISO 4217 currencies and ISO 3166-1 alpha-2 countries (from pycountry)."""

from __future__ import annotations

import pycountry

CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)
COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


def is_currency(code: str) -> bool:
    return code in CURRENCIES


def is_country(code: str) -> bool:
    return code in COUNTRIES
