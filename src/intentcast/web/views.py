"""Small presentation helpers shared by the page templates: the coarse area a vendor sees,
and a text cut into plain and redacted segments for the preview."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import h3

from intentcast.domain.scrubbing import Redaction


def area_of(location: Any) -> dict[str, Any] | None:
    """What a vendor learns of where the buyer is: the country and the H3 cell (its
    resolution and average size), or ``None`` when the intent names no place."""
    if location is None:
        return None
    out: dict[str, Any] = {"country": location.country, "cell": location.cell}
    if location.cell:
        resolution = h3.get_resolution(location.cell)
        area = h3.average_hexagon_area(resolution, unit="km^2")
        out["resolution"] = resolution
        out["km2"] = f"{area:,.0f}" if area >= 10 else f"{area:.1f}"
    return out


def marked_segments(
    text: str, redactions: Iterable[Redaction], field: str
) -> list[tuple[str, str | None]]:
    """``text`` as ``(piece, kind)`` pairs in order; ``kind`` names what was removed
    (``phone``, ``email``…) for a redacted piece, ``None`` for a kept one."""
    spans = sorted((r.start, r.end, r.kind) for r in redactions if r.field == field)
    out: list[tuple[str, str | None]] = []
    at = 0
    for start, end, kind in spans:
        if start < at or end > len(text):
            continue
        if start > at:
            out.append((text[at:start], None))
        out.append((text[start:end], str(kind)))
        at = end
    if at < len(text):
        out.append((text[at:], None))
    return out
