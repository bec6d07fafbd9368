"""Reveals: which persona fields a buyer may reveal to a vendor, and when the vendor may
read them.

A buyer reveals only fields they have on file, only to a vendor that matched the intent
(checked by the service, which knows the matches). The vendor must accept the buyer's terms
before reading (409 ``terms-not-accepted``); after the buyer revokes, every read is refused
(410 ``reveal-revoked``) — from the very next request on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal, get_args

from intentcast.domain.errors import Gone, RuleViolation, TermsNotAccepted

PersonaField = Literal["name", "email", "phone", "address"]
PERSONA_FIELDS: tuple[PersonaField, ...] = get_args(PersonaField)
RevealStatus = Literal["granted", "revoked"]


def check_revealable(
    fields: Iterable[str], on_file: Mapping[str, object | None], *, field_name: str
) -> list[str]:
    """The fields to reveal, each once, in the order given; refuses fields not on file."""
    unique = list(dict.fromkeys(fields))
    missing = [f for f in unique if on_file.get(f) is None]
    if missing:
        raise RuleViolation(field_name, f"nothing on file to reveal for: {', '.join(missing)}")
    return unique


def require_not_revoked(status: str) -> None:
    if status == "revoked":
        raise Gone("The buyer revoked this reveal.", "reveal-revoked")


def require_readable(status: str, terms_accepted_at: datetime | None) -> None:
    """A vendor reads revealed fields only after accepting the terms, and never after the
    buyer revoked."""
    require_not_revoked(status)
    if terms_accepted_at is None:
        raise TermsNotAccepted("Accept the buyer's terms first (POST …/accept-terms).")
