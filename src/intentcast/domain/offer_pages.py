"""Pages of a buyer's offer list: the total order behind each ``sort`` and the opaque cursor
that continues after an offer (keyset pagination on the ranking key, then the offer id).

The ranking follows ``domain.offers.rank_offers`` (``price``: the intent's currency first,
then cheapest; ``rating``: best average, most ratings, cheapest; ``newest``: newest first),
with the offer id as the last key so that equal offers still have one order and a page
boundary never splits or repeats them. A cursor holds the sort and the ranking key of the
last offer of a page, and a MAC over them and the intent: a cursor from another sort or
another intent, or one edited by hand, is refused (:class:`BadCursor`), never misread.
Offers inserted or removed between pages neither shift nor repeat the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import msgspec

from intentcast.domain.offers import OfferSort, RankFacts

__all__ = ["BadCursor", "PageKey", "decode_offer_cursor", "encode_offer_cursor", "offer_page"]

T = TypeVar("T")

MAC_BYTES = 12
_SORT_CODES: dict[str, OfferSort] = {"p": "price", "r": "rating", "n": "newest"}


class BadCursor(ValueError):
    """Not a cursor of this list (malformed, edited, or from another sort or intent)."""


class PageKey(msgspec.Struct, frozen=True):
    """Where a page ends: the sort, the last offer's ranking facts and id."""

    sort: OfferSort
    offer_id: str
    amount: Decimal = Decimal(0)
    currency: str = ""
    other_currency: bool = False
    rating_average: float = 0.0
    rating_count: int = 0
    created_at: datetime | None = None


def page_key(sort: OfferSort, facts: RankFacts, offer_id: str, currency: str | None) -> PageKey:
    return PageKey(
        sort=sort,
        offer_id=offer_id,
        amount=facts.amount,
        currency=facts.currency,
        other_currency=facts.currency != currency,
        rating_average=facts.rating_average or 0.0,
        rating_count=facts.rating_count,
        created_at=facts.created_at,
    )


def _order(key: PageKey) -> tuple[object, ...]:
    """The total order of ``key.sort``: ascending tuples, the offer id last."""
    if key.sort == "price":
        return (key.other_currency, key.currency, key.amount, key.offer_id)
    if key.sort == "rating":
        return (-key.rating_average, -key.rating_count, key.amount, key.offer_id)
    assert key.created_at is not None
    # newest first: later times sort before earlier ones (microseconds since the epoch)
    stamp = round(key.created_at.timestamp() * 1_000_000)
    return (-stamp, key.offer_id)


def offer_page(
    items: Sequence[T],
    sort: OfferSort,
    *,
    currency: str | None,
    facts: Callable[[T], RankFacts],
    offer_id: Callable[[T], str],
    after: PageKey | None,
    limit: int,
) -> tuple[list[T], PageKey | None]:
    """The ``limit`` items ranked by ``sort`` that come after ``after`` (from the start when
    None), and the key to continue after the page (None when nothing follows)."""
    keyed = sorted(
        ((_order(page_key(sort, facts(i), offer_id(i), currency)), i) for i in items),
        key=lambda pair: pair[0],
    )
    if after is not None:
        start = _order(after)
        keyed = [(k, i) for k, i in keyed if k > start]
    page = [i for _, i in keyed[:limit]]
    if len(keyed) <= limit or not page:
        return page, None
    last = page[-1]
    return page, page_key(sort, facts(last), offer_id(last), currency)


def _mac(key: bytes, intent_id: str, text: str) -> bytes:
    return hmac.new(key, f"{intent_id}\n{text}".encode(), hashlib.sha256).digest()[:MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def encode_offer_cursor(key: PageKey, *, intent_id: str, mac_key: bytes) -> str:
    """The opaque ``next`` cursor for ``key`` on the intent's offer list."""
    if key.sort == "price":
        fields = [str(int(key.other_currency)), key.currency, str(key.amount)]
    elif key.sort == "rating":
        fields = [repr(key.rating_average), str(key.rating_count), str(key.amount)]
    else:
        assert key.created_at is not None
        fields = [key.created_at.isoformat()]
    text = "|".join([key.sort[0], *fields, key.offer_id])
    return _b64(text.encode()) + "." + _b64(_mac(mac_key, intent_id, text))


def decode_offer_cursor(cursor: str, *, sort: OfferSort, intent_id: str, mac_key: bytes) -> PageKey:
    """The page key ``cursor`` stands for; :class:`BadCursor` when it was not made by
    :func:`encode_offer_cursor` for this intent and this ``sort``."""
    body, dot, mac = cursor.partition(".")
    if not dot:
        raise BadCursor("not a cursor returned by this API")
    try:
        text = _unb64(body).decode("ascii")
        given = _unb64(mac)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor returned by this API") from None
    if not hmac.compare_digest(given, _mac(mac_key, intent_id, text)):
        raise BadCursor("not a cursor of this list (edited, or from another intent)")
    code, *fields, offer_id = text.split("|")
    if _SORT_CODES.get(code) != sort:
        raise BadCursor(f"this cursor continues another sort than sort={sort}")
    try:
        if sort == "price":
            other, currency, amount = fields
            return PageKey(
                sort=sort,
                offer_id=offer_id,
                other_currency=other == "1",
                currency=currency,
                amount=Decimal(amount),
            )
        if sort == "rating":
            average, count, amount = fields
            return PageKey(
                sort=sort,
                offer_id=offer_id,
                rating_average=float(average),
                rating_count=int(count),
                amount=Decimal(amount),
            )
        (stamp,) = fields
        return PageKey(sort=sort, offer_id=offer_id, created_at=datetime.fromisoformat(stamp))
    except (ValueError, InvalidOperation):  # a MAC'd cursor of an older format
        raise BadCursor("not a cursor returned by this API") from None
