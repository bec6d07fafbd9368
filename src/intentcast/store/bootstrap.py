"""Bring a database to the state the code expects: migrations, then first-start data."""

from __future__ import annotations

import asyncpg

from intentcast.store.categories import Categories
from intentcast.store.db import connect
from intentcast.store.migrate import apply_migrations


async def prepare_database(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations and seed the default taxonomy; return migrations applied."""
    applied = await apply_migrations(conn)
    await Categories(conn).seed_default()
    return applied


async def prepare_url(url: str) -> list[int]:
    async with connect(url) as conn:
        return await prepare_database(conn)
