"""Running intentcast: ``serve`` (everything in one process tree), ``api``, ``worker``,
``migrate``, and ``openapi`` (the API's contract as JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path

import click

from intentcast.cli.common import command_settings, database_url
from intentcast.config import Settings, load_settings
from intentcast.security import child_key_settings, server_key


@click.command()
@click.option("--host", help="Listen address (INTENTCAST_HOST).")
@click.option("--port", type=int, help="Listen port (INTENTCAST_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API and every worker role in one process tree (embedded servers if no URLs)."""
    from intentcast.embedded import EmbeddedError
    from intentcast.supervisor import Supervisor
    from intentcast.workers import ROLES

    settings = command_settings("supervisor", host=host, port=port)
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

    from intentcast.logs import logging_config

    settings = command_settings("api", host=host, port=port)
    _count_metrics_across_processes(settings)
    stack = contextlib.ExitStack()
    if settings.embedded:
        from intentcast.embedded import EmbeddedError, EmbeddedServices

        key = child_key_settings(settings)  # the key file's path, not the key
        try:
            services = stack.enter_context(EmbeddedServices(settings.data_path))
        except EmbeddedError as exc:  # e.g. intentcast[embedded] is not installed
            raise click.ClickException(str(exc)) from None
        settings = command_settings(
            "api",
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
            log_dictconfig=logging_config(settings, process="api"),
            log_access=False,  # the app writes the access lines, with their request ids
        ).serve()


def _count_metrics_across_processes(settings: Settings) -> None:
    """granian's workers are processes of their own: unless a supervisor chose a directory
    already, they count into a fresh one in the data dir, which ``/metrics`` merges. Called
    before anything imports prometheus_client (it picks its storage on import, and granian
    forks its workers from this process)."""
    if os.environ.get(_MULTIPROC_ENV):
        return
    path = settings.data_path / "metrics" / f"api-{settings.port}"
    try:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, mode=0o700)
    except OSError as exc:  # e.g. a read-only file system: each worker counts on its own
        logging.getLogger(__name__).warning(
            "no metrics directory (%s): /metrics shows one web worker's counts", exc
        )
        return
    os.environ[_MULTIPROC_ENV] = str(path)


_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # intentcast.metrics.MULTIPROC_ENV, not imported


@click.command()
@click.option(
    "--role",
    required=True,
    type=click.Choice(["matcher", "delivery", "scheduler"]),
    help="Worker role.",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve /metrics and /health (200 while the worker runs) on this port, on "
    "INTENTCAST_HOST (INTENTCAST_METRICS_PORT; default: none).",
)
def worker(role: str, metrics_port: int | None) -> None:
    """Run one worker role; any number of each may run at once."""
    from intentcast.workers import run_worker

    settings = command_settings(f"worker:{role}", metrics_port=metrics_port)
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
