"""The buyer's disclosures and data rights: the ledger of signed consent receipts with a
revoke button per active reveal, the export of everything stored (the same document as
``GET /v1/me/export``), and the erasure of the account (``DELETE /v1/me``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from redis.asyncio import Redis

from intentcast.api.me import buyer_export
from intentcast.config import Settings
from intentcast.security import Keys
from intentcast.services import data_rights, reveals
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.errors import FormError
from intentcast.web.forms import form_fields
from intentcast.web.session import current_buyer, sign_out

LEDGER_PAGE = 100
DELETE_CONFIRMATION = "delete"


class LedgerPages(Controller):
    include_in_schema = False
    dependencies = {"buyer": Provide(current_buyer)}

    @get("/ledger")
    async def ledger(
        self, buyer: Principal, db: asyncpg.Connection, done: str | None = None
    ) -> Template:
        rows = await reveals.disclosure_ledger(db, buyer.subject_id, limit=LEDGER_PAGE, before=None)
        entries = [
            {
                "kind": r["kind"],
                "issued_at": r["issued_at"],
                "reveal_id": r["reveal_id"],
                "active": r["reveal_status"] == "granted",
                "vendor_name": r["receipt"].get("vendor_name") or r["vendor_id"],
                "intent_id": r["intent_id"],
                "fields": list(r["fields"]),
                "receipt": json.dumps(r["receipt"], indent=1, sort_keys=True, ensure_ascii=False),
                "signature": r["signature"],
            }
            for r in rows
        ]
        shown_revoke: set[str] = set()
        for entry in entries:  # one revoke button per active reveal, on its newest entry
            entry["revocable"] = entry["active"] and entry["reveal_id"] not in shown_revoke
            shown_revoke.add(entry["reveal_id"])
        flash = "Revoked: the vendor can no longer read it." if done == "revoked" else None
        return page("ledger.html", entries=entries, flash=flash, signed_in_as=buyer.subject_id)

    @post("/reveals/{reveal_id:str}/revoke", status_code=303)
    async def revoke(
        self,
        reveal_id: str,
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
    ) -> Redirect:
        await reveals.revoke_reveal(
            db, redis, keys, buyer_id=buyer.subject_id, reveal_id=reveal_id, now=datetime.now(UTC)
        )
        return Redirect(path="/ledger?done=revoked", status_code=HTTP_303_SEE_OTHER)

    @get("/account")
    async def account(self, buyer: Principal) -> Template:
        return page("account.html", error=None, signed_in_as=buyer.subject_id)

    @get("/account/export")
    async def export(
        self, buyer: Principal, db: asyncpg.Connection, keys: Keys, settings: Settings
    ) -> Response[bytes]:
        """A download of everything stored about the buyer."""
        data = await data_rights.export_buyer(db, buyer.subject_id)
        document = buyer_export(data, keys, settings)
        return Response(
            content=msgspec.json.format(msgspec.json.encode(document), indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="intentcast-export.json"',
            },
        )

    @post("/account/delete", status_code=200)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
    ) -> Template:
        form = await form_fields(request, ("confirm",))
        if form["confirm"].strip().lower() != DELETE_CONFIRMATION:
            raise FormError("confirm", f'type "{DELETE_CONFIRMATION}" to confirm the erasure')
        await data_rights.erase_buyer(
            db, redis, keys, buyer_id=buyer.subject_id, now=datetime.now(UTC)
        )
        sign_out(request)
        return page("deleted.html")
