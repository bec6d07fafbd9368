"""``intentcast operator``: operator accounts, and the day-to-day work of moderating the
marketplace from a shell, on the same services as ``/v1/admin`` (audited the same way, the
actor being ``cli:<os user>``). Each command works against the running embedded server, on
the data dir alone when none runs, or on ``INTENTCAST_DATABASE_URL``/``INTENTCAST_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import click
import msgspec

from intentcast.cli.common import command_settings, database_url
from intentcast.config import Settings

T = TypeVar("T")


@click.group()
def operator() -> None:
    """Operator accounts, and moderating vendors and settings from a shell."""


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


# ---- running a service against the configured backends -------------------------------------


@contextlib.contextmanager
def _redis_url(settings: Settings) -> Iterator[str | None]:
    """Redis for announcing what a command changed (a suspended vendor's streams closing, a
    buyer told of a withdrawn offer): the configured one, or the running embedded server's.
    ``None`` when no server runs: nobody is listening, and the outbox relay publishes what
    is left once one starts."""
    if settings.redis_url:
        yield settings.redis_url
        return
    from intentcast.embedded import DataDirLock, EmbeddedRedis

    lock = DataDirLock(settings.data_path)
    if lock.acquire():  # no server on this data dir
        lock.release()
        yield None
        return
    yield EmbeddedRedis(settings.data_path / "redis").url


def run_service(settings: Settings, use: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``use(conn, redis_client)`` against the configured database and Redis."""

    @contextlib.asynccontextmanager
    async def backends(db_url: str, redis_url: str | None) -> AsyncIterator[tuple[Any, Any]]:
        import redis.asyncio as redis

        from intentcast.store.bootstrap import prepare_database
        from intentcast.store.db import connect

        client = redis.from_url(redis_url) if redis_url else _NoRedis()
        try:
            async with connect(db_url) as conn:
                await prepare_database(conn)
                yield conn, client
        finally:
            await client.aclose()

    async def main(db_url: str, redis_url: str | None) -> T:
        async with backends(db_url, redis_url) as (conn, client):
            return await use(conn, client)

    with _redis_url(settings) as redis_url, database_url(settings) as db_url:
        return asyncio.run(main(db_url, redis_url))


class _NoRedis:
    """Stands in for Redis when no server runs: announcing is skipped (``Work.announce``
    treats a failure to announce as "consumers will catch up", which they do)."""

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError("no intentcast server is running; nothing to announce to")

    async def aclose(self) -> None:
        return None


def _fail(exc: Exception) -> click.ClickException:
    from intentcast.domain.errors import DomainError

    if isinstance(exc, DomainError):
        return click.ClickException(exc.message)
    raise exc


def _echo(value: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(value), indent=2))
        return
    click.echo(_vendor_line(value))


def _vendor_line(vendor: Any) -> str:
    reason = f"  ({vendor.status_reason})" if vendor.status_reason else ""
    return f"{vendor.id}  {vendor.status:<9}  {vendor.name}{reason}"


# ---- vendors -------------------------------------------------------------------------------

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@operator.group()
def vendors() -> None:
    """List vendors; verify, suspend or reinstate one (audited as cli:<user>)."""


@vendors.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "verified", "suspended"]),
    help="Only vendors with this status (pending = the review queue).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@JSON_OPTION
def list_vendors(status: str | None, limit: int, as_json: bool) -> None:
    """Vendors, newest sign-ups first."""
    from intentcast.services import vendor_moderation

    settings = command_settings()

    async def use(conn: Any, _client: Any) -> list[Any]:
        return await vendor_moderation.list_vendors(
            conn,
            status=status,  # type: ignore[arg-type]
            limit=limit,
            after=None,
        )

    found = run_service(settings, use)
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(found), indent=2))
        return
    if not found:
        click.echo("no vendors" + (f" with status {status}" if status else ""))
    for vendor in found:
        click.echo(_vendor_line(vendor))


def _status_command(action: str, summary: str, reason_required: bool) -> click.Command:
    @click.command(action, help=summary)
    @click.argument("vendor_id")
    @click.option(
        "--reason",
        required=reason_required,
        help="Why (kept in the audit log; a suspended vendor sees it)."
        + (" Required." if reason_required else ""),
    )
    @JSON_OPTION
    def command(vendor_id: str, reason: str | None, as_json: bool) -> None:
        from intentcast.services import vendor_moderation
        from intentcast.services.audit import cli_actor

        settings = command_settings()

        async def use(conn: Any, client: Any) -> Any:
            return await vendor_moderation.change_vendor_status(
                conn,
                client,
                actor=cli_actor(),
                vendor_id=vendor_id,
                action=action,  # type: ignore[arg-type]
                reason=reason,
            )

        try:
            vendor = run_service(settings, use)
        except Exception as exc:
            raise _fail(exc) from None
        _echo(vendor, as_json)

    return command


vendors.add_command(
    _status_command(
        "verify",
        "Verify a pending vendor: it receives matches from now on and may make offers.",
        reason_required=False,
    )
)
vendors.add_command(
    _status_command(
        "suspend",
        "Suspend a vendor: every vendor route refuses it, its streams close, its webhooks "
        "stop, its live offers are withdrawn.",
        reason_required=True,
    )
)
vendors.add_command(
    _status_command(
        "reinstate",
        "Reinstate a suspended vendor (withdrawn offers stay withdrawn).",
        reason_required=False,
    )
)


COMMANDS = [operator]
