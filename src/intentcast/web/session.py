"""Web sign-in state: what a browser session holds, how a page learns who is signed in,
and the one helper every way of signing in (a pasted token, a passkey) ends with.

The session lives in Redis (Litestar's server-side sessions); the browser holds only a
random session id in an HTTP-only, SameSite cookie. The session stores the account's role
and id and the id of the token it was opened with — never a token. Every page resolves
it again (``services.web_sessions``): a revoked token, an erased buyer or a deleted
operator is signed out on the next request.

Pages take the signed-in account as a dependency::

    @get("/intents", dependencies={"buyer": Provide(current_buyer)})
    async def intents(self, buyer: Principal) -> Template: ...

``current_buyer`` / ``current_operator`` raise ``SignInRequired`` when nobody (of that
role) is signed in; the web exception handlers turn it into a redirect to the role's
sign-in page with ``?next=`` the page asked for.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from litestar import Request
from litestar.connection import ASGIConnection

from intentcast.services.web_sessions import session_principal
from intentcast.store.accounts import Principal

SESSION_ROLE = "role"
SESSION_SUBJECT = "subject_id"
SESSION_TOKEN = "token_id"  # noqa: S105 (a key name; the token is never stored)
SESSION_PASSKEY = "passkey_id"
SESSION_METHOD = "method"
SESSION_SINCE = "signed_in_at"

ROTATE_SESSION = "intentcast.rotate_session"
"""Scope key: the session id must change when the response is sent (a sign-in)."""

SIGN_IN_PAGES = {"buyer": "/signin", "operator": "/operator/signin"}
"""Where each role signs in; ``SignInRequired`` redirects there."""


class SignInRequired(Exception):
    """The page needs a signed-in account of ``role``; answered with a redirect."""

    def __init__(self, role: str, next_path: str | None = None) -> None:
        super().__init__(f"sign in as {role}")
        self.role = role
        self.next_path = next_path


def sign_in(
    connection: ASGIConnection[Any, Any, Any, Any],
    principal: Principal,
    *,
    method: str,
    token_id: str | None = None,
    passkey_id: str | None = None,
) -> None:
    """Open a session for ``principal`` (``method``: ``token`` or ``passkey``), with the
    token or the passkey it was opened with: revoking the token or removing the passkey
    ends the session. Whatever the browser's session held is dropped and the session gets a new
    id, so an id known before sign-in is worthless after it."""
    connection.clear_session()
    connection.set_session(
        {
            SESSION_ROLE: principal.role,
            SESSION_SUBJECT: principal.subject_id,
            SESSION_TOKEN: token_id,
            SESSION_PASSKEY: passkey_id,
            SESSION_METHOD: method,
            SESSION_SINCE: int(time.time()),
        }
    )
    connection.scope[ROTATE_SESSION] = True  # type: ignore[literal-required]


def sign_out(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """End the session: its data is deleted from the store, the cookie expires."""
    connection.clear_session()


async def signed_in(
    connection: ASGIConnection[Any, Any, Any, Any], db: asyncpg.Connection
) -> Principal | None:
    """The account this browser is signed in as, if the session still stands (a session
    that no longer does is cleared)."""
    session = connection.session if "session" in connection.scope else {}
    role = session.get(SESSION_ROLE)
    subject_id = session.get(SESSION_SUBJECT)
    if not isinstance(role, str) or not isinstance(subject_id, str):
        return None
    token_id = session.get(SESSION_TOKEN)
    passkey_id = session.get(SESSION_PASSKEY)
    principal = await session_principal(
        db,
        role=role,
        subject_id=subject_id,
        token_id=token_id if isinstance(token_id, str) and token_id else None,
        passkey_id=passkey_id if isinstance(passkey_id, str) and passkey_id else None,
    )
    if principal is None:
        connection.clear_session()
    return principal


def _requested_path(request: Request[Any, Any, Any]) -> str | None:
    if request.method != "GET":
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    return request.url.path + ("?" + query if query else "")


async def _signed_in_as(request: Request[Any, Any, Any], role: str) -> Principal:
    # Its own connection, given back before it raises: a dependency that raises while
    # Litestar resolves a handler's dependencies leaves the generator dependencies
    # resolved before it (the ``db`` connection) without their cleanup, and each redirected
    # visit would keep one pool connection for good.
    async with request.app.state.pool.acquire() as db:
        principal = await signed_in(request, db)
    if principal is None or principal.role != role:
        raise SignInRequired(role, _requested_path(request))
    return principal


async def current_buyer(request: Request[Any, Any, Any]) -> Principal:
    """Dependency: the signed-in buyer, else ``SignInRequired`` (a redirect to /signin)."""
    return await _signed_in_as(request, "buyer")


async def current_operator(request: Request[Any, Any, Any]) -> Principal:
    """Dependency: the signed-in operator, else ``SignInRequired`` (a redirect to
    /operator/signin)."""
    return await _signed_in_as(request, "operator")


def safe_next(value: str | None, default: str) -> str:
    """A ``next`` target that stays on this site: a path, never ``//host`` or a URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
