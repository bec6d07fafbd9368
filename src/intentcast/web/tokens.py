"""The buyer's API tokens page: list (never the secrets), create one (shown once, on the
answer to the form — the page is never cached), revoke. The same services and request
Struct as ``/v1/me/tokens``; a buyer who signed up with a passkey and lost the token shown
then gets a new one here. A token may be scoped (checkboxes, ``domain/scopes.py``: for an
assistant that must never reveal, accept, export or erase) and expire after a chosen
number of days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from intentcast.api.accounts import BuyerTokenCreate
from intentcast.domain.errors import DomainError
from intentcast.domain.scopes import SCOPES
from intentcast.services import accounts
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.errors import message_of, status_of, validation_message
from intentcast.web.forms import form_fields, form_list
from intentcast.web.session import current_buyer

SHOWN = 100
"""Tokens listed on the page (the API pages through any number)."""

DONE = {"revoked": "Token revoked: programs using it are refused from now on."}

EXPIRY_CHOICES = {"": 0, "1": 1, "7": 7, "30": 30, "90": 90, "365": 365}
"""The form's expiry choices, in days from now (0: until revoked)."""


class TokenPages(Controller):
    include_in_schema = False
    dependencies = {"buyer": Provide(current_buyer)}

    @get("/account/tokens")
    async def tokens(
        self, buyer: Principal, db: asyncpg.Connection, done: str | None = None
    ) -> Template:
        return await _tokens_page(db, buyer, flash=DONE.get(done or ""))

    @post("/account/tokens", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], buyer: Principal, db: asyncpg.Connection
    ) -> Template:
        """A new token, shown once on this answer."""
        form = await form_fields(request, ("label", "expires_in_days"))
        scopes = await form_list(request, "scopes")
        days = EXPIRY_CHOICES.get(form["expires_in_days"] or "")
        if days is None:
            return await _tokens_page(
                db, buyer, error="expiry: choose one of the listed", status=422
            )
        try:
            data = msgspec.convert(
                {"label": form["label"].strip() or None, "scopes": scopes or None},
                BuyerTokenCreate,
            )
        except msgspec.ValidationError as exc:
            return await _tokens_page(db, buyer, error=validation_message(exc), status=422)
        expires_at = datetime.now(UTC) + timedelta(days=days) if days else None
        try:
            row, token = await accounts.issue_token(
                db, "buyer", buyer.subject_id, data.label, scopes=data.scopes, expires_at=expires_at
            )
        except DomainError as exc:
            return await _tokens_page(db, buyer, error=message_of(exc), status=status_of(exc))
        return await _tokens_page(
            db, buyer, new_token=token, new_label=row.label, new_scopes=row.scopes, status=201
        )

    @post("/account/tokens/{token_id:str}/revoke", status_code=303)
    async def revoke(self, token_id: str, buyer: Principal, db: asyncpg.Connection) -> Any:
        try:
            await accounts.revoke_token(db, buyer.subject_id, token_id)
        except DomainError as exc:
            return await _tokens_page(db, buyer, error=message_of(exc), status=status_of(exc))
        return Redirect(path="/account/tokens?done=revoked", status_code=HTTP_303_SEE_OTHER)


async def _tokens_page(
    db: asyncpg.Connection,
    buyer: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    flash: str | None = None,
    new_token: str | None = None,
    new_label: str | None = None,
    new_scopes: list[str] | None = None,
) -> Template:
    rows = await accounts.account_tokens(db, buyer.subject_id, limit=SHOWN, after=None)
    return page(
        "tokens.html",
        status=status,
        tokens=[r for r in rows if r.revoked_at is None],
        session_token_id=buyer.token_id,
        error=error,
        flash=flash,
        new_token=new_token,
        new_label=new_label,
        new_scopes=new_scopes,
        scopes=SCOPES,
        signed_in_as=buyer.subject_id,
    )
