"""``/v1/admin/categories``: adding, renaming, moving and retiring categories
(``services.category_moderation`` says what each does to intents and subscriptions)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, delete, patch, post
from redis.asyncio import Redis

from intentcast.api.admin.common import actor_of
from intentcast.domain.intents import Text
from intentcast.services import category_moderation
from intentcast.services.category_moderation import CategoryChange, CategoryRecord
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.store.accounts import Principal

CategoryName = Annotated[
    Text, msgspec.Meta(min_length=1, max_length=200, examples=["Mirrorless cameras"])
]
Slug = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        description="The path segment (default: made from the name).",
        examples=["mirrorless"],
    ),
]
CategoryRef = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=300,
        description="A category path or `gpc:<id>`.",
        examples=["electronics/cameras"],
    ),
]


class CategoryCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    parent: CategoryRef | None
    """The category to add it under; null for a new root."""
    name: CategoryName
    slug: Slug | None = None


class CategoryPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: CategoryName | None = None
    """The display name (its path stays)."""
    slug: Slug | None = None
    """A new path segment: the category and its subtree get new paths."""
    parent: CategoryRef | None | msgspec.UnsetType = msgspec.UNSET
    """Move it (and its subtree) under this category; null: make it a root."""


def _ref(category_path: str) -> str:
    return category_path.lstrip("/")


class AdminCategoryController(Controller):
    path = "/categories"

    @post(operation_id="adminAddCategory", summary="Add a category", status_code=201)
    async def add(
        self,
        data: CategoryCreate,
        principal: Principal,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
    ) -> CategoryRecord:
        """Under `parent` (422 naming `parent` if unknown or retired); 409
        `category-exists` if its path is taken."""
        added = await category_moderation.add_category(
            db, actor=actor_of(principal), parent=data.parent, name=data.name, slug=data.slug
        )
        await taxonomy.load(db)  # this process at once; the others within seconds
        return added

    @patch(
        "/{category_path:path}",
        operation_id="adminChangeCategory",
        summary="Rename or move a category",
    )
    async def change(
        self,
        category_path: str,
        data: CategoryPatch,
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        taxonomy: TaxonomyCache,
    ) -> CategoryChange:
        """`name` renames it in place. `slug` or `parent` move it with its subtree: every
        intent and subscription naming a moved path is rewritten to the new one in the same
        step, open intents are matched again (their vendors hear `intent.updated`), and the
        old paths stop resolving. 409 `category-exists` if a new path is taken,
        `nothing-to-change` if nothing would; 422 naming `parent` for a move under itself."""
        changes = msgspec.structs.asdict(data)
        if data.parent is msgspec.UNSET:
            del changes["parent"]
        changed = await category_moderation.change_category(
            db, redis, actor=actor_of(principal), ref=_ref(category_path), **changes
        )
        await taxonomy.load(db)
        return changed

    @delete(
        "/{category_path:path}",
        operation_id="adminRetireCategory",
        summary="Retire a category",
        status_code=200,
    )
    async def retire(
        self,
        category_path: str,
        principal: Principal,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
    ) -> CategoryRecord:
        """With its subtree: no new intent or subscription may name it (422) and the public
        tree leaves it out; intents and subscriptions already using it keep working and
        matching. 409 `category-retired` if it already is."""
        retired = await category_moderation.retire_category(
            db, actor=actor_of(principal), ref=_ref(category_path)
        )
        await taxonomy.load(db)
        return retired
