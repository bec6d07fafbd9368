"""Every operation of the HTTP API (``openapi/openapi.json``), grouped by who uses it, each
typed with the server's own request and response Structs. A method describes its request;
``_endpoints`` runs it on either client. Bodies may be given as the server's Struct or as
a mapping, which is checked against that Struct before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from intentcast.api.accounts import (
    Buyer,
    BuyerCreate,
    BuyerCreated,
    BuyerPatch,
    BuyerTokenCreate,
    OperatorAccount,
    TokenCreate,
    TokenCreated,
    TokenInfo,
    TokenPage,
    VendorAccount,
    VendorCreate,
    VendorCreated,
    VendorPatch,
)
from intentcast.api.admin.audit import AuditItem, AuditPage
from intentcast.api.admin.categories import CategoryCreate, CategoryPatch
from intentcast.api.admin.common import ReasonBody, RequiredReasonBody
from intentcast.api.admin.flags import FlagRecordPage, FlagResolve
from intentcast.api.admin.intents import IntentRecordPage
from intentcast.api.admin.vendors import VendorRecordPage
from intentcast.api.categories import CategoryTree
from intentcast.api.intents import BuyerIntent, IntentPage, Preview
from intentcast.api.me import BuyerExport, Disclosure, DisclosurePage
from intentcast.api.meta import Health, Readiness
from intentcast.api.offers import (
    AcceptRequest,
    AcceptResult,
    BuyerOfferPage,
    RatingRequest,
    VendorOfferPage,
)
from intentcast.api.relay import FlagRequest, MessageCreate, ThreadPage, ThreadSummary
from intentcast.api.reveals import RevealRequest, VendorRevealView
from intentcast.api.subscriptions import SubscriptionPage, SubscriptionView
from intentcast.api.vendor import EventPage, VendorEvent
from intentcast.api.vendors import VendorProfile
from intentcast.api.webhooks import (
    DeliveryPage,
    DeliveryView,
    ReplayRequest,
    ReplayResult,
    RotateSecretRequest,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookPatch,
    WebhookTestQueued,
    WebhookView,
)
from intentcast.client._endpoints import R, Resource, endpoint, listing, stream
from intentcast.client._flows import Req
from intentcast.domain.intents import IntentDraft, IntentPatch, IntentStatus
from intentcast.domain.offers import OfferDraft, OfferPatch, OfferSort, OfferStatus
from intentcast.domain.reveals import PersonaField
from intentcast.domain.subscriptions import SubscriptionDraft, SubscriptionPatch
from intentcast.domain.vendor_view import VendorIntent
from intentcast.services.category_moderation import CategoryChange, CategoryRecord
from intentcast.services.flag_moderation import FlagAction, FlagRecord, FlagStatus
from intentcast.services.insights import InsightsRelease
from intentcast.services.intent_moderation import IntentRecord
from intentcast.services.offers import BuyerOfferView, OfferDetail, OfferView, RatingView
from intentcast.services.relay import MessageView, ThreadView
from intentcast.services.reveals import RevealedData, RevealView
from intentcast.services.runtime_settings import SettingsPatch, SettingsView
from intentcast.services.stats import OperatorStats
from intentcast.services.vendor_moderation import VendorRecord
from intentcast.store.events import LogEvent

Body = Mapping[str, Any]
Account = Buyer | VendorAccount | OperatorAccount
"""What ``GET /v1/me`` answers: ``role`` says which."""


class Meta(Resource[R]):
    """Public routes: health, the taxonomy, the receipt keys."""

    @endpoint("health", "GET", "/health")
    def health(self) -> Req[Health]:
        return Req(Health)

    @endpoint("ready", "GET", "/ready")
    def ready(self) -> Req[Readiness]:
        return Req(Readiness)

    @endpoint("listCategories", "GET", "/v1/categories")
    def categories(
        self, *, under: str | None = None, depth: int | None = None
    ) -> Req[CategoryTree]:
        return Req(CategoryTree, query={"under": under, "depth": depth})

    @endpoint("receiptPublicKey", "GET", "/v1/receipts/public-key")
    def receipt_public_key(self) -> Req[dict[str, str]]:
        return Req(dict[str, str])

    @endpoint("receiptPublicKeys", "GET", "/v1/receipts/public-keys")
    def receipt_public_keys(self) -> Req[dict[str, list[dict[str, str]]]]:
        return Req(dict[str, list[dict[str, str]]])


class Accounts(Resource[R]):
    """Sign-ups, the calling account, and vendors' public profiles."""

    @endpoint("createBuyer", "POST", "/v1/buyers")
    def create_buyer(self, buyer: BuyerCreate | Body) -> Req[BuyerCreated]:
        """The buyer and its token (shown once). Not retried after the server may have acted
        on it: the server does not replay anonymous sign-ups."""
        return Req(BuyerCreated, body=buyer, body_type=BuyerCreate, anonymous=True)

    @endpoint("createVendor", "POST", "/v1/vendors")
    def create_vendor(self, vendor: VendorCreate | Body) -> Req[VendorCreated]:
        return Req(VendorCreated, body=vendor, body_type=VendorCreate, anonymous=True)

    @endpoint("getMe", "GET", "/v1/me")
    def me(self) -> Req[Account]:
        return Req(Account)

    @endpoint("updateMe", "PATCH", "/v1/me")
    def update_me(self, changes: BuyerPatch | VendorPatch | Body) -> Req[Buyer | VendorAccount]:
        return Req(Buyer | VendorAccount, body=changes)

    @endpoint("getVendorProfile", "GET", "/v1/vendors/{vendor_id}")
    def vendor_profile(self, vendor_id: str) -> Req[VendorProfile]:
        return Req(VendorProfile, path={"vendor_id": vendor_id})


class Tokens(Resource[R]):
    """An account's API tokens (``/v1/me/tokens`` for buyers, ``/v1/vendor/tokens`` for
    vendors): the same operations under two prefixes."""

    def __init__(self, runner: R, headers: Mapping[str, str], prefix: str) -> None:
        super().__init__(runner, headers)
        self._prefix = prefix

    @endpoint("createBuyerToken|createVendorToken", "POST", "{prefix}")
    def create(
        self,
        label: str | None = None,
        *,
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> Req[TokenCreated]:
        """Buyers: ``scopes`` (e.g. ``["intents:read", "offers:read"]``) makes a delegated
        token for an agent, which can never reveal, accept, export, erase or mint tokens;
        ``expires_at`` (timezone-aware) when it stops working."""
        if scopes is None and expires_at is None:
            body: TokenCreate = TokenCreate(label=label)
        else:
            body = BuyerTokenCreate(
                label=label,
                scopes=None if scopes is None else list(scopes),  # type: ignore[arg-type]
                expires_at=expires_at,
            )
        return Req(TokenCreated, path={"prefix": self._prefix}, body=body)

    @listing("listBuyerTokens|listVendorTokens", "{prefix}")
    def list(self, *, limit: int | None = None) -> Req[TokenInfo]:
        return Req(TokenPage, path={"prefix": self._prefix}, query={"limit": limit})

    @endpoint("revokeBuyerToken|revokeVendorToken", "DELETE", "{prefix}/{token_id}")
    def revoke(self, token_id: str) -> Req[None]:
        return Req(None, path={"prefix": self._prefix, "token_id": token_id})


class Intents(Resource[R]):
    """A buyer's intents and the offers on them."""

    @endpoint("previewIntent", "POST", "/v1/intents/preview")
    def preview(self, draft: IntentDraft | Body) -> Req[Preview]:
        """Exactly what vendors would see, and what was removed; nothing is stored."""
        return Req(Preview, body=draft, body_type=IntentDraft)

    @endpoint("publishIntent", "POST", "/v1/intents")
    def publish(
        self, draft: IntentDraft | Body, *, idempotency_key: str | None = None
    ) -> Req[BuyerIntent]:
        return Req(BuyerIntent, body=draft, body_type=IntentDraft, idempotency_key=idempotency_key)

    @listing("listIntents", "/v1/intents")
    def list(
        self, *, status: Sequence[IntentStatus] | None = None, limit: int | None = None
    ) -> Req[BuyerIntent]:
        """Newest first, every page."""
        return Req(IntentPage, query={"status": status, "limit": limit})

    @endpoint("getIntent", "GET", "/v1/intents/{intent_id}")
    def get(self, intent_id: str) -> Req[BuyerIntent]:
        return Req(BuyerIntent, path={"intent_id": intent_id})

    @endpoint("updateIntent", "PATCH", "/v1/intents/{intent_id}")
    def update(self, intent_id: str, changes: IntentPatch | Body) -> Req[BuyerIntent]:
        """Pause, reopen, withdraw, extend or edit (``IntentPatch``)."""
        return Req(BuyerIntent, path={"intent_id": intent_id}, body=changes, body_type=IntentPatch)

    @listing("listIntentOffers", "/v1/intents/{intent_id}/offers")
    def offers(
        self,
        intent_id: str,
        *,
        sort: OfferSort | None = None,
        status: Sequence[OfferStatus] | None = None,
        limit: int | None = None,
    ) -> Req[BuyerOfferView]:
        """The offers on your intent, each with its vendor's public profile, in ``sort``
        order, every page (``limit`` offers a request)."""
        return Req(
            BuyerOfferPage,
            path={"intent_id": intent_id},
            query={"sort": sort, "status": status, "limit": limit},
        )

    @endpoint("createReveal", "POST", "/v1/intents/{intent_id}/reveals")
    def reveal(
        self,
        intent_id: str,
        *,
        vendor_id: str,
        fields: Sequence[PersonaField],
        idempotency_key: str | None = None,
    ) -> Req[RevealView]:
        """Reveal persona fields to a vendor that matched this intent."""
        body = RevealRequest(vendor_id=vendor_id, fields=list(fields))
        return Req(
            RevealView,
            path={"intent_id": intent_id},
            body=body,
            idempotency_key=idempotency_key,
        )


class Offers(Resource[R]):
    """Offers: the vendor makes, revises and withdraws them; the buyer accepts, declines
    and rates."""

    @endpoint("createOffer", "POST", "/v1/intents/{intent_id}/offers")
    def create(
        self, intent_id: str, offer: OfferDraft | Body, *, idempotency_key: str | None = None
    ) -> Req[OfferView]:
        """``idempotency_key``: your own key (say ``offer-<intent id>``), so that sending
        again after a restart answers the first offer instead of ``409 offer-exists``."""
        return Req(
            OfferView,
            path={"intent_id": intent_id},
            body=offer,
            body_type=OfferDraft,
            idempotency_key=idempotency_key,
        )

    @endpoint("reviseOffer", "PATCH", "/v1/offers/{offer_id}")
    def revise(self, offer_id: str, changes: OfferPatch | Body) -> Req[OfferView]:
        return Req(OfferView, path={"offer_id": offer_id}, body=changes, body_type=OfferPatch)

    @endpoint("withdrawOffer", "POST", "/v1/offers/{offer_id}/withdraw")
    def withdraw(self, offer_id: str) -> Req[OfferView]:
        return Req(OfferView, path={"offer_id": offer_id})

    @endpoint("getOffer", "GET", "/v1/offers/{offer_id}")
    def get(self, offer_id: str) -> Req[OfferDetail]:
        return Req(OfferDetail, path={"offer_id": offer_id})

    @listing("listVendorOffers", "/v1/vendor/offers")
    def mine(self, *, limit: int | None = None) -> Req[OfferView]:
        """The calling vendor's offers."""
        return Req(VendorOfferPage, query={"limit": limit})

    @endpoint("acceptOffer", "POST", "/v1/offers/{offer_id}/accept")
    def accept(
        self,
        offer_id: str,
        *,
        reveal_fields: Sequence[PersonaField] = (),
        version: int | None = None,
    ) -> Req[AcceptResult]:
        """``version`` pins the version you looked at (409 ``offer-changed`` if revised)."""
        body = AcceptRequest(reveal_fields=list(reveal_fields), version=version)
        return Req(AcceptResult, path={"offer_id": offer_id}, body=body)

    @endpoint("declineOffer", "POST", "/v1/offers/{offer_id}/decline")
    def decline(self, offer_id: str) -> Req[OfferView]:
        return Req(OfferView, path={"offer_id": offer_id})

    @endpoint("rateOffer", "POST", "/v1/offers/{offer_id}/rating")
    def rate(self, offer_id: str, stars: int, comment: str | None = None) -> Req[RatingView]:
        body = RatingRequest(stars=stars, comment=comment)
        return Req(RatingView, path={"offer_id": offer_id}, body=body)


class Threads(Resource[R]):
    """The relay between a buyer and a matched vendor."""

    @endpoint("openThread", "POST", "/v1/intents/{intent_id}/threads")
    def open(
        self, intent_id: str, body: str, *, idempotency_key: str | None = None
    ) -> Req[ThreadView]:
        return Req(
            ThreadView,
            path={"intent_id": intent_id},
            body=MessageCreate(body=body),
            idempotency_key=idempotency_key,
        )

    @listing("listThreads", "/v1/threads")
    def list(self, *, limit: int | None = None) -> Req[ThreadSummary]:
        return Req(ThreadPage, query={"limit": limit})

    @endpoint("getThread", "GET", "/v1/threads/{thread_id}")
    def get(self, thread_id: str) -> Req[ThreadView]:
        return Req(ThreadView, path={"thread_id": thread_id})

    @endpoint("postMessage", "POST", "/v1/threads/{thread_id}/messages")
    def post(
        self, thread_id: str, body: str, *, idempotency_key: str | None = None
    ) -> Req[MessageView]:
        return Req(
            MessageView,
            path={"thread_id": thread_id},
            body=MessageCreate(body=body),
            idempotency_key=idempotency_key,
        )

    @endpoint("flagMessage", "POST", "/v1/messages/{message_id}/flag")
    def flag(self, message_id: str, reason: str) -> Req[None]:
        return Req(None, path={"message_id": message_id}, body=FlagRequest(reason=reason))


class BuyerAccount(Resource[R]):
    """The buyer's own things: events, disclosures, data rights, blocks, reveals, tokens."""

    def __init__(self, runner: R, headers: Mapping[str, str]) -> None:
        super().__init__(runner, headers)
        self.tokens: Tokens[R] = Tokens(runner, headers, "/v1/me/tokens")

    @stream("streamBuyerEvents", "/v1/me/stream")
    def events(self, *, after: int = 0) -> Req[LogEvent]:
        """Your events (``offer.created``...) after seq ``after``, live, for ever."""
        return Req(LogEvent, query={"after": after})

    @listing("listDisclosures", "/v1/me/disclosures")
    def disclosures(self, *, limit: int | None = None) -> Req[Disclosure]:
        return Req(DisclosurePage, query={"limit": limit})

    @endpoint("exportMe", "GET", "/v1/me/export")
    def export(self) -> Req[BuyerExport]:
        return Req(BuyerExport)

    @endpoint("eraseMe", "DELETE", "/v1/me")
    def erase(self) -> Req[None]:
        """Erase your account and data; every token stops working."""
        return Req(None)

    @endpoint("blockVendor", "POST", "/v1/vendors/{vendor_id}/block")
    def block(self, vendor_id: str) -> Req[None]:
        return Req(None, path={"vendor_id": vendor_id})

    @endpoint("unblockVendor", "DELETE", "/v1/vendors/{vendor_id}/block")
    def unblock(self, vendor_id: str) -> Req[None]:
        return Req(None, path={"vendor_id": vendor_id})

    @endpoint("revokeReveal", "DELETE", "/v1/reveals/{reveal_id}")
    def revoke_reveal(self, reveal_id: str) -> Req[None]:
        return Req(None, path={"reveal_id": reveal_id})


class Subscriptions(Resource[R]):
    @endpoint("createSubscription", "POST", "/v1/subscriptions")
    def create(
        self, subscription: SubscriptionDraft | Body, *, idempotency_key: str | None = None
    ) -> Req[SubscriptionView]:
        return Req(
            SubscriptionView,
            body=subscription,
            body_type=SubscriptionDraft,
            idempotency_key=idempotency_key,
        )

    @listing("listSubscriptions", "/v1/subscriptions")
    def list(self, *, limit: int | None = None) -> Req[SubscriptionView]:
        return Req(SubscriptionPage, query={"limit": limit})

    @endpoint("getSubscription", "GET", "/v1/subscriptions/{subscription_id}")
    def get(self, subscription_id: str) -> Req[SubscriptionView]:
        return Req(SubscriptionView, path={"subscription_id": subscription_id})

    @endpoint("updateSubscription", "PATCH", "/v1/subscriptions/{subscription_id}")
    def update(
        self, subscription_id: str, changes: SubscriptionPatch | Body
    ) -> Req[SubscriptionView]:
        return Req(
            SubscriptionView,
            path={"subscription_id": subscription_id},
            body=changes,
            body_type=SubscriptionPatch,
        )

    @endpoint("deleteSubscription", "DELETE", "/v1/subscriptions/{subscription_id}")
    def delete(self, subscription_id: str) -> Req[None]:
        return Req(None, path={"subscription_id": subscription_id})


class Webhooks(Resource[R]):
    @endpoint("createWebhook", "POST", "/v1/vendor/webhooks")
    def create(
        self,
        url: str,
        events: Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Req[WebhookCreated]:
        """The answer's ``secret`` (shown once) is what ``verify_webhook`` needs."""
        body = {"url": url, "events": None if events is None else list(events)}
        return Req(
            WebhookCreated, body=body, body_type=WebhookCreate, idempotency_key=idempotency_key
        )

    @listing("listWebhooks", "/v1/vendor/webhooks")
    def list(self, *, limit: int | None = None) -> Req[WebhookView]:
        return Req(WebhookPage, query={"limit": limit})

    @endpoint("getWebhook", "GET", "/v1/vendor/webhooks/{webhook_id}")
    def get(self, webhook_id: str) -> Req[WebhookView]:
        """One endpoint (never its secret)."""
        return Req(WebhookView, path={"webhook_id": webhook_id})

    @endpoint("updateWebhook", "PATCH", "/v1/vendor/webhooks/{webhook_id}")
    def update(
        self,
        webhook_id: str,
        changes: WebhookPatch | Body | None = None,
        *,
        url: str | None = None,
        events: Sequence[str] | None | Literal["unchanged"] = "unchanged",
        enabled: bool | None = None,
    ) -> Req[WebhookView]:
        """Change the URL, the event filter (``events=None``: every type) or ``enabled``;
        as keywords, or as a ``WebhookPatch``/mapping in ``changes``. Enabling a disabled
        endpoint clears its failure state."""
        if changes is None:
            body: dict[str, Any] = {}
            if url is not None:
                body["url"] = url
            if events != "unchanged":
                body["events"] = None if events is None else list(events)
            if enabled is not None:
                body["enabled"] = enabled
            changes = body
        return Req(
            WebhookView, path={"webhook_id": webhook_id}, body=changes, body_type=WebhookPatch
        )

    @endpoint("rotateWebhookSecret", "POST", "/v1/vendor/webhooks/{webhook_id}/rotate-secret")
    def rotate_secret(
        self, webhook_id: str, *, grace_period_seconds: int | None = None
    ) -> Req[SecretRotated]:
        """A new secret (shown once). Until ``previous_secret_expires_at`` (default 24 h)
        deliveries carry signatures by both secrets, so ``verify_webhook`` accepts them with
        either: switch your receiver over within that time."""
        body = (
            RotateSecretRequest()
            if grace_period_seconds is None
            else RotateSecretRequest(grace_period_seconds=grace_period_seconds)
        )
        return Req(SecretRotated, path={"webhook_id": webhook_id}, body=body)

    @endpoint("sendWebhookTest", "POST", "/v1/vendor/webhooks/{webhook_id}/test")
    def send_test(self, webhook_id: str) -> Req[WebhookTestQueued]:
        """Queue a ``webhook.test`` event (``seq`` 0, not in your feed) to this endpoint."""
        return Req(WebhookTestQueued, path={"webhook_id": webhook_id})

    @endpoint("deleteWebhook", "DELETE", "/v1/vendor/webhooks/{webhook_id}")
    def delete(self, webhook_id: str) -> Req[None]:
        return Req(None, path={"webhook_id": webhook_id})

    @listing("listWebhookDeliveries", "/v1/vendor/webhooks/{webhook_id}/deliveries")
    def deliveries(self, webhook_id: str, *, limit: int | None = None) -> Req[DeliveryView]:
        """The attempt log, newest first."""
        return Req(DeliveryPage, path={"webhook_id": webhook_id}, query={"limit": limit})

    @endpoint("replayWebhook", "POST", "/v1/vendor/webhooks/{webhook_id}/replay")
    def replay(
        self, webhook_id: str, *, after_seq: int = 0, limit: int = 1000
    ) -> Req[ReplayResult]:
        body = ReplayRequest(after_seq=after_seq, limit=limit)
        return Req(ReplayResult, path={"webhook_id": webhook_id}, body=body)


class VendorChannels(Resource[R]):
    """What a vendor receives: the feed, the live stream, matched intents and reveals."""

    def __init__(self, runner: R, headers: Mapping[str, str]) -> None:
        super().__init__(runner, headers)
        self.tokens: Tokens[R] = Tokens(runner, headers, "/v1/vendor/tokens")

    @listing("listVendorEvents", "/v1/vendor/matches")
    def feed(self, *, after: int = 0, limit: int | None = None) -> Req[VendorEvent]:
        """Every event after seq ``after``, in order, up to the end of the log; resume later
        from the last event's ``seq``."""
        return Req(EventPage, query={"after": after, "limit": limit})

    @endpoint("listVendorEvents", "GET", "/v1/vendor/matches")
    def feed_page(self, *, after: int = 0, limit: int | None = None) -> Req[EventPage]:
        """One page of the feed, with ``last_seq``."""
        return Req(EventPage, query={"after": after, "limit": limit})

    @stream("streamVendorEvents", "/v1/vendor/stream")
    def events(self, *, after: int = 0) -> Req[VendorEvent]:
        """The same events, live, after seq ``after``, for ever (reconnecting as needed)."""
        return Req(VendorEvent, query={"after": after})

    @endpoint("getMatchedIntent", "GET", "/v1/vendor/intents/{intent_id}")
    def intent(self, intent_id: str) -> Req[VendorIntent]:
        return Req(VendorIntent, path={"intent_id": intent_id})

    @endpoint("acceptRevealTerms", "POST", "/v1/vendor/reveals/{reveal_id}/accept-terms")
    def accept_terms(self, reveal_id: str) -> Req[VendorRevealView]:
        return Req(VendorRevealView, path={"reveal_id": reveal_id})

    @endpoint("readReveal", "GET", "/v1/vendor/reveals/{reveal_id}")
    def reveal(self, reveal_id: str) -> Req[RevealedData]:
        """The revealed fields (409 before accepting the terms, 410 after a revocation)."""
        return Req(RevealedData, path={"reveal_id": reveal_id})

    @endpoint("vendorInsights", "GET", "/v1/vendor/insights")
    def insights(
        self, *, category: str | None = None, area: str | None = None, weeks: int = 8
    ) -> Req[InsightsRelease]:
        """Weekly demand with differential privacy: each new query spends ``privacy.epsilon``
        of this week's budget; the same query again this week is free (``privacy.cached``)."""
        return Req(InsightsRelease, query={"category": category, "area": area, "weeks": weeks})


def _reason(reason: str | None) -> ReasonBody:
    return ReasonBody(reason=reason)


class Admin(Resource[R]):
    """``/v1/admin``: the operators' API."""

    @listing("adminListVendors", "/v1/admin/vendors")
    def vendors(
        self, *, status: Literal["pending", "verified", "suspended"] | None = None
    ) -> Req[VendorRecord]:
        return Req(VendorRecordPage, query={"status": status})

    @endpoint("adminGetVendor", "GET", "/v1/admin/vendors/{vendor_id}")
    def vendor(self, vendor_id: str) -> Req[VendorRecord]:
        return Req(VendorRecord, path={"vendor_id": vendor_id})

    @endpoint("adminVerifyVendor", "POST", "/v1/admin/vendors/{vendor_id}/verify")
    def verify_vendor(self, vendor_id: str, reason: str | None = None) -> Req[VendorRecord]:
        return Req(VendorRecord, path={"vendor_id": vendor_id}, body=_reason(reason))

    @endpoint("adminSuspendVendor", "POST", "/v1/admin/vendors/{vendor_id}/suspend")
    def suspend_vendor(self, vendor_id: str, reason: str) -> Req[VendorRecord]:
        body = RequiredReasonBody(reason=reason)
        return Req(VendorRecord, path={"vendor_id": vendor_id}, body=body)

    @endpoint("adminReinstateVendor", "POST", "/v1/admin/vendors/{vendor_id}/reinstate")
    def reinstate_vendor(self, vendor_id: str, reason: str | None = None) -> Req[VendorRecord]:
        return Req(VendorRecord, path={"vendor_id": vendor_id}, body=_reason(reason))

    @listing("adminListIntents", "/v1/admin/intents")
    def intents(self, *, status: IntentStatus | None = None) -> Req[IntentRecord]:
        return Req(IntentRecordPage, query={"status": status})

    @endpoint("adminRemoveIntent", "POST", "/v1/admin/intents/{intent_id}/remove")
    def remove_intent(self, intent_id: str, reason: str) -> Req[IntentRecord]:
        body = RequiredReasonBody(reason=reason)
        return Req(IntentRecord, path={"intent_id": intent_id}, body=body)

    @listing("adminListFlags", "/v1/admin/flags")
    def flags(self, *, status: FlagStatus = "open") -> Req[FlagRecord]:
        return Req(FlagRecordPage, query={"status": status})

    @endpoint("adminResolveFlag", "POST", "/v1/admin/flags/{message_id}/resolve")
    def resolve_flag(
        self, message_id: str, action: FlagAction, reason: str | None = None
    ) -> Req[FlagRecord]:
        body = FlagResolve(action=action, reason=reason)
        return Req(FlagRecord, path={"message_id": message_id}, body=body)

    @endpoint("adminAddCategory", "POST", "/v1/admin/categories")
    def add_category(
        self, parent: str | None, name: str, slug: str | None = None
    ) -> Req[CategoryRecord]:
        return Req(CategoryRecord, body=CategoryCreate(parent=parent, name=name, slug=slug))

    @endpoint("adminChangeCategory", "PATCH", "/v1/admin/categories/{category_path}")
    def change_category(self, path: str, changes: CategoryPatch | Body) -> Req[CategoryChange]:
        return Req(
            CategoryChange, path={"category_path": path}, body=changes, body_type=CategoryPatch
        )

    @endpoint("adminRetireCategory", "DELETE", "/v1/admin/categories/{category_path}")
    def retire_category(self, path: str) -> Req[CategoryRecord]:
        return Req(CategoryRecord, path={"category_path": path})

    @endpoint("adminGetSettings", "GET", "/v1/admin/settings")
    def settings(self) -> Req[SettingsView]:
        return Req(SettingsView)

    @endpoint("adminChangeSettings", "PATCH", "/v1/admin/settings")
    def change_settings(self, changes: Body) -> Req[SettingsView]:
        """``{name: value}`` sets, ``{name: None}`` resets to the environment's value."""
        return Req(SettingsView, body=changes, body_type=SettingsPatch)

    @endpoint("adminStats", "GET", "/v1/admin/stats")
    def stats(self) -> Req[OperatorStats]:
        return Req(OperatorStats)

    @endpoint("adminInsights", "GET", "/v1/admin/insights")
    def insights(
        self, *, category: str | None = None, area: str | None = None, weeks: int = 8
    ) -> Req[InsightsRelease]:
        """The vendors' demand insights, from the operators' shared privacy budget."""
        return Req(InsightsRelease, query={"category": category, "area": area, "weeks": weeks})

    @listing("adminAuditLog", "/v1/admin/audit")
    def audit(
        self,
        *,
        order: Literal["asc", "desc"] = "asc",
        target: str | None = None,
        action: str | None = None,
    ) -> Req[AuditItem]:
        return Req(AuditPage, query={"order": order, "target": target, "action": action})
