"""Bearer-token authentication and role guards.

The middleware resolves ``Authorization: Bearer <token>`` to a ``Principal`` (or none for an
anonymous request), through the process's ``PrincipalCache`` (``services/token_cache.py``:
a few seconds, forgotten at once on revocation and vendor moderation); guards on each
controller decide. A token that is present but unknown, revoked
or expired is always 401, and 401/403 answers never say whether a resource exists.

A scoped (delegated) buyer token is checked here too, once for every route: the route's
``operation_id`` must be granted by one of its scopes (``api/scopes.py``), else 403
``token-scope`` naming the scope it lacks.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from intentcast.api.errors import problem
from intentcast.api.scopes import required_scope
from intentcast.domain.scopes import allows
from intentcast.security import ROLE_BY_PREFIX
from intentcast.services.token_cache import PrincipalCache
from intentcast.store.accounts import Principal, Tokens

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="intentcast"'}

LAST_USED_EVERY_S = 60.0
"""``tokens.last_used_at`` is written at most this often per token (and process)."""


class LastUsed:
    """When this process last recorded each token as used, so that ``last_used_at`` costs
    one write a minute per token instead of one per request. The store's ``touch`` checks
    the age again, so several API processes together also write about once a minute."""

    def __init__(self, every_s: float = LAST_USED_EVERY_S, capacity: int = 100_000) -> None:
        self.every_s = every_s
        self.capacity = capacity
        self.seen: dict[str, float] = {}

    def due(self, token_id: str) -> bool:
        """Whether to record a use of ``token_id`` now (and remember that it was)."""
        now = time.monotonic()
        last = self.seen.get(token_id)
        if last is not None and now - last < self.every_s:
            return False
        if len(self.seen) >= self.capacity:
            self.seen = {k: t for k, t in self.seen.items() if now - t < self.every_s}
            if len(self.seen) >= self.capacity:
                self.seen.clear()
        self.seen[token_id] = now
        return True


_last_used = LastUsed()


def unauthorized(detail: str = "A valid bearer token is required."):
    return problem(401, "unauthorized", detail, headers=_CHALLENGE)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            return AuthenticationResult(user=None, auth=None)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token[:4] not in ROLE_BY_PREFIX or len(token) > 200:
            raise unauthorized("The bearer token is malformed.")
        state = connection.app.state
        principals: PrincipalCache = state.principals
        principal = principals.get(token)
        if principal is None:
            generation = principals.generation
            async with state.pool.acquire() as conn:
                principal = await Tokens(conn).principal(token)
                if principal is not None and _last_used.due(principal.token_id):
                    await Tokens(conn).touch(principal.token_id)
            if principal is None:
                raise unauthorized("The bearer token is not valid or has been revoked.")
            principals.put(token, principal, generation)
        elif _last_used.due(principal.token_id):
            async with state.pool.acquire() as conn:
                await Tokens(conn).touch(principal.token_id)
        if principal.scopes is not None:
            _require_scope(principal, connection.scope.get("route_handler"))
        return AuthenticationResult(user=principal, auth=token)


def _require_scope(principal: Principal, handler: BaseRouteHandler | None) -> None:
    """A scoped token may call only what ``api/scopes.py`` grants one of its scopes."""
    operation_id = getattr(handler, "operation_id", None)
    if not isinstance(operation_id, str):
        operation_id = None
    needed = required_scope(operation_id)
    if allows(principal.scopes, needed):
        return
    if needed is None:
        detail = "This route needs a full token; no scope grants it to a scoped token."
    else:
        detail = f"This token lacks the scope {needed!r} this route needs."
    raise problem(403, "token-scope", detail, required_scope=needed)


def _principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if user is None:
        raise unauthorized()
    return user


OPEN_TO_SUSPENDED = "open_to_suspended"
"""Route ``opt`` flag: a suspended vendor may still call this route (reading its own
account, to see why it is suspended). Every other route refuses it."""


def _refuse_suspended(principal: Principal, handler: BaseRouteHandler) -> None:
    if (
        principal.role == "vendor"
        and principal.status == "suspended"
        and not handler.opt.get(OPEN_TO_SUSPENDED)
    ):
        raise problem(
            403,
            "vendor-suspended",
            "This vendor account is suspended; GET /v1/me says why. "
            "Contact the operators to be reinstated.",
        )


def _role_guard(*roles: str):
    # async: Litestar would run a sync guard in a thread pool on every request
    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        principal = _principal(connection)
        if principal.role not in roles:
            raise problem(403, "forbidden", "This token's role may not use this route.")
        _refuse_suspended(principal, handler)

    guard.__name__ = f"requires_{'_or_'.join(roles)}"
    return guard


requires_buyer = _role_guard("buyer")
requires_vendor = _role_guard("vendor")
"""A vendor that is not suspended (a pending vendor manages its account, tokens, webhooks
and subscriptions)."""
requires_operator = _role_guard("operator")
requires_account = _role_guard("buyer", "vendor", "operator")
requires_buyer_or_vendor = _role_guard("buyer", "vendor")


async def requires_verified_vendor(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """A verified vendor: offers and threads (a pending vendor receives no matches)."""
    principal = _principal(connection)
    if principal.role != "vendor":
        raise problem(403, "forbidden", "This token's role may not use this route.")
    _refuse_suspended(principal, handler)
    if principal.status != "verified":
        raise problem(
            403,
            "vendor-not-verified",
            f"This vendor is {principal.status}; only verified vendors may use this route.",
        )


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return _principal(request)
