"""Operator-controlled runtime settings: reading, changing and following them.

A handful of ``config.Settings`` fields (``RUNTIME_SETTINGS``) may be changed by an operator
while everything runs (``PATCH /v1/admin/settings``, ``intentcast operator settings set``).
Each process keeps its environment's value (``INTENTCAST_*``, else the built-in default) as
the default; a value an operator set is stored in PostgreSQL (``store/runtime_settings.py``)
and overrides it on every process, API and workers alike, on every machine. Setting ``null``
removes the override, and each process falls back to its own environment value again.

How a change reaches every process within seconds, without a restart: each process holds one
``RuntimeSettings`` whose ``current`` is its effective ``Settings`` (environment overlaid with
the stored values). A change bumps a version counter in its transaction and, once committed,
publishes the new version on ``SETTINGS_CHANNEL``; every process re-reads the stored values
when that message arrives, and also compares the counter every ``POLL_S`` seconds, so a lost
message (Redis restarting, a process between reconnects) costs at most one poll period.

Validation uses ``Settings``' own field types (same names, same bounds), plus the rule
``default_intent_days <= max_intent_days`` across the effective values; every change is
written to the audit log (``settings.change``, old and new values) in its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Literal

import asyncpg
import msgspec
import redis.asyncio as redis

from intentcast.config import Settings
from intentcast.domain.errors import RuleViolation
from intentcast.services.audit import record_action
from intentcast.store.runtime_settings import RuntimeSettingsStore, StoredSetting

log = logging.getLogger(__name__)

__all__ = [
    "POLL_S",
    "RUNTIME_SETTINGS",
    "SETTINGS_CHANNEL",
    "RuntimeSettings",
    "SettingState",
    "SettingsPatch",
    "SettingsView",
    "change_settings",
    "describe_settings",
    "parse_setting",
    "read_settings",
]

RUNTIME_SETTINGS: tuple[str, ...] = (
    "auto_verify_vendors",
    "location_floor",
    "k_anonymity",
    "default_intent_days",
    "max_intent_days",
    "max_open_intents",
    "retention_days",
    "rate_limit",
    "webhook_disable_after_days",
)
"""The ``Settings`` fields an operator may change at run time (the rest need a restart)."""

SETTINGS_CHANNEL = "ic:settings"
"""Redis pub/sub channel: a change's new version, published after it committed."""

POLL_S = 3.0
"""How often each process compares the stored version with its own, whatever Redis says."""

AUDIT_TARGET = "settings"

Source = Literal["default", "environment", "operator"]

_FIELDS = {f.name: f for f in msgspec.structs.fields(Settings) if f.name in RUNTIME_SETTINGS}


class SettingState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One setting as the process answering sees it."""

    value: bool | int
    """The effective value."""
    source: Source
    """`operator` (set through this API or the CLI), `environment` (this process's
    `INTENTCAST_*` differs from the built-in default) or `default`."""
    reset_value: bool | int
    """What it would be without the operator's value (what `null` resets it to)."""
    changed_by: str | None = None
    """For `operator`: who set it (`opr_…`, or `cli:<user>`)."""
    changed_at: datetime | None = None
    """For `operator`: when."""


class SettingsView(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    """Grows with every change; each process follows it within seconds."""
    settings: dict[str, SettingState]
    """Every runtime setting by name."""


SettingsPatch = msgspec.defstruct(
    "SettingsPatch",
    [
        (name, field.type | None | msgspec.UnsetType, msgspec.UNSET)
        for name, field in _FIELDS.items()
    ],
    kw_only=True,
    forbid_unknown_fields=True,
    module=__name__,
)
SettingsPatch.__doc__ = (
    "Settings to change: a value sets it for every process at once (within seconds), `null` "
    "resets it to the environment value (or the built-in default); absent ones are left as "
    "they are. Same names and bounds as the `INTENTCAST_*` variables."
)


# ---- values --------------------------------------------------------------------------------


def _known(name: str) -> msgspec.structs.FieldInfo:
    field = _FIELDS.get(name)
    if field is None:
        raise RuleViolation(name, f"not a runtime setting (known: {', '.join(RUNTIME_SETTINGS)})")
    return field


def _convert(name: str, value: Any, *, strict: bool) -> Any:
    """``value`` as ``Settings.<name>`` accepts it, or a ``RuleViolation`` naming it."""
    field = _known(name)
    try:
        return msgspec.convert(value, field.type, strict=strict)
    except msgspec.ValidationError as exc:
        raise RuleViolation(name, str(exc).split(" - at ")[0]) from None


def parse_setting(name: str, text: str) -> Any:
    """A value typed on a command line (``true``/``on``/``yes``, ``7``) for ``name``."""
    lowered = text.strip().lower()
    raw: Any = {"yes": True, "on": True, "no": False, "off": False}.get(lowered, text.strip())
    return _convert(name, raw, strict=False)


def _builtin_default(name: str) -> Any:
    return _FIELDS[name].default


def _overlay(base: Settings, stored: Mapping[str, StoredSetting]) -> dict[str, Any]:
    """The effective value of each runtime setting, before the cross-setting rule. A stored
    value this version no longer accepts (bounds tightened since) is ignored, loudly."""
    values: dict[str, Any] = {}
    for name in RUNTIME_SETTINGS:
        value = getattr(base, name)
        if name in stored:
            try:
                value = _convert(name, stored[name].value, strict=True)
            except RuleViolation as exc:
                log.warning("ignoring the stored runtime setting %s: %s", name, exc.message)
        values[name] = value
    return values


def effective_settings(base: Settings, stored: Mapping[str, StoredSetting]) -> Settings:
    """``base`` (the environment) overlaid with the operator's stored values.

    Changes are refused when they would make ``default_intent_days`` exceed
    ``max_intent_days``, but a process started later with other environment values could
    still meet such a pair; it then uses the maximum as its default."""
    values = _overlay(base, stored)
    if values["default_intent_days"] > values["max_intent_days"]:
        log.warning(
            "default_intent_days %s exceeds max_intent_days %s; using %s",
            values["default_intent_days"],
            values["max_intent_days"],
            values["max_intent_days"],
        )
        values["default_intent_days"] = values["max_intent_days"]
    return msgspec.structs.replace(base, **values)


def describe_settings(
    base: Settings, version: int, stored: Mapping[str, StoredSetting]
) -> SettingsView:
    """What ``GET /v1/admin/settings`` answers: each setting's effective value, its source,
    and what a reset would give (this process's environment, else the built-in default)."""
    current = effective_settings(base, stored)
    states: dict[str, SettingState] = {}
    for name in RUNTIME_SETTINGS:
        reset_value = getattr(base, name)
        entry = stored.get(name)
        if entry is not None and _usable(name, entry):
            states[name] = SettingState(
                value=getattr(current, name),
                source="operator",
                reset_value=reset_value,
                changed_by=entry.changed_by,
                changed_at=entry.changed_at,
            )
            continue
        states[name] = SettingState(
            value=getattr(current, name),
            source="default" if reset_value == _builtin_default(name) else "environment",
            reset_value=reset_value,
        )
    return SettingsView(version=version, settings=states)


def _usable(name: str, entry: StoredSetting) -> bool:
    try:
        _convert(name, entry.value, strict=True)
    except RuleViolation:
        return False
    return True


# ---- use cases -----------------------------------------------------------------------------


async def read_settings(conn: asyncpg.Connection, base: Settings) -> SettingsView:
    """Every runtime setting as of now: effective value, where it comes from, who set it."""
    version, stored = await RuntimeSettingsStore(conn).snapshot()
    return describe_settings(base, version, stored)


async def change_settings(
    conn: asyncpg.Connection,
    client: redis.Redis,
    base: Settings,
    *,
    actor: str,
    changes: Mapping[str, Any],
) -> SettingsView:
    """Set (a value) or reset (``None``) each setting in ``changes``, audited, and tell every
    process. ``RuleViolation`` names the first field that is unknown or out of bounds, or
    the side of ``default_intent_days <= max_intent_days`` this change broke."""
    wanted: dict[str, Any] = {}
    for name, value in changes.items():
        _known(name)
        wanted[name] = None if value is None else _convert(name, value, strict=True)
    repo = RuntimeSettingsStore(conn)
    if not wanted:
        return await read_settings(conn, base)
    async with conn.transaction():
        version = await repo.lock_and_bump()
        _, before = await repo.snapshot()
        old = _overlay(base, before)
        for name, value in wanted.items():
            if value is None:
                await repo.delete(name)
            else:
                await repo.put(name, value, actor)
        _, after = await repo.snapshot()
        new = _overlay(base, after)
        if new["default_intent_days"] > new["max_intent_days"]:
            field = "default_intent_days" if "default_intent_days" in wanted else "max_intent_days"
            raise RuleViolation(
                field,
                f"default_intent_days ({new['default_intent_days']}) must not exceed "
                f"max_intent_days ({new['max_intent_days']})",
            )
        await record_action(
            conn,
            actor=actor,
            action="settings.change",
            target=AUDIT_TARGET,
            details={
                "old": {name: old[name] for name in wanted},
                "new": {name: new[name] for name in wanted},
                **(
                    {"reset": sorted(n for n, v in wanted.items() if v is None)}
                    if any(v is None for v in wanted.values())
                    else {}
                ),
            },
        )
    await _announce(client, version)
    return describe_settings(base, version, after)


async def _announce(client: redis.Redis, version: int) -> None:
    """Best effort: a process that misses this finds the new version at its next poll."""
    try:
        await client.publish(SETTINGS_CHANNEL, str(version))
    except Exception as exc:  # no Redis (the CLI with no server running), or it is down
        log.debug("settings version %d not announced (%s); processes poll for it", version, exc)


# ---- following the stored values in a running process ---------------------------------------


class RuntimeSettings:
    """One per process: ``current`` is the effective ``Settings`` (``base``, the process's
    environment, overlaid with the operator's values), kept current while ``following``."""

    def __init__(self, base: Settings, *, poll_s: float = POLL_S) -> None:
        self.base = base
        self.current = base
        self.version: int | None = None
        self.poll_s = poll_s
        self._followers = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def refresh(self, conn: asyncpg.Connection) -> bool:
        """Re-read the stored values if their version moved; True when it did."""
        repo = RuntimeSettingsStore(conn)
        if self.version is not None and await repo.version() == self.version:
            return False
        version, stored = await repo.snapshot()
        previous = self.current
        self.current = effective_settings(self.base, stored)
        self.version = version
        changed = [n for n in RUNTIME_SETTINGS if getattr(previous, n) != getattr(self.current, n)]
        if changed:
            log.info(
                "runtime settings at version %d: %s",
                version,
                ", ".join(f"{n}={getattr(self.current, n)}" for n in changed),
            )
        return True

    @contextlib.asynccontextmanager
    async def following(self, pool: asyncpg.Pool, client: redis.Redis) -> AsyncIterator[None]:
        """Load the stored values, then follow them until the block ends. Nested or
        concurrent blocks (several worker roles in one process) share one follower."""
        if self._followers == 0:
            async with pool.acquire() as conn:
                await self.refresh(conn)
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._follow(pool, client), name="runtime-settings")
        self._followers += 1
        try:
            yield
        finally:
            self._followers -= 1
            if self._followers == 0 and self._task is not None:
                self._stopping.set()
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._task), self.poll_s)
                self._task = None

    async def _refresh_from(self, pool: asyncpg.Pool) -> None:
        try:
            async with pool.acquire() as conn:
                await self.refresh(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # PostgreSQL away: keep the values we have, retry
            log.warning("could not refresh the runtime settings (%s)", exc)

    async def _follow(self, pool: asyncpg.Pool, client: redis.Redis) -> None:
        """Refresh on every announcement, and at least every ``poll_s`` seconds."""
        while not self._stopping.is_set():
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(SETTINGS_CHANNEL)
                while not self._stopping.is_set():
                    await self._refresh_from(pool)
                    await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep polling PostgreSQL meanwhile
                log.warning("runtime settings lost Redis (%s); polling", exc)
                await self._refresh_from(pool)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.poll_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
