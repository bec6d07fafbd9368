"""The runtime settings page: each setting's effective value, where it comes from, its
bounds and what a reset gives, and a form changing or resetting some — validated by the
API's ``SettingsPatch`` (``Settings``' own types and bounds) and applied by
``services.runtime_settings.change_settings`` (the cross-setting rule, the audit entry, every
process told), as ``PATCH /v1/admin/settings`` does. Only the settings whose value the form
changes are sent, so saving an untouched form changes (and audits) nothing."""

from __future__ import annotations

import functools
import re
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from redis.asyncio import Redis

from intentcast.api.admin.common import actor_of
from intentcast.domain.errors import RuleViolation
from intentcast.services.runtime_settings import (
    RUNTIME_SETTINGS,
    RuntimeSettings,
    SettingsPatch,
    change_settings,
    read_settings,
)
from intentcast.store.accounts import Principal
from intentcast.web.forms import form_fields, form_list
from intentcast.web.operator.common import (
    REQUIRES_OPERATOR,
    field_errors,
    operator_page,
    see_other,
)

LABELS = {
    "auto_verify_vendors": "Verify new vendors automatically",
    "location_floor": "Location floor (finest H3 resolution vendors see)",
    "k_anonymity": "k-anonymity: buyers who must share what vendors see (1: off)",
    "max_open_intents": "Open intents per buyer, at most",
    "rate_limit": "Requests per minute per token (0: no limit)",
    "default_intent_days": "Default intent lifetime in days",
    "max_intent_days": "Longest intent lifetime in days",
    "retention_days": "Days a closed intent keeps its text",
    "webhook_disable_after_days": "Disable a failing webhook after this many days (0: never)",
}
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")


@functools.cache
def setting_kinds() -> dict[str, dict[str, Any]]:
    """Each runtime setting's input: ``bool`` or ``int`` with its bounds, read from the
    API's ``SettingsPatch`` (which takes them from ``Settings``)."""
    kinds: dict[str, dict[str, Any]] = {}
    for field in msgspec.inspect.type_info(SettingsPatch).fields:  # type: ignore[union-attr]
        types = getattr(field.type, "types", (field.type,))
        kind: dict[str, Any] = {"type": "bool", "min": None, "max": None}
        for t in types:
            if isinstance(t, msgspec.inspect.IntType):
                kind = {"type": "int", "min": t.ge, "max": t.le}
        kinds[field.name] = kind
    return kinds


class OperatorSettingsPages(Controller):
    path = "/operator/settings"
    include_in_schema = False
    dependencies = REQUIRES_OPERATOR

    @get("/")
    async def show(
        self,
        operator: Principal,
        db: asyncpg.Connection,
        runtime_settings: RuntimeSettings,
        done: str | None = None,
    ) -> Any:
        return await _settings_page(db, operator, runtime_settings, done=done)

    @post("/", status_code=303)
    async def change(
        self,
        request: Request[Any, Any, Any],
        operator: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        runtime_settings: RuntimeSettings,
    ) -> Any:
        submitted = await request.form()
        names = [n for n in RUNTIME_SETTINGS if n in submitted]
        form = await form_fields(request, names)
        resets = [n for n in await form_list(request, "reset") if n in RUNTIME_SETTINGS]
        kinds = setting_kinds()
        raw: dict[str, Any] = {}
        for name in names:
            if name in resets:
                continue
            text = form[name].strip()
            if kinds[name]["type"] == "int" and not _WHOLE_NUMBER.fullmatch(text):
                return await _settings_page(
                    db,
                    operator,
                    runtime_settings,
                    status=422,
                    form=form,
                    errors={name: "must be a whole number"},
                )
            raw[name] = text
        try:
            patch = msgspec.convert(raw, SettingsPatch, strict=False)
        except msgspec.ValidationError as exc:
            return await _settings_page(
                db, operator, runtime_settings, status=422, form=form, errors=field_errors(exc)
            )
        current = await read_settings(db, runtime_settings.base)
        changes: dict[str, Any] = {
            name: value
            for name, value in msgspec.structs.asdict(patch).items()
            if value is not msgspec.UNSET and value != current.settings[name].value
        }
        changes.update({n: None for n in resets if current.settings[n].source == "operator"})
        if not changes:
            return see_other("/operator/settings?done=unchanged")
        try:
            await change_settings(
                db, redis, runtime_settings.base, actor=actor_of(operator), changes=changes
            )
        except RuleViolation as exc:
            return await _settings_page(
                db,
                operator,
                runtime_settings,
                status=422,
                form=form,
                errors={exc.field: exc.message},
            )
        await runtime_settings.refresh(db)  # this process at once; the others within seconds
        return see_other("/operator/settings?done=saved")


async def _settings_page(
    db: asyncpg.Connection,
    operator: Principal,
    runtime_settings: RuntimeSettings,
    *,
    status: int = 200,
    done: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Any:
    view = await read_settings(db, runtime_settings.base)
    kinds = setting_kinds()
    rows = []
    for name, state in view.settings.items():
        shown = (form or {}).get(name)
        if shown is None:
            shown = str(state.value).lower() if kinds[name]["type"] == "bool" else str(state.value)
        rows.append(
            {
                "name": name,
                "label": LABELS.get(name, name.replace("_", " ").capitalize()),
                "state": state,
                "kind": kinds[name],
                "shown": shown,
                "error": (errors or {}).get(name),
            }
        )
    return operator_page(
        "settings.html",
        operator,
        status=status,
        done=done,
        rows=rows,
        version=view.version,
        errors=errors or {},
    )
