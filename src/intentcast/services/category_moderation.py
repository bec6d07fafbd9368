"""Operators editing the category taxonomy: adding a node, renaming it, moving it, retiring it.

Categories are named by path everywhere (intents, subscriptions, vendors' copies of intents),
so the edits keep every reference working:

* ``rename`` with ``name`` changes the display name only: no path changes, nothing else does.
* a new ``slug`` or ``parent`` moves the node and its whole subtree to new paths; in the same
  transaction every intent and subscription naming one of them is rewritten to the new
  path, each rewritten subscription gets a new change version (the matchers apply it before
  their next batch, and are hinted at once), and each open or paused intent gets a new
  version with an ``intent.updated`` outbox row: its matched vendors hear the new category,
  and the matcher matches it again against subscriptions that now cover it. The old paths
  stop resolving (a client that stored one gets a 422 whose suggestions name the new place).
* ``retire`` marks the node and its subtree retired: no new intent or subscription may name
  them (422), the public tree leaves them out, nothing may be added under them; every
  intent and subscription already using them keeps working and matching as before.

Every API process sees an edit within seconds (``TaxonomyCache`` checks a fingerprint).
Edits run under the taxonomy's table lock, so they never interleave with each other or with
``intentcast taxonomy import``; each is audited (``category.add|rename|move|retire``).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import (
    AlreadyExists,
    NotFound,
    NothingToChange,
    RuleViolation,
    StateConflict,
)
from intentcast.domain.events import OutboxEventType
from intentcast.domain.taxonomy import (
    Category,
    Taxonomy,
    TaxonomyError,
    is_slug,
    relocated_paths,
    slugify,
)
from intentcast.services.audit import record_action
from intentcast.services.work import unit_of_work
from intentcast.store.categories import Categories


class CategoryRecord(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    name: str
    parent: str | None
    gpc_id: int | None
    retired: bool


class CategoryChange(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of an edit: the category as it is now, and what was rewritten."""

    category: CategoryRecord
    moved: dict[str, str]
    """Old path → new path of every category that moved (empty for a rename)."""
    intents_moved: int
    """Intents whose category path was rewritten (open ones are matched again)."""
    subscriptions_rewritten: int


def category_record(category: Category) -> CategoryRecord:
    return CategoryRecord(
        path=category.path,
        name=category.name,
        parent=category.parent,
        gpc_id=category.gpc_id,
        retired=category.retired,
    )


def _find(taxonomy: Taxonomy, ref: str) -> Category:
    found = taxonomy.resolve(ref)
    if found is None:
        raise NotFound("category")
    return found


def _parent(taxonomy: Taxonomy, ref: str | None) -> Category | None:
    if ref is None:
        return None
    found = taxonomy.resolve(ref)
    if found is None:
        suggestions = taxonomy.suggest(ref)
        raise RuleViolation("parent", f"unknown category {ref!r}", suggestions=suggestions)
    if found.retired:
        raise RuleViolation("parent", f"category {found.path!r} is retired")
    return found


def _slug(slug: str | None, name: str) -> str:
    chosen = slug if slug is not None else slugify(name)
    if not is_slug(chosen):
        field = "slug" if slug is not None else "name"
        raise RuleViolation(field, "needs a slug of lowercase letters, digits and hyphens")
    return chosen


async def add_category(
    conn: asyncpg.Connection,
    *,
    actor: str,
    parent: str | None,
    name: str,
    slug: str | None,
) -> CategoryRecord:
    """A new category under ``parent`` (None: a new root); 409 ``category-exists``."""
    categories = Categories(conn)
    async with conn.transaction():
        await categories.lock()
        taxonomy = await categories.taxonomy()
        under = _parent(taxonomy, parent)
        path = _slug(slug, name)
        if under is not None:
            path = f"{under.path}/{path}"
        if taxonomy.resolve(path) is not None:
            raise AlreadyExists(f"A category {path!r} exists already.", "category-exists")
        category = Category(path=path, name=name, parent=under.path if under else None)
        await categories.add(category)
        await record_action(
            conn, actor=actor, action="category.add", target=path, details={"name": name}
        )
    return category_record(category)


_UNCHANGED: Any = object()


async def change_category(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    actor: str,
    ref: str,
    name: str | None = None,
    slug: str | None = None,
    parent: str | None = _UNCHANGED,
) -> CategoryChange:
    """Rename (``name``; ``slug`` changes its path) and/or move (``parent``; None: to the
    root) a category with its subtree, rewriting every reference."""
    categories = Categories(conn)
    async with unit_of_work(conn, client) as work:
        await categories.lock()
        taxonomy = await categories.taxonomy()
        before = _find(taxonomy, ref)
        new_parent = before.parent if parent is _UNCHANGED else parent
        under = _parent(taxonomy, new_parent) if new_parent != before.parent else None
        target_parent = under.path if under is not None else new_parent
        try:
            moved = relocated_paths(
                taxonomy, before.path, parent=target_parent, slug=_slug(slug or before.slug, "")
            )
        except TaxonomyError as exc:
            if "exists already" in str(exc):
                raise AlreadyExists(f"{exc}.", "category-exists") from None
            raise RuleViolation("parent", str(exc)) from None
        intents: list[tuple[str, int, str]] = []
        subscriptions: list[tuple[str, int]] = []
        if moved:
            intents, subscriptions = await categories.relocate(moved)
            await work.record_many(
                [
                    (OutboxEventType.INTENT_UPDATED, i, {"version": v, "status": s})
                    for i, v, s in intents
                ]
            )
            for subscription_id, version in subscriptions:
                work.hint_subscription(subscription_id, version)
        path = moved.get(before.path, before.path)
        if name is not None and name != before.name:
            await categories.rename(path, name)
        after = _find(await categories.taxonomy(), path)
        if not moved and after.name == before.name:
            raise NothingToChange("The category already has that name, slug and parent.")
        if after.name != before.name:
            await record_action(
                conn,
                actor=actor,
                action="category.rename",
                target=path,
                details={"from": before.name, "to": after.name},
            )
        if moved:
            action = "category.move" if after.parent != before.parent else "category.rename"
            await record_action(
                conn,
                actor=actor,
                action=action,
                target=path,
                details={
                    "from": before.path,
                    "to": path,
                    "categories_moved": len(moved),
                    "intents_rewritten": len(intents),
                    "subscriptions_rewritten": len(subscriptions),
                },
            )
    return CategoryChange(
        category=category_record(after),
        moved=moved,
        intents_moved=len(intents),
        subscriptions_rewritten=len(subscriptions),
    )


async def retire_category(conn: asyncpg.Connection, *, actor: str, ref: str) -> CategoryRecord:
    """Retire the category and its subtree; 409 ``category-retired`` if it already is."""
    categories = Categories(conn)
    async with conn.transaction():
        await categories.lock()
        taxonomy = await categories.taxonomy()
        category = _find(taxonomy, ref)
        if category.retired:
            raise StateConflict(f"{category.path!r} is retired already.", "category-retired")
        subtree = [c.path for c in taxonomy.subtree(category.path) if not c.retired]
        await categories.retire(subtree)
        await record_action(
            conn,
            actor=actor,
            action="category.retire",
            target=category.path,
            details={"categories_retired": len(subtree)},
        )
    return category_record(msgspec.structs.replace(category, retired=True))
