"""The vendor verification queue: vendors by status (the pending ones — the queue — by
default), a vendor's page with its record and its audit history, and verifying, suspending
(a reason is required: the vendor is shown it) and reinstating it, through
``services.vendor_moderation`` as ``/v1/admin/vendors`` does."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.admin.common import ReasonBody, RequiredReasonBody, actor_of
from intentcast.api.types import decode_time_cursor, encode_time_cursor
from intentcast.domain.accounts import VendorAction
from intentcast.domain.errors import DomainError
from intentcast.services import vendor_moderation
from intentcast.services.audit import audit_page
from intentcast.store.accounts import Principal
from intentcast.web.errors import message_of, status_of
from intentcast.web.forms import form_fields
from intentcast.web.operator.common import (
    PAGE_SIZE,
    REQUIRES_OPERATOR,
    field_errors,
    operator_page,
    see_other,
)

VendorFilter = Literal["pending", "verified", "suspended", "all"]
VENDOR_FILTERS: dict[str, str] = {
    "pending": "Pending review",
    "verified": "Verified",
    "suspended": "Suspended",
    "all": "All vendors",
}
HISTORY_SHOWN = 20
Cursor = Annotated[str | None, Parameter(max_length=200)]


class OperatorVendorPages(Controller):
    path = "/operator/vendors"
    include_in_schema = False
    dependencies = REQUIRES_OPERATOR

    @get("/")
    async def queue(
        self,
        operator: Principal,
        db: asyncpg.Connection,
        status: VendorFilter = "pending",
        after: Cursor = None,
    ) -> Any:
        vendors = await vendor_moderation.list_vendors(
            db,
            status=None if status == "all" else status,
            limit=PAGE_SIZE,
            after=decode_time_cursor(after),
        )
        full = len(vendors) == PAGE_SIZE
        return operator_page(
            "vendors.html",
            operator,
            vendors=vendors,
            vendor_status=status,
            filters=VENDOR_FILTERS,
            next_cursor=encode_time_cursor(vendors[-1].created_at, vendors[-1].id)
            if full
            else None,
        )

    @get("/{vendor_id:str}")
    async def vendor(
        self, vendor_id: str, operator: Principal, db: asyncpg.Connection, done: str | None = None
    ) -> Any:
        return await _vendor_page(db, operator, vendor_id, done=done)

    @post("/{vendor_id:str}/verify", status_code=303)
    async def verify(
        self,
        vendor_id: str,
        request: Request[Any, Any, Any],
        operator: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> Any:
        return await _act(request, db, redis, operator, vendor_id, "verify", ReasonBody)

    @post("/{vendor_id:str}/suspend", status_code=303)
    async def suspend(
        self,
        vendor_id: str,
        request: Request[Any, Any, Any],
        operator: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> Any:
        return await _act(request, db, redis, operator, vendor_id, "suspend", RequiredReasonBody)

    @post("/{vendor_id:str}/reinstate", status_code=303)
    async def reinstate(
        self,
        vendor_id: str,
        request: Request[Any, Any, Any],
        operator: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> Any:
        return await _act(request, db, redis, operator, vendor_id, "reinstate", ReasonBody)


async def _act(
    request: Request[Any, Any, Any],
    db: asyncpg.Connection,
    redis: Redis,
    operator: Principal,
    vendor_id: str,
    action: VendorAction,
    body_type: type[ReasonBody] | type[RequiredReasonBody],
) -> Any:
    form = await form_fields(request, ("reason",))
    reason = form["reason"].strip()
    try:
        body = msgspec.convert({"reason": reason} if reason else {}, body_type)
    except msgspec.ValidationError as exc:
        return await _vendor_page(
            db,
            operator,
            vendor_id,
            status=422,
            form_action=action,
            errors=field_errors(exc),
            reason=form["reason"],
        )
    try:
        await vendor_moderation.change_vendor_status(
            db,
            redis,
            actor=actor_of(operator),
            vendor_id=vendor_id,
            action=action,
            reason=body.reason,
        )
    except DomainError as exc:
        return await _vendor_page(
            db,
            operator,
            vendor_id,
            status=status_of(exc),
            form_action=action,
            errors={"action": message_of(exc)},
            reason=form["reason"],
        )
    return see_other(f"/operator/vendors/{vendor_id}?done={action}")


async def _vendor_page(
    db: asyncpg.Connection,
    operator: Principal,
    vendor_id: str,
    *,
    status: int = 200,
    done: str | None = None,
    form_action: str | None = None,
    errors: dict[str, str] | None = None,
    reason: str = "",
) -> Any:
    vendor = await vendor_moderation.get_vendor(db, vendor_id)
    history = await audit_page(
        db, after=None, limit=HISTORY_SHOWN, newest_first=True, target=vendor_id
    )
    return operator_page(
        "vendor.html",
        operator,
        status=status,
        done=done,
        vendor=vendor,
        history=history,
        form_action=form_action,
        errors=errors or {},
        reason=reason,
    )
