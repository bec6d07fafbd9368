"""Settings: one frozen Struct read from ``INTENTCAST_*`` environment variables, once.

Every process (API, workers, CLI) reads the same variables. An unknown ``INTENTCAST_*``
variable or a malformed value stops the process at start with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

ENV_PREFIX = "INTENTCAST_"

CLIENT_VARIABLES = frozenset({"token", "url", "operator_token"})
"""``INTENTCAST_*`` variables of the client-side commands (``intentcast mcp``'s token and
server URL, ``intentcast demo --url``'s operator token): not server settings, and no reason
to stop a server started in the same shell."""

LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Process configuration. Field ``x`` is read from ``INTENTCAST_X``."""

    database_url: str | None = None
    """PostgreSQL URL; unset means an embedded PostgreSQL in ``data_dir``."""
    redis_url: str | None = None
    """Redis URL; unset means an embedded Redis in ``data_dir``."""
    data_dir: str = ".intentcast"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    web_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    public_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#\s]+/?$")] | None = None
    """The site's address as browsers see it (``https://market.example``, no path):
    passkeys belong to its host name and are accepted from its origin only. Unset: the
    address each request was sent to, right for a browser on this machine
    (``http://localhost:8000``); set it behind a proxy or TLS terminator."""
    secret_key: str | None = None
    """base64 (url-safe or standard) of 32 random bytes; unset in embedded mode means a key
    generated once into ``data_dir/secret.key``."""
    secret_key_file: str | None = None
    """A file holding the server key (what ``secret_key`` would hold). ``intentcast serve``
    hands its children the data dir's key file this way, so the key itself is in no
    process environment."""
    log_level: LogLevel = "info"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line from every process (``intentcast.logs``)."""
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """``intentcast worker``: serve ``/metrics`` and ``/health`` on this port; 0: none."""
    auto_verify_vendors: bool = False
    webhook_allow_loopback: bool = False
    location_floor: Annotated[int, msgspec.Meta(ge=0, le=15)] = 7
    k_anonymity: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3
    """Vendors see an intent's category and location only as precisely as at least this many
    distinct buyers' open intents share them (``domain/kanon.py``); 1 turns it off."""
    max_open_intents: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    rate_limit: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Requests per minute per token (or client address when anonymous); 0 disables."""
    default_intent_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 14
    max_intent_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 90
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 30
    """Days a closed intent keeps its free text (and its threads their messages); 0 purges
    at the scheduler's next pass."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=100_000_000)] = 1_048_576
    db_pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10
    redelivery_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 30
    """Work not acknowledged for this long is handed out again (crashed worker, lost Redis)."""
    webhook_disable_after_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 5
    """A webhook endpoint whose deliveries have all failed over this many days is disabled
    (its vendor hears ``webhook.disabled``); 0 never disables (410 Gone still does)."""
    insights_epsilon: Annotated[float, msgspec.Meta(gt=0, le=10)] = 1.0
    """Differential privacy: the ε one demand-insights release spends (``services/insights.py``)."""
    insights_budget: Annotated[float, msgspec.Meta(gt=0, le=100)] = 4.0
    """The ε each vendor (and the operators together) may spend on insights per calendar week."""

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def env(self) -> dict[str, str]:
        """These settings as ``INTENTCAST_*`` variables, for child processes."""
        out: dict[str, str] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            out[ENV_PREFIX + name.upper()] = str(value)
        return out


class ConfigError(ValueError):
    """A setting is unknown or malformed; the message names the variable."""


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``), then apply ``overrides``."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    known = set(Settings.__struct_fields__)
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in CLIENT_VARIABLES:
            continue
        if name not in known:
            raise ConfigError(f"{key} is not a known setting (known: {_known_names(known)})")
        raw[name] = _normalise(value)
    raw.update(overrides)
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_name_variable(str(exc))) from None
    if settings.default_intent_days > settings.max_intent_days:
        raise ConfigError(
            "INTENTCAST_DEFAULT_INTENT_DAYS must not exceed INTENTCAST_MAX_INTENT_DAYS"
        )
    return settings


def _normalise(value: str) -> object:
    lowered = value.strip().lower()
    if lowered in {"yes", "on"}:
        return True
    if lowered in {"no", "off"}:
        return False
    return value.strip()


def _known_names(known: set[str]) -> str:
    return ", ".join(ENV_PREFIX + n.upper() for n in sorted(known))


def _name_variable(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the variable instead.
    if " - at `$." in message:
        text, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0]
        return f"{ENV_PREFIX}{field.upper()}: {text}"
    return message
