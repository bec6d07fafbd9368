"""The one builder of dynamic ``INSERT`` and ``UPDATE … SET`` statements in the store.

Repositories whose columns vary per call (a patch, optional fields) build their SQL here.
Every column must be in the caller's allow-list, so a dictionary key can never become SQL
it was not meant to be: column names are only ever taken from code, values always travel
as ``$n`` parameters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["insert_sql", "set_clause"]


def _check(columns: Iterable[str], allowed: Collection[str], what: str) -> list[str]:
    names = list(columns)
    unknown = [c for c in names if c not in allowed]
    if unknown:
        raise ValueError(f"{what}: {sorted(unknown)}")
    return names


def insert_sql(
    table: str, columns: Iterable[str], *, allowed: Collection[str], returning: str | None = None
) -> str:
    """``INSERT INTO table (c1, c2) VALUES ($1, $2) [RETURNING …]``; pass the values in the
    order of ``columns``. A column outside ``allowed`` raises ``ValueError``."""
    names = _check(columns, allowed, f"cannot insert into {table}")
    if not names:
        raise ValueError(f"nothing to insert into {table}")
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({params})"
    return f"{sql} RETURNING {returning}" if returning else sql


def set_clause(
    changes: Mapping[str, Any],
    allowed: Collection[str],
    *,
    start: int = 2,
    also: Sequence[str] = (),
) -> tuple[str, list[Any]]:
    """``("c1 = $2, c2 = $3, <also…>", [v1, v2])`` for ``UPDATE … SET``.

    Numbering starts at ``$start`` (``$1`` is usually the row's id in ``WHERE``); ``also``
    are fixed assignments appended as written (``updated_at = now()``). A column outside
    ``allowed`` raises ``ValueError``."""
    names = _check(changes, allowed, "not updatable")
    assignments = [f"{col} = ${i}" for i, col in enumerate(names, start=start)]
    clause = ", ".join([*assignments, *also])
    if not clause:
        raise ValueError("nothing to set")
    return clause, [changes[c] for c in names]
