"""Reveals: which persona fields a buyer may reveal to a vendor, and when the vendor may
read them.

A buyer reveals only fields they have on file, only to a vendor that matched the intent
(checked by the service, which knows the matches). The vendor must accept the buyer's terms
before reading (409 ``terms-not-accepted``); after the buyer revokes, every read is refused
(410 ``reveal-revoked``) — from the very next request on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, get_args

from intentcast.domain.errors import Gone, RuleViolation, TermsNotAccepted
from intentcast.domain.scrubbing import MARKERS

PersonaField = Literal["name", "email", "phone", "address"]
PERSONA_FIELDS: tuple[PersonaField, ...] = get_args(PersonaField)
RevealStatus = Literal["granted", "revoked"]

RESTORED_BY_FIELD: Mapping[str, str] = {"email": "email", "phone": "phone", "address": "address"}
"""Which redaction kind a revealed persona field lets a vendor see in the buyer's messages.
Nothing else is ever restored: links, handles, bank and card numbers stay removed whatever
was revealed (``name`` restores nothing: names are not redacted)."""


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


def restorable_kinds(revealed_fields: Iterable[str]) -> frozenset[str]:
    return frozenset(RESTORED_BY_FIELD[f] for f in revealed_fields if f in RESTORED_BY_FIELD)


def text_for_vendor(
    original: str, redactions: Iterable[Mapping[str, Any]], revealed_fields: Collection[str]
) -> str:
    """The buyer's words as a vendor may read them: every redaction removed (its marker in
    its place) except those of a kind the buyer revealed to this vendor (H1: revealing one
    field never unscrubs anything else). ``redactions`` carry offsets into ``original``."""
    restored = restorable_kinds(revealed_fields)
    parts: list[str] = []
    at = 0
    for r in sorted(redactions, key=lambda r: (r["start"], r["end"])):
        start, end, kind = int(r["start"]), int(r["end"]), str(r["kind"])
        if start < at:  # overlapping findings: the earlier one already covers it
            continue
        parts.append(original[at:start])
        parts.append(original[start:end] if kind in restored else MARKERS.get(kind, "[removed]"))
        at = end
    parts.append(original[at:])
    return "".join(parts)
