"""``/v1/admin/settings``: the runtime settings an operator may change while everything runs
(``services/runtime_settings.py``): read them with where each value comes from, change or
reset some, audited. Every API process and worker follows a change within seconds."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Controller, get, patch
from redis.asyncio import Redis

from intentcast.api.admin.common import actor_of
from intentcast.api.errors import invalid
from intentcast.domain.errors import RuleViolation
from intentcast.services.runtime_settings import (
    RuntimeSettings,
    SettingsPatch,
    SettingsView,
    change_settings,
    read_settings,
)
from intentcast.store.accounts import Principal


class AdminSettingsController(Controller):
    path = "/settings"

    @get(operation_id="adminGetSettings", summary="The runtime settings and where they come from")
    async def show(self, db: asyncpg.Connection, runtime_settings: RuntimeSettings) -> SettingsView:
        """Each setting's effective value and its source: `operator` (with who and when),
        `environment` (`INTENTCAST_*`) or `default`. Environment values are those of the
        API process answering."""
        return await read_settings(db, runtime_settings.base)

    @patch(operation_id="adminChangeSettings", summary="Change or reset runtime settings")
    async def change(
        self,
        data: SettingsPatch,  # type: ignore[valid-type]
        principal: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        runtime_settings: RuntimeSettings,
    ) -> SettingsView:
        """Applied by every API process and worker within seconds, without a restart, and
        audited (`settings.change`). `null` resets a setting to the environment value.
        400 naming the field for an unknown setting, a value out of bounds, or a
        `default_intent_days` above `max_intent_days`."""
        changes = {
            name: value
            for name, value in msgspec.structs.asdict(data).items()
            if value is not msgspec.UNSET
        }
        try:
            view = await change_settings(
                db, redis, runtime_settings.base, actor=actor_of(principal), changes=changes
            )
        except RuleViolation as exc:  # one status for every bad value in this body
            raise invalid(exc.field, exc.message, status=400) from None
        await runtime_settings.refresh(db)  # this process at once; the others within seconds
        return view
