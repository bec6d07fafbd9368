"""The operators' audit log: append a row per operator action, read it back in pages.

The table refuses UPDATE, DELETE and TRUNCATE (a trigger), so what is written here stays.
``details`` crosses as text, so a pooled connection (with a JSON codec) and a plain one
(the CLI's) write and read the same thing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

_COLUMNS = "id, at, actor, action, target, reason, details::text AS details"


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str | None
    details: dict[str, Any]


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        reason=row["reason"],
        details=json.loads(row["details"]),
    )


class AuditLog:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def append(
        self,
        actor: str,
        action: str,
        target: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        row = await self.conn.fetchrow(
            f"""INSERT INTO audit_log (actor, action, target, reason, details)
               VALUES ($1, $2, $3, $4, $5::text::jsonb) RETURNING {_COLUMNS}""",
            actor,
            action,
            target,
            reason,
            json.dumps(details or {}),
        )
        return _entry(row)

    async def page(
        self,
        *,
        after: int | None,
        limit: int,
        newest_first: bool = False,
        target: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """A page after the entry ``after``: oldest first (a tail that never skips, since ids
        only grow) or newest first (``after`` then means older than)."""
        if newest_first:
            sql = f"""SELECT {_COLUMNS} FROM audit_log
                      WHERE ($1::bigint IS NULL OR id < $1)
                        AND ($2::text IS NULL OR target = $2)
                        AND ($3::text IS NULL OR action = $3)
                      ORDER BY id DESC LIMIT $4"""
        else:
            sql = f"""SELECT {_COLUMNS} FROM audit_log
                      WHERE ($1::bigint IS NULL OR id > $1)
                        AND ($2::text IS NULL OR target = $2)
                        AND ($3::text IS NULL OR action = $3)
                      ORDER BY id LIMIT $4"""
        rows = await self.conn.fetch(sql, after, target, action, limit)
        return [_entry(r) for r in rows]
