"""How the web pages are wired into the app: the template engine, the static files, the
server-side session, CSRF protection, and the security headers every page carries.

``WebSetup.build(settings, keys, redis_client)`` returns each piece for ``api/app.py`` to
register (route handlers, ``template_config``, ``csrf_config``, middleware, stores).

**Cookies.** The session cookie (``intentcast_session``) and the CSRF cookie
(``intentcast_csrf``) are HTTP-only and SameSite=Lax. They are ``Secure`` unless the server
listens on a loopback address (``INTENTCAST_HOST`` 127.0.0.0/8, ::1 or ``localhost``):
there it is reached over plain http by a browser on the same machine (development, the
browser tests); anywhere else it is behind TLS.

**CSRF.** Litestar's double-submit check (``CSRFConfig``) on every unsafe method of every
path but the JSON API (``/v1/…``, bearer tokens, no cookies), the probes, the OpenAPI
document and the static files. Forms carry ``{{ csrf_input | safe }}``; scripts send the
token of ``<meta name="csrf-token">`` in ``X-CSRFToken``. The HMAC secret is derived from
the server keyring's pseudonym key, which never rotates, so every API process agrees and a
key rotation signs nobody's form out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader, MutableScopeHeaders, ResponseHeader
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from litestar.types import Empty, Message, ScopeSession

from intentcast.config import Settings
from intentcast.security import Keys, derive_key
from intentcast.web.session import ROTATE_SESSION

STATIC_DIR = Path(__file__).parent / "static"

SESSION_COOKIE = "intentcast_session"
CSRF_COOKIE = "intentcast_csrf"
CSRF_HEADER = "x-csrftoken"
SESSION_MAX_AGE_S = 12 * 3600
"""A web session lasts 12 hours from its last page (each page renews it)."""

NOT_WEB_PATHS = [
    "^/v1/",
    "^/health$",
    "^/ready$",
    "^/metrics$",
    "^/openapi.json$",
    "^/docs",
    "^/static/",
]
"""Paths outside the web pages: no session is loaded, no CSRF cookie set or checked."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
"""On every web page, error pages included (``web.errors``)."""
NO_STORE = CacheControlHeader(no_store=True)
"""Pages show one person's data: never cached, by the browser or anything between."""


def is_loopback_host(host: str) -> bool:
    """Whether the server listens only where a browser on this machine reaches it."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secure_cookies(settings: Settings) -> bool:
    """Cookies are ``Secure`` except on a loopback-only server (plain http there)."""
    return not is_loopback_host(settings.host)


def csrf_secret(keys: Keys) -> str:
    return derive_key(keys.keyring.pseudonym_key, "intentcast web csrf").hex()


class WebSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, with two changes: a sign-in (``ROTATE_SESSION``)
    moves the session to a new id and deletes the old one, and a visitor with nothing in
    the session gets no cookie and no stored entry."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.scope.get(ROTATE_SESSION):
            fresh = connection.get_session_id()
            if not fresh:
                fresh = self.generate_session_id()
                connection._connection_state.session_id = fresh
            return fresh
        return super().get_session_id(connection)

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        previous = connection.cookies.get(self.config.key)
        if not scope_session or scope_session is Empty:
            if previous and previous != "null":
                await super().store_in_message(Empty, message, connection)
            return
        if connection.scope.get(ROTATE_SESSION) and previous and previous != "null":
            await self.delete(previous, store=self.config.get_store_from_app(connection.app))
        await super().store_in_message(scope_session, message, connection)


@dataclass
class WebSessionConfig(ServerSideSessionConfig):
    _backend_class = WebSessionBackend


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=PackageLoader("intentcast.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def static_router() -> Router:
    """``/static/…``: the pages' CSS and scripts, from the package (never another origin)."""
    return create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=300),
        after_request=_with_security_headers,
    )


async def _with_security_headers(response: Any) -> Any:
    response.headers.update(SECURITY_HEADERS)
    return response


def security_response_headers() -> list[ResponseHeader]:
    return [ResponseHeader(name=k, value=v) for k, v in SECURITY_HEADERS.items()]


def add_security_headers(message: Message) -> None:
    """On an ASGI ``http.response.start`` (the SSE route, which Litestar streams)."""
    headers = MutableScopeHeaders.from_message(message)  # type: ignore[arg-type]
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value


@dataclass(frozen=True)
class WebSetup:
    """What ``api/app.py`` registers for the web pages."""

    template_config: TemplateConfig[JinjaTemplateEngine]
    csrf_config: CSRFConfig
    session_middleware: DefineMiddleware
    stores: dict[str, RedisStore]

    @classmethod
    def build(cls, settings: Settings, keys: Keys, redis_client: redis.Redis) -> WebSetup:
        secure = secure_cookies(settings)
        session = WebSessionConfig(
            key=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            secure=secure,
            samesite="lax",
            exclude=NOT_WEB_PATHS,
            store="web_sessions",
            renew_on_access=True,
        )
        csrf = CSRFConfig(
            secret=csrf_secret(keys),
            cookie_name=CSRF_COOKIE,
            header_name=CSRF_HEADER,
            cookie_secure=secure,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=NOT_WEB_PATHS,
        )
        return cls(
            template_config=template_config(),
            csrf_config=csrf,
            session_middleware=session.middleware,
            stores={"web_sessions": RedisStore(redis_client, namespace="ic:websession")},
        )
