"""The category taxonomy as each process holds it: loaded once, reloaded when PostgreSQL
says it changed (a cheap fingerprint, asked at most every ``REFRESH_EVERY_S`` seconds and on
any unknown reference), so an import or an operator's edit shows up in every process within
seconds, without a restart. A retired category is refused to new intents and subscriptions.
(The matchers hold no taxonomy: they compare the paths stored in intents and subscriptions,
which moving a category rewrites.)"""

from __future__ import annotations

import math
import time

import asyncpg

from intentcast.domain.errors import RuleViolation
from intentcast.domain.taxonomy import Category, Taxonomy
from intentcast.store.categories import Categories

REFRESH_EVERY_S = 2.0


class TaxonomyCache:
    def __init__(self, refresh_every_s: float = REFRESH_EVERY_S) -> None:
        self.taxonomy = Taxonomy([])
        self.refresh_every_s = refresh_every_s
        self._fingerprint: tuple[object, ...] | None = None
        self._checked_at = -math.inf

    async def load(self, conn: asyncpg.Connection) -> Taxonomy:
        """Reload if the taxonomy changed. Takes the caller's connection: a handler that
        already holds one must not wait for a second (that deadlocks the pool under load)."""
        categories = Categories(conn)
        fingerprint = await categories.fingerprint()
        if fingerprint != self._fingerprint:
            self.taxonomy = await categories.taxonomy()
            self._fingerprint = fingerprint
        self._checked_at = time.monotonic()
        return self.taxonomy

    async def current(self, conn: asyncpg.Connection) -> Taxonomy:
        """The taxonomy, checked against PostgreSQL if the last check is older than
        ``refresh_every_s``."""
        if time.monotonic() - self._checked_at >= self.refresh_every_s:
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
        if found.retired:
            suggestions = self.taxonomy.suggest(found.path)
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise RuleViolation(
                field,
                f"category {found.path!r} is retired and takes nothing new{hint}",
                suggestions=suggestions,
            )
        return found

    async def resolve_all(self, conn: asyncpg.Connection, refs: list[str], field: str) -> list[str]:
        """The paths ``refs`` name, each once, in order; errors name ``field[i]``."""
        paths = [
            (await self.resolve(conn, ref, f"{field}[{i}]")).path for i, ref in enumerate(refs)
        ]
        return list(dict.fromkeys(paths))
