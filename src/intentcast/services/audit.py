"""The operators' audit log as a use case: every operator action, from the API or the CLI,
is recorded here in the same transaction as the change it describes (who, when, what,
target, reason), and operators read it back a page at a time."""

from __future__ import annotations

import getpass
from typing import Any

import asyncpg

from intentcast.store.audit import AuditEntry, AuditLog

__all__ = ["AuditEntry", "audit_page", "cli_actor", "record_action"]


def cli_actor() -> str:
    """Who acts when an operator runs the CLI: the operating-system user (the CLI reads the
    database directly, so there is no token to name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container running as a bare uid)
        user = "unknown"
    return f"cli:{user}"


async def record_action(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Call inside the transaction that makes the change, so neither exists without the
    other."""
    return await AuditLog(conn).append(actor, action, target, reason, details)


async def audit_page(
    conn: asyncpg.Connection,
    *,
    after: int | None,
    limit: int,
    newest_first: bool = False,
    target: str | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    return await AuditLog(conn).page(
        after=after, limit=limit, newest_first=newest_first, target=target, action=action
    )
