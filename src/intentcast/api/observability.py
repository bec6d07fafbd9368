"""What the API tells operators about itself: a request id on every request, one access log
line per request, the HTTP metrics, ``/metrics``, and how Litestar's own logging fits in.

``RequestObservability`` wraps the whole Litestar application (outside routing and every
middleware), so unmatched paths, 401s from authentication and 500s are counted, logged and
carry ``X-Request-ID`` like any other answer. A client's ``X-Request-ID`` is kept when it is
1-200 printable ASCII characters; otherwise (or without one) the server makes one up. The id
is put in ``intentcast.logs.request_id`` for the request's duration, so every log line written
on its behalf names it, and the outbox rows it writes carry it to the workers.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from litestar import Controller, Response, get
from litestar.exceptions import HTTPException
from litestar.logging.config import BaseLoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from intentcast.logs import new_request_id, request_id, valid_request_id
from intentcast.metrics import HTTP_DURATION, HTTP_IN_PROGRESS, HTTP_REQUESTS, exposition

__all__ = ["REQUEST_ID_HEADER", "AppLogging", "MetricsController", "RequestObservability"]

REQUEST_ID_HEADER = "x-request-id"
_HEADER = REQUEST_ID_HEADER.encode()
UNMATCHED = "unmatched"
"""The ``path`` label of requests that matched no route (their paths are anyone's text)."""
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""Probed and scraped all day: their access lines are DEBUG."""

access_log = logging.getLogger("intentcast.access")


def request_id_from(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if it is acceptable, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            text = value.decode("latin-1")
            return text if valid_request_id(text) else new_request_id()
    return new_request_id()


class RequestObservability:
    """Pure ASGI wrapper: request id in, ``X-Request-ID`` out, access log line, metrics.

    The metrics' children are kept per label values (prometheus' ``labels()`` takes a lock
    and builds its key on every call); there are as many as prometheus keeps itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._in_progress: dict[str, Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(scope)
        header = (_HEADER, rid.encode())
        status = 500  # unless a response starts
        method = scope["method"]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id.set(rid)
        in_progress = self._in_progress.get(method)
        if in_progress is None:
            in_progress = self._in_progress[method] = HTTP_IN_PROGRESS.labels(method)
        in_progress.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            in_progress.dec()
            path = scope.get("path_template") or UNMATCHED
            requests = self._requests.get((method, path, status))
            if requests is None:
                requests = self._requests[method, path, status] = HTTP_REQUESTS.labels(
                    method, path, str(status)
                )
            requests.inc()
            duration = self._durations.get((method, path))
            if duration is None:
                duration = self._durations[method, path] = HTTP_DURATION.labels(method, path)
            duration.observe(elapsed)
            access_log.log(
                logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO,
                "%s %s %d %.1f ms",
                method,
                path,
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id.reset(token)


class MetricsController(Controller):
    """``/metrics``: every process's metrics (merged in multiprocess mode)."""

    path = "/metrics"
    include_in_schema = False

    @get(sync_to_thread=True)
    def metrics(self) -> Response[bytes]:
        body, content_type = exposition()
        # Litestar adds the charset to text/* itself
        return Response(body, media_type=content_type.replace("; charset=utf-8", ""))


def _log_server_error(logger: Any, scope: Scope, tb: list[str]) -> None:
    """Litestar's exception hook: a traceback for what answered 5xx, nothing for 4xx (the
    access line has those)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        scope.get("method", ""),
        scope.get("path_template") or UNMATCHED,
        exc_info=True,
    )


class AppLogging(BaseLoggingConfig):
    """Litestar's logging hooks without Litestar's logging setup: the process configured
    logging already (``intentcast.logs``), so this only routes unhandled exceptions to the
    ``litestar`` logger (which propagates to the process's handlers)."""

    def __init__(self) -> None:
        self.log_exceptions = "always"
        self.exception_logging_handler = _log_server_error
        self.disable_stack_trace = set()
        self.traceback_line_limit = -1

    def configure(self) -> Any:
        return logging.getLogger

    @staticmethod
    def set_level(logger: Any, level: int) -> None:
        logger.setLevel(level)
