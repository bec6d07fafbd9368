"""A Python client for the intentcast API, typed with the server's own msgspec Structs.

``AsyncClient`` (asyncio) and ``Client`` (blocking) offer the same resources:

- ``accounts``: sign-ups, ``me``, vendor profiles;
- ``intents``, ``offers``, ``threads``, ``buyer`` (events, disclosures, export, erasure,
  blocks, tokens): the buyer's side;
- ``subscriptions``, ``vendor`` (feed, live events, matched intents, reveals, tokens),
  ``webhooks``: the vendor's side;
- ``admin``: the operators' API; ``meta``: health, categories, receipt keys.

Lists are iterators over every page; ``buyer.events()`` and ``vendor.events()`` iterate a
live Server-Sent Events stream that resumes after a disconnect without loss or repetition.
Every ``POST`` carries an ``Idempotency-Key``, kept across its retries; 429 (after
``Retry-After``), 502/503/504 and network errors are retried with backoff. Refusals raise
``ProblemError`` subclasses with the server's problem details. ``verify_webhook`` checks a
webhook delivery and returns its event.
"""

from intentcast.client._clients import AsyncClient, Client
from intentcast.client._errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    Gone,
    IntentcastError,
    NotFound,
    ProblemError,
    RateLimited,
    ServerError,
    StreamError,
    Unauthorized,
    ValidationFailed,
    WebhookVerificationError,
)
from intentcast.client._flows import RetryPolicy
from intentcast.client._webhooks import verify_webhook

__all__ = [
    "AsyncClient",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "Gone",
    "IntentcastError",
    "NotFound",
    "ProblemError",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "StreamError",
    "Unauthorized",
    "ValidationFailed",
    "WebhookVerificationError",
    "verify_webhook",
]
