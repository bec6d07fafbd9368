"""The ``intentcast`` command line: serve, api, worker, migrate, operator, openapi."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import click

from intentcast.config import ConfigError, Settings, load_settings
from intentcast.security import child_key_settings, server_key

warnings.filterwarnings("ignore", module="platformdirs")


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


@contextlib.contextmanager
def _database_url(settings: Settings) -> Iterator[str]:
    """The configured database; in embedded mode the running server's, or one started for
    the duration of the command when no server owns the data dir."""
    if settings.database_url:
        yield settings.database_url
        return
    from intentcast.embedded import DataDirLock, EmbeddedPostgres

    lock = DataDirLock(settings.data_path)
    postgres = EmbeddedPostgres(settings.data_path / "postgres" / "data")
    if not lock.acquire():  # `intentcast serve` is running on this data dir: use its server
        yield postgres.url
        return
    try:
        postgres.start()
        yield postgres.url
    finally:
        postgres.stop()
        lock.release()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="intentcast")
def main() -> None:
    """intentcast: an intent-casting marketplace server.

    Configuration comes from INTENTCAST_* environment variables (see README.md). With no
    INTENTCAST_DATABASE_URL / INTENTCAST_REDIS_URL, an embedded PostgreSQL and Redis run with
    their data in INTENTCAST_DATA_DIR (default ./.intentcast).
    """


@main.command()
@click.option("--host", help="Listen address (INTENTCAST_HOST).")
@click.option("--port", type=int, help="Listen port (INTENTCAST_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API and every worker role in one process tree (embedded servers if no URLs)."""
    from intentcast.embedded import EmbeddedError
    from intentcast.supervisor import Supervisor
    from intentcast.workers import ROLES

    settings = _settings(host=host, port=port)
    try:
        code = Supervisor(settings, sorted(ROLES)).run()
    except EmbeddedError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@click.option("--host", help="Listen address (INTENTCAST_HOST).")
@click.option("--port", type=int, help="Listen port (INTENTCAST_PORT).")
@click.option("--migrate/--no-migrate", default=True, help="Apply migrations before serving.")
def api(host: str | None, port: int | None, migrate: bool) -> None:
    """Run the HTTP API only (granian), e.g. several behind a load balancer."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = _settings(host=host, port=port)
    stack = contextlib.ExitStack()
    if settings.embedded:
        from intentcast.embedded import EmbeddedServices

        key = child_key_settings(settings)  # the key file's path, not the key
        services = stack.enter_context(EmbeddedServices(settings.data_path))
        settings = _settings(
            host=host,
            port=port,
            database_url=settings.database_url or services.postgres.url,
            redis_url=settings.redis_url or services.redis.url,
            **({"secret_key_file": key["INTENTCAST_SECRET_KEY_FILE"]} if key else {}),
        )
    with stack:
        server_key(settings)  # fail now, with a clear message, not in a worker
        if migrate:
            from intentcast.store.bootstrap import prepare_url

            asyncio.run(prepare_url(settings.database_url or ""))
        os.environ.update(settings.env())
        Granian(
            target="intentcast.api.app:create_app_from_env",
            factory=True,
            interface=Interfaces.ASGI,
            address=settings.host,
            port=settings.port,
            workers=settings.web_workers,
            log_level=settings.log_level,
            log_access=False,
        ).serve()


@main.command()
@click.option(
    "--role",
    required=True,
    type=click.Choice(["matcher", "delivery", "scheduler"]),
    help="Worker role.",
)
def worker(role: str) -> None:
    """Run one worker role; any number of each may run at once."""
    from intentcast.workers import run_worker

    settings = _settings()
    if settings.embedded:
        raise click.UsageError(
            "workers need INTENTCAST_DATABASE_URL and INTENTCAST_REDIS_URL "
            "(`intentcast serve` runs them for you on the embedded servers)"
        )
    asyncio.run(run_worker(role, settings))


@main.command()
def migrate() -> None:
    """Apply pending database migrations (a no-op when up to date)."""
    from intentcast.store.bootstrap import prepare_url

    settings = _settings()
    with _database_url(settings) as url:
        applied = asyncio.run(prepare_url(url))
    click.echo(f"applied migrations: {applied}" if applied else "database is up to date")


@main.group()
def operator() -> None:
    """Operator accounts."""


@operator.command("create-token")
@click.option("--name", default="operator", show_default=True, help="Operator name.")
def create_token(name: str) -> None:
    """Create an operator and print its token (shown once)."""
    settings = _settings()

    async def create(url: str) -> str:
        from intentcast.store.accounts import Operators
        from intentcast.store.bootstrap import prepare_database
        from intentcast.store.db import connect

        async with connect(url) as conn:
            await prepare_database(conn)
            return await Operators(conn).create_with_token(name, "cli")

    with _database_url(settings) as url:
        click.echo(asyncio.run(create(url)))


@main.group()
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

    settings = _settings()
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

    with _database_url(settings) as url:
        changed, total = asyncio.run(merge(url))
    click.echo(f"read {len(google)} Google categories; added or linked {changed}; {total} in all")


@main.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def openapi(output: Path | None) -> None:
    """Print (or write) the OpenAPI document of this version of the API."""
    from intentcast.api.app import create_app
    from intentcast.api.meta import openapi_document

    settings = load_settings(
        {}, database_url="postgresql://unused", redis_url="redis://unused", secret_key="A" * 43
    )
    document = openapi_document(create_app(settings))
    if output is None:
        sys.stdout.buffer.write(document)
    else:
        output.write_bytes(document)
        click.echo(f"wrote {output}")
