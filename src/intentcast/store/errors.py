"""What a repository raises when a row the caller relies on is not there.

``get`` returns ``None`` for a row that may legitimately be missing (the caller answers 404).
``require`` is for rows that must exist, because another row points at them (an offer's
intent, a message's thread): a missing one means a broken database, not a bad request, and
raises ``RowNotFound`` instead of failing later (or being skipped, as an ``assert`` is
under ``python -O``).
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["RowNotFound", "found"]

T = TypeVar("T")


class RowNotFound(LookupError):
    """A row that should exist does not: ``table`` and ``key`` say which."""

    def __init__(self, table: str, key: str) -> None:
        super().__init__(f"no {table} row {key!r}")
        self.table = table
        self.key = key


def found(row: T | None, table: str, key: str) -> T:
    """``row``, or ``RowNotFound(table, key)`` when it is ``None``."""
    if row is None:
        raise RowNotFound(table, key)
    return row
