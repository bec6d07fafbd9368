"""The Litestar app factory: the one place that wires controllers, plugins, middleware,
dependencies, exception handling and OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import redis.asyncio as redis
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.stores.redis import RedisStore

from intentcast import __version__
from intentcast.api.accounts import SignupController, VendorTokenController
from intentcast.api.admin import admin_router
from intentcast.api.auth import BearerTokenMiddleware, provide_principal
from intentcast.api.categories import CategoryController
from intentcast.api.errors import (
    EXCEPTION_MAP,
    CheckedRequest,
    ControlCharacterGuard,
)
from intentcast.api.event_docs import EventSchemas, webhook_docs
from intentcast.api.idempotency import IdempotencyMiddleware
from intentcast.api.insights import VendorInsightsController
from intentcast.api.intents import IntentController
from intentcast.api.me import BuyerStreamController, MeController
from intentcast.api.meta import MetaController
from intentcast.api.observability import AppLogging, MetricsController, RequestObservability
from intentcast.api.offers import BuyerOfferController, OfferController
from intentcast.api.operation_docs import OperationDocs
from intentcast.api.problem_docs import ProblemResponses
from intentcast.api.relay import RelayController
from intentcast.api.reveals import ReceiptController, RevealController, VendorRevealController
from intentcast.api.streams import EventStreams
from intentcast.api.subscriptions import SubscriptionController
from intentcast.api.vendor import VendorFeedController
from intentcast.api.vendors import VendorBlockController, VendorProfileController
from intentcast.api.webhooks import VendorWebhookController
from intentcast.bus import buyer_channel, vendor_channel
from intentcast.config import Settings, load_settings
from intentcast.delivery.live import LiveHub
from intentcast.security import Keys
from intentcast.services.runtime_settings import RuntimeSettings
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.services.token_cache import PrincipalCache
from intentcast.store.accounts import Principal
from intentcast.store.db import create_pool
from intentcast.web.config import WebSetup
from intentcast.web.errors import unknown_path
from intentcast.web.routes import web_routers

log = logging.getLogger(__name__)

POOL_CLOSE_TIMEOUT_S = 10.0

PUBLIC_PATHS = [
    "^/health$",
    "^/ready$",
    "^/metrics$",
    "^/openapi.json$",
    "^/docs",
    "^/v1/categories$",
    "^/v1/receipts/public-key$",
    "^/v1/receipts/public-keys$",
]


def _rate_limit_identifier(request: Request[Any, Any, Any]) -> str:
    """One bucket per account (L3): the limiter runs after authentication, so a token sent
    as `bearer`, with other spacing, or a freshly minted second token shares its account's
    bucket. Anonymous callers are keyed by address."""
    principal = request.scope.get("user")
    if isinstance(principal, Principal):
        return f"{principal.role}:{principal.subject_id}"
    client = request.client
    return "anon:" + (client.host if client else "unknown")


class RuntimeRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter at the operator's current ``rate_limit`` (requests per minute;
    0: off), read per request from the process's runtime settings, so a change applies
    without a restart."""

    def __init__(self, app: Any, config: RateLimitConfig, runtime: RuntimeSettings) -> None:
        super().__init__(app, config)
        self.runtime = runtime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.max_requests = self.runtime.current.rate_limit
        if self.max_requests <= 0:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    if settings.database_url is None or settings.redis_url is None:
        raise ValueError(
            "the API needs INTENTCAST_DATABASE_URL and INTENTCAST_REDIS_URL; "
            "`intentcast serve` or `intentcast api` set them for the embedded servers"
        )
    keys = Keys.from_settings(settings)
    redis_client = redis.from_url(settings.redis_url)
    taxonomy = TaxonomyCache()
    runtime_settings = RuntimeSettings(settings)
    principals = PrincipalCache(redis_client)
    web = WebSetup.build(settings, keys, redis_client)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url or "", max_size=settings.db_pool_size)
        app.state.pool = pool
        async with pool.acquire() as conn:
            await taxonomy.load(conn)
        vendor_hub = LiveHub(redis_client, vendor_channel(""))
        buyer_hub = LiveHub(redis_client, buyer_channel(""))
        app.state.streams = EventStreams(pool, vendor_hub, buyer_hub)
        vendor_hub.start()
        buyer_hub.start()
        principals.start()
        try:
            async with runtime_settings.following(pool, redis_client):
                yield
        finally:
            await vendor_hub.stop()
            await buyer_hub.stop()
            await principals.stop()
            try:
                await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT_S)
            except TimeoutError:  # a request still holds a connection: do not hang shutdown
                pool.terminate()
            await redis_client.aclose()

    async def provide_db(state: State) -> AsyncIterator[asyncpg.Connection]:
        async with state.pool.acquire() as conn:
            yield conn

    async def provide_streams(state: State) -> EventStreams:
        return state.streams

    middleware: list[Any] = [
        DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS),
        IdempotencyMiddleware(settings.max_body_bytes),
        ControlCharacterGuard(),
        web.session_middleware,  # web pages only (web/config.py NOT_WEB_PATHS)
    ]
    rate_limit = RateLimitConfig(
        rate_limit=("minute", max(settings.rate_limit, 1)),  # per request: runtime_settings
        identifier_for_request=_rate_limit_identifier,
        exclude=PUBLIC_PATHS,
        store="rate_limit",
    )
    middleware.insert(
        1, DefineMiddleware(RuntimeRateLimitMiddleware, config=rate_limit, runtime=runtime_settings)
    )

    app = Litestar(
        route_handlers=[
            MetaController,
            MetricsController,
            SignupController,
            MeController,
            VendorTokenController,
            CategoryController,
            VendorProfileController,
            IntentController,
            SubscriptionController,
            VendorFeedController,
            VendorWebhookController,
            VendorInsightsController,
            OfferController,
            BuyerOfferController,
            RevealController,
            VendorBlockController,
            BuyerStreamController,
            VendorRevealController,
            ReceiptController,
            RelayController,
            admin_router(),
            *web_routers(),
        ],
        lifespan=[lifespan],
        # for middleware, which has no dependency injection (idempotency seals with the keys)
        state=State({"sealer": keys.sealer, "redis": redis_client, "principals": principals}),
        dependencies={
            "db": Provide(provide_db),
            "principal": Provide(provide_principal),
            # the effective settings: the environment's, overlaid with the operator's
            "settings": Provide(lambda: runtime_settings.current, sync_to_thread=False),
            "runtime_settings": Provide(lambda: runtime_settings, sync_to_thread=False),
            "redis": Provide(lambda: redis_client, sync_to_thread=False),
            "keys": Provide(lambda: keys, sync_to_thread=False),
            "taxonomy": Provide(lambda: taxonomy, sync_to_thread=False),
            "streams": Provide(provide_streams),
        },
        middleware=middleware,
        # a path no route serves: a page for a browser, problem details for the API's clients
        exception_handlers={NotFoundException: unknown_path},
        plugins=[
            ProblemDetailsPlugin(
                ProblemDetailsConfig(
                    enable_for_all_http_exceptions=True,
                    exception_to_problem_detail_map=EXCEPTION_MAP,
                )
            ),
            ProblemResponses(PUBLIC_PATHS),
            OperationDocs(),
            EventSchemas(),
        ],
        stores={"rate_limit": RedisStore(redis_client, namespace="ic:ratelimit"), **web.stores},
        template_config=web.template_config,
        csrf_config=web.csrf_config,
        request_max_body_size=settings.max_body_bytes,
        request_class=CheckedRequest,
        openapi_config=_openapi_config(),
        debug=False,
        logging_config=AppLogging(),  # the process configured logging (intentcast.logs)
    )
    # outside routing and every middleware: 404s, 401s and 500s get a request id too
    app.asgi_handler = RequestObservability(app.asgi_handler)
    _resolve_dependencies_in_turn(app)
    return app


def _resolve_dependencies_in_turn(app: Litestar) -> None:
    """Litestar resolves a handler's independent dependencies concurrently, in an anyio task
    group per request (about a tenth of a ``GET``'s CPU time here); ours (the settings, the
    principal, a pool connection) are immediate or one pool checkout, so each handler
    resolves them one after the other instead: the plain ones first, then the generators
    (a connection), so that a refusal leaves nothing to clean up. This reaches into
    Litestar's per-route kwargs models; where a Litestar version has none, it changes
    nothing (Litestar's concurrent resolution is as correct, only slower)."""
    for route in app.routes:
        for entry in getattr(route, "route_handler_map", {}).values():
            kwargs_model = entry[-1] if isinstance(entry, tuple) else None
            batches = getattr(kwargs_model, "dependency_batches", None)
            if batches is None:  # another Litestar's internals: keep its own resolution
                continue
            if all(len(batch) == 1 for batch in batches):
                continue
            kwargs_model.dependency_batches = [
                {dependency}
                for batch in batches
                for dependency in sorted(
                    batch,
                    key=lambda d: (
                        d.provide.has_sync_generator_dependency
                        or d.provide.has_async_generator_dependency,
                        d.key,
                    ),
                )
            ]


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="intentcast",
        version=__version__,
        description=(
            "Intent-casting marketplace: buyers publish anonymised purchase intents, vendors "
            "subscribe and answer with offers, buyers reveal themselves selectively. Errors "
            "are RFC 9457 problem details; lists are cursor-paginated (`?limit=&after=`); "
            "`Idempotency-Key` is honoured on every POST."
        ),
        path="/docs",
        use_handler_docstrings=True,
        tags=[
            Tag(name="accounts", description="Buyer and vendor accounts."),
            Tag(name="vendor", description="Vendor-only routes."),
            Tag(name="intents", description="Buyers' anonymised purchase intents."),
            Tag(name="categories", description="The category taxonomy."),
            Tag(name="subscriptions", description="Vendors' standing subscriptions."),
            Tag(name="offers", description="Sealed offers, acceptance, ratings, reveals."),
            Tag(name="receipts", description="Consent receipts."),
            Tag(name="relay", description="The anonymous relay between buyer and vendor."),
            Tag(name="meta", description="Health, readiness, metrics."),
            Tag(name="admin", description="Operators: moderation, settings, audit log."),
        ],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="`icb_…` buyer, `icv_…` vendor or `ico_…` operator token.",
                )
            }
        ),
        security=[{"bearer": []}],
        webhooks=webhook_docs(),
    )


def create_app_from_env() -> Litestar:
    """Entry point for ASGI servers (granian ``--factory``), run in each server worker.

    Granian forks its workers, and a forked child does not inherit the parent-death signal;
    set it here so a worker never outlives the server process that started it."""
    import os
    import signal

    from intentcast.embedded import die_with_parent

    die_with_parent(signal.SIGTERM)
    if os.getppid() == 1:  # the parent is already gone
        raise SystemExit(0)
    return create_app(load_settings())
