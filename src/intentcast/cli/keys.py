"""``intentcast keys``: rotating the server key while the server runs — ``rotate`` (a new
current key, then every sealed value re-sealed under it), ``reseal``, ``status`` (which key
each value is under) and ``retire`` (drop a key nothing uses). The steps are in
``services.keys``; the keyring format in ``security``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from intentcast.cli.common import command_settings, on_database
from intentcast.config import Settings

if TYPE_CHECKING:
    from intentcast.services.keys import ResealBatch

_ENV_KEY_HELP = (
    "INTENTCAST_SECRET_KEY holds a single key, and a running process cannot re-read its "
    "environment. To rotate, move the key into a file: write its value to a file only the "
    "server's user can read (chmod 600), set INTENTCAST_SECRET_KEY_FILE to that file instead "
    "of INTENTCAST_SECRET_KEY, restart every process, then run `intentcast keys rotate`."
)


@click.group()
def keys() -> None:
    """Server key rotation: rotate, reseal, status, retire (and add, for several hosts)."""


def _keyring_file(settings: Settings) -> Path:
    from intentcast.security import keyring_path, keyring_source

    try:
        path = keyring_path(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if path is None:
        raise click.UsageError(_ENV_KEY_HELP)
    keyring_source(settings)  # embedded: creates the data dir's key file on first use
    return path


def _print_batch(batch: ResealBatch) -> None:
    click.echo(f"  {batch.table}: {batch.resealed} re-sealed ({batch.total} so far)")


def _reseal(settings: Settings, *, batch_size: int, settle_until: float) -> None:
    async def work(url: str) -> None:
        from intentcast.security import Keys
        from intentcast.services.keys import reseal_all
        from intentcast.store.bootstrap import prepare_database
        from intentcast.store.db import connect

        sealer = Keys.from_settings(settings).sealer
        click.echo(f"re-sealing every value under key {sealer.key_id} ({batch_size} per batch)")
        async with connect(url) as conn:
            await prepare_database(conn)
            report = await reseal_all(
                conn,
                sealer,
                batch_size=batch_size,
                settle_until=settle_until,
                on_batch=_print_batch,
            )
        click.echo(
            f"{report.resealed} value(s) re-sealed in {report.passes} pass(es); "
            f"{report.remaining} left under other keys"
        )
        for value in report.unreadable:
            click.echo(
                f"  cannot open {value.table}.{value.column} of {'/'.join(value.row)} "
                "with any key in the keyring: left as it is",
                err=True,
            )
        if report.remaining:
            raise click.ClickException(
                f"{report.remaining} value(s) are not under key {report.key_id} yet; "
                "see `intentcast keys status`"
            )

    on_database(settings, work)


_batch_size = click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Rows re-sealed per transaction.",
)


@keys.command()
@_batch_size
@click.option(
    "--reseal/--no-reseal",
    default=True,
    show_default=True,
    help="Re-seal every value under the new key now. With --no-reseal, copy the new "
    "keyring file to every host first, then run `intentcast keys reseal`.",
)
@click.option(
    "--to",
    "promoted_id",
    metavar="KEY_ID",
    help="Make this key of the keyring current (one `intentcast keys add` put there) "
    "instead of a new one.",
)
def rotate(batch_size: int, reseal: bool, promoted_id: str | None) -> None:
    """Make a new server key current, then re-seal every sealed value under it.

    The keys before it stay in the keyring file (values under them still open, receipts
    they signed still verify) until `intentcast keys retire`. Running processes pick up
    the new key within seconds; no restart is needed.
    """
    from intentcast.services.keys import (
        promote_in_keyring_file,
        rotate_keyring_file,
        settle_deadline,
    )

    settings = command_settings()
    path = _keyring_file(settings)
    try:
        keyring = (
            promote_in_keyring_file(path, promoted_id) if promoted_id else rotate_keyring_file(path)
        )
    except (OSError, ValueError) as exc:  # a read-only mount, an unknown id
        raise click.ClickException(str(exc)) from None
    written_at = time.monotonic()
    click.echo(f"keyring {path}: key {keyring.key_ids[0]} is current")
    click.echo(f"  previous key(s), kept until retired: {', '.join(keyring.key_ids[1:])}")
    click.echo("back up the keyring file again now: dumps from here on need the new key")
    if reseal:
        _reseal(settings, batch_size=batch_size, settle_until=settle_deadline(written_at))


@keys.command()
def add() -> None:
    """Add a new key to the keyring file without making it current.

    For keyring files kept on several hosts: copy the file to every host (restart the
    processes if they get a private copy of it), then `intentcast keys rotate --to KEY_ID`
    and copy it again. Every process then already knows the key it meets values under.
    """
    from intentcast.services.keys import add_key_to_keyring_file

    settings = command_settings()
    path = _keyring_file(settings)
    try:
        keyring = add_key_to_keyring_file(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"keyring {path}: key {keyring.key_ids[1]} added (not current)")
    click.echo(f"  make it current with `intentcast keys rotate --to {keyring.key_ids[1]}`")


@keys.command("reseal")
@_batch_size
def reseal_command(batch_size: int) -> None:
    """Re-seal every value not under the current key (after `rotate --no-reseal`, an
    interrupted rotation, or values sealed before key ids existed)."""
    from intentcast.services.keys import settle_deadline

    settings = command_settings()
    _reseal(settings, batch_size=batch_size, settle_until=settle_deadline(time.monotonic()))


@keys.command()
def status() -> None:
    """The keyring, and how many sealed values each key id is used by."""
    from intentcast.security import keyring_path, keyring_source

    settings = command_settings()
    try:
        where = keyring_path(settings)
        keyring = keyring_source(settings).current()
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None

    async def work(url: str) -> None:
        from intentcast.services.keys import key_usage
        from intentcast.store.bootstrap import prepare_database
        from intentcast.store.db import connect

        async with connect(url) as conn:
            await prepare_database(conn)
            usage = await key_usage(conn, keyring)
        click.echo(f"keyring: {where or 'INTENTCAST_SECRET_KEY'}")
        for index, kid in enumerate(usage.keyring):
            role = "current " if index == 0 else "previous"
            n = usage.by_key_id.get(kid, 0)
            hint = "  (retire with `intentcast keys retire " + kid + "`)" if index and not n else ""
            click.echo(f"  {kid}  {role}  {n} value(s){hint}")
        for kid, n in usage.unknown.items():
            click.echo(f"  {kid}  NOT IN THE KEYRING  {n} value(s) cannot be opened")
        if usage.legacy:
            click.echo(f"  (no id)   {usage.legacy} value(s) sealed before key ids")
        for column, counts in sorted(usage.by_column.items()):
            listed = ", ".join(f"{kid}: {n}" for kid, n in sorted(counts.items()))
            click.echo(f"    {column}: {listed}")
        retired = len(keyring.retired_receipt_keys)
        if retired:
            click.echo(f"  {retired} retired key(s): receipt public keys still published")

    on_database(settings, work)


@keys.command()
@click.argument("key_id")
def retire(key_id: str) -> None:
    """Remove a previous key from the keyring file; refused while any value uses it.

    Its receipt public key stays published (/v1/receipts/public-keys), so receipts it
    signed still verify. Database dumps taken while the key was current need a keyring
    backup that holds it.
    """
    from intentcast.services.keys import KeyInUse, retire_key
    from intentcast.store.bootstrap import prepare_database
    from intentcast.store.db import connect

    settings = command_settings()
    path = _keyring_file(settings)

    async def work(url: str) -> None:
        async with connect(url) as conn:
            await prepare_database(conn)
            keyring = await retire_key(conn, path, key_id)
        click.echo(f"key {key_id} retired; keyring {path}: {', '.join(keyring.key_ids)}")

    try:
        on_database(settings, work)
    except (KeyInUse, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [keys]
