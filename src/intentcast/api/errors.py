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

from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsException

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


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of a problem, for code that answers outside Litestar's handlers
    (middleware)."""
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


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
        named = _UNKNOWN_FIELD.search(message) or _MISSING_FIELD.search(message)
        if named:
            key = f"{key}.{named.group(1)}" if key else named.group(1)
        errors.append(FieldError(key or "body", message))
    if not errors:
        errors.append(FieldError("body", str(exc.detail)))
    return errors


def validation_to_problem(exc: ValidationException) -> ProblemDetailsException:
    if "JSON is malformed" in str(exc.detail) or "malformed" in str(exc.detail).lower():
        return problem(
            400,
            "malformed-json",
            "The request body is not valid JSON.",
            title="Malformed JSON",
            errors=[FieldError("body", str(exc.detail))],
        )
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
        return problem(
            400,
            "malformed-json",
            f"The request body is not valid JSON: {detail}",
            title="Malformed JSON",
            errors=[FieldError("body", detail)],
        )
    headers = dict(exc.headers or {})
    if status == 429 and "Retry-After" not in headers:
        # Litestar's rate limiter says when the window resets; the contract wants Retry-After
        headers["Retry-After"] = str(max(1, int(headers.get("RateLimit-Reset", "1") or 1)))
    return problem(status, code, detail, headers=headers or None, **(extra or {}))


def internal_to_problem(exc: Exception) -> ProblemDetailsException:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal-error", "An unexpected error occurred; it has been logged.")


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


def decode_or_problem(raw: bytes, kind: type[Any]) -> Any:
    """Decode a body whose type depends on the caller (msgspec cannot decode an untagged
    union of Structs); errors look exactly like Litestar's own validation errors."""
    import msgspec

    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail="Validation failed",
            extra=[{"message": str(exc), "key": "", "source": "body"}],
        ) from None
    except msgspec.DecodeError:
        raise ValidationException(detail="JSON is malformed") from None


EXCEPTION_MAP = {
    DomainError: domain_to_problem,
    ValidationException: validation_to_problem,
    HTTPException: http_to_problem,
    Exception: internal_to_problem,
}
