"""What every operator page shares: the template helper (the operator nav needs to know
who is signed in), the controller dependency that requires a signed-in operator, and the
notices a page shows after a redirect (``?done=…``). The audit log's ``actor`` is
``api.admin.common.actor_of`` — the API's own."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar.di import Provide
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.session import current_operator

OPERATOR_HOME = "/operator/vendors"
PAGE_SIZE = 50

REQUIRES_OPERATOR = {"operator": Provide(current_operator)}
"""Controller dependencies: each handler taking ``operator`` gets the signed-in operator,
or a redirect to ``/operator/signin``."""

DONE_NOTICES = {
    "verify": "The vendor is verified: it receives matches from now on.",
    "suspend": "The vendor is suspended.",
    "reinstate": "The vendor is reinstated.",
    "resolved": "The flag is resolved.",
    "removed": "The intent is removed.",
    "saved": "The settings are saved; every process follows within seconds.",
    "unchanged": "Nothing was changed.",
}


def operator_page(
    name: str, operator: Principal, status: int = 200, done: str | None = None, **context: Any
) -> Any:
    """An operator template with the context the operator layout expects."""
    return page(
        f"operator/{name}",
        status=status,
        operator_id=operator.subject_id,
        section="vendors" if name == "vendor.html" else name.removesuffix(".html"),
        flash=DONE_NOTICES.get(done or ""),
        **context,
    )


def see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


def field_errors(exc: msgspec.ValidationError) -> dict[str, str]:
    """msgspec's message as ``{field: sentence}`` for the form (``"form"`` when it names
    no field): "Expected `str` of length <= 2000 - at `$.reason`" →
    ``{"reason": "Expected `str` of length <= 2000"}``; "Object missing required field
    `reason`" → ``{"reason": "required"}``."""
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        return {where.rstrip("`").split(".")[0].split("[")[0]: _in_words(message)}
    missing = re.search(r"missing required field `([^`]+)`", text)
    if missing:
        return {missing.group(1): "required"}
    return {"form": text}


_BOUNDS = (
    (re.compile(r"Expected `int` <= (-?\d+)"), "must be at most {}"),
    (re.compile(r"Expected `int` >= (-?\d+)"), "must be at least {}"),
    (re.compile(r"Expected `str` of length <= (\d+)"), "must be at most {} characters"),
    (re.compile(r"Expected `str` of length >= (\d+)"), "must be at least {} characters"),
)


def _in_words(message: str) -> str:
    """msgspec's bound messages as a person reads them; others as they are."""
    for pattern, words in _BOUNDS:
        found = pattern.fullmatch(message)
        if found:
            return words.format(found.group(1))
    return message
