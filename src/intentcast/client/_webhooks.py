"""Checking a webhook delivery: the Standard Webhooks signature the server signs with
(``delivery/webhooks.py``), then the body as the event it carries."""

from __future__ import annotations

import binascii
from collections.abc import Mapping

import msgspec
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook
from standardwebhooks.webhooks import WebhookVerificationError as _SignatureError

from intentcast.api.vendor import VendorEvent
from intentcast.client._errors import WebhookVerificationError


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str) -> VendorEvent:
    """The event a delivery carries, once its ``webhook-signature`` (``v1,<base64>``; there
    may be several, space-separated) matches ``secret`` (the endpoint's ``whsec_...``) over
    ``webhook-id``, ``webhook-timestamp`` and the exact ``body``, and its timestamp is within
    5 minutes of now. Raises ``WebhookVerificationError`` otherwise.

    Pass the raw body as received (not re-serialised JSON) and the request's headers (any
    mapping; names are matched without case). Deduplicate on the event's ``id``: delivery
    is at least once.

    After ``webhooks.rotate_secret`` every delivery carries one signature per secret until
    the grace period ends, so either secret verifies it: switch ``secret`` to the new one
    any time within that period. A ``webhook.test`` event (``seq`` 0) is no part of the
    feed: do not move a feed cursor with it."""
    plain = {name.lower(): value for name, value in headers.items()}
    try:
        Webhook(secret).verify(body, plain, json_parse=False)
    except (_SignatureError, EmptyWebhookSecretError, ValueError, binascii.Error) as exc:
        raise WebhookVerificationError(str(exc) or "invalid webhook signature") from None
    try:
        return msgspec.json.decode(body, type=VendorEvent)
    except msgspec.DecodeError as exc:  # a ValidationError is a DecodeError too
        raise WebhookVerificationError(f"not an intentcast event: {exc}") from None
