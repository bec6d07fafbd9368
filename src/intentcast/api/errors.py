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
    body: dict[str, Any] = dict(extra)
    if errors is not None:
        body["errors"] = errors
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_TYPE_PREFIX + code,
        title=title or HTTPStatus(status).phrase,
        detail=detail,
        extra=body or None,
        headers=headers,
    )


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


def conflict(detail: str, code: str = "conflict") -> ProblemDetailsException:
    return problem(409, code, detail)


def _field_errors(exc: ValidationException) -> list[FieldError]:
    errors: list[FieldError] = []
    items = exc.extra if isinstance(exc.extra, list) else []
    for item in items:
        message = str(item.get("message", exc.detail))
        key = str(item.get("key") or "")
        source = item.get("source")
        field = _field_from_message(message, key)
        if source in ("query", "path", "header", "cookie"):
            field = f"{source}.{key}" if key else source
        errors.append(FieldError(field, _AT_PATH.sub("", message)))
    if not errors:
        errors.append(FieldError(_field_from_message(exc.detail, "") or "body", exc.detail))
    return errors


def _field_from_message(message: str, key: str) -> str:
    at = _AT_PATH.search(message)
    base = at.group(1) or "" if at else ""
    for pattern in (_UNKNOWN_FIELD, _MISSING_FIELD):
        found = pattern.search(message)
        if found:
            return f"{base}.{found.group(1)}" if base else found.group(1)
    if base:
        return base
    return "" if key in ("", "data") else key


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
    return problem(status, code, detail, headers=exc.headers, **(extra or {}))


def internal_to_problem(exc: Exception) -> ProblemDetailsException:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal-error", "An unexpected error occurred; it has been logged.")


EXCEPTION_MAP = {
    ValidationException: validation_to_problem,
    HTTPException: http_to_problem,
    Exception: internal_to_problem,
}
