"""Running intentcast: ``serve`` (everything in one process tree), ``api``, ``worker``,
``migrate``, and ``openapi`` (the API's contract as JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import click

from intentcast.cli.common import command_settings, database_url
from intentcast.config import load_settings
from intentcast.security import child_key_settings, server_key


@click.command()
@click.option("--host", help="Listen address (INTENTCAST_HOST).")
@click.option("--port", type=int, help="Listen port (INTENTCAST_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API and every worker role in one process tree (embedded servers if no URLs)."""
    from intentcast.embedded import EmbeddedError
    from intentcast.supervisor import Supervisor
    from intentcast.workers import ROLES

    settings = command_settings(host=host, port=port)
    try:
        code = Supervisor(settings, sorted(ROLES)).run()
    except EmbeddedError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@click.command()
@click.option("--host", help="Listen address (INTENTCAST_HOST).")
@click.option("--port", type=int, help="Listen port (INTENTCAST_PORT).")
@click.option("--migrate/--no-migrate", default=True, help="Apply migrations before serving.")
def api(host: str | None, port: int | None, migrate: bool) -> None:
    """Run the HTTP API only (granian), e.g. several behind a load balancer."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = command_settings(host=host, port=port)
    stack = contextlib.ExitStack()
    if settings.embedded:
        from intentcast.embedded import EmbeddedError, EmbeddedServices

        key = child_key_settings(settings)  # the key file's path, not the key
        try:
            services = stack.enter_context(EmbeddedServices(settings.data_path))
        except EmbeddedError as exc:  # e.g. intentcast[embedded] is not installed
            raise click.ClickException(str(exc)) from None
        settings = command_settings(
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


@click.command()
@click.option(
    "--role",
    required=True,
    type=click.Choice(["matcher", "delivery", "scheduler"]),
    help="Worker role.",
)
def worker(role: str) -> None:
    """Run one worker role; any number of each may run at once."""
    from intentcast.workers import run_worker

    settings = command_settings()
    if settings.embedded:
        raise click.UsageError(
            "workers need INTENTCAST_DATABASE_URL and INTENTCAST_REDIS_URL "
            "(`intentcast serve` runs them for you on the embedded servers)"
        )
    asyncio.run(run_worker(role, settings))


@click.command()
def migrate() -> None:
    """Apply pending database migrations (a no-op when up to date)."""
    from intentcast.store.bootstrap import prepare_url

    settings = command_settings()
    with database_url(settings) as url:
        applied = asyncio.run(prepare_url(url))
    click.echo(f"applied migrations: {applied}" if applied else "database is up to date")


@click.command()
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


COMMANDS = [serve, api, worker, migrate, openapi]
