"""How a resource method becomes a call: each operation is written once, as a function that
describes its request (``Req``), and one of three decorators turns it into a method of both
clients. On an ``AsyncClient`` resource the method returns an awaitable (``endpoint``) or an
async iterator (``listing``, ``stream``); on a ``Client`` resource, the value or an iterator.
Each decorator records the operation's OpenAPI ``operationId``, method and path, so a test
can hold the client to the API's contract."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from intentcast.client._flows import Flow, Req, event_stream, make_call, paginate, single
from intentcast.client._runner import AsyncRunner, Runner, SyncRunner

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R", bound=Runner[Any])


class Resource(Generic[R]):
    """A group of operations, bound to a client's runner and headers."""

    def __init__(self, runner: R, headers: Mapping[str, str]) -> None:
        self._runner = runner
        self._headers = headers


class Operation(Generic[P, T]):
    """An operation as a method: ``describe`` builds its ``Req``; ``flow`` runs it."""

    kind = "call"

    def __init__(
        self,
        operation_id: str,
        method: str,
        path: str,
        describe: Callable[Concatenate[Any, P], Req[Any]],
    ) -> None:
        self.operation_id = operation_id
        self.method = method
        self.path = path
        self.describe = describe
        functools.update_wrapper(self, describe)  # type: ignore[arg-type]

    def flow(self, resource: Resource[Any], req: Req[Any]) -> Flow:
        runner = resource._runner
        call = make_call(self.method, self.path, req, resource._headers)
        return single(runner.request, call, runner.policy)

    def bind(self, resource: Resource[Any]) -> Callable[..., Any]:
        runner = resource._runner
        execute = runner.run if self.kind == "call" else runner.iterate

        @functools.wraps(self.describe)
        def method(*args: Any, **kwargs: Any) -> Any:
            return execute(self.flow(resource, self.describe(resource, *args, **kwargs)))

        return method

    if TYPE_CHECKING:

        @overload
        def __get__(self, obj: None, owner: type) -> Operation[P, T]: ...
        @overload
        def __get__(self, obj: Resource[AsyncRunner], owner: type) -> Callable[P, Awaitable[T]]: ...
        @overload
        def __get__(self, obj: Resource[SyncRunner], owner: type) -> Callable[P, T]: ...

    def __get__(self, obj: Any, owner: type) -> Any:
        return self if obj is None else self.bind(obj)


class Listing(Operation[P, T]):
    """A list operation: iterating follows the ``next`` cursor through every page."""

    kind = "iterate"

    def flow(self, resource: Resource[Any], req: Req[Any]) -> Flow:
        runner = resource._runner
        call = make_call(self.method, self.path, req, resource._headers)
        return paginate(runner.request, call, runner.policy)

    if TYPE_CHECKING:

        @overload  # type: ignore[override]
        def __get__(self, obj: None, owner: type) -> Listing[P, T]: ...
        @overload
        def __get__(
            self, obj: Resource[AsyncRunner], owner: type
        ) -> Callable[P, AsyncIterator[T]]: ...
        @overload
        def __get__(self, obj: Resource[SyncRunner], owner: type) -> Callable[P, Iterator[T]]: ...
        def __get__(self, obj: Any, owner: type) -> Any: ...


class Stream(Listing[P, T]):
    """An SSE stream: iterating yields its events, resuming across disconnects. ``describe``
    puts the seq to start after in ``Req.query["after"]``."""

    def flow(self, resource: Resource[Any], req: Req[Any]) -> Flow:
        runner = resource._runner
        after = int(req.query.get("after") or 0)
        bare: Req[Any] = Req(req.returns, path=req.path)
        call = make_call(self.method, self.path, bare, resource._headers)
        return event_stream(runner.stream_request, call, runner.policy, after)


def _decorator(
    kind: type[Operation[Any, Any]], operation_id: str, method: str, path: str
) -> Callable[[Callable[Concatenate[Any, P], Req[T]]], Any]:
    def wrap(describe: Callable[Concatenate[Any, P], Req[T]]) -> Any:
        return kind(operation_id, method, path, describe)

    return wrap


def endpoint(
    operation_id: str, method: str, path: str
) -> Callable[[Callable[Concatenate[Any, P], Req[T]]], Operation[P, T]]:
    return _decorator(Operation, operation_id, method, path)


def listing(
    operation_id: str, path: str
) -> Callable[[Callable[Concatenate[Any, P], Req[T]]], Listing[P, T]]:
    return _decorator(Listing, operation_id, "GET", path)


def stream(
    operation_id: str, path: str
) -> Callable[[Callable[Concatenate[Any, P], Req[T]]], Stream[P, T]]:
    return _decorator(Stream, operation_id, "GET", path)


def operations(resource: type[Resource[Any]]) -> list[Operation[Any, Any]]:
    """The operations a resource class defines."""
    return [value for value in vars(resource).values() if isinstance(value, Operation)]
