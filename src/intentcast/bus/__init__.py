"""Redis: work streams with consumer groups, broadcast streams, live pub/sub channels.

Redis holds nothing PostgreSQL cannot rebuild: the outbox relay republishes what Redis lost.
"""

WORK_STREAM = "ic:work"
"""Outbox events (intents published/updated/closed, subscriptions changed) for matchers."""
MATCHER_GROUP = "matchers"
SUBS_STREAM = "ic:subs"
"""Subscription changes, read by every matcher (no group) to keep its index current."""
DELIVER_STREAM = "ic:deliver"
"""Webhook deliveries to attempt now, for delivery workers."""
DELIVERY_GROUP = "delivery"
STREAM_MAXLEN = 100_000


STREAM_CLOSE = b"\x00close"
"""Published on an owner's live channel to end its SSE connections (a suspended vendor).
Never valid JSON, so no event can be mistaken for it."""


def vendor_channel(vendor_id: str) -> str:
    """Pub/sub channel carrying a vendor's new log events to SSE connections."""
    return f"ic:live:vendor:{vendor_id}"


def buyer_channel(buyer_id: str) -> str:
    """Pub/sub channel carrying a buyer's new log events to ``/v1/me/stream``."""
    return f"ic:live:buyer:{buyer_id}"
