"""Intents: the stored record, the status state machine, buyer terms and text preparation.

Pure: no I/O. The API validates shapes; this module decides what is allowed and what the
vendors' copy of the text is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from intentcast.domain.codes import is_country
from intentcast.domain.errors import IllegalTransition, IntentClosed, RuleViolation
from intentcast.domain.events import OutboxEventType
from intentcast.domain.location import cell_for
from intentcast.domain.money import check_amount, check_currency
from intentcast.domain.scrubbing import Redaction, scrub

IntentStatus = Literal["open", "paused", "withdrawn", "fulfilled", "expired", "removed"]
Fulfilment = Literal["delivery", "pickup", "onsite", "digital"]

LIVE_STATUSES: frozenset[str] = frozenset({"open", "paused"})
"""Statuses that count against a buyer's open-intent limit and can still change."""
BUYER_SETTABLE_STATUSES: frozenset[str] = frozenset({"open", "paused", "withdrawn"})

_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"paused", "withdrawn", "fulfilled", "expired", "removed"}),
    # a paused intent still holds the offers on the table: accepting one may fulfil it
    "paused": frozenset({"open", "withdrawn", "fulfilled", "expired", "removed"}),
}


def check_transition(current: str, target: str) -> None:
    """Raise ``IllegalTransition`` unless ``current → target`` is allowed."""
    if target not in _TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, target)


def is_live(status: str) -> bool:
    return status in LIVE_STATUSES


def event_for_status(target: str) -> OutboxEventType:
    """The domain event a status change records for the delivery pipeline."""
    if target in LIVE_STATUSES:
        return OutboxEventType.INTENT_UPDATED
    return OutboxEventType.INTENT_CLOSED


class Terms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The buyer's terms: they travel with every intent and a vendor must accept them
    before receiving a reveal."""

    no_tracking: bool = True
    no_resale: bool = True
    contact_via_relay_only: bool = True
    retention_days: int = 30


def default_terms(retention_days: int) -> Terms:
    return Terms(retention_days=retention_days)


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    min: Decimal | None = None
    max: Decimal | None = None
    visible: bool = True


class Location(msgspec.Struct, frozen=True, kw_only=True):
    """Coarse location as stored: an H3 cell (never the point) and/or a country."""

    cell: str | None = None
    country: str | None = None


class Disclosure(msgspec.Struct, frozen=True, kw_only=True):
    """The generalised (category, location) vendors see of an intent whose requested pair
    fewer than k buyers share (``domain/kanon.py``); absent when shown as requested."""

    category: str
    cell: str | None = None
    country: str | None = None


class Intent(msgspec.Struct, frozen=True, kw_only=True):
    """An intent as stored: original text for its buyer, scrubbed text for vendors."""

    id: str
    buyer_id: str
    status: IntentStatus
    category: str
    title: str
    description: str | None
    attributes: dict[str, str | list[str]]
    public_title: str
    public_description: str | None
    public_attributes: dict[str, str | list[str]]
    redactions: list[Redaction]
    quantity: int
    budget: Budget | None
    location: Location | None
    fulfilment: list[str]
    needed_by: date | None
    expires_at: datetime
    terms: Terms
    published_at: datetime
    updated_at: datetime
    version: int
    disclosure: Disclosure | None = None
    """Set when k-anonymity generalised what vendors see (category, cell, country)."""


class PublicText(msgspec.Struct, frozen=True):
    """The vendors' copy of a buyer's free text and what was removed from it."""

    title: str
    description: str | None
    attributes: dict[str, str | list[str]]
    redactions: list[Redaction]


def public_text(
    title: str,
    description: str | None,
    attributes: dict[str, str | list[str]],
    *,
    region: str | None,
) -> PublicText:
    """Scrub contact data out of every free-text field a vendor would see, attribute keys
    included.

    A key with contact data in it is shown scrubbed like any text ("call-[phone removed]");
    should two keys then read the same, the later ones get " (2)", " (3)"… so that no
    attribute is lost. Its redactions have the field ``attribute_keys.<key>``; the values'
    redactions keep naming the buyer's own key (``attributes.<key>``). Vendors and matching
    both see the public keys.
    """
    redactions: list[Redaction] = []

    def clean(text: str, field: str) -> str:
        result = scrub(text, region=region, field=field)
        redactions.extend(result.redactions)
        return result.text

    public_title = clean(title, "title")
    public_description = None if description is None else clean(description, "description")
    public_keys = {key: clean(key, f"attribute_keys.{key}") for key in attributes}
    taken = {key for key, public in public_keys.items() if public == key}
    for key, public in public_keys.items():
        if public != key:
            unique, n = public, 1
            while unique in taken:
                n += 1
                unique = f"{public} ({n})"
            public_keys[key] = unique
            taken.add(unique)
    public_attributes: dict[str, str | list[str]] = {}
    for key, value in attributes.items():
        if isinstance(value, str):
            public_attributes[public_keys[key]] = clean(value, f"attributes.{key}")
        else:
            public_attributes[public_keys[key]] = [
                clean(v, f"attributes.{key}[{i}]") for i, v in enumerate(value)
            ]
    return PublicText(public_title, public_description, public_attributes, redactions)


# ---- drafts: what a buyer sends ------------------------------------------------------------

MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_VALUES = 20
MAX_ATTRIBUTE_TEXT = 10_000
"""Characters of all attribute keys and values together. Attributes are facets
(``condition: new``), not prose; the bound keeps the text a vendor's copy is scrubbed from
(title, description and attributes) to about 15,000 characters, which scrubs in well under
100 ms however hostile (see ``domain/scrubbing.py``)."""

Text = str
"""A client's free text (constrain it further: ``Annotated[Text, msgspec.Meta(...)]``): any
character but NUL (``\\u0000``), which PostgreSQL cannot store in text. The NUL is refused
for every string of every request body where bodies are decoded (``api.errors``:
``CheckedRequest`` and ``decode_or_problem``), not by a ``Meta(pattern=...)`` here: with that
pattern on this many fields, msgspec 0.22 crashes now and then at interpreter exit, freeing
the Structs' type information (msgspec issue #717)."""

EARLIEST_YEAR = 1900
LATEST_YEAR = 9998


def in_calendar(moment: date) -> bool:
    """Whether a date, or an aware datetime converted to UTC, falls in the years
    ``EARLIEST_YEAR``–``LATEST_YEAR``: far enough from Python's and PostgreSQL's limits that
    adding the policy's days or converting time zones never overflows."""
    if isinstance(moment, datetime):
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # beyond year 9999 in UTC
            return False
    return EARLIEST_YEAR <= moment.year <= LATEST_YEAR


def check_calendar(draft: msgspec.Struct, *fields: str) -> None:
    """For a request Struct's ``__post_init__``: a date or datetime out of the calendar is a
    ``ValueError`` that msgspec reports as invalid input naming the field."""
    for name in fields:
        value = getattr(draft, name)
        if isinstance(value, date) and not in_calendar(value):
            raise ValueError(
                f"`{name}` must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR} (UTC)"
            )


AttributeKey = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,39}$")]
AttributeText = Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]
AttributeValue = (
    AttributeText
    | Annotated[list[AttributeText], msgspec.Meta(min_length=1, max_length=MAX_ATTRIBUTE_VALUES)]
)
Attributes = Annotated[
    dict[AttributeKey, AttributeValue],
    msgspec.Meta(
        max_length=MAX_ATTRIBUTES,
        description="Up to 30 keys (`[a-z0-9_.-]`), each a string or a list of strings.",
        examples=[{"condition": "new", "mount": ["sony-e"]}],
    ),
]
Title = Annotated[
    Text, msgspec.Meta(min_length=3, max_length=200, examples=["Full-frame mirrorless body"])
]
Description = Annotated[Text, msgspec.Meta(max_length=5000)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", examples=["DE"])]
Amount = Annotated[Decimal, msgspec.Meta(examples=["1650.00"], description="Decimal string.")]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""With a time zone; Structs holding one check it with ``check_calendar``."""


class BudgetDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    currency: Currency
    min: Amount | None = None
    max: Amount | None = None
    visible: bool = True
    """false hides the budget from vendors (they see `budget: null`)."""


class LocationDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Either a point (`lat`, `lng`, `precision`: an H3 resolution, clamped to the operator's
    floor) or a `country`, or both. The point itself is never stored."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    precision: Annotated[int, msgspec.Meta(ge=0, le=15)] | None = None
    country: CountryCode | None = None


class TermsDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Overrides of the default buyer terms; absent fields keep the default."""

    no_tracking: bool | None = None
    no_resale: bool | None = None
    contact_via_relay_only: bool | None = None
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class IntentDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A buyer's intent as sent to `POST /v1/intents` and `POST /v1/intents/preview`."""

    category: Annotated[
        Text,
        msgspec.Meta(min_length=1, max_length=300, examples=["electronics/cameras/mirrorless"]),
    ]
    title: Title
    description: Description | None = None
    attributes: Attributes = msgspec.field(default_factory=dict)
    quantity: Quantity = 1
    budget: BudgetDraft | None = None
    location: LocationDraft | None = None
    fulfilment: Annotated[list[Fulfilment], msgspec.Meta(max_length=4)] = msgspec.field(
        default_factory=list
    )
    needed_by: date | None = None
    expires_at: AwareDatetime | None = None
    terms: TermsDraft | None = None

    def __post_init__(self) -> None:
        check_calendar(self, "needed_by", "expires_at")


class IntentPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Changes to an intent: status (`paused`, `open`, `withdrawn`), a new expiry, or new
    text and attributes while it is open or paused. `null` clears an optional field."""

    status: Literal["open", "paused", "withdrawn"] | msgspec.UnsetType = msgspec.UNSET
    expires_at: AwareDatetime | msgspec.UnsetType = msgspec.UNSET
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    attributes: Attributes | msgspec.UnsetType = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    budget: BudgetDraft | msgspec.UnsetType | None = msgspec.UNSET
    fulfilment: Annotated[list[Fulfilment], msgspec.Meta(max_length=4)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    needed_by: date | msgspec.UnsetType | None = msgspec.UNSET
    terms: TermsDraft | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        check_calendar(self, "needed_by", "expires_at")


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """The operator settings that shape intents."""

    location_floor: int
    default_intent_days: int
    max_intent_days: int
    retention_days: int


# ---- rules ---------------------------------------------------------------------------------


def check_budget(budget: BudgetDraft | None, field: str = "budget") -> Budget | None:
    if budget is None:
        return None
    check_currency(budget.currency, f"{field}.currency")
    for name in ("min", "max"):
        value = getattr(budget, name)
        if value is not None:
            check_amount(value, f"{field}.{name}")
    if budget.min is not None and budget.max is not None and budget.min > budget.max:
        raise RuleViolation(f"{field}.min", "must not exceed max")
    return Budget(currency=budget.currency, min=budget.min, max=budget.max, visible=budget.visible)


def check_location(draft: LocationDraft | None, floor: int) -> Location | None:
    if draft is None:
        return None
    if draft.country is not None and not is_country(draft.country):
        raise RuleViolation("location.country", f"{draft.country} is not an ISO 3166 country")
    has_point = draft.lat is not None or draft.lng is not None
    if has_point and (draft.lat is None or draft.lng is None):
        missing = "lng" if draft.lng is None else "lat"
        raise RuleViolation(f"location.{missing}", "a point needs both lat and lng")
    if not has_point and draft.country is None:
        raise RuleViolation("location", "give a point (lat, lng, precision) or a country")
    if not has_point and draft.precision is not None:
        raise RuleViolation("location.precision", "precision applies to a point (lat, lng)")
    cell = None
    if draft.lat is not None and draft.lng is not None:  # checked above: both or neither
        precision = floor if draft.precision is None else draft.precision
        cell = cell_for(draft.lat, draft.lng, precision, floor)
    return Location(cell=cell, country=draft.country)


def check_expiry(expires_at: datetime | None, *, now: datetime, policy: Policy) -> datetime:
    if expires_at is None:
        return now + timedelta(days=policy.default_intent_days)
    if expires_at <= now + timedelta(minutes=1):
        raise RuleViolation("expires_at", "must be in the future")
    if expires_at > now + timedelta(days=policy.max_intent_days):
        raise RuleViolation("expires_at", f"at most {policy.max_intent_days} days ahead")
    return expires_at.astimezone(UTC)


def check_attribute_text(attributes: dict[str, str | list[str]]) -> None:
    total = sum(
        len(key) + (len(value) if isinstance(value, str) else sum(len(v) for v in value))
        for key, value in attributes.items()
    )
    if total > MAX_ATTRIBUTE_TEXT:
        raise RuleViolation(
            "attributes",
            f"at most {MAX_ATTRIBUTE_TEXT:,} characters of keys and values in all ({total:,})",
        )


def check_needed_by(needed_by: date | None, *, now: datetime) -> date | None:
    if needed_by is not None and needed_by < now.date():
        raise RuleViolation("needed_by", "must not be in the past")
    return needed_by


def merge_terms(base: Terms, draft: TermsDraft | None) -> Terms:
    if draft is None:
        return base
    overrides = {k: v for k, v in msgspec.structs.asdict(draft).items() if v is not None}
    return msgspec.structs.replace(base, **overrides)


def new_intent(
    draft: IntentDraft,
    *,
    intent_id: str,
    buyer_id: str,
    category: str,
    region: str | None,
    now: datetime,
    policy: Policy,
) -> Intent:
    """Validate a draft (``category`` already resolved) and build the intent to store."""
    check_attribute_text(draft.attributes)
    location = check_location(draft.location, policy.location_floor)
    text = public_text(
        draft.title,
        draft.description,
        draft.attributes,
        region=(location.country if location and location.country else region),
    )
    return Intent(
        id=intent_id,
        buyer_id=buyer_id,
        status="open",
        category=category,
        title=draft.title,
        description=draft.description,
        attributes=draft.attributes,
        public_title=text.title,
        public_description=text.description,
        public_attributes=text.attributes,
        redactions=text.redactions,
        quantity=draft.quantity,
        budget=check_budget(draft.budget),
        location=location,
        fulfilment=_unique(draft.fulfilment),
        needed_by=check_needed_by(draft.needed_by, now=now),
        expires_at=check_expiry(draft.expires_at, now=now, policy=policy),
        terms=merge_terms(default_terms(policy.retention_days), draft.terms),
        published_at=now,
        updated_at=now,
        version=1,
    )


def apply_patch(
    intent: Intent, patch: IntentPatch, *, region: str | None, now: datetime, policy: Policy
) -> tuple[Intent, OutboxEventType | None]:
    """The intent after ``patch`` and the event it records (None when nothing changed)."""
    changes: dict[str, object] = {}
    given = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    target = given.pop("status", None)
    if given and not is_live(intent.status):
        raise IntentClosed(intent.status, "it can no longer be edited")
    if "expires_at" in given:
        changes["expires_at"] = check_expiry(given.pop("expires_at"), now=now, policy=policy)
    if "budget" in given:
        changes["budget"] = check_budget(given.pop("budget"))
    if "needed_by" in given:
        changes["needed_by"] = check_needed_by(given.pop("needed_by"), now=now)
    if "terms" in given:
        changes["terms"] = merge_terms(intent.terms, given.pop("terms"))
    if "fulfilment" in given:
        changes["fulfilment"] = _unique(given.pop("fulfilment"))
    if "attributes" in given:
        check_attribute_text(given["attributes"])
    changes.update(given)  # title, description, attributes, quantity
    if {"title", "description", "attributes"} & changes.keys():
        merged = msgspec.structs.replace(intent, **changes)  # type: ignore[arg-type]
        country = intent.location.country if intent.location else None
        text = public_text(
            merged.title, merged.description, merged.attributes, region=country or region
        )
        changes.update(
            public_title=text.title,
            public_description=text.description,
            public_attributes=text.attributes,
            redactions=text.redactions,
        )
    if target is not None and target != intent.status:
        check_transition(intent.status, target)
        changes["status"] = target
    changes = {k: v for k, v in changes.items() if getattr(intent, k) != v}
    if not changes:
        return intent, None
    updated = msgspec.structs.replace(intent, **changes, updated_at=now)  # type: ignore[arg-type]
    return updated, event_for_status(updated.status)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
