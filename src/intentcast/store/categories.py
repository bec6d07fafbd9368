"""Repository for the category taxonomy, and seeding the default one on first start.

Intents and subscriptions name categories by path (``intents.category``, a foreign key;
``subscriptions.categories``, an array), so moving a category rewrites those references in
the same transaction (``relocate``)."""

from __future__ import annotations

import asyncpg

from intentcast.domain.taxonomy import Category, Taxonomy, default_categories


class Categories:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def all(self) -> list[Category]:
        rows = await self.conn.fetch(
            "SELECT path, name, parent, gpc_id, retired_at FROM categories ORDER BY path"
        )
        by_depth = sorted(rows, key=lambda r: (r["path"].count("/"), r["path"]))
        return [
            Category(r["path"], r["name"], r["parent"], r["gpc_id"], r["retired_at"] is not None)
            for r in by_depth
        ]

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
        """Changes whenever a category is added, changed, moved, retired or removed."""
        row = await self.conn.fetchrow(
            """SELECT count(*), max(updated_at), sum(hashtext(path)), sum(hashtext(name)),
                      count(retired_at) FROM categories"""
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

    # ---- operators' edits (``services.category_moderation``), under ``lock`` ----------------

    async def add(self, category: Category) -> None:
        await self.conn.execute(
            """INSERT INTO categories (path, name, parent, updated_at)
               VALUES ($1, $2, $3, clock_timestamp())""",
            category.path,
            category.name,
            category.parent,
        )

    async def rename(self, path: str, name: str) -> None:
        await self.conn.execute(
            "UPDATE categories SET name = $2, updated_at = clock_timestamp() WHERE path = $1",
            path,
            name,
        )

    async def retire(self, paths: list[str]) -> None:
        await self.conn.execute(
            """UPDATE categories SET retired_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE path = ANY($1::text[]) AND retired_at IS NULL""",
            paths,
        )

    async def relocate(
        self, moved: dict[str, str]
    ) -> tuple[list[tuple[str, int, str]], list[tuple[str, int]]]:
        """Give categories new paths (old → new, parents first, a whole subtree) and rewrite
        every reference to them. Returns ``(id, version, status)`` of each live intent that
        moved (its version bumped: vendors see the category) and ``(id, change_version)``
        of each subscription rewritten."""
        old, new = list(moved), list(moved.values())
        # new rows first (the old ones still hold the gpc ids, which are unique)
        await self.conn.execute(
            """CREATE TEMP TABLE category_moves (old text, new text, ord int) ON COMMIT DROP"""
        )
        await self.conn.execute(
            """INSERT INTO category_moves
               SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY""",
            old,
            new,
        )
        await self.conn.execute(
            """CREATE TEMP TABLE category_gpc ON COMMIT DROP AS
               SELECT m.new, c.gpc_id FROM categories c JOIN category_moves m ON m.old = c.path
                WHERE c.gpc_id IS NOT NULL"""
        )
        await self.conn.execute(
            """UPDATE categories SET gpc_id = NULL
                WHERE path IN (SELECT old FROM category_moves)"""
        )
        await self.conn.execute(
            """INSERT INTO categories (path, name, parent, gpc_id, created_at, updated_at,
                                       retired_at)
               SELECT m.new, c.name, nullif(regexp_replace(m.new, '/?[^/]+$', ''), ''),
                      g.gpc_id, c.created_at, clock_timestamp(), c.retired_at
                 FROM category_moves m JOIN categories c ON c.path = m.old
                 LEFT JOIN category_gpc g ON g.new = m.new
                ORDER BY m.ord"""
        )
        live = await self.conn.fetch(
            """UPDATE intents i SET category = m.new,
                      version = CASE WHEN i.status IN ('open', 'paused')
                                     THEN i.version + 1 ELSE i.version END,
                      updated_at = CASE WHEN i.status IN ('open', 'paused')
                                        THEN now() ELSE i.updated_at END
                 FROM category_moves m
                WHERE i.category = m.old
            RETURNING i.id, i.status, i.version"""
        )
        # k-anonymity's disclosed category follows its own move (it is an ancestor of the
        # intent's, so that intent moved too and has its new version above); one that stays
        # put is kept: vendors go on seeing the pair they were shown
        await self.conn.execute(
            """UPDATE intents i SET disclosed_category = m.new FROM category_moves m
                WHERE i.disclosed_category = m.old"""
        )
        subscriptions = await self.conn.fetch(
            """UPDATE subscriptions s
                  SET categories = ARRAY(
                          SELECT coalesce(m.new, u.c) FROM unnest(s.categories)
                                 WITH ORDINALITY u(c, ord)
                            LEFT JOIN category_moves m ON m.old = u.c ORDER BY u.ord),
                      change_version = nextval('subscription_change_seq'), updated_at = now()
                WHERE s.categories && $1::text[]
            RETURNING s.id, s.change_version""",
            old,
        )
        await self.conn.executemany(
            "DELETE FROM categories WHERE path = $1", [(path,) for path in reversed(old)]
        )
        return (
            [
                (r["id"], r["version"], r["status"])
                for r in live
                if r["status"] in ("open", "paused")
            ],
            [(r["id"], r["change_version"]) for r in subscriptions],
        )
