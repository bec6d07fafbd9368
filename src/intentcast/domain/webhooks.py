"""Webhook vocabulary and the pure rules of endpoint management: endpoint and delivery
statuses, the per-vendor endpoint limit, the grace period of a rotated secret, when a failing
endpoint is disabled, and the synthetic test event.

How one delivery attempt is made, signed and retried lives in ``delivery/webhooks.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

EndpointStatus = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]

MAX_WEBHOOKS_PER_VENDOR = 10

DEFAULT_GRACE_PERIOD_S = 86_400
"""After a rotation the old secret still signs every delivery for this long (24 h)."""
MAX_GRACE_PERIOD_S = 7 * 86_400
"""The longest grace period a rotation may ask for (7 days)."""

DISABLED_BY_VENDOR = "disabled by the vendor"
GONE_REASON = "the endpoint answered 410 Gone"

TEST_EVENT_SEQ = 0
"""The ``seq`` of a test event: feed events start at 1, so a receiver can tell it apart (and
must not advance its feed cursor with it)."""


def previous_secret_expiry(now: datetime, grace_period_s: int) -> datetime | None:
    """Until when the replaced secret keeps signing after a rotation at ``now``; ``None``
    when it is dropped at once (a grace period of 0)."""
    if grace_period_s < 0 or grace_period_s > MAX_GRACE_PERIOD_S:
        raise ValueError(f"grace period {grace_period_s}s is outside 0..{MAX_GRACE_PERIOD_S}")
    return now + timedelta(seconds=grace_period_s) if grace_period_s else None


def signs_with_previous(expires_at: datetime | None, now: datetime) -> bool:
    """Whether a replaced secret with this expiry still signs a delivery made at ``now``."""
    return expires_at is not None and now < expires_at


def disable_due(
    *, failing_since: datetime | None, last_failure_at: datetime | None, after_days: int
) -> bool:
    """Whether an endpoint's failure streak calls for disabling it: every attempt from
    ``failing_since`` (the first failure after the last success) to ``last_failure_at`` (the
    latest failure) failed, and that span is at least ``after_days`` days. ``after_days`` 0
    never disables. The span is measured between attempts, not to the present: an endpoint
    that failed once and then received nothing is not "failing for days"."""
    if after_days <= 0 or failing_since is None or last_failure_at is None:
        return False
    return last_failure_at - failing_since >= timedelta(days=after_days)


def disabled_reason(after_days: int) -> str:
    return f"every delivery failed for {after_days} day{'' if after_days == 1 else 's'}"


def disabled_event_data(
    *, webhook_id: str, url: str, reason: str, failing_since: datetime | None
) -> dict[str, Any]:
    """The ``data`` of ``webhook.disabled`` in the vendor's feed."""
    return {
        "webhook": {
            "id": webhook_id,
            "url": url,
            "status": "disabled",
            "disabled_reason": reason,
            "failing_since": None if failing_since is None else failing_since.isoformat(),
        }
    }


def sample_event_data(*, webhook_id: str) -> dict[str, Any]:
    """The ``data`` of a ``webhook.test`` event: obviously synthetic, no intent."""
    return {
        "test": True,
        "webhook_id": webhook_id,
        "message": "A test event sent on request: it is not part of your feed.",
    }
