"""The category taxonomy: served at ``/v1/categories``, resolved for intents and
subscriptions. Each API process keeps it in memory; when a reference is not found it asks
PostgreSQL whether the taxonomy changed (a cheap fingerprint) and reloads if so, so an import
or an operator edit shows up without a restart."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import Parameter

from intentcast.api.errors import invalid, not_found
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
        """The category ``ref`` names (a path or ``gpc:<id>``), or a 422 with close matches."""
        found = (await self.current(conn)).resolve(ref)
        if found is None:
            found = (await self.load(conn)).resolve(ref)
        if found is None:
            suggestions = self.taxonomy.suggest(ref)
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise invalid(field, f"unknown category {ref!r}{hint}", suggestions=suggestions)
        return found


class CategoryNode(msgspec.Struct):
    path: str
    name: str
    gpc_id: int | None
    children: list[CategoryNode]


class CategoryTree(msgspec.Struct):
    items: list[CategoryNode]
    count: int


def _prune(nodes: list[dict[str, Any]], depth: int | None) -> list[CategoryNode]:
    return [
        CategoryNode(
            path=n["path"],
            name=n["name"],
            gpc_id=n["gpc_id"],
            children=[]
            if depth == 1
            else _prune(n["children"], None if depth is None else depth - 1),
        )
        for n in nodes
    ]


def _find(nodes: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    for node in nodes:
        if node["path"] == path:
            return node
        if path.startswith(node["path"] + "/"):
            return _find(node["children"], path)
    return None


class CategoryController(Controller):
    path = "/v1/categories"
    tags = ["categories"]

    @get(
        operation_id="listCategories", summary="The category taxonomy tree", exclude_from_auth=True
    )
    async def tree(
        self,
        state: State,
        db: asyncpg.Connection,
        under: Annotated[
            str | None,
            Parameter(
                description="Only this node's subtree (a path or `gpc:<id>`).", max_length=300
            ),
        ] = None,
        depth: Annotated[
            int | None, Parameter(ge=1, le=10, description="Levels to include (default all).")
        ] = None,
    ) -> CategoryTree:
        """Intents name a category by path (`electronics/cameras/mirrorless`) or by Google
        Product Taxonomy id (`gpc:<id>`); a subscription to a path covers its whole subtree."""
        taxonomy = await state.taxonomy.current(db)
        nodes = taxonomy.tree()
        if under is not None:
            category = taxonomy.resolve(under)
            node = None if category is None else _find(nodes, category.path)
            if node is None:
                raise not_found("category")
            nodes = [node]
        return CategoryTree(items=_prune(nodes, depth), count=len(taxonomy))
