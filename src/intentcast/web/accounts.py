"""The buyer's front door: the start page, sign-up (shows the new API token once),
sign-in with an API token, and sign-out. Sign-up goes through ``services.accounts`` like
``POST /v1/buyers``, validated by the same request Struct."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, get, post
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from intentcast.api.accounts import BuyerCreate
from intentcast.security import ROLE_BY_PREFIX, Keys
from intentcast.services import accounts
from intentcast.services.web_sessions import principal_for_token
from intentcast.web.errors import validation_message
from intentcast.web.forms import form_fields
from intentcast.web.session import safe_next, sign_in, sign_out, signed_in

SIGNUP_FIELDS = ("display_name", "name", "email", "phone", "address", "country")


def page(name: str, status: int = 200, **context: Any) -> Template:
    """A page template with the context every page expects."""
    context.setdefault("signed_in_as", None)
    context.setdefault("flash", None)
    return Template(
        template_name=name, context=context, status_code=status, media_type=MediaType.HTML
    )


class AccountPages(Controller):
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any], db: asyncpg.Connection) -> Any:
        principal = await signed_in(request, db)
        if principal is not None and principal.role == "buyer":
            return Redirect(path="/intents", status_code=HTTP_303_SEE_OTHER)
        if principal is not None and principal.role == "operator":
            return Redirect(path="/operator", status_code=HTTP_303_SEE_OTHER)
        return page("home.html")

    @get("/signin")
    async def signin_form(self, next: str | None = None) -> Template:
        return page("signin.html", next_path=safe_next(next, "/intents"), error=None)

    @post("/signin", status_code=303)
    async def signin(self, request: Request[Any, Any, Any], db: asyncpg.Connection) -> Any:
        form = await form_fields(request, ("token", "next"))
        next_path = safe_next(form["next"], "/intents")
        token = form["token"].strip()
        principal = None
        if ROLE_BY_PREFIX.get(token[:4]) == "buyer":
            principal = await principal_for_token(db, token)
        if principal is None or principal.role != "buyer":
            return page(
                "signin.html",
                status=401,
                next_path=next_path,
                error="That is not a valid buyer token: it may have been revoked or have "
                "expired, or be a token scoped for an assistant, which cannot sign in here. "
                "Use your full token (it starts with icb_) or a passkey.",
            )
        sign_in(request, principal, method="token", token_id=principal.token_id)
        return Redirect(path=next_path, status_code=HTTP_303_SEE_OTHER)

    @get("/signup")
    async def signup_form(self) -> Template:
        return page("signup.html", form=dict.fromkeys(SIGNUP_FIELDS, ""), error=None)

    @post("/signup", status_code=201)
    async def signup(
        self, request: Request[Any, Any, Any], db: asyncpg.Connection, keys: Keys
    ) -> Template:
        form = await form_fields(request, SIGNUP_FIELDS)
        values = {k: v.strip() for k, v in form.items() if v.strip()}
        if "country" in values:
            values["country"] = values["country"].upper()
        try:
            data = msgspec.convert(values, BuyerCreate)
        except msgspec.ValidationError as exc:
            return page("signup.html", status=422, form=form, error=validation_message(exc))
        row, token = await accounts.create_buyer(
            db,
            keys,
            display_name=data.display_name,
            country=data.country,
            persona=msgspec.structs.asdict(data),
        )
        principal = await principal_for_token(db, token)
        if principal is not None:
            sign_in(request, principal, method="token", token_id=principal.token_id)
        return page("signed_up.html", status=201, token=token, signed_in_as=row.display_name)

    @post("/signout", status_code=303)
    async def signout(self, request: Request[Any, Any, Any]) -> Redirect:
        sign_out(request)
        return Redirect(path="/", status_code=HTTP_303_SEE_OTHER)
