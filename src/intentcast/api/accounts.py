"""Accounts: buyer and vendor sign-up (``/v1/buyers``, ``/v1/vendors``), the account
shapes ``/v1/me`` answers with, and vendor tokens (``/v1/vendor/tokens``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, delete, get, post

from intentcast.api.auth import requires_vendor
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
from intentcast.domain.accounts import VendorStatus
from intentcast.security import Keys
from intentcast.services import accounts
from intentcast.services.accounts import open_persona
from intentcast.store.accounts import BuyerRow, Principal, VendorRow

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


class Buyer(msgspec.Struct, kw_only=True, tag_field="role", tag="buyer"):
    """A buyer's own view of its account. Every account shape carries its ``role``
    (``buyer``, ``vendor``, ``operator``), so ``GET /v1/me`` answers a tagged union."""

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


class VendorAccount(msgspec.Struct, kw_only=True, tag_field="role", tag="vendor"):
    """The vendor's own view of its account."""

    id: str
    name: str
    website: str | None
    description: str | None
    contact_email: str | None
    status: VendorStatus
    status_reason: str | None = None
    """Why an operator suspended (or reinstated) the vendor, when one said."""
    created_at: datetime


class VendorCreated(msgspec.Struct):
    vendor: VendorAccount
    token: str
    """Shown once: store it now; only its hash is kept."""


class OperatorAccount(msgspec.Struct, kw_only=True, tag_field="role", tag="operator"):
    id: str


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    label: ShortText | None = None


ScopeName = Annotated[str, msgspec.Meta(max_length=40)]


SCOPES_DESCRIPTION = (
    "Omit for a full token. With scopes, a token for an agent of yours that may do only "
    "this: `intents:read`, `intents:write` (preview, publish, change, pause, withdraw), "
    "`offers:read`, `offers:write` (decline), `relay:read`, `relay:write` (answer, flag), "
    "`events:read` (your stream). A scoped token can never reveal, accept, read your "
    "persona, export, erase, or mint or manage tokens (403 `token-scope`). An unknown "
    "scope, or none, is 422 naming `scopes`."
)
EXPIRY_DESCRIPTION = (
    "When the token stops working (401 after): at least a minute and at most a year ahead, "
    "with a time zone. Omit for a token that lasts until revoked."
)


class BuyerTokenCreate(TokenCreate, forbid_unknown_fields=True, kw_only=True):
    scopes: (
        Annotated[list[ScopeName], msgspec.Meta(max_length=16, description=SCOPES_DESCRIPTION)]
        | None
    ) = None
    expires_at: Annotated[datetime, msgspec.Meta(description=EXPIRY_DESCRIPTION)] | None = None


class TokenInfo(msgspec.Struct, kw_only=True):
    id: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: list[str] | None = None
    """A scoped token's scopes; null for a full token."""
    expires_at: datetime | None = None
    """When the token stops working; null: when revoked."""


class TokenCreated(msgspec.Struct, kw_only=True):
    id: str
    label: str | None
    created_at: datetime
    token: str
    """Shown once."""
    scopes: list[str] | None = None
    """A scoped token's scopes; null for a full token."""
    expires_at: datetime | None = None


class TokenPage(msgspec.Struct):
    items: list[TokenInfo]
    next: str | None


# ---- projections ------------------------------------------------------------------------


def buyer_view(row: BuyerRow, keys: Keys) -> Buyer:
    return Buyer(
        id=row.id,
        display_name=row.display_name,
        country=row.country,
        created_at=row.created_at,
        **open_persona(keys, row),
    )


def vendor_account_view(row: VendorRow) -> VendorAccount:
    return VendorAccount(
        id=row.id,
        name=row.name,
        website=row.website,
        description=row.description,
        contact_email=row.contact_email,
        status=row.status,
        status_reason=row.status_reason,
        created_at=row.created_at,
    )


# ---- controllers ------------------------------------------------------------------------


class SignupController(Controller):
    path = "/v1"
    tags = ["accounts"]

    @post("/buyers", operation_id="createBuyer", summary="Create a buyer account")
    async def create_buyer(
        self, data: BuyerCreate, db: asyncpg.Connection, keys: Keys
    ) -> BuyerCreated:
        """Returns the buyer and its token (shown once). Persona fields are encrypted at rest
        and only ever disclosed to a vendor the buyer reveals them to."""
        row, token = await accounts.create_buyer(
            db,
            keys,
            display_name=data.display_name,
            country=data.country,
            persona=msgspec.structs.asdict(data),
        )
        return BuyerCreated(buyer=buyer_view(row, keys), token=token)

    @post("/vendors", operation_id="createVendor", summary="Create a vendor account")
    async def create_vendor(
        self, data: VendorCreate, db: asyncpg.Connection, settings: Settings
    ) -> VendorCreated:
        """The vendor starts `pending` until an operator verifies it (unless the operator
        setting `auto_verify_vendors` is on). Returns its first token (shown once)."""
        row, token = await accounts.create_vendor(
            db,
            name=data.name,
            website=data.website,
            description=data.description,
            contact_email=data.contact_email,
            verified=settings.auto_verify_vendors,
        )
        return VendorCreated(vendor=vendor_account_view(row), token=token)


class VendorTokenController(Controller):
    path = "/v1/vendor/tokens"
    tags = ["vendor"]
    guards = [requires_vendor]

    @post(operation_id="createVendorToken", summary="Create another token (key rotation)")
    async def create_token(
        self, data: TokenCreate, principal: Principal, db: asyncpg.Connection
    ) -> TokenCreated:
        """Vendors only. A new token for this vendor, shown once in `token` (only its hash
        is kept): deploy it, then revoke the old one."""
        row, token = await accounts.issue_token(db, "vendor", principal.subject_id, data.label)
        return TokenCreated(id=row.id, label=data.label, created_at=row.created_at, token=token)

    @get(operation_id="listVendorTokens", summary="This vendor's tokens (never the secrets)")
    async def list_tokens(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: str | None = None,
    ) -> TokenPage:
        """Vendors only. Every token of this vendor with its label and when it was
        created, last used and revoked; never the secret. Paginated with `next`."""
        rows = await accounts.account_tokens(
            db, principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [TokenInfo(**msgspec.structs.asdict(r)) for r in rows]
        return TokenPage(items=items, next=next_cursor(items, limit))

    @delete("/{token_id:str}", operation_id="revokeVendorToken", summary="Revoke a token")
    async def revoke_token(
        self, token_id: str, principal: Principal, db: asyncpg.Connection
    ) -> None:
        """Takes effect on the next request. The last live token cannot be revoked (409):
        create its replacement first."""
        await accounts.revoke_token(db, principal.subject_id, token_id)
