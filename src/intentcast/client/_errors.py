"""The client's exceptions: one tree, rooted at ``IntentcastError``.

An answer of 400 or more becomes a ``ProblemError`` carrying the RFC 9457 problem details
the server sends (``type``, ``title``, ``status``, ``detail``, ``code``, ``errors``, and any
other member, such as ``current_version`` on ``offer-changed``) and the ``X-Request-ID`` the
server's log lines carry. The common statuses have their own subclasses, so callers may
catch ``NotFound`` or ``Conflict`` (and read ``code``) rather than compare numbers::

    IntentcastError
    ├── ProblemError            any answer >= 400
    │   ├── ValidationFailed    400 / 422 validation-error (``errors`` names each field)
    │   ├── Unauthorized        401
    │   ├── Forbidden           403
    │   ├── NotFound            404
    │   ├── Conflict            409 (``code``: intent-closed, offer-exists, ...)
    │   ├── Gone                410
    │   ├── RateLimited         429 (``retry_after``, once retries are spent)
    │   └── ServerError         5xx
    ├── ConnectionFailed        the server could not be reached once the retries were spent
    │                           (also an ``httpx.TransportError``; ``__cause__`` is httpx's)
    ├── StreamError             an event stream sent something that is not an event
    └── WebhookVerificationError
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import httpx
import msgspec

_KNOWN = frozenset({"type", "title", "status", "detail", "code", "errors"})


class IntentcastError(Exception):
    """Everything this client raises on its own."""


class ProblemError(IntentcastError):
    """The server refused: its problem details, field by field."""

    def __init__(
        self,
        status: int,
        *,
        type: str | None = None,  # the RFC 9457 member's name
        title: str | None = None,
        detail: str | None = None,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        request_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title or _phrase(status)
        self.detail = detail
        self.code = code
        self.errors = errors or []
        self.request_id = request_id
        self.extra = extra or {}
        """Members beyond the standard ones (``current_version``, ``thread_id``...)."""
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.status} {self.code or self.title}"
        if self.detail:
            text += f": {self.detail}"
        return text + (f" (request {self.request_id})" if self.request_id else "")


class ConnectionFailed(IntentcastError, httpx.TransportError):
    """No answer: the connection could not be made or broke, on every attempt the retry
    policy allowed. Also an ``httpx.TransportError``, so code that caught httpx's errors
    keeps working."""

    @classmethod
    def of(cls, error: httpx.TransportError) -> ConnectionFailed:
        failed = cls(
            f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
            request=getattr(error, "_request", None),
        )
        failed.__cause__ = error
        return failed


class StreamError(IntentcastError):
    """An event stream sent a message that does not decode as an event (cut short, or not
    what this client version knows), on every reconnection the retry policy allowed."""


class ValidationFailed(ProblemError):
    """Bad input (``validation-error``, ``malformed-json``...); ``errors`` names each field."""


class Unauthorized(ProblemError):
    """No token, or one that is malformed, unknown or revoked."""


class Forbidden(ProblemError):
    """This token's role may not do that (also ``vendor-not-verified``, ``blocked``...)."""


class NotFound(ProblemError):
    """No such resource, or one that is not yours."""


class Conflict(ProblemError):
    """A state conflict; ``code`` says which."""


class Gone(ProblemError):
    """The buyer revoked this reveal."""


class RateLimited(ProblemError):
    """Still rate limited after the retries; ``retry_after`` is the server's wait (s)."""

    retry_after: float | None = None


class ServerError(ProblemError):
    """5xx that outlasted the retries (or was not retryable)."""


class WebhookVerificationError(IntentcastError):
    """A webhook delivery whose signature, timestamp or body does not check out."""


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: ValidationFailed,
    429: RateLimited,
}


class _Problem(msgspec.Struct):
    """The members a problem body may have; anything else is kept in ``extra``."""

    type: str | None = None
    title: str | None = None
    detail: str | None = None
    code: str | None = None
    errors: list[dict[str, str]] | None = None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def problem_error(
    status: int, body: bytes, *, request_id: str | None, retry_after: float | None = None
) -> ProblemError:
    """The exception for an answer of ``status`` with ``body`` (a problem document, or
    anything else a proxy may send)."""
    try:
        fields = msgspec.json.decode(body or b"null")
    except msgspec.DecodeError:
        fields = None
    if not isinstance(fields, dict):
        fields = {"detail": body.decode("utf-8", "replace")[:500] or None}
    try:
        problem = msgspec.convert(fields, _Problem, strict=False)
    except msgspec.ValidationError:
        problem = _Problem(detail=str(fields.get("detail")))
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ProblemError)
    extra = {k: v for k, v in fields.items() if k not in _KNOWN}
    error = kind(status, **msgspec.structs.asdict(problem), request_id=request_id, extra=extra)
    if isinstance(error, RateLimited):
        error.retry_after = retry_after
    return error
