"""Pages of a buyer's offer list: a total order per sort, keyset continuation that neither
skips nor repeats (whatever changes between pages), and cursors that cannot be edited or
reused for another sort or intent."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentcast.domain.offer_pages import (
    BadCursor,
    decode_offer_cursor,
    encode_offer_cursor,
    offer_page,
)
from intentcast.domain.offers import RankFacts, rank_offers

KEY = b"k" * 32
T0 = datetime(2026, 11, 26, 12, tzinfo=UTC)


class Offer(msgspec.Struct, frozen=True):
    id: str
    amount: Decimal
    currency: str
    average: float | None
    count: int
    created_at: datetime


def facts(o: Offer) -> RankFacts:
    return RankFacts(
        amount=o.amount,
        currency=o.currency,
        rating_average=o.average,
        rating_count=o.count,
        created_at=o.created_at,
    )


offers_strategy = st.lists(
    st.builds(
        Offer,
        id=st.text("abcdef0123", min_size=4, max_size=4).map(lambda s: "off_" + s),
        amount=st.sampled_from([Decimal("10"), Decimal("10.00"), Decimal("99.5"), Decimal("5")]),
        currency=st.sampled_from(["EUR", "USD"]),
        average=st.sampled_from([None, 3.5, 4.0, 4.333333333333333]),
        count=st.integers(0, 3),
        created_at=st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    unique_by=lambda o: o.id,
    max_size=25,
)


def walk(offers, sort, limit, intent_id="int_1"):
    """Every page, following each cursor through its text form, as a client would."""
    seen, after = [], None
    while True:
        page, following = offer_page(
            offers,
            sort,
            currency="EUR",
            facts=facts,
            offer_id=lambda o: o.id,
            after=after,
            limit=limit,
        )
        seen += page
        if following is None:
            return seen
        cursor = encode_offer_cursor(following, intent_id=intent_id, mac_key=KEY)
        after = decode_offer_cursor(cursor, sort=sort, intent_id=intent_id, mac_key=KEY)


@given(
    offers=offers_strategy,
    limit=st.integers(1, 7),
    sort=st.sampled_from(["price", "rating", "newest"]),
)
def test_pages_cover_the_ranking_once_in_order(offers, limit, sort) -> None:
    walked = walk(offers, sort, limit)
    assert sorted(o.id for o in walked) == sorted(o.id for o in offers)  # none twice, none lost
    whole, end = offer_page(
        offers,
        sort,
        currency="EUR",
        facts=facts,
        offer_id=lambda o: o.id,
        after=None,
        limit=1000,
    )
    assert end is None and walked == whole
    # the same ranking as rank_offers, which decides what each sort means
    ranked = rank_offers(offers, sort, currency="EUR", facts=facts)
    key = {
        "price": lambda o: (o.currency != "EUR", o.currency, o.amount),
        "rating": lambda o: (-(o.average or 0), -o.count, o.amount),
        "newest": lambda o: -o.created_at.timestamp(),
    }[sort]
    assert [key(o) for o in walked] == [key(o) for o in ranked]


def test_changes_between_pages_neither_shift_nor_repeat() -> None:
    offers = [Offer(f"off_{i}", Decimal(i), "EUR", None, 0, T0) for i in range(1, 7)]
    first, following = offer_page(
        offers, "price", currency="EUR", facts=facts, offer_id=lambda o: o.id, after=None, limit=3
    )
    assert [o.id for o in first] == ["off_1", "off_2", "off_3"]
    # off_2 withdrawn and a cheaper offer added before the next page
    changed = [o for o in offers if o.id != "off_2"] + [
        Offer("off_0", Decimal("0.5"), "EUR", None, 0, T0)
    ]
    second, end = offer_page(
        changed,
        "price",
        currency="EUR",
        facts=facts,
        offer_id=lambda o: o.id,
        after=following,
        limit=3,
    )
    assert [o.id for o in second] == ["off_4", "off_5", "off_6"] and end is None


def test_a_cursor_of_another_sort_or_intent_or_edited_is_refused() -> None:
    offers = [Offer(f"off_{i}", Decimal(i), "EUR", 4.0, 1, T0) for i in range(1, 4)]
    _, following = offer_page(
        offers, "price", currency="EUR", facts=facts, offer_id=lambda o: o.id, after=None, limit=1
    )
    cursor = encode_offer_cursor(following, intent_id="int_1", mac_key=KEY)
    decoded = decode_offer_cursor(cursor, sort="price", intent_id="int_1", mac_key=KEY)
    assert (decoded.offer_id, decoded.amount, decoded.currency, decoded.other_currency) == (
        "off_1",
        Decimal(1),
        "EUR",
        False,
    )
    with pytest.raises(BadCursor, match="another sort"):
        decode_offer_cursor(cursor, sort="rating", intent_id="int_1", mac_key=KEY)
    with pytest.raises(BadCursor):
        decode_offer_cursor(cursor, sort="price", intent_id="int_2", mac_key=KEY)
    with pytest.raises(BadCursor):
        decode_offer_cursor(cursor, sort="price", intent_id="int_1", mac_key=b"x" * 32)
    body, mac = cursor.split(".")
    text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    edited = base64.urlsafe_b64encode(text.replace("|1|", "|0|").replace("1.00", "0").encode())
    for bad in (
        edited.decode().rstrip("=") + "." + mac,
        body,
        "",
        "...",
        "not base64!.x",
        body + "." + mac[:-2],
        "MTIz",
    ):
        with pytest.raises(BadCursor):
            decode_offer_cursor(bad, sort="price", intent_id="int_1", mac_key=KEY)
