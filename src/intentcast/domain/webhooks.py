"""Webhook vocabulary: endpoint and delivery statuses and the per-vendor endpoint limit.

How one delivery attempt is made, signed and retried lives in ``delivery/webhooks.py``.
"""

from __future__ import annotations

from typing import Literal

EndpointStatus = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]

MAX_WEBHOOKS_PER_VENDOR = 10
