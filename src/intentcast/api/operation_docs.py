"""What the OpenAPI document says of an operation beyond its handler's signature: the
``Idempotency-Key`` request header on every operation that honours it, and ``security: []``
on the operations anyone may call without a token. ``OperationDocs`` is the plugin that sets
both on every route, from what each route is (problem responses: ``api/problem_docs.py``;
event payloads: ``api/event_docs.py``)."""

from __future__ import annotations

import dataclasses
import functools

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIType, Operation, Parameter, Schema
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

from intentcast.api.idempotency import MAX_KEY_LENGTH

IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_KEY_LENGTH),
    description=(
        "Makes a retried POST safe. Send a fresh key (1-255 printable characters, a UUID "
        "will do) with a request and the same key with every retry of it: a retry with the "
        "same key and the same body gets the first successful response again, marked "
        "`Idempotent-Replayed: true`, instead of acting twice. The same key with another "
        "body or path is 422 `idempotency-key-reused`; a retry while the first request is "
        "still running is 409 `idempotency-key-in-progress`; a malformed key is 400. Keys "
        "belong to your account (any of its tokens) and are kept for 24 hours; a request "
        "that failed frees its key for a retry."
    ),
    example="6f1c2b3e-4d5a-4b7c-9e8f-0a1b2c3d4e5f",
)


@functools.cache
def documented_operation(*, idempotent: bool, public: bool) -> type[Operation]:
    """An ``Operation`` class (Litestar builds each operation of the document from its
    handler's ``operation_class``) that adds the ``Idempotency-Key`` header parameter and/or
    empties the operation's ``security``."""

    def __post_init__(self: Operation) -> None:
        if idempotent:
            self.parameters = [*(self.parameters or []), IDEMPOTENCY_KEY]
        if public:
            self.security = []

    name = f"Operation{'Idempotent' if idempotent else ''}{'Public' if public else ''}"
    return dataclasses.make_dataclass(
        name, [], bases=(Operation,), namespace={"__post_init__": __post_init__}
    )


def needs_token(handler: HTTPRouteHandler) -> bool:
    """Whether calling the handler takes a bearer token: it has a role guard, or it (or a
    dependency it asks for) asks for the caller's ``principal``."""
    if handler.resolve_guards():
        return True
    dependencies = handler.resolve_dependencies()
    seen: set[str] = set()
    wanted = list(handler.parsed_fn_signature.parameters)
    while wanted:
        name = wanted.pop()
        if name == "principal":
            return True
        if name in seen or name not in dependencies:
            continue
        seen.add(name)
        wanted.extend(dependencies[name].parsed_fn_signature.parameters)
    return False


class OperationDocs(ReceiveRoutePlugin):
    """Declares ``Idempotency-Key`` on every POST a caller with a token makes (the
    idempotency middleware honours the key on POST only, and only for a caller with an
    account to keep it under: a sign-up's key is checked for shape and not replayed), and
    ``security: []`` on every operation that needs no token."""

    __slots__ = ()

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if handler.operation_class is not Operation:  # a handler's own choice wins
                continue
            public = not needs_token(handler)
            idempotent = "POST" in handler.http_methods and not public
            handler.operation_class = documented_operation(idempotent=idempotent, public=public)
