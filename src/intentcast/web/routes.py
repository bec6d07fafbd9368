"""Every web route handler, under one router carrying the web's exception handlers,
security headers and no-store caching; ``api/app.py`` registers ``web_routers()``."""

from __future__ import annotations

from litestar.router import Router

from intentcast.web.accounts import AccountPages
from intentcast.web.config import NO_STORE, security_response_headers, static_router
from intentcast.web.deals import DealPages
from intentcast.web.details import DetailsPages
from intentcast.web.errors import WEB_EXCEPTION_HANDLERS
from intentcast.web.intents import IntentPages
from intentcast.web.ledger import LedgerPages
from intentcast.web.live import LivePages
from intentcast.web.operator import OPERATOR_PAGES
from intentcast.web.passkeys import PasskeyPages
from intentcast.web.tokens import TokenPages

WEB_PAGES: list[type] = [
    AccountPages,
    IntentPages,
    DealPages,
    LedgerPages,
    LivePages,
    PasskeyPages,
    TokenPages,
    DetailsPages,
]
"""Controllers of pages (buyer, passkeys, operator); each sets ``include_in_schema = False``."""


def web_routers() -> list[Router]:
    pages = Router(
        path="/",
        route_handlers=[*WEB_PAGES, *OPERATOR_PAGES],
        exception_handlers=WEB_EXCEPTION_HANDLERS,
        response_headers=security_response_headers(),
        cache_control=NO_STORE,
        include_in_schema=False,
    )
    return [pages, static_router()]
