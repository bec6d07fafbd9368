"""Operators resolving flagged relay messages (``services.relay.flag_message`` queues them).

A flag is known by its message's id. An operator reads the message as the vendor sees it
(the buyer's words scrubbed, never the original), which side flagged it and why, and the
thread, intent and vendor it belongs to — not the buyer's id. Resolving it is one of:

* ``dismiss``: nothing was wrong;
* ``remove_message``: the message is blanked for both sides — in the thread and in the
  copies the vendor's and the buyer's event logs carry — leaving a tombstone (the row, its
  time and sender, with ``REMOVED_MESSAGE`` as its text);
* ``suspend_vendor``: the thread's vendor is suspended (``vendor_moderation``, with all
  that a suspension does) for a message it wrote; the reason is required then.

Resolution and its consequences commit together with the audit entry (``flag.resolve``);
a flag is resolved once (409 ``flag-resolved``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.errors import NotFound, RuleViolation, StateConflict
from intentcast.services.audit import record_action
from intentcast.services.vendor_moderation import apply_vendor_action
from intentcast.services.work import unit_of_work
from intentcast.store.accounts import Vendors
from intentcast.store.moderation import FlagRow, Moderation

FlagAction = Literal["dismiss", "remove_message", "suspend_vendor"]
FlagStatus = Literal["open", "resolved"]

REMOVED_MESSAGE = "[removed by a moderator]"
"""Stands where an operator removed a relay message's text."""


class FlagResolution(msgspec.Struct, frozen=True, kw_only=True):
    action: FlagAction
    at: datetime
    by: str
    """The operator's id."""
    reason: str | None


class FlagRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator sees of a flagged message."""

    id: str
    """The message's id (a message is flagged once)."""
    thread_id: str
    intent_id: str
    vendor_id: str
    sender: Literal["buyer", "vendor"]
    body: str
    """As the vendor sees it: a buyer's words scrubbed of contact data."""
    sent_at: datetime
    flagged_at: datetime
    flagged_by: Literal["buyer", "vendor"]
    """Which side of the thread flagged it."""
    flag_reason: str | None
    removed: bool
    resolution: FlagResolution | None


def flag_record(row: FlagRow) -> FlagRecord:
    return FlagRecord(
        id=row.message_id,
        thread_id=row.thread_id,
        intent_id=row.intent_id,
        vendor_id=row.vendor_id,
        sender=row.sender,  # type: ignore[arg-type]
        body=row.public_body,
        sent_at=row.message_created_at,
        flagged_at=row.flagged_at,
        flagged_by="buyer" if row.flagged_by.startswith("buyer") else "vendor",
        flag_reason=row.flag_reason,
        removed=row.removed_at is not None,
        resolution=None
        if row.resolved_at is None
        else FlagResolution(
            action=row.resolution,  # type: ignore[arg-type]
            at=row.resolved_at,
            by=row.resolved_by or "",
            reason=row.resolution_reason,
        ),
    )


async def list_flags(
    conn: asyncpg.Connection,
    *,
    status: FlagStatus,
    limit: int,
    before: tuple[datetime, str] | None,
) -> tuple[list[FlagRecord], tuple[datetime, str] | None]:
    """Open (the queue) or resolved flags, most recently flagged first; and the position of
    the last one."""
    rows = await Moderation(conn).flags(resolved=status == "resolved", limit=limit, before=before)
    last = (rows[-1].flagged_at, rows[-1].message_id) if rows else None
    return [flag_record(r) for r in rows], last


async def resolve_flag(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    actor: str,
    message_id: str,
    action: FlagAction,
    reason: str | None,
) -> FlagRecord:
    """Apply ``action`` to the flagged message ``message_id``, audited."""
    if action == "suspend_vendor" and reason is None:
        raise RuleViolation("reason", "required to suspend a vendor (the vendor is shown it)")
    moderation = Moderation(conn)
    async with unit_of_work(conn, client) as work:
        flag = await moderation.flag(message_id, for_update=True)
        if flag is None:
            raise NotFound("flag")
        if flag.resolved_at is not None:
            raise StateConflict(
                f"This flag was already resolved ({flag.resolution}).", "flag-resolved"
            )
        details: dict[str, object] = {
            "action": action,
            "thread_id": flag.thread_id,
            "intent_id": flag.intent_id,
            "vendor_id": flag.vendor_id,
        }
        if action == "remove_message":
            await moderation.blank_message(message_id, REMOVED_MESSAGE)
        elif action == "suspend_vendor":
            if flag.sender != "vendor":
                raise RuleViolation(
                    "action",
                    "the buyer wrote this message; a vendor is suspended for its own words",
                )
            vendor = await Vendors(conn).get(flag.vendor_id)
            if vendor is not None and vendor.status == "suspended":
                details["vendor_already_suspended"] = True
            else:
                # in this flag's unit of work (announced once it commits), audited as
                # ``vendor.suspend`` beside this flag's entry
                await apply_vendor_action(
                    work,
                    actor=actor,
                    vendor_id=flag.vendor_id,
                    action="suspend",
                    reason=reason,
                )
        resolved = await moderation.resolve_flag(
            message_id, by=actor, resolution=action, reason=reason
        )
        await record_action(
            conn,
            actor=actor,
            action="flag.resolve",
            target=message_id,
            reason=reason,
            details=details,
        )
    return flag_record(resolved)


async def count_open_flags(conn: asyncpg.Connection) -> int:
    return await Moderation(conn).count_open_flags()
