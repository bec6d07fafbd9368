"""The buyer's own details page: the display name and the persona fields (name, e-mail,
phone, address — sealed at rest, decrypted only for their owner, never shown to a vendor
unless revealed) and the country, read and changed through the same service and request
Struct as ``PATCH /v1/me``. A buyer who signed up with a passkey adds here what a reveal
can then disclose; an emptied field is cleared."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from intentcast.api.accounts import BuyerPatch, buyer_view
from intentcast.security import Keys
from intentcast.services import accounts
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.errors import validation_message
from intentcast.web.forms import form_fields
from intentcast.web.session import current_buyer

DETAIL_FIELDS = ("display_name", "name", "email", "phone", "address", "country")


class DetailsPages(Controller):
    include_in_schema = False
    dependencies = {"buyer": Provide(current_buyer)}

    @get("/account/details")
    async def details(
        self, buyer: Principal, db: asyncpg.Connection, keys: Keys, done: str | None = None
    ) -> Template:
        view = buyer_view(await accounts.buyer_account(db, buyer.subject_id), keys)
        form = {name: getattr(view, name) or "" for name in DETAIL_FIELDS}
        flash = "Your details are saved." if done == "saved" else None
        return page("details.html", form=form, error=None, flash=flash, signed_in_as=view.id)

    @post("/account/details", status_code=303)
    async def save(
        self, request: Request[Any, Any, Any], buyer: Principal, db: asyncpg.Connection, keys: Keys
    ) -> Any:
        form = await form_fields(request, DETAIL_FIELDS)
        values: dict[str, Any] = {k: v.strip() or None for k, v in form.items()}
        if values["country"]:
            values["country"] = values["country"].upper()
        if values["display_name"] is None:
            del values["display_name"]  # required: an empty box keeps the current one
        try:
            changes = msgspec.convert(values, BuyerPatch)
        except msgspec.ValidationError as exc:
            error = validation_message(exc)
            return page(
                "details.html", status=422, form=form, error=error, signed_in_as=buyer.subject_id
            )
        given = msgspec.structs.asdict(changes)
        await accounts.change_buyer(
            db, keys, buyer.subject_id, {k: v for k, v in given.items() if v is not msgspec.UNSET}
        )
        return Redirect(path="/account/details?done=saved", status_code=HTTP_303_SEE_OTHER)
