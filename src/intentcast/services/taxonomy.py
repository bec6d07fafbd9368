"""The category taxonomy as each process holds it: loaded once, reloaded when PostgreSQL
says it changed (a cheap fingerprint), so an import or an operator edit shows up without a
restart."""

from __future__ import annotations

import asyncpg

from intentcast.domain.errors import RuleViolation
from intentcast.domain.taxonomy import Category, Taxonomy
from intentcast.store.categories import Categories


class TaxonomyCache:
    def __init__(self) -> None:
        self.taxonomy = Taxonomy([])
        self._fingerprint: tuple[object, ...] | None = None

    async def load(self, conn: asyncpg.Connection) -> Taxonomy:
        """Reload if the taxonomy changed. Takes the caller's connection: a handler that
        already holds one must not wait for a second (that deadlocks the pool under load)."""
        categories = Categories(conn)
        fingerprint = await categories.fingerprint()
        if fingerprint != self._fingerprint:
            self.taxonomy = await categories.taxonomy()
            self._fingerprint = fingerprint
        return self.taxonomy

    async def current(self, conn: asyncpg.Connection) -> Taxonomy:
        if self._fingerprint is None:
            await self.load(conn)
        return self.taxonomy

    async def resolve(self, conn: asyncpg.Connection, ref: str, field: str) -> Category:
        """The category ``ref`` names (a path or ``gpc:<id>``); a rule violation naming
        ``field``, with close matches as ``suggestions``, when there is none."""
        found = (await self.current(conn)).resolve(ref)
        if found is None:
            found = (await self.load(conn)).resolve(ref)
        if found is None:
            suggestions = self.taxonomy.suggest(ref)
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise RuleViolation(field, f"unknown category {ref!r}{hint}", suggestions=suggestions)
        return found

    async def resolve_all(self, conn: asyncpg.Connection, refs: list[str], field: str) -> list[str]:
        """The paths ``refs`` name, each once, in order; errors name ``field[i]``."""
        paths = [
            (await self.resolve(conn, ref, f"{field}[{i}]")).path for i, ref in enumerate(refs)
        ]
        return list(dict.fromkeys(paths))
