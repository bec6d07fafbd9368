"""``intentcast operator``: operator accounts, and the day-to-day work of moderating the
marketplace from a shell, on the same services as ``/v1/admin``."""

from __future__ import annotations

import asyncio

import click

from intentcast.cli.common import command_settings, database_url


@click.group()
def operator() -> None:
    """Operator accounts."""


@operator.command("create-token")
@click.option("--name", default="operator", show_default=True, help="Operator name.")
def create_token(name: str) -> None:
    """Create an operator and print its token (shown once)."""
    settings = command_settings()

    async def create(url: str) -> str:
        from intentcast.store.accounts import Operators
        from intentcast.store.bootstrap import prepare_database
        from intentcast.store.db import connect

        async with connect(url) as conn:
            await prepare_database(conn)
            return await Operators(conn).create_with_token(name, "cli")

    with database_url(settings) as url:
        click.echo(asyncio.run(create(url)))


COMMANDS = [operator]
