"""Accounts: buyer and vendor sign-up, ``/v1/me``, vendor public profiles and vendor tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State

from intentcast.api.auth import requires_account, requires_vendor
from intentcast.api.errors import conflict, not_found
from intentcast.api.types import (
    DEFAULT_LIMIT,
    Address,
    Country,
    DisplayName,
    Email,
    HttpUrl,
    LimitParam,
    LongText,
    PersonName,
    Phone,
    ShortText,
    decode_cursor,
    next_cursor,
)
from intentcast.config import Settings
from intentcast.security import Sealer, new_id
from intentcast.store.accounts import (
    PERSONA_FIELDS,
    BuyerRow,
    Buyers,
    Principal,
    Tokens,
    VendorRow,
    Vendors,
)
from intentcast.store.deals import Ratings

# ---- request and response bodies -------------------------------------------------------


class BuyerCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName
    email: Email | None = None
    phone: Phone | None = None
    name: PersonName | None = None
    address: Address | None = None
    country: Country | None = msgspec.field(default=None)
    """Where the buyer lives: the default region for reading phone numbers in their text."""


class BuyerPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Fields to change; ``null`` clears a persona field, an absent field is kept."""

    display_name: DisplayName | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    name: PersonName | msgspec.UnsetType | None = msgspec.UNSET
    address: Address | msgspec.UnsetType | None = msgspec.UNSET
    country: Country | msgspec.UnsetType | None = msgspec.UNSET


class Buyer(msgspec.Struct, kw_only=True):
    id: str
    display_name: str
    email: str | None
    phone: str | None
    name: str | None
    address: str | None
    country: str | None
    created_at: datetime


class BuyerCreated(msgspec.Struct):
    buyer: Buyer
    token: str
    """Shown once: store it now; only its hash is kept."""


class VendorCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: ShortText
    website: HttpUrl | None = None
    description: LongText | None = None
    contact_email: Email | None = None


class VendorPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    name: ShortText | msgspec.UnsetType = msgspec.UNSET
    website: HttpUrl | msgspec.UnsetType | None = msgspec.UNSET
    description: LongText | msgspec.UnsetType | None = msgspec.UNSET
    contact_email: Email | msgspec.UnsetType | None = msgspec.UNSET


class VendorAccount(msgspec.Struct, kw_only=True):
    """The vendor's own view of its account."""

    id: str
    name: str
    website: str | None
    description: str | None
    contact_email: str | None
    status: str
    created_at: datetime


class VendorCreated(msgspec.Struct):
    vendor: VendorAccount
    token: str
    """Shown once: store it now; only its hash is kept."""


class Reputation(msgspec.Struct, kw_only=True):
    rating_average: float | None
    rating_count: int
    intents_matched: int
    offer_rate: float | None
    """Share of matched intents this vendor made an offer on."""
    median_minutes_to_first_offer: float | None


class VendorProfile(msgspec.Struct, kw_only=True):
    """What anyone may see of a vendor."""

    id: str
    name: str
    website: str | None
    description: str | None
    verified: bool
    member_since: datetime
    reputation: Reputation


class OperatorAccount(msgspec.Struct, kw_only=True):
    id: str
    role: str = "operator"


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    label: ShortText | None = None


class TokenInfo(msgspec.Struct, kw_only=True):
    id: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(msgspec.Struct, kw_only=True):
    id: str
    label: str | None
    created_at: datetime
    token: str
    """Shown once."""


class TokenPage(msgspec.Struct):
    items: list[TokenInfo]
    next: str | None


# ---- projections ------------------------------------------------------------------------


def buyer_view(row: BuyerRow, sealer: Sealer) -> Buyer:
    persona = {
        f: sealer.open_optional(row.sealed[f], context=f"{row.id}:{f}") for f in PERSONA_FIELDS
    }
    return Buyer(
        id=row.id,
        display_name=row.display_name,
        country=row.country,
        created_at=row.created_at,
        **persona,
    )


def vendor_account(row: VendorRow) -> VendorAccount:
    return VendorAccount(
        id=row.id,
        name=row.name,
        website=row.website,
        description=row.description,
        contact_email=row.contact_email,
        status=row.status,
        created_at=row.created_at,
    )


def seal_persona(buyer_id: str, values: dict[str, Any], sealer: Sealer) -> dict[str, bytes | None]:
    return {
        f: sealer.seal_optional(values.get(f), context=f"{buyer_id}:{f}")
        for f in PERSONA_FIELDS
        if f in values
    }


# ---- controllers ------------------------------------------------------------------------


class SignupController(Controller):
    path = "/v1"
    tags = ["accounts"]

    @post("/buyers", operation_id="createBuyer", summary="Create a buyer account")
    async def create_buyer(
        self, data: BuyerCreate, db: asyncpg.Connection, state: State
    ) -> BuyerCreated:
        """Returns the buyer and its token (shown once). Persona fields are encrypted at rest
        and only ever disclosed to a vendor the buyer reveals them to."""
        buyer_id = new_id("byr")
        sealed = seal_persona(buyer_id, msgspec.structs.asdict(data), state.sealer)
        async with db.transaction():
            row = await Buyers(db).create(buyer_id, data.display_name, sealed, data.country)
            _, token = await Tokens(db).issue("buyer", buyer_id, "initial")
        return BuyerCreated(buyer=buyer_view(row, state.sealer), token=token)

    @post("/vendors", operation_id="createVendor", summary="Create a vendor account")
    async def create_vendor(
        self, data: VendorCreate, db: asyncpg.Connection, settings: Settings
    ) -> VendorCreated:
        """The vendor starts `pending` until an operator verifies it (unless the operator
        setting `auto_verify_vendors` is on). Returns its first token (shown once)."""
        vendor_id = new_id("ven")
        async with db.transaction():
            row = await Vendors(db).create(
                vendor_id,
                name=data.name,
                website=data.website,
                description=data.description,
                contact_email=data.contact_email,
                verified=settings.auto_verify_vendors,
            )
            _, token = await Tokens(db).issue("vendor", vendor_id, "initial")
        return VendorCreated(vendor=vendor_account(row), token=token)

    @get(
        "/vendors/{vendor_id:str}",
        operation_id="getVendorProfile",
        summary="A vendor's public profile",
    )
    async def vendor_profile(self, vendor_id: str, db: asyncpg.Connection) -> VendorProfile:
        row = await Vendors(db).get(vendor_id)
        if row is None or row.status == "suspended":
            raise not_found("vendor")
        stats = (await Ratings(db).reputation([vendor_id]))[vendor_id]
        return VendorProfile(
            id=row.id,
            name=row.name,
            website=row.website,
            description=row.description,
            verified=row.status == "verified",
            member_since=row.created_at,
            reputation=Reputation(
                rating_average=stats["average"],
                rating_count=stats["count"],
                intents_matched=stats["matched"],
                offer_rate=stats["offered"] / stats["matched"] if stats["matched"] else None,
                median_minutes_to_first_offer=stats["median_minutes"],
            ),
        )


class MeController(Controller):
    path = "/v1/me"
    tags = ["accounts"]
    guards = [requires_account]

    @get(operation_id="getMe", summary="The calling account")
    async def get_me(
        self, principal: Principal, db: asyncpg.Connection, state: State
    ) -> Buyer | VendorAccount | OperatorAccount:
        """For a buyer: the persona (decrypted for its owner only). For a vendor: its account."""
        if principal.role == "buyer":
            row = await Buyers(db).get(principal.subject_id)
            assert row is not None
            return buyer_view(row, state.sealer)
        if principal.role == "vendor":
            vendor = await Vendors(db).get(principal.subject_id)
            assert vendor is not None
            return vendor_account(vendor)
        return OperatorAccount(id=principal.subject_id)

    @patch(operation_id="updateMe", summary="Change the calling account")
    async def update_me(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db: asyncpg.Connection,
        state: State,
    ) -> Buyer | VendorAccount:
        """A buyer sends `BuyerPatch`, a vendor `VendorPatch`; `null` clears an optional field."""
        raw = await request.body()
        if principal.role == "buyer":
            buyer_patch = _decode_body(raw, BuyerPatch)
            values = msgspec.structs.asdict(buyer_patch)
            changes: dict[str, Any] = {k: v for k, v in values.items() if v is not msgspec.UNSET}
            sealed = seal_persona(principal.subject_id, changes, state.sealer)
            columns = {k: v for k, v in changes.items() if k not in PERSONA_FIELDS}
            columns.update({f"{k}_sealed": v for k, v in sealed.items()})
            repo = Buyers(db)
            row = (
                await repo.update(principal.subject_id, columns)
                if columns
                else await repo.get(principal.subject_id)
            )
            assert row is not None
            return buyer_view(row, state.sealer)
        if principal.role == "vendor":
            vendor_patch = _decode_body(raw, VendorPatch)
            vendor_changes = {
                k: v
                for k, v in msgspec.structs.asdict(vendor_patch).items()
                if v is not msgspec.UNSET
            }
            vendors = Vendors(db)
            vendor = (
                await vendors.update(principal.subject_id, vendor_changes)
                if vendor_changes
                else await vendors.get(principal.subject_id)
            )
            assert vendor is not None
            return vendor_account(vendor)
        raise conflict("Operator accounts have nothing to change here.")


def _decode_body(raw: bytes, kind: type[Any]) -> Any:
    """Decode a body whose type depends on the caller; errors look like Litestar's own."""
    from litestar.exceptions import ValidationException

    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.DecodeError as exc:
        if isinstance(exc, msgspec.ValidationError):
            raise ValidationException(
                detail="Validation failed",
                extra=[{"message": str(exc), "key": "", "source": "body"}],
            ) from None
        raise ValidationException(detail="JSON is malformed") from None


class VendorTokenController(Controller):
    path = "/v1/vendor/tokens"
    tags = ["vendor"]
    guards = [requires_vendor]

    @post(operation_id="createVendorToken", summary="Create another token (key rotation)")
    async def create_token(
        self, data: TokenCreate, principal: Principal, db: asyncpg.Connection
    ) -> TokenCreated:
        tokens = Tokens(db)
        token_id, token = await tokens.issue("vendor", principal.subject_id, data.label)
        row = await tokens.get(principal.subject_id, token_id)
        assert row is not None
        return TokenCreated(id=token_id, label=data.label, created_at=row.created_at, token=token)

    @get(operation_id="listVendorTokens", summary="This vendor's tokens (never the secrets)")
    async def list_tokens(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: str | None = None,
    ) -> TokenPage:
        rows = await Tokens(db).list_for(
            principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [TokenInfo(**msgspec.structs.asdict(r)) for r in rows]
        return TokenPage(items=items, next=next_cursor(items, limit))

    @delete("/{token_id:str}", operation_id="revokeVendorToken", summary="Revoke a token")
    async def revoke_token(
        self, token_id: str, principal: Principal, db: asyncpg.Connection
    ) -> None:
        """Takes effect on the next request. The last live token cannot be revoked (409):
        create its replacement first."""
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", principal.subject_id)
            tokens = Tokens(db)
            row = await tokens.get(principal.subject_id, token_id)
            if row is None or row.revoked_at is not None:
                raise not_found("token")
            if await tokens.count_live(principal.subject_id) <= 1:
                raise conflict(
                    "This is the vendor's last live token; create another first.", "last-token"
                )
            await tokens.revoke(principal.subject_id, token_id)
