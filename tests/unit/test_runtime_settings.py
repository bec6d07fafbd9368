"""The runtime settings' pure parts: which settings there are, how stored values overlay the
environment, how a command-line value is read, and where the GET says a value comes from."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from intentcast.config import Settings, load_settings
from intentcast.domain.errors import RuleViolation
from intentcast.services.runtime_settings import (
    RUNTIME_SETTINGS,
    SettingsPatch,
    describe_settings,
    effective_settings,
    parse_setting,
)
from intentcast.store.runtime_settings import StoredSetting

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def stored(**values: object) -> dict[str, StoredSetting]:
    return {
        name: StoredSetting(name=name, value=value, changed_by="opr_1", changed_at=AT)
        for name, value in values.items()
    }


def test_the_patch_body_has_the_settings_names_and_bounds() -> None:
    fields = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    patch_fields = {f.name: f.type for f in msgspec.structs.fields(SettingsPatch)}
    assert set(patch_fields) == set(RUNTIME_SETTINGS)
    for name, kind in patch_fields.items():
        assert kind == fields[name] | None | msgspec.UnsetType
    with pytest.raises(msgspec.ValidationError, match=r"location_floor"):
        msgspec.convert({"location_floor": 16}, SettingsPatch)
    with pytest.raises(msgspec.ValidationError, match=r"secret_key"):
        msgspec.convert({"secret_key": "x"}, SettingsPatch)
    assert msgspec.convert({"rate_limit": None}, SettingsPatch).rate_limit is None


def test_stored_values_override_the_environment_and_leave_the_rest() -> None:
    base = load_settings({}, location_floor=9, database_url="postgresql://db")
    current = effective_settings(base, stored(location_floor=5, auto_verify_vendors=True))
    assert current.location_floor == 5 and current.auto_verify_vendors is True
    assert current.database_url == "postgresql://db" and current.max_open_intents == 20


def test_a_stored_value_out_of_bounds_is_ignored() -> None:
    base = load_settings({}, location_floor=9)
    assert effective_settings(base, stored(location_floor=99)).location_floor == 9


def test_a_default_above_the_maximum_is_capped_at_the_maximum() -> None:
    """A process started with a larger environment default than an operator's maximum."""
    base = load_settings({}, default_intent_days=60, max_intent_days=90)
    current = effective_settings(base, stored(max_intent_days=30))
    assert (current.default_intent_days, current.max_intent_days) == (30, 30)


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("auto_verify_vendors", "true", True),
        ("auto_verify_vendors", "on", True),
        ("auto_verify_vendors", "No", False),
        ("location_floor", " 6 ", 6),
        ("rate_limit", "0", 0),
    ],
)
def test_command_line_values_are_read_like_the_environment(name, text, value) -> None:
    assert parse_setting(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [("location_floor", "16"), ("max_open_intents", "many"), ("port", "80"), ("nope", "1")],
)
def test_a_bad_command_line_value_names_the_setting(name, text) -> None:
    with pytest.raises(RuleViolation) as refused:
        parse_setting(name, text)
    assert refused.value.field == name


def test_the_view_says_where_each_value_comes_from() -> None:
    base = load_settings({}, retention_days=60)
    view = describe_settings(base, 4, stored(location_floor=5))
    assert view.version == 4
    floor = view.settings["location_floor"]
    assert (floor.value, floor.source, floor.reset_value) == (5, "operator", 7)
    assert (floor.changed_by, floor.changed_at) == ("opr_1", AT)
    retention = view.settings["retention_days"]
    assert (retention.value, retention.source, retention.changed_by) == (60, "environment", None)
    assert view.settings["rate_limit"].source == "default"
