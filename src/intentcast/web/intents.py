"""The buyer's intents: the list with each intent's status (more pages: compose, the
intent with its live offers — added as they land)."""

from __future__ import annotations

import asyncpg
from litestar import Controller, get
from litestar.di import Provide
from litestar.response import Template

from intentcast.services import intents
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.session import current_buyer

PAGE_SIZE = 50


class IntentPages(Controller):
    include_in_schema = False
    dependencies = {"buyer": Provide(current_buyer)}

    @get("/intents")
    async def list_intents(self, buyer: Principal, db: asyncpg.Connection) -> Template:
        items = await intents.buyer_intents(
            db, buyer_id=buyer.subject_id, statuses=None, limit=PAGE_SIZE, before=None
        )
        return page("intents.html", intents=items, signed_in_as=buyer.subject_id)
