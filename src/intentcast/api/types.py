"""Constrained value types shared by request and response Structs, and list pages."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

import msgspec
from litestar.params import Parameter

from intentcast.api.errors import invalid
from intentcast.domain.intents import Text, in_calendar

Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$",
        examples=["ada@example.org"],
        description="An e-mail address.",
    ),
]
Phone = Annotated[
    str,
    msgspec.Meta(
        min_length=5,
        max_length=40,
        pattern=r"^\+?[0-9][0-9 ().\-/]{3,38}[0-9]$",
        examples=["+49 89 4132 7788"],
        description="A phone number, international form preferred.",
    ),
]
PersonName = Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]
Address = Annotated[Text, msgspec.Meta(min_length=1, max_length=500)]
DisplayName = Annotated[
    Text,
    msgspec.Meta(
        min_length=1,
        max_length=80,
        examples=["ada"],
        description="A name shown to you only; vendors never see it.",
    ),
]
Country = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{2}$", examples=["DE"], description="ISO 3166-1 alpha-2.")
]
HttpUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=2000,
        pattern=r"^https?://[^\s\x00-\x1f\x7f/$.?#][^\s\x00-\x1f\x7f]*$",
        examples=["https://shop.example.com"],
    ),
]
ShortText = Annotated[Text, msgspec.Meta(min_length=1, max_length=120)]
LongText = Annotated[Text, msgspec.Meta(max_length=4000)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=200)]

DEFAULT_LIMIT = 50

LimitParam = Annotated[int, Parameter(ge=1, le=200, description="Items per page (1-200).")]
AfterParam = Annotated[
    str | None, Parameter(max_length=200, description="The `next` cursor of the previous page.")
]


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _not_a_cursor() -> Exception:
    return invalid("query.after", "not a cursor returned by this API", status=400)


def decode_cursor(cursor: str | None) -> str | None:
    """The position a ``next`` cursor stands for; a malformed cursor is a 400 naming ``after``.

    Every cursor this API returns encodes printable ASCII (ids, seqs, ISO times), so
    anything else (NUL, control characters, other scripts) is refused here, before it can
    reach a query."""
    if cursor is None or cursor == "":
        return None
    try:
        decoded = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        text = decoded.decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _not_a_cursor() from None
    if not text or not text.isprintable():
        raise _not_a_cursor()
    return text


def encode_time_cursor(moment: datetime, item_id: str) -> str:
    """A cursor for lists ordered newest first by ``(time, id)``."""
    return encode_cursor(f"{moment.isoformat()}|{item_id}")


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    stamp, _, item_id = raw.partition("|")
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise _not_a_cursor() from None
    if moment.tzinfo is None or not in_calendar(moment):
        raise _not_a_cursor()
    return moment, item_id


def next_cursor(items: list, limit: int, key: str = "id") -> str | None:  # type: ignore[type-arg]
    """The cursor after the last item when the page is full, else None."""
    if len(items) < limit or not items:
        return None
    last = items[-1]
    value = last[key] if isinstance(last, dict) else getattr(last, key)
    return encode_cursor(str(value))
