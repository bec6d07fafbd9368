"""Server key rotation, the use cases behind ``intentcast keys``: making a new key current
in the keyring file, re-sealing every sealed value under it in batches while the server
runs, counting which key each value is under, and retiring a key nothing uses any more.

Running processes re-read the keyring file within ``security.KEYRING_CHECK_INTERVAL_S``
(and at once when they meet a value under a key they do not know), so until then one may
still seal a value under the old key: re-sealing repeats its passes until no value is left
under an old key after that interval has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import msgspec
from cryptography.exceptions import InvalidTag

from intentcast.security import (
    KEYRING_CHECK_INTERVAL_S,
    Keyring,
    Sealer,
    write_keyring_file,
)
from intentcast.store.keys import SEALED_TABLES, SealedRow, SealedTable, SealedValues

DEFAULT_BATCH_SIZE = 500
SETTLE_MARGIN_S = 3.0
"""Beyond the keyring check interval: a request that sealed under the old key just before
its process saw the new keyring has this long to commit before the last count."""


def sealing_context(table: str, column: str, key: tuple[str, ...]) -> str:
    """The associated data a value in ``table.column`` of the row ``key`` was sealed with —
    the same as where it is written: ``services.accounts`` (persona fields),
    ``services.webhooks`` (endpoint secrets), ``services.reveals`` (reveal snapshots),
    ``api.idempotency`` (stored responses)."""
    if table == "buyers":
        return f"{key[0]}:{column.removesuffix('_sealed')}"
    if table == "webhook_endpoints":
        return f"{key[0]}:secret"
    if table == "reveals":
        return f"reveal:{key[0]}:values"
    if table == "idempotency_keys":
        return key[0] + key[1]
    raise ValueError(f"no sealing context known for {table}.{column}")


class UnreadableValue(msgspec.Struct, frozen=True):
    """A sealed value no key in the keyring opens (left as it is)."""

    table: str
    column: str
    row: tuple[str, ...]


class ResealBatch(msgspec.Struct, frozen=True):
    table: str
    resealed: int
    total: int
    """Values re-sealed so far in this run."""


class ResealReport(msgspec.Struct, kw_only=True):
    key_id: str
    """The key everything was re-sealed under."""
    resealed: int = 0
    passes: int = 0
    remaining: int = 0
    """Values still not under ``key_id`` after the last pass (the unreadable ones included)."""
    unreadable: list[UnreadableValue] = msgspec.field(default_factory=list)


async def _reseal_table(
    conn: asyncpg.Connection,
    sealer: Sealer,
    table: SealedTable,
    report: ResealReport,
    *,
    batch_size: int,
    on_batch: Callable[[ResealBatch], None],
) -> int:
    store = SealedValues(conn)
    resealed_here = 0
    after: tuple[str, ...] | None = None
    while True:
        async with conn.transaction():
            rows = await store.lock_batch_not_under(
                table, report.key_id, after=after, limit=batch_size
            )
            changed: list[SealedRow] = []
            count = 0
            for row in rows:
                values = dict(row.values)
                for column, value in row.values.items():
                    if value is None or not sealer.needs_reseal(value):
                        continue
                    context = sealing_context(table.name, column, row.key)
                    try:
                        values[column] = sealer.reseal(value, context=context)
                    except InvalidTag:
                        unreadable = UnreadableValue(table.name, column, row.key)
                        if unreadable not in report.unreadable:
                            report.unreadable.append(unreadable)
                        continue
                    count += 1
                if values != row.values:
                    changed.append(SealedRow(key=row.key, values=values))
            await store.write(table, changed)
        if count:
            resealed_here += count
            report.resealed += count
            on_batch(ResealBatch(table=table.name, resealed=count, total=report.resealed))
        # rows locked by others were skipped: the next pass retries them
        if len(rows) < batch_size:
            return resealed_here
        after = rows[-1].key


async def reseal_all(
    conn: asyncpg.Connection,
    sealer: Sealer,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    settle_until: float = 0.0,
    timeout_s: float = 120.0,
    on_batch: Callable[[ResealBatch], None] = lambda batch: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ResealReport:
    """Re-seal every sealed value not under the sealer's current key, ``batch_size`` rows
    per transaction (rows being written by others are skipped and retried), in passes until
    none is left — counted no earlier than ``settle_until`` (``clock`` time: when every
    running process has seen the keyring) — or until only unreadable values are left, or
    ``timeout_s`` has passed. The report says what is left."""
    report = ResealReport(key_id=sealer.key_id)
    deadline = clock() + timeout_s
    while True:
        report.passes += 1
        resealed = 0
        for table in SEALED_TABLES:
            resealed += await _reseal_table(
                conn, sealer, table, report, batch_size=batch_size, on_batch=on_batch
            )
        if clock() < settle_until:
            await sleep(settle_until - clock())
            continue
        report.remaining = await SealedValues(conn).count_not_under(report.key_id)
        stuck = resealed == 0 and report.remaining <= len(report.unreadable)
        if report.remaining == 0 or stuck or clock() >= deadline:
            return report
        await sleep(1.0)


class KeyUsage(msgspec.Struct, kw_only=True):
    """Which key the sealed values are under."""

    keyring: list[str]
    """The keyring's key ids, current first."""
    by_key_id: dict[str, int]
    """Values per key id (every key in the keyring listed, with 0 if unused)."""
    by_column: dict[str, dict[str, int]]
    """``table.column`` → key id → values."""
    legacy: int
    """Values sealed before key ids existed (they open under a keyring key; ``keys reseal``
    gives them one)."""

    @property
    def unknown(self) -> dict[str, int]:
        """Values under key ids the keyring does not hold (unreadable here)."""
        return {k: n for k, n in self.by_key_id.items() if k not in self.keyring}


async def key_usage(conn: asyncpg.Connection, keyring: Keyring) -> KeyUsage:
    by_key_id = dict.fromkeys(keyring.key_ids, 0)
    by_column: dict[str, dict[str, int]] = {}
    legacy = 0
    for (table, column, sealed_id), n in (await SealedValues(conn).count_by_key_id()).items():
        if sealed_id is None:
            legacy += n
            sealed_id = "legacy"
        else:
            by_key_id[sealed_id] = by_key_id.get(sealed_id, 0) + n
        by_column.setdefault(f"{table}.{column}", {})[sealed_id] = n
    return KeyUsage(
        keyring=keyring.key_ids, by_key_id=by_key_id, by_column=by_column, legacy=legacy
    )


@contextlib.contextmanager
def _keyring_lock(path: Path) -> Iterator[None]:
    """One change of the keyring file at a time (two rotations at once would lose one)."""
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_keyring_file(path: Path) -> Keyring:
    return Keyring.parse(path.read_text(), source=str(path))


def rotate_keyring_file(path: Path, *, new_key: bytes | None = None) -> Keyring:
    """Put a new random key (or ``new_key``) first in the keyring file; the keys before it
    stay, so what they sealed still opens. Returns the new keyring."""
    with _keyring_lock(path):
        keyring = read_keyring_file(path).rotated(new_key or os.urandom(32))
        write_keyring_file(path, keyring)
    return keyring


def add_key_to_keyring_file(path: Path, *, new_key: bytes | None = None) -> Keyring:
    """Add a new random key (or ``new_key``) to the keyring file without making it current
    (:meth:`Keyring.added`). Returns the new keyring."""
    with _keyring_lock(path):
        keyring = read_keyring_file(path).added(new_key or os.urandom(32))
        write_keyring_file(path, keyring)
    return keyring


def promote_in_keyring_file(path: Path, promoted_id: str) -> Keyring:
    """Make the key ``promoted_id`` of the keyring file current (``ValueError`` if it holds
    no such key). Returns the new keyring."""
    with _keyring_lock(path):
        keyring = read_keyring_file(path).promoted(promoted_id)
        write_keyring_file(path, keyring)
    return keyring


class KeyInUse(Exception):
    """A key cannot be retired while sealed values use it."""

    def __init__(self, retired_id: str, values: int, *, legacy: bool = False) -> None:
        what = "value(s) sealed before key ids existed" if legacy else "value(s)"
        super().__init__(
            f"key {retired_id} may still open {values} {what}; run `intentcast keys reseal` first"
        )
        self.values = values


async def retire_key(conn: asyncpg.Connection, path: Path, retired_id: str) -> Keyring:
    """Remove the previous key ``retired_id`` from the keyring file, once no sealed value is
    under it (``KeyInUse`` otherwise; ``ValueError`` for the current key or an unknown id).
    Its receipt public key stays published."""
    with _keyring_lock(path):
        keyring = read_keyring_file(path)
        keyring.retired(retired_id)  # the current key or an unknown id: ValueError now
        usage = await key_usage(conn, keyring)
        if usage.by_key_id.get(retired_id, 0):
            raise KeyInUse(retired_id, usage.by_key_id[retired_id])
        if usage.legacy:  # they carry no key id: any key may be the one that opens them
            raise KeyInUse(retired_id, usage.legacy, legacy=True)
        retired = keyring.retired(retired_id)
        write_keyring_file(path, retired)
    return retired


def settle_deadline(written_at: float) -> float:
    """When every running process has seen a keyring written at ``written_at`` (monotonic
    time), with a margin for requests that sealed just before."""
    return written_at + KEYRING_CHECK_INTERVAL_S + SETTLE_MARGIN_S
