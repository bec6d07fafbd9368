"""What an operator watches: the audit log (newest first, a page at a time with the API's
cursor, filtered by action or target like ``GET /v1/admin/audit``) and the stats panel
(``services.stats``, as ``GET /v1/admin/stats``), which its script refreshes from
``/operator/stats.json`` — a same-origin JSON route behind the operator's web session —
every few seconds."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, get
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.types import decode_cursor, encode_cursor
from intentcast.services.audit import audit_page
from intentcast.services.stats import OperatorStats, operator_stats
from intentcast.store.accounts import Principal
from intentcast.web.errors import FormError
from intentcast.web.operator.common import PAGE_SIZE, REQUIRES_OPERATOR, operator_page

STATS_REFRESH_S = 5
"""How often the stats panel's script asks for fresh numbers."""


class OperatorActivityPages(Controller):
    path = "/operator"
    include_in_schema = False
    dependencies = REQUIRES_OPERATOR

    @get("/audit")
    async def audit(
        self,
        operator: Principal,
        db: asyncpg.Connection,
        after: Annotated[str | None, Parameter(max_length=200)] = None,
        action: Annotated[str | None, Parameter(max_length=100)] = None,
        target: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> Any:
        position = decode_cursor(after)
        if position is not None and not (position.isascii() and position.isdigit()):
            raise FormError("after", "not a cursor of this page", status=400)
        action = (action or "").strip() or None
        target = (target or "").strip() or None
        entries = await audit_page(
            db,
            after=int(position) if position is not None else None,
            limit=PAGE_SIZE,
            newest_first=True,
            target=target,
            action=action,
        )
        full = len(entries) == PAGE_SIZE
        return operator_page(
            "audit.html",
            operator,
            entries=entries,
            action=action or "",
            target=target or "",
            next_cursor=encode_cursor(str(entries[-1].id)) if full else None,
        )

    @get("/stats")
    async def stats_page(self, operator: Principal, db: asyncpg.Connection, redis: Redis) -> Any:
        return operator_page(
            "stats.html",
            operator,
            stats=await operator_stats(db, redis),
            refresh_s=STATS_REFRESH_S,
        )

    @get("/stats.json")
    async def stats_json(
        self, operator: Principal, db: asyncpg.Connection, redis: Redis
    ) -> OperatorStats:
        """The panel's numbers for its script (the same as ``GET /v1/admin/stats``)."""
        return await operator_stats(db, redis)
