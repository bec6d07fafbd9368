"""The one projection that decides what a vendor may see of an intent.

Every vendor-facing channel (feed, SSE, webhooks, the vendor intent route, previews) calls
``vendor_view``; a privacy fix then has one place to go. A vendor sees the random intent id,
category, scrubbed text and attributes, quantity, budget (unless hidden), a coarse H3 cell,
country, fulfilment, dates rounded to the minute, status and the buyer's terms — never the
buyer id, persona, exact coordinates, original text, or anything linking two intents.

Category and location are the *disclosed* ones (``disclosed_pair``): an intent that
k-anonymity generalised (``domain/kanon.py``) shows its coarser category / cell / country and
``generalised: true`` — that it was generalised, never by how much.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from intentcast.domain.intents import Intent, Location, Terms
from intentcast.domain.location import coarsen, resolution


class VendorBudget(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    min: str | None
    max: str | None


class VendorLocation(msgspec.Struct, frozen=True, kw_only=True):
    cell: str | None
    resolution: int | None
    country: str | None


class VendorIntent(msgspec.Struct, frozen=True, kw_only=True):
    """What a vendor sees of an intent. ``id`` is null only in a buyer's preview."""

    id: str | None
    status: str
    category: str
    title: str
    description: str | None
    attributes: dict[str, str | list[str]]
    quantity: int
    budget: VendorBudget | None
    location: VendorLocation | None
    fulfilment: list[str]
    needed_by: date | None
    expires_at: datetime
    published_at: datetime
    terms: Terms
    generalised: bool = False
    """Category or location is coarser than the buyer asked for: fewer buyers than the
    operator's k share the requested pair (k-anonymity). Never says by how much."""


def to_minute(moment: datetime) -> datetime:
    """Round down to the minute: publication timing must not link a buyer's intents."""
    return moment.replace(second=0, microsecond=0)


def disclosed_pair(intent: Intent) -> tuple[str, Location | None]:
    """The category and location vendors may see: the k-anonymity disclosure when there is
    one, else the requested ones. Matching looks at the same pair (``domain/matching.py``)."""
    disclosure = intent.disclosure
    if disclosure is None:
        return intent.category, intent.location
    if disclosure.cell is None and disclosure.country is None:
        return disclosure.category, None
    return disclosure.category, Location(cell=disclosure.cell, country=disclosure.country)


def vendor_view(intent: Intent, *, location_floor: int) -> VendorIntent:
    budget = intent.budget
    category, location = disclosed_pair(intent)
    cell = coarsen(location.cell, location_floor) if location and location.cell else None
    return VendorIntent(
        id=intent.id,
        status=intent.status,
        category=category,
        title=intent.public_title,
        description=intent.public_description,
        attributes=intent.public_attributes,
        quantity=intent.quantity,
        budget=(
            VendorBudget(
                currency=budget.currency,
                min=None if budget.min is None else str(budget.min),
                max=None if budget.max is None else str(budget.max),
            )
            if budget is not None and budget.visible
            else None
        ),
        location=(
            VendorLocation(
                cell=cell,
                resolution=None if cell is None else resolution(cell),
                country=location.country,
            )
            if location is not None
            else None
        ),
        fulfilment=list(intent.fulfilment),
        needed_by=intent.needed_by,
        expires_at=to_minute(intent.expires_at),
        published_at=to_minute(intent.published_at),
        terms=intent.terms,
        generalised=intent.disclosure is not None,
    )


def preview_view(intent: Intent, *, location_floor: int) -> VendorIntent:
    """The view of a not-yet-published intent (no id), for the buyer's preview."""
    return msgspec.structs.replace(vendor_view(intent, location_floor=location_floor), id=None)
