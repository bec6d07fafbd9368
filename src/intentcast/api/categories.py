"""``/v1/categories``: the category taxonomy tree, from this process's cached copy
(``services.taxonomy.TaxonomyCache``)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from intentcast.api.errors import not_found
from intentcast.services.taxonomy import TaxonomyCache


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
        taxonomy: TaxonomyCache,
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
        Product Taxonomy id (`gpc:<id>`); a subscription to a path covers its whole subtree.
        Retired categories are left out (they take no new intents or subscriptions). An
        operator's edit shows here within seconds."""
        current = await taxonomy.current(db)
        nodes = current.tree()
        if under is not None:
            category = current.resolve(under)
            node = None if category is None else _find(nodes, category.path)
            if node is None:
                raise not_found("category")
            nodes = [node]
        return CategoryTree(items=_prune(nodes, depth), count=current.active_count())
