"""The operators' pages under ``/operator/``: sign-in with an operator token, the vendor
verification queue, flagged relay messages, intents to moderate, the runtime settings, the
audit log and a live stats panel.

Each page calls the same service as its ``/v1/admin`` route (``services.vendor_moderation``,
``flag_moderation``, ``intent_moderation``, ``runtime_settings``, ``audit``, ``stats``) and
validates its form with that route's request Struct, so an action taken here is checked and
audited exactly as through the API (the audit log's ``actor`` is the operator's id).

- ``common``: the page helper, the signed-in operator dependency, the audit actor;
- ``signin``: ``/operator/signin`` (a pasted ``ico_`` token) and ``/operator/signout``;
- ``vendors``: the queue, a vendor's page, verify / suspend / reinstate;
- ``moderation``: flagged messages and intents;
- ``settings``: the runtime settings form;
- ``activity``: the audit log and the stats panel (``/operator/stats.json`` for its script).
"""

from __future__ import annotations

from intentcast.web.operator.activity import OperatorActivityPages
from intentcast.web.operator.moderation import OperatorModerationPages
from intentcast.web.operator.settings import OperatorSettingsPages
from intentcast.web.operator.signin import OperatorSignInPages
from intentcast.web.operator.vendors import OperatorVendorPages

OPERATOR_PAGES: list[type] = [
    OperatorSignInPages,
    OperatorVendorPages,
    OperatorModerationPages,
    OperatorSettingsPages,
    OperatorActivityPages,
]
"""Every operator page controller, for ``web.routes.WEB_PAGES``."""

__all__ = ["OPERATOR_PAGES"]
