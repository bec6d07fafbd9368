"""RFC 9457 problem details for every error the API returns.

Litestar's problem-details plugin renders them; this module maps framework exceptions into
the contract's shape (``type``, ``title``, ``status``, ``detail``, and for bad input an
``errors`` list naming each field) and gives controllers one way to raise a problem.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ASGIApp, Receive, Scope, Send

from intentcast.domain.errors import (
    DomainError,
    Gone,
    NotFound,
    Refused,
    RuleViolation,
    StateConflict,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE_PREFIX = "urn:intentcast:problem:"

_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_NAMED_BY_STRUCT = re.compile(r"^`([^`]+)` ")  # a request Struct's __post_init__ check
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
_AT_PATH = re.compile(r" - at `\$(?:\.([^`]*))?`$")


class FieldError(dict[str, str]):
    """``{"field": "budget.currency", "message": "..."}``"""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field=field, message=message)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemDetailsException:
    """A problem to ``raise`` from a controller or service."""
    body: dict[str, Any] = {"code": code, **extra}
    if errors is not None:
        body["errors"] = errors
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_TYPE_PREFIX + code,
        title=title or HTTPStatus(status).phrase,
        detail=detail,
        extra=body,
        headers=headers,
    )


def problem_body(
    status: int, code: str, detail: str, *, title: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON body of a problem, for code that answers outside Litestar's handlers
    (middleware)."""
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


async def send_problem(send: Send, body: dict[str, Any]) -> None:
    """Answer with a problem from ASGI middleware (``problem_body`` builds ``body``)."""
    encoded = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": body["status"],
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(encoded)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ControlCharacterGuard(ASGIMiddleware):
    """No id, path or query value this API defines holds a control character, and
    PostgreSQL cannot store NUL at all: a path with one (``/v1/intents/int_%00``) names no
    resource (404), and a NUL in a query parameter is a 400 naming it. Checked once here
    for every route, before any handler runs."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if _CONTROL.search(scope["path"]):
            await send_problem(send, problem_body(404, "not-found", "No such resource."))
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            names = sorted(
                {name for name, value in parse_qsl(query.decode("latin-1")) if "\x00" in value}
            )
            if names:
                errors = [FieldError(f"query.{name}", NUL_MESSAGE) for name in names]
                detail = "Invalid fields: " + ", ".join(e["field"] for e in errors)
                await send_problem(
                    send,
                    problem_body(
                        400,
                        "validation-error",
                        detail,
                        title="The request is not valid",
                        errors=errors,
                    ),
                )
                return
        await next_app(scope, receive, send)


def invalid(
    field: str, message: str, *, status: int = 422, **extra: Any
) -> ProblemDetailsException:
    """A single-field validation problem."""
    return problem(
        status,
        "validation-error",
        f"{field}: {message}",
        title="The request is not valid",
        errors=[FieldError(field, message)],
        **extra,
    )


def not_found(what: str = "resource") -> ProblemDetailsException:
    return problem(404, "not-found", f"No such {what}.")


def _field_errors(exc: ValidationException) -> list[FieldError]:
    """Litestar reports msgspec errors as ``{"message", "key", "source"}``; ``key`` is the
    dotted path of the object in error (``budget``), and the message may name a missing or
    unknown field inside it."""
    errors: list[FieldError] = []
    items = exc.extra if isinstance(exc.extra, list) else []
    for item in items:
        message = _AT_PATH.sub("", str(item.get("message", exc.detail)))
        at = _AT_PATH.search(str(item.get("message", "")))
        key = str(item.get("key") or (at.group(1) if at and at.group(1) else ""))
        key = "" if key == "data" else key.replace("[...]", "")
        source = item.get("source")
        if source in ("query", "path", "header", "cookie"):
            errors.append(FieldError(f"{source}.{key}" if key else str(source), message))
            continue
        named = (
            _UNKNOWN_FIELD.search(message)
            or _MISSING_FIELD.search(message)
            or _NAMED_BY_STRUCT.search(message)
        )
        if named:
            key = f"{key}.{named.group(1)}" if key else named.group(1)
        errors.append(FieldError(key or "body", message))
    if not errors:
        errors.append(FieldError("body", str(exc.detail)))
    return errors


def malformed_json(reason: str) -> ProblemDetailsException:
    return problem(
        400,
        "malformed-json",
        f"The request body is not valid JSON: {reason}",
        title="Malformed JSON",
        errors=[FieldError("body", reason)],
    )


def validation_to_problem(exc: ValidationException) -> ProblemDetailsException:
    if "JSON is malformed" in str(exc.detail) or "malformed" in str(exc.detail).lower():
        return malformed_json(str(exc.detail))
    errors = _field_errors(exc)
    names = ", ".join(e["field"] or "body" for e in errors)
    return problem(
        400,
        "validation-error",
        f"Invalid fields: {names}",
        title="The request is not valid",
        errors=errors,
    )


def http_to_problem(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ProblemDetailsException):
        return exc
    status = exc.status_code
    code = {
        401: "unauthorized",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        413: "payload-too-large",
        429: "rate-limited",
    }.get(status, "http-error")
    detail = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    extra = exc.extra if isinstance(exc.extra, dict) else None
    if status == 400 and not extra:
        # the body could not be decoded at all (msgspec: "Input data was truncated", …)
        return malformed_json(detail)
    headers = dict(exc.headers or {})
    if status == 429 and "Retry-After" not in headers:
        # Litestar's rate limiter says when the window resets; the contract wants Retry-After
        headers["Retry-After"] = str(max(1, int(headers.get("RateLimit-Reset", "1") or 1)))
    return problem(status, code, detail, headers=headers or None, **(extra or {}))


def internal_to_problem(exc: Exception) -> ProblemDetailsException:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal-error", "An unexpected error occurred; it has been logged.")


_BODY_DECODERS = {"litestar.serialization.msgspec_hooks", __name__}
"""Modules whose ``decode_*`` functions turn a request body into Python values: Litestar's
(every handler's ``data`` and ``request.json()``) and ``decode_or_problem`` here."""

_UNDECODABLE = {
    UnicodeDecodeError: "the body is not UTF-8",
    RecursionError: "the body is nested too deeply",
    msgspec.DecodeError: "the body is not JSON",
}


def _raised_decoding_a_body(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if code.co_name.startswith("decode") and (
            frame.tb_frame.f_globals.get("__name__") in _BODY_DECODERS
        ):
            return True
        frame = frame.tb_next
    return False


def undecodable_to_problem(exc: Exception) -> ProblemDetailsException:
    """Invalid UTF-8, nesting deeper than the decoder's recursion limit (``[`` × 1000) and
    anything else msgspec cannot parse escape Litestar's body decoding as plain
    ``UnicodeDecodeError``/``RecursionError``/``msgspec.DecodeError``: the client's bad
    body, so a 400 ``malformed-json`` naming ``body``. Raised anywhere else, the same error
    is the server's own bug and stays a logged 500."""
    if not _raised_decoding_a_body(exc):
        return internal_to_problem(exc)
    reason = next(text for kind, text in _UNDECODABLE.items() if isinstance(exc, kind))
    return malformed_json(reason)


def domain_to_problem(exc: DomainError) -> ProblemDetailsException:
    """The one mapping from the domain's refusals (``domain/errors.py``) to HTTP."""
    if isinstance(exc, RuleViolation):
        return invalid(exc.field, exc.message, **exc.extra)
    if isinstance(exc, NotFound):
        return not_found(exc.what)
    status = (
        409
        if isinstance(exc, StateConflict)
        else 410
        if isinstance(exc, Gone)
        else 403
        if isinstance(exc, Refused)
        else 400
    )
    return problem(status, exc.code, exc.message, **exc.extra)


def nul_fields(value: Any) -> list[str]:
    """Where a decoded JSON value holds a NUL: each string (or object key) with one, named
    like validation errors name fields (``attributes.mount``, ``keywords``; ``body`` for
    the top level). Iterative: as deep as the decoder allowed."""
    found: set[str] = set()
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                found.add(path or "body")
        elif isinstance(item, dict):
            for key, inner in item.items():
                if "\x00" in key:
                    found.add(path or "body")
                name = key.replace("\x00", "\\u0000")
                stack.append((f"{path}.{name}" if path else name, inner))
        elif isinstance(item, list):
            stack.extend((path, inner) for inner in item)
    return sorted(found)


def refuse_nul(raw: bytes, value: Any) -> None:
    """A 400 naming every field of a decoded body that holds a NUL, which PostgreSQL cannot
    store in text. JSON can only spell NUL as the escape ``\\u0000`` (a raw NUL byte is not
    JSON), so bodies without one cost a byte search."""
    if b"\\u0000" not in raw:
        return
    fields = nul_fields(value)
    if fields:
        raise problem(
            400,
            "validation-error",
            f"Invalid fields: {', '.join(fields)}",
            title="The request is not valid",
            errors=[FieldError(field, NUL_MESSAGE) for field in fields],
        )


class CheckedRequest(Request[Any, Any, Any]):
    """The app's request class. Every handler's ``data`` is decoded through ``json()``, so
    this is the one place a NUL in any string of any JSON body (``domain.intents.Text``) is
    refused, before the body is converted to its Struct."""

    async def json(self) -> Any:
        value = await super().json()
        refuse_nul(await self.body(), value)
        return value


def decode_or_problem(raw: bytes, kind: type[Any]) -> Any:
    """Decode a body whose type depends on the caller (msgspec cannot decode an untagged
    union of Structs); errors look exactly like Litestar's own validation errors, and a NUL
    is refused as ``CheckedRequest`` refuses it."""
    try:
        if b"\\u0000" in raw:
            refuse_nul(raw, msgspec.json.decode(raw))
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail="Validation failed",
            extra=[{"message": str(exc), "key": "", "source": "body"}],
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = next(text for kind, text in _UNDECODABLE.items() if isinstance(exc, kind))
        raise malformed_json(reason) from None


EXCEPTION_MAP = {
    DomainError: domain_to_problem,
    ValidationException: validation_to_problem,
    HTTPException: http_to_problem,
    UnicodeDecodeError: undecodable_to_problem,
    RecursionError: undecodable_to_problem,
    msgspec.DecodeError: undecodable_to_problem,
    Exception: internal_to_problem,
}
