"""``/v1/me``: the calling account, the buyer's live event stream and disclosure ledger."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, patch
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from intentcast.api.accounts import (
    Buyer,
    BuyerPatch,
    OperatorAccount,
    VendorAccount,
    VendorPatch,
    buyer_view,
    vendor_account_view,
)
from intentcast.api.auth import requires_account, requires_buyer
from intentcast.api.errors import decode_or_problem
from intentcast.api.streams import EventStreams, seq_param
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_time_cursor,
    encode_time_cursor,
)
from intentcast.domain.errors import NothingToChange
from intentcast.security import Keys
from intentcast.services import accounts, reveals
from intentcast.store.accounts import Principal


class Disclosure(msgspec.Struct, kw_only=True):
    receipt: dict[str, Any]
    signature: str
    reveal_id: str
    active: bool
    """Whether the vendor may still read the fields (not revoked)."""


class DisclosurePage(msgspec.Struct):
    items: list[Disclosure]
    next: str | None


def _changes(patch_value: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(patch_value).items() if v is not msgspec.UNSET}


class MeController(Controller):
    path = "/v1/me"
    tags = ["accounts"]
    guards = [requires_account]

    @get(operation_id="getMe", summary="The calling account")
    async def get_me(
        self, principal: Principal, db: asyncpg.Connection, keys: Keys
    ) -> Buyer | VendorAccount | OperatorAccount:
        """For a buyer: the persona (decrypted for its owner only). For a vendor: its account."""
        if principal.role == "buyer":
            return buyer_view(await accounts.buyer_account(db, principal.subject_id), keys)
        if principal.role == "vendor":
            return vendor_account_view(await accounts.vendor_account(db, principal.subject_id))
        return OperatorAccount(id=principal.subject_id)

    @patch(operation_id="updateMe", summary="Change the calling account")
    async def update_me(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db: asyncpg.Connection,
        keys: Keys,
    ) -> Buyer | VendorAccount:
        """A buyer sends `BuyerPatch`, a vendor `VendorPatch`; `null` clears an optional field."""
        raw = await request.body()
        if principal.role == "buyer":
            changes = _changes(decode_or_problem(raw, BuyerPatch))
            row = await accounts.change_buyer(db, keys, principal.subject_id, changes)
            return buyer_view(row, keys)
        if principal.role == "vendor":
            changes = _changes(decode_or_problem(raw, VendorPatch))
            vendor = await accounts.change_vendor(db, principal.subject_id, changes)
            return vendor_account_view(vendor)
        raise NothingToChange("Operator accounts have nothing to change here.")


class BuyerStreamController(Controller):
    """The buyer's side of the deal under ``/v1/me``: live events and the ledger."""

    path = "/v1/me"
    tags = ["offers"]
    guards = [requires_buyer]

    @get(
        "/stream",
        operation_id="streamBuyerEvents",
        summary="Your events as Server-Sent Events",
    )
    async def stream(
        self,
        principal: Principal,
        streams: EventStreams,
        after: Annotated[str | None, Parameter(max_length=20)] = None,
        last_event_id: Annotated[
            str | None, Parameter(header="Last-Event-ID", max_length=20)
        ] = None,
    ) -> ServerSentEvent:
        """`offer.created`, `offer.updated`, `offer.withdrawn`, `message.created`, live;
        `Last-Event-ID` (or `?after=`) resumes without loss."""
        start = seq_param(last_event_id or after)
        return ServerSentEvent(streams.buyer(principal.subject_id, start))

    @get("/disclosures", operation_id="listDisclosures", summary="Your disclosure ledger")
    async def disclosures(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> DisclosurePage:
        """Every reveal, terms acceptance and revocation, newest first, each with its
        consent receipt and Ed25519 signature (verify with `/v1/receipts/public-key`)."""
        rows = await reveals.disclosure_ledger(
            db, principal.subject_id, limit=limit, before=decode_time_cursor(after)
        )
        items = [
            Disclosure(
                receipt=r["receipt"],
                signature=r["signature"],
                reveal_id=r["reveal_id"],
                active=r["reveal_status"] == "granted",
            )
            for r in rows
        ]
        cursor = (
            encode_time_cursor(rows[-1]["issued_at"], rows[-1]["id"])
            if len(rows) == limit
            else None
        )
        return DisclosurePage(items=items, next=cursor)
