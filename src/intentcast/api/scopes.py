"""Which token scope every API route requires — the one place that says so.

``REQUIRED_SCOPE`` maps each route's ``operation_id`` to the scope a scoped token needs to
call it (``domain/scopes.py`` owns the vocabulary), to ``OPEN_TO_ALL`` for routes anyone
may call, or to ``None``: full tokens only. ``BearerTokenMiddleware`` (``api/auth.py``)
checks it for every request made with a scoped token, before the role guards; a route
missing from the table (or without an operation id, such as a web page) is refused to
scoped tokens. ``tests/unit/test_token_scopes.py`` fails when an operation of the app or
of ``openapi/openapi.json`` is missing here, so a new route cannot be forgotten.

A scoped token is refused with 403 ``token-scope``, naming the scope it lacks.
"""

from __future__ import annotations

from typing import Final

from intentcast.domain.scopes import OPEN_TO_ALL

FULL: Final = None
"""Full tokens only: no scope grants it."""

REQUIRED_SCOPE: Final[dict[str, str | None]] = {
    # open to everyone
    "health": OPEN_TO_ALL,
    "ready": OPEN_TO_ALL,
    "openapi": OPEN_TO_ALL,
    "listCategories": OPEN_TO_ALL,
    "receiptPublicKey": OPEN_TO_ALL,
    "receiptPublicKeys": OPEN_TO_ALL,
    "getVendorProfile": OPEN_TO_ALL,
    "createBuyer": OPEN_TO_ALL,
    "createVendor": OPEN_TO_ALL,
    # intents
    "listIntents": "intents:read",
    "getIntent": "intents:read",
    "previewIntent": "intents:write",
    "publishIntent": "intents:write",
    "updateIntent": "intents:write",  # change, pause, resume, withdraw
    # offers
    "listIntentOffers": "offers:read",
    "getOffer": "offers:read",
    "declineOffer": "offers:write",
    "acceptOffer": FULL,  # a deal is the buyer's own decision
    "rateOffer": FULL,
    # relay
    "listThreads": "relay:read",
    "getThread": "relay:read",
    "postMessage": "relay:write",
    "flagMessage": "relay:write",
    "openThread": FULL,  # vendors only
    # the buyer's stream
    "streamBuyerEvents": "events:read",
    # identity, account, data rights, tokens: full tokens only
    "getMe": FULL,  # opens the persona (name, email, phone, address)
    "updateMe": FULL,
    "eraseMe": FULL,
    "exportMe": FULL,
    "listDisclosures": FULL,
    "createReveal": FULL,
    "revokeReveal": FULL,
    "blockVendor": FULL,
    "unblockVendor": FULL,
    "createBuyerToken": FULL,
    "listBuyerTokens": FULL,
    "revokeBuyerToken": FULL,
    # vendors and operators never hold scoped tokens
    "createOffer": FULL,
    "reviseOffer": FULL,
    "withdrawOffer": FULL,
    "getMatchedIntent": FULL,
    "listVendorEvents": FULL,
    "listVendorOffers": FULL,
    "readReveal": FULL,
    "acceptRevealTerms": FULL,
    "streamVendorEvents": FULL,
    "createVendorToken": FULL,
    "listVendorTokens": FULL,
    "revokeVendorToken": FULL,
    "createWebhook": FULL,
    "listWebhooks": FULL,
    "getWebhook": FULL,
    "updateWebhook": FULL,
    "deleteWebhook": FULL,
    "listWebhookDeliveries": FULL,
    "replayWebhook": FULL,
    "rotateWebhookSecret": FULL,
    "sendWebhookTest": FULL,
    "createSubscription": FULL,
    "listSubscriptions": FULL,
    "getSubscription": FULL,
    "updateSubscription": FULL,
    "deleteSubscription": FULL,
    "adminAuditLog": FULL,
    "adminAddCategory": FULL,
    "adminChangeCategory": FULL,
    "adminRetireCategory": FULL,
    "adminListFlags": FULL,
    "adminResolveFlag": FULL,
    "adminListIntents": FULL,
    "adminRemoveIntent": FULL,
    "adminGetSettings": FULL,
    "adminChangeSettings": FULL,
    "adminStats": FULL,
    "adminListVendors": FULL,
    "adminGetVendor": FULL,
    "adminVerifyVendor": FULL,
    "adminSuspendVendor": FULL,
    "adminReinstateVendor": FULL,
    "adminInsights": FULL,
    "vendorInsights": FULL,
}


def required_scope(operation_id: str | None) -> str | None:
    """The scope a scoped token needs for this operation (``None``: full tokens only, also
    for an operation the table does not know)."""
    if operation_id is None:
        return FULL
    return REQUIRED_SCOPE.get(operation_id, FULL)
