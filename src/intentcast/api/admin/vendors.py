"""``/v1/admin/vendors``: vendors by status, and verifying, suspending and reinstating them."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.admin.common import ReasonBody, RequiredReasonBody, actor_of
from intentcast.api.types import (
    DEFAULT_LIMIT,
    AfterParam,
    LimitParam,
    decode_time_cursor,
    encode_time_cursor,
)
from intentcast.domain.accounts import VendorAction, VendorStatus
from intentcast.services import vendor_moderation
from intentcast.services.vendor_moderation import VendorRecord
from intentcast.store.accounts import Principal


class VendorRecordPage(msgspec.Struct):
    items: list[VendorRecord]
    next: str | None


StatusParam = Annotated[
    VendorStatus | None,
    Parameter(description="Only vendors with this status (`pending` is the review queue)."),
]


class AdminVendorController(Controller):
    path = "/vendors"

    @get(operation_id="adminListVendors", summary="Vendors, newest sign-ups first")
    async def list_vendors(
        self,
        db: asyncpg.Connection,
        status: StatusParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
    ) -> VendorRecordPage:
        """Operators only. Every vendor with its contact data and moderation status,
        newest sign-up first; `?status=pending` is the review queue. Paginated with `next`."""
        items = await vendor_moderation.list_vendors(
            db, status=status, limit=limit, after=decode_time_cursor(after)
        )
        full = len(items) == limit and items
        return VendorRecordPage(
            items=items,
            next=encode_time_cursor(items[-1].created_at, items[-1].id) if full else None,
        )

    @get("/{vendor_id:str}", operation_id="adminGetVendor", summary="One vendor")
    async def get_vendor(self, vendor_id: str, db: asyncpg.Connection) -> VendorRecord:
        """Operators only. The vendor's record: contact data, status, why and when it last
        changed (never its tokens). 404 for an unknown id."""
        return await vendor_moderation.get_vendor(db, vendor_id)

    @post(
        "/{vendor_id:str}/verify",
        operation_id="adminVerifyVendor",
        summary="Verify a pending vendor",
        status_code=200,
    )
    async def verify(
        self,
        vendor_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        data: ReasonBody | None = None,
    ) -> VendorRecord:
        """It receives matches from now on and may make offers. 409 `illegal-transition`
        unless pending; 409 `vendor-name-taken` if a verified vendor already uses its name."""
        return await self._act(vendor_id, "verify", data, principal, db, redis)

    @post(
        "/{vendor_id:str}/suspend",
        operation_id="adminSuspendVendor",
        summary="Suspend a vendor",
        status_code=200,
    )
    async def suspend(
        self,
        vendor_id: str,
        data: RequiredReasonBody,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> VendorRecord:
        """At once: every vendor route answers it 403 `vendor-suspended` (except `GET /v1/me`,
        which shows the reason), its live streams close, its webhooks stop, it gets no
        matches or intent updates, and its live offers are withdrawn (each buyer told)."""
        return await self._act(vendor_id, "suspend", data, principal, db, redis)

    @post(
        "/{vendor_id:str}/reinstate",
        operation_id="adminReinstateVendor",
        summary="Reinstate a suspended vendor",
        status_code=200,
    )
    async def reinstate(
        self,
        vendor_id: str,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        data: ReasonBody | None = None,
    ) -> VendorRecord:
        """Back to verified (or pending, if it never was verified). Offers withdrawn by the
        suspension stay withdrawn."""
        return await self._act(vendor_id, "reinstate", data, principal, db, redis)

    async def _act(
        self,
        vendor_id: str,
        action: VendorAction,
        body: ReasonBody | RequiredReasonBody | None,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> VendorRecord:
        return await vendor_moderation.change_vendor_status(
            db,
            redis,
            actor=actor_of(principal),
            vendor_id=vendor_id,
            action=action,
            reason=body.reason if body is not None else None,
        )
