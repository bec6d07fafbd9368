"""Scrubbing from async code: short texts inline, long ones on a worker thread.

``domain.scrubbing.scrub`` is pure CPU work: about 0.7 ms per 1000 characters of ordinary
buyer text, up to about 15 ms for a 5000-character message full of contact data, and (by the
linear-time test in ``tests/unit/test_scrubbing.py``) under 100 ms for hostile text at the
field limits. On the event loop that time would stall every other request; on a worker
thread the interpreter hands the GIL back to the event loop every few milliseconds
(``sys.getswitchinterval()``), so other requests keep being served. A hop to a thread costs
about 50 µs, as much as scrubbing 50 characters, so texts shorter than ``INLINE_LIMIT``
(about 0.7 ms of work, measured on the project's 2-core machine) are scrubbed inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

from intentcast.domain.scrubbing import ScrubResult, scrub

__all__ = ["INLINE_LIMIT", "off_loop", "scrub_text", "text_size"]

INLINE_LIMIT = 1000
"""Characters of text below which scrubbing runs on the event loop itself."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def off_loop(size: int, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)``, on a worker thread when it scrubs ``size`` characters or
    more (``fn`` must be pure: it may run on another thread)."""
    if size < INLINE_LIMIT:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


async def scrub_text(text: str, *, region: str | None, field: str = "") -> ScrubResult:
    return await off_loop(len(text), scrub, text, region=region, field=field)


def text_size(*texts: str | None, attributes: Mapping[str, str | list[str]] | None = None) -> int:
    """How many characters of free text scrubbing an intent will read."""
    size = sum(len(t) for t in texts if t)
    for key, value in (attributes or {}).items():
        size += len(key) + (len(value) if isinstance(value, str) else sum(map(len, value)))
    return size
