"""The problems of the API in its OpenAPI document: the ``Problem`` schema, what each status
means, and ``ProblemResponses``, the plugin that documents on every operation the problem
responses it can give (the errors themselves are made in ``api/errors.py``)."""

from __future__ import annotations

import re

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.response import ServerSentEvent
from litestar.routes import BaseRoute, HTTPRoute


class FieldProblem(msgspec.Struct):
    field: str
    """Where: `display_name`, `budget.currency`, `query.after`, `header.Idempotency-Key`, `body`."""
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details (`application/problem+json`); some problems add members
    (for example `limit` on a quota)."""

    type: str
    """`urn:intentcast:problem:<code>`."""
    title: str
    status: int
    detail: str
    code: str
    """Stable and machine-readable: `validation-error`, `malformed-json`, `not-found`, …"""
    errors: list[FieldProblem] = msgspec.field(default_factory=list)
    """For bad input: each field in error (absent otherwise)."""


PROBLEM_DESCRIPTIONS = {
    400: "The request is malformed: a field, parameter or header is invalid or the body is "
    "not JSON. `errors` names each field.",
    401: "No valid bearer token.",
    403: "This token's role (or this vendor's status) may not use this route.",
    404: "No such resource, or not one of yours.",
    409: "Refused in the resource's current state (`code` says why), or the same "
    "`Idempotency-Key` is still being processed.",
    410: "Gone: the buyer revoked this reveal.",
    413: "The request body is larger than the server accepts.",
    422: "A value breaks a rule (`errors` names the field), or an `Idempotency-Key` was "
    "reused with another body.",
    429: "Too many requests: retry after `Retry-After` seconds (when rate limiting is on).",
}
MORE_PROBLEMS = {
    "listCategories": {404},  # `under` names no category
    "readReveal": {410},  # the buyer revoked the reveal
    "acceptRevealTerms": {410},
}
"""Problems some operations give that do not follow from their shape (``problem_statuses``)."""


def problem_statuses(
    method: str, *, path_params: bool, authenticated: bool, rate_limited: bool, guarded: bool
) -> set[int]:
    """The problem statuses a route can answer, from what it is: every route validates
    something (a NUL in any query parameter is a 400); a bearer token can be refused; a
    role can be refused; a path id can name nothing; a change can meet a state, a body can
    be too large or break a rule (and POST honours `Idempotency-Key`)."""
    statuses = {400}
    if authenticated:
        statuses.add(401)
    if rate_limited:
        statuses.add(429)
    if guarded:
        statuses.add(403)
    if path_params:
        statuses.add(404)
    if method in {"POST", "PUT", "PATCH", "DELETE"} and authenticated:
        statuses.add(409)
    if method in {"POST", "PUT", "PATCH"}:
        statuses |= {413, 422}
    return statuses


class ProblemResponses(ReceiveRoutePlugin):
    """Documents, on every operation of the OpenAPI document, the problem responses it can
    give (``problem_statuses``), each as ``application/problem+json`` with the ``Problem``
    schema, in place of Litestar's generic 400; and a handler answering Server-Sent Events
    as ``text/event-stream`` (Litestar would say ``application/json``). A response a handler
    documents itself wins.

    ``public_paths``: the patterns excluded from bearer authentication and rate limiting."""

    __slots__ = ("public",)

    def __init__(self, public_paths: list[str]) -> None:
        self.public = [re.compile(p) for p in public_paths]

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        public_path = any(p.search(route.path) for p in self.public)
        for handler in route.route_handlers:
            for method in handler.http_methods:
                statuses = problem_statuses(
                    method,
                    path_params=bool(route.path_parameters),
                    authenticated=not public_path and not handler.opt.get("exclude_from_auth"),
                    rate_limited=not public_path,
                    guarded=bool(handler.resolve_guards()),
                )
                statuses |= MORE_PROBLEMS.get(str(handler.operation_id), set())
                documented = {
                    status: ResponseSpec(
                        data_container=Problem,
                        description=PROBLEM_DESCRIPTIONS[status],
                        media_type="application/problem+json",
                        generate_examples=False,
                    )
                    for status in sorted(statuses)
                }
                if handler.parsed_fn_signature.return_type.is_subclass_of(ServerSentEvent):
                    documented[handler.status_code] = ResponseSpec(
                        data_container=str,
                        description="Server-Sent Events: `id` is the event's `seq`, `event` "
                        "its type, `data` the event as JSON.",
                        media_type="text/event-stream",
                        generate_examples=False,
                    )
                handler.responses = {**documented, **(handler.responses or {})}
