"""``/v1/admin/audit``: the append-only log of every operator action."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from intentcast.api.errors import invalid
from intentcast.api.types import DEFAULT_LIMIT, AfterParam, LimitParam, decode_cursor, encode_cursor
from intentcast.services.audit import audit_page


class AuditItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    at: datetime
    actor: str
    """The operator's id (`opr_…`), or `cli:<user>` for the command line."""
    action: str
    """What was done, e.g. `vendor.suspend`, `intent.remove`, `settings.change`."""
    target: str
    """The id acted on."""
    reason: str | None = None
    details: dict[str, Any] = {}


class AuditPage(msgspec.Struct):
    items: list[AuditItem]
    next: str | None


class AuditController(Controller):
    path = "/audit"

    @get(operation_id="adminAuditLog", summary="The audit log of operator actions")
    async def audit(
        self,
        db: asyncpg.Connection,
        limit: LimitParam = DEFAULT_LIMIT,
        after: AfterParam = None,
        order: Annotated[
            Literal["asc", "desc"],
            Parameter(description="`asc`: oldest first (a tail to follow); `desc`: newest first."),
        ] = "asc",
        target: Annotated[
            str | None, Parameter(max_length=100, description="Only actions on this id.")
        ] = None,
        action: Annotated[
            str | None, Parameter(max_length=100, description="Only this action.")
        ] = None,
    ) -> AuditPage:
        """Append-only: nothing in it is ever changed or removed."""
        position = decode_cursor(after)
        if position is not None and not (position.isascii() and position.isdigit()):
            raise invalid("query.after", "not a cursor returned by this API", status=400)
        entries = await audit_page(
            db,
            after=int(position) if position is not None else None,
            limit=limit,
            newest_first=order == "desc",
            target=target,
            action=action,
        )
        items = [
            AuditItem(
                id=str(e.id),
                at=e.at,
                actor=e.actor,
                action=e.action,
                target=e.target,
                reason=e.reason,
                details=e.details,
            )
            for e in entries
        ]
        full = len(items) == limit and items
        return AuditPage(items=items, next=encode_cursor(items[-1].id) if full else None)
