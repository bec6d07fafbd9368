"""Repository for every sealed value in the database, whatever its table: which server key
each one is sealed under, and re-sealing them in batches.

A sealed value starts with a header, ``version (1 byte) | key id (4 bytes)``
(``security.Sealer``); these queries read the header without opening anything. The tables
and columns are fixed here (:data:`SEALED_TABLES`); no name comes from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from intentcast.security import KEY_ID_BYTES, SEAL_VERSION

_MIN_SEALED_BYTES = 1 + KEY_ID_BYTES + 12 + 16
"""Header, nonce and tag: anything shorter is not in the current format (a legacy value)."""


class SealedTable(msgspec.Struct, frozen=True):
    """A table with sealed columns: its primary key columns (text) and its sealed columns."""

    name: str
    key_columns: tuple[str, ...]
    sealed_columns: tuple[str, ...]


SEALED_TABLES = (
    SealedTable(
        "buyers", ("id",), ("name_sealed", "email_sealed", "phone_sealed", "address_sealed")
    ),
    SealedTable("webhook_endpoints", ("id",), ("secret_sealed", "previous_secret_sealed")),
    SealedTable("reveals", ("id",), ("sealed_values",)),
    SealedTable("idempotency_keys", ("scope", "key"), ("response",)),
)
"""Every column holding sealed values. A new sealed column must be listed here, or key
rotation leaves it under the old key (``keys status`` would not count it either)."""


class SealedRow(msgspec.Struct, frozen=True):
    """One row's primary key and its sealed columns (``None`` where the column is NULL)."""

    key: tuple[str, ...]
    values: dict[str, bytes | None]


def header(key_id: str) -> bytes:
    """The first bytes of every value sealed under ``key_id``."""
    return bytes((SEAL_VERSION,)) + bytes.fromhex(key_id)


def _key_id_expr(column: str) -> str:
    return f"""CASE WHEN length({column}) >= {_MIN_SEALED_BYTES}
                     AND substring({column} from 1 for 1) = '\\x{SEAL_VERSION:02x}'::bytea
                    THEN encode(substring({column} from 2 for {KEY_ID_BYTES}), 'hex') END"""


def _not_under(column: str, param: str) -> str:
    """SQL true when ``column`` holds a value not sealed under the header ``param``."""
    return (
        f"({column} IS NOT NULL AND NOT (length({column}) >= {_MIN_SEALED_BYTES}"
        f" AND substring({column} from 1 for {1 + KEY_ID_BYTES}) = {param}))"
    )


class SealedValues:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def count_by_key_id(self) -> dict[tuple[str, str, str | None], int]:
        """How many values each (table, column, key id) holds; key id ``None`` for values
        not in the current format (sealed before key ids existed)."""
        counts: dict[tuple[str, str, str | None], int] = {}
        for table in SEALED_TABLES:
            for column in table.sealed_columns:
                rows = await self.conn.fetch(
                    f"""SELECT {_key_id_expr(column)} AS key_id, count(*) AS n
                          FROM {table.name} WHERE {column} IS NOT NULL GROUP BY 1"""
                )
                for row in rows:
                    counts[(table.name, column, row["key_id"])] = row["n"]
        return counts

    async def count_not_under(self, key_id: str) -> int:
        """How many values, in all tables, are not sealed under ``key_id``."""
        total = 0
        for table in SEALED_TABLES:
            where = " OR ".join(_not_under(c, "$1") for c in table.sealed_columns)
            total += await self.conn.fetchval(
                f"SELECT count(*) FROM {table.name} WHERE {where}", header(key_id)
            )
        return total

    async def lock_batch_not_under(
        self, table: SealedTable, key_id: str, *, after: tuple[str, ...] | None, limit: int
    ) -> list[SealedRow]:
        """Up to ``limit`` rows of ``table`` after the primary key ``after`` (in key order)
        with a value not sealed under ``key_id``, locked ``FOR UPDATE``; rows another
        transaction holds are skipped (``SKIP LOCKED``), not waited for. Call inside a
        transaction."""
        keys = ", ".join(table.key_columns)
        columns = ", ".join(table.sealed_columns)
        n = len(table.key_columns)
        args: list[Any] = [header(key_id), limit]
        where = "(" + " OR ".join(_not_under(c, "$1") for c in table.sealed_columns) + ")"
        if after is not None:
            params = ", ".join(f"${i}" for i in range(3, 3 + n))
            where += f" AND ({keys}) > ({params})"
            args.extend(after)
        rows = await self.conn.fetch(
            f"""SELECT {keys}, {columns} FROM {table.name} WHERE {where}
                 ORDER BY {keys} LIMIT $2 FOR UPDATE SKIP LOCKED""",
            *args,
        )
        return [
            SealedRow(
                key=tuple(row[k] for k in table.key_columns),
                values={c: None if row[c] is None else bytes(row[c]) for c in table.sealed_columns},
            )
            for row in rows
        ]

    async def write(self, table: SealedTable, rows: Sequence[SealedRow]) -> None:
        """Store the rows' sealed values (rows locked by this transaction)."""
        if not rows:
            return
        names = [*table.key_columns, *table.sealed_columns]
        arrays = [[row.key[i] for row in rows] for i in range(len(table.key_columns))]
        arrays += [[row.values[c] for row in rows] for c in table.sealed_columns]
        types = ["text[]"] * len(table.key_columns) + ["bytea[]"] * len(table.sealed_columns)
        unnest = ", ".join(f"${i}::{t}" for i, t in enumerate(types, start=1))
        sets = ", ".join(f"{c} = v.{c}" for c in table.sealed_columns)
        match = " AND ".join(f"t.{k} = v.{k}" for k in table.key_columns)
        await self.conn.execute(
            f"""UPDATE {table.name} AS t SET {sets}
                  FROM unnest({unnest}) AS v({", ".join(names)})
                 WHERE {match}""",
            *arrays,
        )
