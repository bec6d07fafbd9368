"""Connections: one asyncpg pool per process (JSON columns decoded with msgspec), and a
single short-lived connection for commands (migrate, first start, the CLI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: msgspec.json.encode(value).decode(),
            decoder=msgspec.json.decode,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (a round trip on every release).

    Safe here: the code never leaves session state behind — locks are transaction-scoped
    (``pg_advisory_xact_lock``), no LISTEN, no cursors or settings outside a transaction —
    and asyncpg still rolls back a transaction left open by a cancelled request."""


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session
    )


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One plain connection (no JSON codecs), closed on exit."""
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def ping(pool: asyncpg.Pool) -> None:
    """A round trip to PostgreSQL (readiness checks)."""
    await pool.fetchval("SELECT 1")
