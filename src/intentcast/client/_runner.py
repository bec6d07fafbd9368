"""Performing the flows' actions (``_flows.py``): over ``httpx.AsyncClient`` or
``httpx.Client``, with one loop for both.

``Runner.drive`` is an async generator whose only awaits are ``perform`` and ``close``. The
async runner performs each action with real awaits. The sync runner's ``perform`` does
blocking I/O and never suspends, so ``drive`` runs to each of its results in a single
``send(None)`` (``_complete``): the sync client walks the same loop without an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import httpx

from intentcast.client._flows import (
    STREAM_READ_TIMEOUT_S,
    Action,
    Call,
    Close,
    Emit,
    Flow,
    NextLine,
    ReadBody,
    RetryPolicy,
    Send,
    Sleep,
    build_request,
)
from intentcast.client._sse import LineSplitter

H = TypeVar("H", httpx.AsyncClient, httpx.Client)
T = TypeVar("T")

_STREAM_TIMEOUT = httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT_S)


async def _async_lines(response: httpx.Response) -> AsyncGenerator[str, None]:
    splitter = LineSplitter()
    async for chunk in response.aiter_bytes():
        for line in splitter.feed(chunk):
            yield line


def _lines(response: httpx.Response) -> Generator[str, None, None]:
    splitter = LineSplitter()
    for chunk in response.iter_bytes():
        yield from splitter.feed(chunk)


class Runner(Generic[H]):
    """What a client shares with its resources: the httpx client, the retry policy and
    the sleep function (injectable: tests do not wait)."""

    def __init__(self, http: H, policy: RetryPolicy, sleep: Callable[[float], Any]) -> None:
        self.http: H = http
        self.policy = policy
        self.sleep = sleep
        self.lines: dict[int, Any] = {}
        """The line iterator of each open streamed response, by ``id(response)``."""

    def request(self, call: Call) -> httpx.Request:
        return build_request(self.http, call)

    def stream_request(self, call: Call) -> httpx.Request:
        return build_request(self.http, call, timeout=_STREAM_TIMEOUT)

    async def drive(self, flow: Flow) -> AsyncGenerator[Any, None]:
        """Run ``flow``, yielding what it emits; streamed responses it leaves open (the
        caller stopped iterating) are closed."""
        opened: dict[int, httpx.Response] = {}
        reply: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    action = flow.throw(error) if error is not None else flow.send(reply)
                except StopIteration:
                    return
                reply, error = None, None
                if isinstance(action, Emit):
                    yield action.item
                    continue
                try:
                    reply = await self.perform(action)
                except httpx.TransportError as exc:
                    error = exc
                    continue
                if isinstance(action, Send) and action.stream:
                    opened[id(reply)] = reply
                elif isinstance(action, Close):
                    opened.pop(id(action.response), None)
        finally:
            flow.close()
            for response in opened.values():
                with contextlib.suppress(httpx.HTTPError):
                    await self.perform(Close(response))

    async def perform(self, action: Action) -> Any:
        raise NotImplementedError


class AsyncRunner(Runner[httpx.AsyncClient]):
    async def perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            return await self.http.send(action.request, stream=action.stream)
        if isinstance(action, Sleep):
            return await self.sleep(action.seconds)
        if isinstance(action, NextLine):
            lines = self.lines.setdefault(id(action.response), _async_lines(action.response))
            return await anext(lines, None)
        if isinstance(action, ReadBody):
            return await action.response.aread()
        if isinstance(action, Close):
            self.lines.pop(id(action.response), None)
            return await action.response.aclose()
        raise TypeError(action)

    async def run(self, flow: Flow) -> Any:
        async with contextlib.aclosing(self.drive(flow)) as items:
            return await anext(items, None)

    def iterate(self, flow: Flow) -> AsyncGenerator[Any, None]:
        return self.drive(flow)


class SyncRunner(Runner[httpx.Client]):
    async def perform(self, action: Action) -> Any:  # never suspends: see the module doc
        if isinstance(action, Send):
            return self.http.send(action.request, stream=action.stream)
        if isinstance(action, Sleep):
            return self.sleep(action.seconds)
        if isinstance(action, NextLine):
            lines = self.lines.setdefault(id(action.response), _lines(action.response))
            return next(lines, None)
        if isinstance(action, ReadBody):
            return action.response.read()
        if isinstance(action, Close):
            self.lines.pop(id(action.response), None)
            return action.response.close()
        raise TypeError(action)

    def run(self, flow: Flow) -> Any:
        with contextlib.closing(self.iterate(flow)) as items:
            return next(items, None)

    def iterate(self, flow: Flow) -> Generator[Any, None, None]:
        items = self.drive(flow)
        try:
            while True:
                try:
                    item = _complete(items.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            _complete(items.aclose())


def _complete(step: Awaitable[T]) -> T:
    """The result of a coroutine that never suspends (the sync runner's steps)."""
    coroutine = step.__await__()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a synchronous client step suspended")


def default_sleep(asynchronous: bool) -> Callable[[float], Any]:
    return asyncio.sleep if asynchronous else time.sleep
