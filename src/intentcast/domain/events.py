"""The names of everything that happens: event types and their dedupe keys.

Three audiences, three vocabularies:

- ``OutboxEventType``: domain events written to the outbox in the transaction that caused
  them, consumed by the matcher (``intent.*``, ``subscription.changed``).
- ``VendorEventType``: what a vendor's event log (feed, SSE, webhooks) may carry.
- ``BuyerEventType``: what a buyer's event log (``/v1/me/stream``) may carry.

A dedupe key makes appending an event idempotent: the same step of the same thing always
yields the same key, so a retried transaction or a redelivered message never appends twice.
Every key is built here, never by hand at a call site.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxEventType(StrEnum):
    INTENT_PUBLISHED = "intent.published"
    INTENT_UPDATED = "intent.updated"
    INTENT_CLOSED = "intent.closed"
    SUBSCRIPTION_CHANGED = "subscription.changed"


class VendorEventType(StrEnum):
    INTENT_MATCHED = "intent.matched"
    INTENT_UPDATED = "intent.updated"
    INTENT_CLOSED = "intent.closed"
    OFFER_ACCEPTED = "offer.accepted"
    OFFER_DECLINED = "offer.declined"
    MESSAGE_CREATED = "message.created"
    REVEAL_GRANTED = "reveal.granted"
    REVEAL_REVOKED = "reveal.revoked"
    WEBHOOK_DISABLED = "webhook.disabled"
    """One of the vendor's webhook endpoints was disabled after failing for days (on every
    channel but that endpoint)."""


WEBHOOK_TEST_EVENT = "webhook.test"
"""The type of the synthetic event ``POST /v1/vendor/webhooks/{id}/test`` sends to one
endpoint. It is no part of any log (``seq`` 0), so it is not a ``VendorEventType``."""


class BuyerEventType(StrEnum):
    OFFER_CREATED = "offer.created"
    OFFER_UPDATED = "offer.updated"
    OFFER_WITHDRAWN = "offer.withdrawn"
    MESSAGE_CREATED = "message.created"
    INTENT_REMOVED = "intent.removed"
    """An operator removed one of the buyer's intents (with the operator's reason)."""


class dedupe:
    """Dedupe keys, one builder per kind of step."""

    @staticmethod
    def offer(offer_id: str, step: str | int) -> str:
        """``step``: the version for a revision (1 for creation), or the final status."""
        return f"offer:{offer_id}:{step}"

    @staticmethod
    def reveal(reveal_id: str, step: str | None = None) -> str:
        return f"reveal:{reveal_id}" if step is None else f"reveal:{reveal_id}:{step}"

    @staticmethod
    def message(message_id: str) -> str:
        return f"message:{message_id}"

    @staticmethod
    def outbox(outbox_id: int) -> str:
        """An intent change fanned out to every matched vendor: one key per outbox row."""
        return f"outbox:{outbox_id}"

    @staticmethod
    def matched(intent_id: str) -> str:
        return f"matched:{intent_id}"

    @staticmethod
    def webhook_disabled(webhook_id: str, failing_since: str) -> str:
        """An endpoint disabled for one failure streak (it may be re-enabled and fail
        again: a new streak, a new event)."""
        return f"webhook-disabled:{webhook_id}:{failing_since}"

    @staticmethod
    def removed(intent_id: str) -> str:
        """An operator's removal of an intent (it happens once: the intent stays closed)."""
        return f"removed:{intent_id}"
