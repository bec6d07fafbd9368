"""``/v1/admin``: the operators' API. One router, one guard (an operator token, nothing
else); one module per resource. Every change an operator makes is audited
(``services/audit.py``) in the same transaction as the change."""

from __future__ import annotations

from litestar import Router

from intentcast.api.admin.audit import AuditController
from intentcast.api.admin.categories import AdminCategoryController
from intentcast.api.admin.flags import AdminFlagController
from intentcast.api.admin.insights import AdminInsightsController
from intentcast.api.admin.intents import AdminIntentController
from intentcast.api.admin.settings import AdminSettingsController
from intentcast.api.admin.stats import AdminStatsController
from intentcast.api.admin.vendors import AdminVendorController
from intentcast.api.auth import requires_operator

ADMIN_CONTROLLERS: list[type] = [
    AdminVendorController,
    AuditController,
    AdminIntentController,
    AdminFlagController,
    AdminStatsController,
    AdminCategoryController,
    AdminSettingsController,
    AdminInsightsController,
]
"""Every ``/v1/admin`` controller (their paths are relative to ``/v1/admin``)."""


def admin_router() -> Router:
    return Router(
        path="/v1/admin",
        route_handlers=ADMIN_CONTROLLERS,
        guards=[requires_operator],
        tags=["admin"],
    )
