"""Repository for the category taxonomy, and seeding the default one on first start."""

from __future__ import annotations

import asyncpg

from intentcast.domain.taxonomy import Category, Taxonomy, default_categories


class Categories:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def all(self) -> list[Category]:
        rows = await self.conn.fetch(
            "SELECT path, name, parent, gpc_id FROM categories ORDER BY path"
        )
        by_depth = sorted(rows, key=lambda r: (r["path"].count("/"), r["path"]))
        return [Category(r["path"], r["name"], r["parent"], r["gpc_id"]) for r in by_depth]

    async def taxonomy(self) -> Taxonomy:
        return Taxonomy(await self.all())

    async def upsert(self, categories: list[Category]) -> int:
        """Insert or update ``categories`` (parents before children)."""
        await self.conn.executemany(
            """INSERT INTO categories (path, name, parent, gpc_id) VALUES ($1, $2, $3, $4)
               ON CONFLICT (path) DO UPDATE
                  SET name = EXCLUDED.name, gpc_id = EXCLUDED.gpc_id, updated_at = now()""",
            [(c.path, c.name, c.parent, c.gpc_id) for c in categories],
        )
        return len(categories)

    async def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever a category is added, changed or removed."""
        row = await self.conn.fetchrow(
            "SELECT count(*), max(updated_at), sum(hashtext(path)) FROM categories"
        )
        return tuple(row)

    async def count(self) -> int:
        return await self.conn.fetchval("SELECT count(*) FROM categories")

    async def lock(self) -> None:
        """Hold off other writers of the taxonomy until this transaction ends (readers still
        see the last committed taxonomy)."""
        await self.conn.execute("LOCK TABLE categories IN EXCLUSIVE MODE")

    async def seed_default(self) -> int:
        """Load the default taxonomy once, into an empty table."""
        async with self.conn.transaction():
            await self.lock()
            if await self.count():
                return 0
            return await self.upsert(default_categories())
