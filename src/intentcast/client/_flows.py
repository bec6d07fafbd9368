"""The client's core, without I/O: what to send, when to retry, how to decode.

A *flow* is a generator that yields actions (send this request, sleep this long, read the
next line of that streamed response, hand this item to the caller) and is sent back their
results. The flows here are the whole behaviour of the client: retries with backoff and
``Retry-After``, idempotency keys, cursor pagination, and an SSE stream that resumes with
``Last-Event-ID``. The async and the sync client differ only in how they perform the
actions (``_runner.py``), so every rule is written once and can be tested without a network.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from intentcast.client._errors import ConnectionFailed, ProblemError, StreamError, problem_error
from intentcast.client._sse import SSEDecoder

T = TypeVar("T")

IDEMPOTENCY_HEADER = "Idempotency-Key"
STREAM_READ_TIMEOUT_S = 60.0
"""The server sends a keep-alive comment every 15 s: a stream silent for this long is dead."""


# ---- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send ``request``; the answer is the ``httpx.Response`` (its body read unless
    ``stream``), or the transport error is thrown into the flow."""

    request: httpx.Request
    stream: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class NextLine:
    """The next line of a streamed response (without its line break), or None at its end."""

    response: httpx.Response


@dataclass(frozen=True)
class ReadBody:
    """The rest of a streamed response's body."""

    response: httpx.Response


@dataclass(frozen=True)
class Close:
    response: httpx.Response


@dataclass(frozen=True)
class Emit:
    """Hand ``item`` to the caller (a call's result, a page's item, an event)."""

    item: Any


Action = Send | Sleep | NextLine | ReadBody | Close | Emit
Flow = Generator[Action, Any, None]


# ---- requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Req(Generic[T]):
    """What one operation sends, besides its method and path: path values, query, body,
    and the type its answer decodes to (None: no body, e.g. 204)."""

    returns: Any
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    body_type: Any = None
    """Convert ``body`` to this (a server Struct) first: a mapping is checked client-side."""
    anonymous: bool = False
    """A sign-up: the server does not replay its Idempotency-Key, so only failures that
    certainly happened before the request was processed are retried."""
    idempotency_key: str | None = None
    """The caller's own Idempotency-Key for a POST (else a fresh one per call): the same
    key answers the first call's answer again, even from another process."""


@dataclass(frozen=True)
class Call:
    """One logical call, ready to send (and to send again: the Idempotency-Key is fixed)."""

    method: str
    url: str
    query: tuple[tuple[str, Any], ...]
    content: bytes | None
    headers: Mapping[str, str]
    returns: Any
    replayable: bool
    """Safe to send again after the server may have acted on it (GET, DELETE, a POST with
    an Idempotency-Key the server honours). Otherwise only 429s and failures to connect
    are retried."""

    def with_query(self, **values: Any) -> Call:
        kept = tuple((k, v) for k, v in self.query if k not in values)
        return replace(self, query=kept + tuple(values.items()))


_SLASHED = frozenset({"category_path", "prefix"})
"""Path parameters that are paths themselves: ``/v1/admin/categories/{category_path}``, and
the token routes' prefix (``Tokens``)."""


def _query_items(query: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    items: list[tuple[str, Any]] = []
    for name, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        items.extend((name, str(v).lower() if isinstance(v, bool) else str(v)) for v in values)
    return tuple(items)


def _encode_body(body: Any, body_type: Any) -> bytes:
    if body_type is not None and not isinstance(body, msgspec.Struct):
        body = msgspec.convert(body, body_type, strict=False)
    return msgspec.json.encode(body)


def make_call(method: str, template: str, req: Req[Any], headers: Mapping[str, str]) -> Call:
    """``req`` for ``method template``, with ``headers`` (authorization) and, on a POST, a
    fresh Idempotency-Key: one per logical call, reused by every retry of it."""
    path = template.format_map(
        {
            name: quote(str(value), safe="/" if name in _SLASHED else "")
            for name, value in req.path.items()
        }
    )
    all_headers = dict(headers)
    content = None
    if req.body is not None:
        content = _encode_body(req.body, req.body_type)
        all_headers["Content-Type"] = "application/json"
    if method == "POST":
        all_headers[IDEMPOTENCY_HEADER] = req.idempotency_key or str(uuid.uuid4())
    return Call(
        method=method,
        url=path,
        query=_query_items(req.query),
        content=content,
        headers=all_headers,
        returns=req.returns,
        replayable=method != "PATCH" and not req.anonymous,
    )


def build_request(
    http: httpx.Client | httpx.AsyncClient, call: Call, **extra: Any
) -> httpx.Request:
    return http.build_request(
        call.method,
        call.url,
        params=list(call.query),
        content=call.content,
        headers=call.headers,
        **extra,
    )


@lru_cache(maxsize=256)
def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind)


def decode(kind: Any, body: bytes | str) -> Any:
    """``body`` as the server's own type ``kind``."""
    return None if kind is None else _decoder(kind).decode(body)


# ---- retries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a call again.

    429 waits what ``Retry-After`` says (seconds or an HTTP date; up to ``max_retry_after``,
    else the ``RateLimited`` error is raised at once). 502, 503, 504, a 409
    ``idempotency-key-in-progress`` and network errors back off exponentially from
    ``backoff`` seconds, up to ``max_backoff``, each wait scaled by a random factor in
    [0.5, 1) so that many clients do not retry in step. ``attempts`` bounds the sends of
    one call (the first included); a stream reconnects ``stream_attempts`` times in a row
    without receiving an event before it gives up (None: for ever).
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    stream_attempts: int | None = None
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    jitter: Callable[[], float] = random.random

    def backoff_delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures (1 for the first)."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
        return ceiling * (0.5 + self.jitter() / 2)

    def after_response(self, response: httpx.Response, failures: int, call: Call) -> float | None:
        """The wait before sending ``call`` again after ``response``, or None (do not)."""
        if failures >= self.attempts:
            return None
        status = response.status_code
        if status == 429:
            wait = retry_after(response)
            if wait is None:
                return self.backoff_delay(failures)
            return wait if wait <= self.max_retry_after else None
        if not call.replayable:
            return None
        if status in self.retry_statuses or _in_progress(response):
            return self.backoff_delay(failures)
        return None

    def after_error(self, error: httpx.TransportError, failures: int, call: Call) -> float | None:
        if failures >= self.attempts:
            return None
        if call.replayable or isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return self.backoff_delay(failures)
        return None


def _in_progress(response: httpx.Response) -> bool:
    return response.status_code == 409 and b"idempotency-key-in-progress" in response.content


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def as_problem(response: httpx.Response) -> ProblemError:
    """The exception for a refused call (status >= 400)."""
    return problem_error(
        response.status_code,
        response.content,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after(response),
    )


# ---- flows ---------------------------------------------------------------------------------


def exchange(
    request: Callable[[Call], httpx.Request], call: Call, policy: RetryPolicy
) -> Generator[Action, Any, Any]:
    """Send ``call`` until it succeeds or the policy gives up; return its decoded answer."""
    failures = 0
    while True:
        failures += 1
        try:
            response: httpx.Response = yield Send(request(call))
        except httpx.TransportError as exc:
            wait = policy.after_error(exc, failures, call)
            if wait is None:
                raise ConnectionFailed.of(exc) from exc
        else:
            if response.status_code < 400:
                return decode(call.returns, response.content) if response.content else None
            wait = policy.after_response(response, failures, call)
            if wait is None:
                raise as_problem(response)
        yield Sleep(wait)


def single(request: Callable[[Call], httpx.Request], call: Call, policy: RetryPolicy) -> Flow:
    yield Emit((yield from exchange(request, call, policy)))


def paginate(request: Callable[[Call], httpx.Request], call: Call, policy: RetryPolicy) -> Flow:
    """Every item of every page, following each page's ``next`` cursor as ``after``."""
    while True:
        page = yield from exchange(request, call, policy)
        for item in page.items:
            yield Emit(item)
        cursor = getattr(page, "next", None)
        if not cursor:
            return
        call = call.with_query(after=cursor)


def event_stream(
    request: Callable[[Call], httpx.Request], call: Call, policy: RetryPolicy, after: int
) -> Flow:
    """The events of an SSE stream after seq ``after``, for ever: on a disconnect, a clean
    end of the stream, a 429 or a 5xx it waits and reconnects with ``Last-Event-ID`` set to
    the last seq it handed out, and it never hands out a seq twice. Other refusals (401,
    403: a revoked token, a suspended vendor) are raised."""
    last = after
    failures = 0
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if last:
            headers["Last-Event-ID"] = str(last)
        attempt = replace(call, headers={**call.headers, **headers})
        failures += 1
        wait: float | None = None
        failure: Exception | None = None
        try:
            response: httpx.Response = yield Send(request(attempt), stream=True)
            if response.status_code >= 400:
                yield ReadBody(response)
                yield Close(response)
                failure = as_problem(response)
                if response.status_code == 429:
                    wait = retry_after(response)
                elif response.status_code < 500:
                    raise failure
            else:
                decoder = SSEDecoder()
                while (line := (yield NextLine(response))) is not None:
                    message = decoder.feed(line)
                    if message is None:
                        continue
                    try:
                        event = decode(call.returns, message.data)
                    except msgspec.MsgspecError as exc:  # reconnect: it is sent again
                        failure = StreamError(
                            f"a {message.event!r} message after seq {last} is not an event ({exc})"
                        )
                        break
                    if event.seq <= last:
                        continue
                    last, failures = event.seq, 0
                    yield Emit(event)
                yield Close(response)
        except httpx.TransportError as exc:
            failure = ConnectionFailed.of(exc)  # the connection broke: reconnect below
        if failure is not None and policy.stream_attempts is not None:
            if failures > policy.stream_attempts:
                raise failure
        yield Sleep(wait if wait is not None else policy.backoff_delay(max(failures, 1)))
