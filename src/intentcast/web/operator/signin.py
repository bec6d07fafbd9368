"""``/operator/signin``: an operator pastes an operator token (``ico_…``, printed once by
``intentcast serve`` on its first start or by ``intentcast operator create-token``); the
session then holds the operator's id and the token's id, never the token, and ends when
the token is revoked. ``/operator/signout`` ends it."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from intentcast.security import ROLE_BY_PREFIX
from intentcast.services.web_sessions import principal_for_token
from intentcast.web.accounts import page
from intentcast.web.forms import form_fields
from intentcast.web.operator.common import OPERATOR_HOME, see_other
from intentcast.web.session import safe_next, sign_in, sign_out, signed_in


class OperatorSignInPages(Controller):
    path = "/operator"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any], db: asyncpg.Connection) -> Redirect:
        principal = await signed_in(request, db)
        if principal is not None and principal.role == "operator":
            return see_other(OPERATOR_HOME)
        return see_other("/operator/signin")

    @get("/signin")
    async def signin_form(
        self, request: Request[Any, Any, Any], db: asyncpg.Connection, next: str | None = None
    ) -> Template | Redirect:
        next_path = _operator_next(next)
        principal = await signed_in(request, db)
        if principal is not None and principal.role == "operator":
            return see_other(next_path)
        return page("operator/signin.html", next_path=next_path, error=None)

    @post("/signin", status_code=303)
    async def signin(self, request: Request[Any, Any, Any], db: asyncpg.Connection) -> Any:
        form = await form_fields(request, ("token", "next"))
        next_path = _operator_next(form["next"])
        token = form["token"].strip()
        principal = None
        if ROLE_BY_PREFIX.get(token[:4]) == "operator":
            principal = await principal_for_token(db, token)
        if principal is None or principal.role != "operator":
            return page(
                "operator/signin.html",
                status=401,
                next_path=next_path,
                error="That is not a valid operator token (it may have been revoked). "
                "Operator tokens start with ico_.",
            )
        sign_in(request, principal, method="token", token_id=principal.token_id)
        return see_other(next_path)

    @post("/signout", status_code=303)
    async def signout(self, request: Request[Any, Any, Any]) -> Redirect:
        sign_out(request)
        return see_other("/operator/signin")


def _operator_next(value: str | None) -> str:
    """Where to go after signing in: an operator page of this site, else the queue."""
    target = safe_next(value, OPERATOR_HOME)
    return target if target.startswith("/operator/") else OPERATOR_HOME
