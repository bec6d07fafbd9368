"""Shared fixtures of the domain unit tests: a fixed clock, an operator policy and intents
built through ``new_intent`` the way the API builds them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from intentcast.domain.intents import Intent, IntentDraft, Policy, new_intent

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
POLICY = Policy(location_floor=7, default_intent_days=14, max_intent_days=90, retention_days=30)
MUNICH = (48.137154, 11.576124)

CAMERA: dict[str, Any] = {
    "category": "electronics/cameras/mirrorless",
    "title": "Full-frame mirrorless body, Sony A7 IV or similar",
    "description": "New, with warranty. Pickup in Munich is fine.",
    "attributes": {"condition": "new", "mount": ["sony-e"]},
    "budget": {"max": "1800.00", "currency": "EUR"},
    "location": {"lat": MUNICH[0], "lng": MUNICH[1], "precision": 9, "country": "DE"},
    "fulfilment": ["pickup", "delivery"],
}


def draft(**overrides: Any) -> IntentDraft:
    """A draft decoded from JSON exactly as the API decodes a request body."""
    return msgspec.json.decode(json.dumps(CAMERA | overrides), type=IntentDraft)


def build(
    d: IntentDraft | None = None,
    *,
    intent_id: str = "int_1",
    buyer_id: str = "byr_1",
    category: str = "electronics/cameras/mirrorless",
    region: str | None = None,
    now: datetime = NOW,
    policy: Policy = POLICY,
) -> Intent:
    """The intent ``new_intent`` builds from ``d`` (the camera draft by default)."""
    return new_intent(
        d or draft(),
        intent_id=intent_id,
        buyer_id=buyer_id,
        category=category,
        region=region,
        now=now,
        policy=policy,
    )


def make_intent(**overrides: Any) -> Intent:
    """The camera intent with stored fields replaced (``status="withdrawn"``…)."""
    return msgspec.structs.replace(build(), **overrides)
