"""What a web page shows when something is refused: a readable HTML page with the right
4xx status (never the API's JSON problem, never a 500 for bad input), and the redirect to
sign-in when a page needs an account.

``WEB_EXCEPTION_HANDLERS`` is set on the web routers, so it takes precedence over the app's
problem-details handlers there; a page that wants to show the error inside its own form
catches ``DomainError`` / ``FormError`` itself and re-renders with ``message_of``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from intentcast.api.errors import http_to_problem
from intentcast.domain.errors import (
    DomainError,
    Gone,
    NotFound,
    Refused,
    RuleViolation,
    StateConflict,
)
from intentcast.web.config import NO_STORE, SECURITY_HEADERS
from intentcast.web.session import SIGN_IN_PAGES, SignInRequired

log = logging.getLogger(__name__)


class FormError(Exception):
    """A form field that is missing or malformed, named for the person filling it in."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


def status_of(exc: DomainError) -> int:
    """The HTTP status of a refusal — the same as the API gives it."""
    if isinstance(exc, RuleViolation):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, StateConflict):
        return 409
    if isinstance(exc, Gone):
        return 410
    if isinstance(exc, Refused):
        return 403
    return 400


def message_of(exc: Exception) -> str:
    """A sentence for the page."""
    if isinstance(exc, RuleViolation):
        return f"{exc.field.replace('_', ' ')}: {exc.message}"
    if isinstance(exc, DomainError | FormError):
        return exc.message
    if isinstance(exc, msgspec.ValidationError):
        return validation_message(exc)
    return str(exc)


def validation_message(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `str` of length <= 80 - at `$.display_name`" as
    "display name: Expected `str` of length <= 80"."""
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        return f"{where.rstrip('`').replace('_', ' ')}: {message}"
    return text


def error_page(request: Request[Any, Any, Any], status: int, title: str, message: str) -> Template:
    home = "/operator" if request.url.path.startswith("/operator") else "/"
    return Template(
        template_name="error.html",
        context={"title": title, "message": message, "status": status, "home": home},
        status_code=status,
        headers=SECURITY_HEADERS,
        media_type=MediaType.HTML,
    )


def _sign_in_redirect(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    target = SIGN_IN_PAGES.get(exc.role, "/signin")
    if exc.next_path:
        target += "?" + urlencode({"next": exc.next_path})
    response = Redirect(path=target, status_code=HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    response.headers["Cache-Control"] = NO_STORE.to_header()
    return response


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return error_page(request, status_of(exc), "That did not work", message_of(exc))


def _form(request: Request[Any, Any, Any], exc: FormError) -> Response[Any]:
    return error_page(request, exc.status, "Please check the form", message_of(exc))


def _invalid(request: Request[Any, Any, Any], exc: msgspec.ValidationError) -> Response[Any]:
    return error_page(request, 422, "Please check the form", validation_message(exc))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return error_page(
            request,
            403,
            "This form has expired",
            "The form was not sent from this site's current page (its security token is "
            "missing or stale). Go back, reload the page and send it again.",
        )
    if isinstance(exc, NotAuthorizedException):
        return error_page(request, 401, "Please sign in", "This page needs you to sign in.")
    if isinstance(exc, ValidationException):
        return error_page(request, 400, "Please check the request", str(exc.detail))
    if status == 404:
        return error_page(request, 404, "Not found", "There is no such page.")
    if status >= 500:
        log.error("web page failed: %s", exc.detail)
        return error_page(request, 500, "Something went wrong", "Please try again shortly.")
    return error_page(request, status, "That did not work", str(exc.detail))


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("web page %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_page(
        request, 500, "Something went wrong", "The page failed on our side; please try again."
    )


def unknown_path(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """The app's answer for a path no route serves: a readable page when a browser asks for
    a page (it accepts HTML; never under ``/v1/``), problem details for everyone else."""
    wants_page = "text/html" in request.headers.get("accept", "")
    if wants_page and not request.url.path.startswith("/v1/"):
        return error_page(request, 404, "Not found", "There is no such page.")
    return http_to_problem(exc).to_response(request)


WEB_EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    SignInRequired: _sign_in_redirect,
    DomainError: _domain,
    FormError: _form,
    msgspec.ValidationError: _invalid,
    HTTPException: _http,
    Exception: _internal,
}
