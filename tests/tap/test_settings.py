"""Unit tests of tap_amplitude.settings: defaults, regions, the settings schema and the rules
beyond it."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from tap_amplitude.config_schema import CONFIG_SCHEMA, DEFAULT_START_DATE
from tap_amplitude.retry import RetryPolicy
from tap_amplitude.settings import SettingsError, parse_settings

from tests.tap.units import BASE


def test_settings_defaults_and_regions() -> None:
    settings = parse_settings(BASE)
    assert settings.base_url == "https://amplitude.com"
    assert settings.start_date == DEFAULT_START_DATE
    assert settings.request_time_range == 24
    assert (settings.export_lag_hours, settings.lookback_hours) == (3, 2)
    assert (settings.project_timezone, settings.dashboard_lookback_days) == ("UTC", 3)
    eu = parse_settings({**BASE, "data_region": "EU Residency Server"})
    assert eu.base_url == "https://analytics.eu.amplitude.com"
    proxied = parse_settings(
        {**BASE, "data_region": "EU Residency Server", "api_url": "http://x/eu/"}
    )
    assert proxied.base_url == "http://x/eu"
    assert settings.retry_policy == RetryPolicy(max_attempts=8, max_time=900, base=1, cap=60)
    assert "s-456" not in repr(settings)
    assert "k-123" not in repr(settings)


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"data_region": "Mars"}, "data_region"),
        ({"request_time_range": 0}, "request_time_range"),
        ({"request_time_range": 9000}, "request_time_range"),
        ({"api_url": "amplitude.com"}, "api_url"),
        ({"api_url": "https://amplitude.com/?x=1"}, "api_url"),
        ({"secret_key": ""}, "secret_key"),
        ({"api_key": "   "}, "api_key"),
        ({"lookback_hours": -1}, "lookback_hours"),
        ({"dashboard_lookback_days": "a few"}, "dashboard_lookback_days"),
        ({"request_timeout": 0.5}, "request_timeout"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"active_users_group_by_country": "maybe"}, "active_users_group_by_country"),
    ],
)
def test_the_schema_refuses_invalid_settings_naming_them(override: dict, setting: str) -> None:
    """Types, ranges, enums and patterns live in the schema (the SDK validates with it)."""
    errors = list(Draft202012Validator(CONFIG_SCHEMA).iter_errors({**BASE, **override}))
    assert {tuple(e.path) for e in errors} == {(setting,)}


def test_the_schema_accepts_the_defaults_and_a_valid_config() -> None:
    defaults = {k: v["default"] for k, v in CONFIG_SCHEMA["properties"].items() if "default" in v}
    valid = {**BASE, **defaults, "api_url": "http://127.0.0.1:8080/std", "end_date": "2026-01-01"}
    assert list(Draft202012Validator(CONFIG_SCHEMA).iter_errors(valid)) == []
    assert set(CONFIG_SCHEMA["required"]) == {"api_key", "secret_key"}


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"start_date": "01/02/2024"}, "start_date"),
        ({"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"}, "end_date"),
        ({"backoff_base_seconds": 10, "backoff_max_seconds": 5}, "backoff_max_seconds"),
        ({"project_timezone": "Pacific Standard Time"}, "project_timezone"),
        ({"project_timezone": "America/Nowhere"}, "project_timezone"),
        ({"batch_config": {"encoding": {"format": "jsonl"}}}, "batch_config"),
        ({"emit_activate_version_messages": True}, "emit_activate_version_messages"),
    ],
)
def test_rules_beyond_the_schema_are_named(override: dict, setting: str) -> None:
    """Only what a schema cannot state is checked in code (dates, time zones, cross-field)."""
    with pytest.raises(SettingsError, match=f"`{setting}`"):
        parse_settings({**BASE, **override})
