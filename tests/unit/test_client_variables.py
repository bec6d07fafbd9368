"""The client-side commands' ``INTENTCAST_*`` variables (``intentcast mcp``'s token and URL,
``intentcast demo``'s operator token) do not stop a server started in the same shell, while
a misspelt setting still does."""

from __future__ import annotations

import pytest

from intentcast.config import ConfigError, load_settings


def test_client_variables_are_not_settings() -> None:
    settings = load_settings(
        {
            "INTENTCAST_TOKEN": "icb_x",
            "INTENTCAST_URL": "http://127.0.0.1:8000",
            "INTENTCAST_OPERATOR_TOKEN": "ico_x",
            "INTENTCAST_PORT": "8123",
        }
    )
    assert settings.port == 8123


def test_a_misspelt_setting_still_stops_the_process() -> None:
    with pytest.raises(ConfigError, match="INTENTCAST_TOKENS"):
        load_settings({"INTENTCAST_TOKENS": "icb_x"})
