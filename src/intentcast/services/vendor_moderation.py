"""Operators verifying, suspending and reinstating vendors, from the API or the CLI.

Suspension bites at once and everywhere: every vendor route answers 403 ``vendor-suspended``
(the status travels with the token, see ``api/auth.py``), the vendor's live SSE connections
are told to close, its webhooks stop (delivery skips suspended vendors), it gets no matches
and no ``intent.updated``/``intent.closed`` (the matcher's eligibility checks), and its live
offers are withdrawn, each buyer told. Reinstating restores access, not the withdrawn offers.
Every action is written to the audit log in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.domain.accounts import VendorAction, VendorStatus, vendor_status_after
from intentcast.domain.errors import NotFound
from intentcast.services.accounts import unique_vendor_name
from intentcast.services.audit import record_action
from intentcast.services.offers import withdraw_offers_of_suspended_vendor
from intentcast.services.work import Work, unit_of_work
from intentcast.store.accounts import VendorRow, Vendors


class VendorRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator sees of a vendor (its contact data too, never its tokens)."""

    id: str
    name: str
    website: str | None
    description: str | None
    contact_email: str | None
    status: VendorStatus
    status_reason: str | None
    status_changed_at: datetime | None
    created_at: datetime
    verified_at: datetime | None


def vendor_record(row: VendorRow) -> VendorRecord:
    return VendorRecord(
        id=row.id,
        name=row.name,
        website=row.website,
        description=row.description,
        contact_email=row.contact_email,
        status=row.status,  # type: ignore[arg-type]
        status_reason=row.status_reason,
        status_changed_at=row.status_changed_at,
        created_at=row.created_at,
        verified_at=row.verified_at,
    )


async def list_vendors(
    conn: asyncpg.Connection,
    *,
    status: VendorStatus | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[VendorRecord]:
    """Newest sign-ups first, optionally of one status."""
    return [
        vendor_record(r) for r in await Vendors(conn).page(status=status, limit=limit, after=after)
    ]


async def get_vendor(conn: asyncpg.Connection, vendor_id: str) -> VendorRecord:
    row = await Vendors(conn).get(vendor_id)
    if row is None:
        raise NotFound("vendor")
    return vendor_record(row)


async def change_vendor_status(
    conn: asyncpg.Connection,
    client: redis.Redis,
    *,
    actor: str,
    vendor_id: str,
    action: VendorAction,
    reason: str | None = None,
) -> VendorRecord:
    """Apply an operator's ``action`` (``verify``, ``suspend``, ``reinstate``) and its
    consequences, audited; 409 ``illegal-transition`` when the status does not allow it."""
    with unique_vendor_name():
        async with unit_of_work(conn, client) as work:
            return await apply_vendor_action(
                work, actor=actor, vendor_id=vendor_id, action=action, reason=reason
            )


async def apply_vendor_action(
    work: Work,
    *,
    actor: str,
    vendor_id: str,
    action: VendorAction,
    reason: str | None = None,
) -> VendorRecord:
    """``change_vendor_status`` inside a unit of work the caller holds (resolving a flag
    suspends the vendor in the flag's transaction, announced after that one commits)."""
    vendors = Vendors(work.conn)
    before = await vendors.get(vendor_id, for_update=True)
    if before is None:
        raise NotFound("vendor")
    status = vendor_status_after(
        action,
        before.status,  # type: ignore[arg-type]
        was_verified=before.verified_at is not None,
    )
    after = await vendors.set_status(vendor_id, status, reason)
    if after is None:  # locked above: only a broken database gets here
        raise NotFound("vendor")
    work.principals_changed(vendor_id)  # the status is in every cached Principal
    withdrawn: list[str] = []
    if status == "suspended":
        withdrawn = await withdraw_offers_of_suspended_vendor(work, vendor_id)
        work.close_vendor_streams(vendor_id)
    await record_action(
        work.conn,
        actor=actor,
        action=f"vendor.{action}",
        target=vendor_id,
        reason=reason,
        details={
            "from": before.status,
            "to": status,
            **({"offers_withdrawn": withdrawn} if withdrawn else {}),
        },
    )
    return vendor_record(after)
