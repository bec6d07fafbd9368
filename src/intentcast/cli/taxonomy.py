"""``intentcast taxonomy``: importing a category taxonomy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from intentcast.cli.common import command_settings, database_url


@click.group()
def taxonomy() -> None:
    """The category taxonomy."""


@taxonomy.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_taxonomy(file: Path) -> None:
    """Merge a Google Product Taxonomy file (`ID - Top > Sub > Leaf` per line).

    Categories already carrying a Google id, or at the same path, are kept and linked;
    the rest are added. Afterwards `gpc:<id>` works wherever a category is accepted.
    Importing the same file again changes nothing.
    """
    from intentcast.domain.taxonomy import (
        TaxonomyFormatError,
        merge_google_taxonomy,
        parse_google_taxonomy,
    )

    settings = command_settings()
    try:
        google = parse_google_taxonomy(file.read_text(encoding="utf-8-sig"))
    except (TaxonomyFormatError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None

    async def merge(url: str) -> tuple[int, int]:
        from intentcast.store.bootstrap import prepare_database
        from intentcast.store.categories import Categories
        from intentcast.store.db import connect

        async with connect(url) as conn:
            await prepare_database(conn)
            async with conn.transaction():
                categories = Categories(conn)
                await categories.lock()
                changed = merge_google_taxonomy(await categories.all(), google)
                await categories.upsert(changed)
                return len(changed), await categories.count()

    with database_url(settings) as url:
        changed, total = asyncio.run(merge(url))
    click.echo(f"read {len(google)} Google categories; added or linked {changed}; {total} in all")


COMMANDS = [taxonomy]
