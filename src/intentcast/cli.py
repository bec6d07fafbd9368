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

        services = stack.enter_context(EmbeddedServices(settings.data_path))
        settings = _settings(
            host=host,
            port=port,
            database_url=settings.database_url or services.postgres.url,
            redis_url=settings.redis_url or services.redis.url,
        )
    with stack:
        from intentcast.api.app import resolve_secret_key

        resolve_secret_key(settings)  # fail now, with a clear message, not in a worker
        if migrate:
            from intentcast.store.migrate import migrate_url

            asyncio.run(migrate_url(settings.database_url or ""))
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
@click.option("--role", required=True, type=click.Choice(["scheduler"]), help="Worker role.")
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
    from intentcast.store.migrate import migrate_url

    settings = _settings()
    with _database_url(settings) as url:
        applied = asyncio.run(migrate_url(url))
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
        import asyncpg

        from intentcast.store.accounts import Operators, Tokens
        from intentcast.store.migrate import apply_migrations

        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)
            async with conn.transaction():
                operator_id = await Operators(conn).create(name)
                _, token = await Tokens(conn).issue("operator", operator_id, "cli")
            return token
        finally:
            await conn.close()

    with _database_url(settings) as url:
        click.echo(asyncio.run(create(url)))


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
