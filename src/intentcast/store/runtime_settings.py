"""The operator's runtime settings in PostgreSQL: one row per setting an operator set (its
JSON value, who, when) and the version counter every process polls to notice a change.

Names and values are not judged here (``services/runtime_settings.py`` validates them
against ``config.Settings``); a value travels as JSON, so ``true`` stays a boolean. Values
cross as text (``::text``), so pooled connections (JSON codecs) and the CLI's plain ones
(none) store and read the same thing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
import msgspec


class StoredSetting(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: Any
    changed_by: str
    changed_at: datetime


class RuntimeSettingsStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def version(self) -> int:
        """The counter as committed: cheap enough to ask every few seconds."""
        return int(await self.conn.fetchval("SELECT version FROM runtime_settings_version") or 0)

    async def snapshot(self) -> tuple[int, dict[str, StoredSetting]]:
        """The version and every stored value, read consistently (one statement)."""
        rows = await self.conn.fetch(
            """SELECT v.version, s.name, s.value::text AS value, s.changed_by, s.changed_at
                 FROM runtime_settings_version v
                 LEFT JOIN runtime_settings s ON true"""
        )
        version = int(rows[0]["version"]) if rows else 0
        stored = {
            r["name"]: StoredSetting(
                name=r["name"],
                value=json.loads(r["value"]),
                changed_by=r["changed_by"],
                changed_at=r["changed_at"],
            )
            for r in rows
            if r["name"] is not None
        }
        return version, stored

    async def lock_and_bump(self) -> int:
        """Inside a change's transaction, first: take the counter's row lock (concurrent
        changes wait here, so each validates against the other's result) and return the
        new version."""
        return int(
            await self.conn.fetchval(
                "UPDATE runtime_settings_version SET version = version + 1 RETURNING version"
            )
        )

    async def put(self, name: str, value: Any, changed_by: str) -> None:
        await self.conn.execute(
            """INSERT INTO runtime_settings (name, value, changed_by, changed_at)
               VALUES ($1, $2::text::jsonb, $3, now())
               ON CONFLICT (name) DO UPDATE
                  SET value = EXCLUDED.value, changed_by = EXCLUDED.changed_by,
                      changed_at = EXCLUDED.changed_at""",
            name,
            json.dumps(value),
            changed_by,
        )

    async def delete(self, name: str) -> None:
        await self.conn.execute("DELETE FROM runtime_settings WHERE name = $1", name)
