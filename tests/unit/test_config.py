"""Settings from INTENTCAST_* variables: types, defaults, and errors naming the variable."""

from __future__ import annotations

import pytest

from intentcast.config import ConfigError, load_settings


def test_defaults_are_embedded_local() -> None:
    settings = load_settings({})
    assert settings.embedded
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.location_floor == 7 and settings.max_open_intents == 20


def test_values_are_parsed_from_strings() -> None:
    settings = load_settings(
        {
            "INTENTCAST_PORT": "9001",
            "INTENTCAST_AUTO_VERIFY_VENDORS": "true",
            "INTENTCAST_WEBHOOK_ALLOW_LOOPBACK": "yes",
            "INTENTCAST_LOG_LEVEL": "debug",
            "PATH": "/usr/bin",
        }
    )
    assert settings.port == 9001 and settings.auto_verify_vendors
    assert settings.webhook_allow_loopback and settings.log_level == "debug"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"INTENTCAST_PORT": "eighty"}, "INTENTCAST_PORT"),
        ({"INTENTCAST_PORT": "70000"}, "INTENTCAST_PORT"),
        ({"INTENTCAST_LOCATION_FLOOR": "16"}, "INTENTCAST_LOCATION_FLOOR"),
        ({"INTENTCAST_AUTO_VERIFY_VENDORS": "perhaps"}, "INTENTCAST_AUTO_VERIFY_VENDORS"),
        ({"INTENTCAST_LOG_LEVEL": "loud"}, "INTENTCAST_LOG_LEVEL"),
        ({"INTENTCAST_DATABSE_URL": "postgresql://x"}, "INTENTCAST_DATABSE_URL"),
        ({"INTENTCAST_DEFAULT_INTENT_DAYS": "100"}, "INTENTCAST_DEFAULT_INTENT_DAYS"),
    ],
)
def test_bad_values_fail_naming_the_variable(env, named) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_env_round_trips_for_child_processes() -> None:
    settings = load_settings({"INTENTCAST_PORT": "9002", "INTENTCAST_RATE_LIMIT": "60"})
    assert load_settings(settings.env()) == settings
