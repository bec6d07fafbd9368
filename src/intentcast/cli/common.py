"""What every ``intentcast`` command shares: reading settings (a malformed one is a usage
error naming the variable), logging, and the database a command works on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import click

from intentcast.config import ConfigError, Settings, load_settings
from intentcast.logs import configure_logging

T = TypeVar("T")


def command_settings(process: str = "cli", **overrides: object) -> Settings:
    """The process settings (with ``overrides`` that are not ``None``), logging set up for
    ``process`` (how its lines name it: ``api``, ``worker:matcher``, ...)."""
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None
    configure_logging(settings, process=process)
    return settings


@contextlib.contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured database; in embedded mode the running server's, or one started for
    the duration of the command when no server owns the data dir."""
    if settings.database_url:
        yield settings.database_url
        return
    from intentcast.embedded import DataDirLock, EmbeddedError, EmbeddedPostgres

    try:
        postgres = EmbeddedPostgres(settings.data_path / "postgres" / "data")
    except EmbeddedError as exc:  # intentcast[embedded] is not installed
        raise click.ClickException(str(exc)) from None
    lock = DataDirLock(settings.data_path)
    if not lock.acquire():  # `intentcast serve` is running on this data dir: use its server
        yield postgres.url
        return
    try:
        postgres.start()
        yield postgres.url
    finally:
        postgres.stop()
        lock.release()


def on_database(settings: Settings, work: Callable[[str], Awaitable[T]]) -> T:
    """Run ``work(url)`` against the configured database: the running embedded server's, one
    started for the command when none runs, or ``INTENTCAST_DATABASE_URL``."""
    with database_url(settings) as url:
        return asyncio.run(work(url))
