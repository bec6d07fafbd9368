"""``/v1/me``: the calling account, the buyer's live event stream and disclosure ledger, and
the buyer's data rights (export, erasure) and tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from litestar.response import ServerSentEvent
from redis.asyncio import Redis

from intentcast.api.accounts import (
    Buyer,
    BuyerPatch,
    BuyerTokenCreate,
    OperatorAccount,
    TokenCreated,
    TokenInfo,
    TokenPage,
    VendorAccount,
    VendorPatch,
    buyer_view,
    vendor_account_view,
)
from intentcast.api.auth import OPEN_TO_SUSPENDED, requires_account, requires_buyer
from intentcast.api.errors import decode_or_problem
from intentcast.api.event_docs import AFTER_SEQ, LAST_EVENT_ID, BuyerEventStream, stream_response
from intentcast.api.intents import BuyerIntent, buyer_intent
from intentcast.api.streams import EventStreams, seq_param
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_cursor,
    decode_time_cursor,
    encode_time_cursor,
    next_cursor,
)
from intentcast.config import Settings
from intentcast.domain.errors import NothingToChange
from intentcast.security import Keys
from intentcast.services import accounts, data_rights, reveals
from intentcast.services.data_rights import BuyerData
from intentcast.services.offers import BuyerOfferView, RatingView
from intentcast.services.relay import ThreadView
from intentcast.services.reveals import RevealView
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


class ExportedIntent(BuyerIntent, kw_only=True):
    purged_at: datetime | None = None
    """When its free text was removed (the retention purge); null while it is kept."""


class PasskeyInfo(msgspec.Struct, kw_only=True):
    """A passkey of the buyer's, as the export lists it."""

    id: str
    label: str
    transports: list[str]
    backed_up: bool
    """Synced by a passkey provider (not bound to one device)."""
    created_at: datetime
    last_used_at: datetime | None


class BuyerExport(msgspec.Struct, kw_only=True):
    """Everything intentcast stores about you, as one document."""

    exported_at: datetime
    buyer: Buyer
    """Your persona, decrypted for you."""
    intents: list[ExportedIntent]
    """Every intent, newest first, with your own words and exactly what vendors see."""
    offers: list[BuyerOfferView]
    """Every offer you received, in its current version."""
    threads: list[ThreadView]
    """Every relay thread with its messages."""
    reveals: list[RevealView]
    """Every reveal, each with its signed consent receipts (verify them with
    `/v1/receipts/public-key`)."""
    ratings: list[RatingView]
    blocked_vendors: list[str]
    tokens: list[TokenInfo]
    """Your tokens (never the secrets)."""
    passkeys: list[PasskeyInfo]
    """The passkeys you sign in to the web pages with (their public keys stay here)."""


async def _until(events: AsyncIterator[Any], expires_at: datetime) -> AsyncIterator[Any]:
    """``events`` until the stream's token expires (found by the next event or heartbeat,
    ``streams.HEARTBEAT_S``): an expiring token does not keep a stream open past its end."""
    try:
        async for event in events:
            if datetime.now(UTC) >= expires_at:
                return
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def buyer_export(data: BuyerData, keys: Keys, settings: Settings) -> BuyerExport:
    """The export document of ``data`` (``data_rights.export_buyer``), for the API and the
    web page's download alike."""
    return BuyerExport(
        exported_at=datetime.now(UTC),
        buyer=buyer_view(data.buyer, keys),
        intents=[
            ExportedIntent(
                **msgspec.structs.asdict(buyer_intent(i, settings)),
                purged_at=data.purged_at.get(i.id),
            )
            for i in data.intents
        ],
        offers=data.offers,
        threads=data.threads,
        reveals=data.reveals,
        ratings=data.ratings,
        blocked_vendors=data.blocked_vendors,
        tokens=[TokenInfo(**msgspec.structs.asdict(t)) for t in data.tokens],
        passkeys=[
            PasskeyInfo(
                id=k.id,
                label=k.label,
                transports=k.transports,
                backed_up=k.backed_up,
                created_at=k.created_at,
                last_used_at=k.last_used_at,
            )
            for k in data.passkeys
        ],
    )


def _changes(patch_value: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(patch_value).items() if v is not msgspec.UNSET}


class MeController(Controller):
    path = "/v1/me"
    tags = ["accounts"]
    guards = [requires_account]

    @get(
        operation_id="getMe",
        summary="The calling account",
        opt={OPEN_TO_SUSPENDED: True},
    )
    async def get_me(
        self, principal: Principal, db: asyncpg.Connection, keys: Keys
    ) -> Buyer | VendorAccount | OperatorAccount:
        """For a buyer: the persona (decrypted for its owner only). For a vendor: its account.
        For an operator: its id. `role` (`buyer`, `vendor`, `operator`) tells which."""
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

    @delete(operation_id="eraseMe", summary="Erase your account and data", guards=[requires_buyer])
    async def erase_me(
        self, principal: Principal, db: asyncpg.Connection, redis: Redis, keys: Keys
    ) -> None:
        """Buyers only. In one step: your open and paused intents are withdrawn (matched
        vendors receive `intent.closed`); every reveal is revoked (vendors' reads answer
        410); your persona, the text of every intent and every relay message on them are
        erased (vendors see `[purged]` where the text was); every token is revoked, so this
        token answers 401 from now on. Consent receipts stay valid: they never held your
        values. Erasing twice changes nothing."""
        await data_rights.erase_buyer(
            db, redis, keys, buyer_id=principal.subject_id, now=datetime.now(UTC)
        )


class BuyerStreamController(Controller):
    """The buyer's own things under ``/v1/me``: live events, the ledger, the export and
    tokens."""

    path = "/v1/me"
    tags = ["offers"]
    guards = [requires_buyer]

    @get(
        "/stream",
        operation_id="streamBuyerEvents",
        summary="Your events as Server-Sent Events",
        responses={200: stream_response(BuyerEventStream)},
    )
    async def stream(
        self,
        principal: Principal,
        streams: EventStreams,
        after: Annotated[str | None, Parameter(description=AFTER_SEQ, max_length=20)] = None,
        last_event_id: Annotated[
            str | None,
            Parameter(header="Last-Event-ID", description=LAST_EVENT_ID, max_length=20),
        ] = None,
    ) -> ServerSentEvent:
        """`offer.created`, `offer.updated`, `offer.withdrawn`, `message.created`,
        `intent.removed` (an operator removed your intent, with the reason), live;
        `Last-Event-ID` (or `?after=`) resumes without loss."""
        start = seq_param(last_event_id or after)
        events = streams.buyer(principal.subject_id, start)
        if principal.expires_at is not None:
            events = _until(events, principal.expires_at)
        return ServerSentEvent(events)

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

    @get("/export", operation_id="exportMe", summary="All of your data", tags=["accounts"])
    async def export(
        self, principal: Principal, db: asyncpg.Connection, keys: Keys, settings: Settings
    ) -> BuyerExport:
        """One JSON document with everything stored about you: persona, intents with your
        original words, offers received, threads with messages, reveals with their consent
        receipts, ratings, blocks and tokens."""
        data = await data_rights.export_buyer(db, principal.subject_id)
        return buyer_export(data, keys, settings)

    @post("/tokens", operation_id="createBuyerToken", summary="Create a token", tags=["accounts"])
    async def create_token(
        self, data: BuyerTokenCreate, principal: Principal, db: asyncpg.Connection
    ) -> TokenCreated:
        """Another token for your account (key rotation), or with `scopes` a delegated one
        for an agent of yours, optionally expiring at `expires_at`; shown once. Needs a full
        token: a scoped token gets 403 `token-scope`."""
        row, token = await accounts.issue_token(
            db,
            "buyer",
            principal.subject_id,
            data.label,
            scopes=data.scopes,
            expires_at=data.expires_at,
        )
        return TokenCreated(
            id=row.id,
            label=data.label,
            created_at=row.created_at,
            token=token,
            scopes=row.scopes,
            expires_at=row.expires_at,
        )

    @get("/tokens", operation_id="listBuyerTokens", summary="Your tokens", tags=["accounts"])
    async def list_tokens(
        self,
        principal: Principal,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> TokenPage:
        """Never the secrets; `last_used_at` is kept to the minute; `scopes` and
        `expires_at` say what a delegated token may do and until when."""
        rows = await accounts.account_tokens(
            db, principal.subject_id, limit=limit, after=decode_cursor(after)
        )
        items = [TokenInfo(**msgspec.structs.asdict(r)) for r in rows]
        return TokenPage(items=items, next=next_cursor(items, limit))

    @delete(
        "/tokens/{token_id:str}",
        operation_id="revokeBuyerToken",
        summary="Revoke a token",
        tags=["accounts"],
    )
    async def revoke_token(
        self, token_id: str, principal: Principal, db: asyncpg.Connection
    ) -> None:
        """Takes effect on the next request. The last live full token without an expiry
        cannot be revoked (409 `last-token`): create its replacement first."""
        await accounts.revoke_token(db, principal.subject_id, token_id)
