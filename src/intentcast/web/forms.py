"""Reading HTML form posts: the named fields as strings (absent ones empty), refusing NUL
and other control characters the way the JSON API refuses them, and checkbox lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from litestar import Request

from intentcast.web.errors import FormError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters no form field may hold (tab, line feed and carriage return may)."""


def _checked(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FormError(name, "must be text")
    if _CONTROL.search(value):
        raise FormError(name, "must not contain control characters", status=400)
    return value.replace("\r\n", "\n")


async def form_fields(request: Request[Any, Any, Any], names: Iterable[str]) -> dict[str, str]:
    """The form's values for ``names`` (``""`` when absent)."""
    form = await request.form()
    return {name: _checked(name, form.get(name, "")) for name in names}


async def form_list(request: Request[Any, Any, Any], name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    form = await request.form()
    return [_checked(name, v) for v in form.getall(name, [])]
