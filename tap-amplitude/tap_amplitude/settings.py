"""Parse and validate the tap's settings into a frozen value (pure, no I/O).

Every check runs before the first request, and every error names the setting to fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_amplitude.timestamps import InvalidTimestampError, parse_iso_utc

__all__ = [
    "DEFAULT_START_DATE",
    "REGION_URLS",
    "Settings",
    "SettingsError",
    "parse_datetime_setting",
    "parse_settings",
]

STANDARD_REGION = "Standard Server"
EU_REGION = "EU Residency Server"
REGION_URLS = {
    STANDARD_REGION: "https://amplitude.com",
    EU_REGION: "https://analytics.eu.amplitude.com",
}
# Amplitude was founded in 2012: no project holds data before this, so "all data" starts here.
DEFAULT_START_DATE = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
MAX_CONCURRENCY = 5  # Amplitude's limit of concurrent REST requests per project
# Amplitude documents hour H as exportable at H+3h ("data sent between 8 and 9 PM begins loading
# at 9 PM and is available through the Export API at 11 PM"): export_lag_hours=2 reads it then,
# with no margin. The default adds one hour of margin; lookback_hours re-reads the recent hours.
DOCUMENTED_EXPORT_LAG_HOURS = 2
DEFAULT_EXPORT_LAG_HOURS = DOCUMENTED_EXPORT_LAG_HOURS + 1
DEFAULT_LOOKBACK_HOURS = 2
DEFAULT_DASHBOARD_LOOKBACK_DAYS = 3
# SDK options this tap does not implement: refused by name rather than silently half-working.
UNSUPPORTED_SDK_SETTINGS = {
    "batch_config": (
        "is not supported: tap-amplitude writes RECORD messages only, so that a bookmark is "
        "never written before the records it covers. Remove batch_config"
    ),
    "emit_activate_version_messages": (
        "is not supported: tap-amplitude does not send ACTIVATE_VERSION messages. Remove it"
    ),
}


class SettingsError(ValueError):
    """An invalid setting; the message names it and says what is expected."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"Invalid setting `{setting}`: {problem}")


@dataclass(frozen=True)
class Settings:
    """Validated settings. Secrets are excluded from repr so they never reach a log."""

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    base_url: str
    data_region: str
    start_date: dt.datetime
    start_date_is_default: bool
    end_date: dt.datetime | None
    request_time_range: int
    export_lag_hours: int
    lookback_hours: int
    project_timezone: str
    dashboard_lookback_days: int
    active_users_group_by_country: bool
    request_timeout: float
    export_timeout: float
    max_attempts: int
    max_retry_time: float
    backoff_base: float
    backoff_max: float
    max_concurrent_requests: int

    @property
    def zone(self) -> ZoneInfo:
        """The project's time zone (the Dashboard REST API's days are days there)."""
        return ZoneInfo(self.project_timezone)

    def url(self, path: str) -> str:
        """Absolute URL of an API path such as ``/api/2/export``."""
        return self.base_url + path


def parse_datetime_setting(name: str, value: Any) -> dt.datetime:
    """Parse an RFC 3339 date-time (or a plain date) into an aware UTC datetime."""
    expected = f"expected an RFC 3339 date-time like 2024-01-31T00:00:00Z, got {value!r}"
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(name, expected)
    try:
        return parse_iso_utc(value)
    except InvalidTimestampError:
        raise SettingsError(name, expected) from None


def _int(config: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = config.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SettingsError(name, f"expected a whole number from {low} to {high}, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(
            name, f"expected a whole number from {low} to {high}, got {value!r}"
        ) from None
    if not low <= number <= high:
        raise SettingsError(name, f"expected a whole number from {low} to {high}, got {number}")
    return number


def _float(config: Mapping[str, Any], name: str, default: float, low: float) -> float:
    value = config.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(name, f"expected a number of seconds, got {value!r}") from None
    if number < low:
        raise SettingsError(name, f"expected at least {low}, got {number}")
    return number


def _bool(config: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = config.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise SettingsError(name, f"expected true or false, got {value!r}")


def _timezone(config: Mapping[str, Any]) -> str:
    value = config.get("project_timezone")
    if value in (None, ""):
        return "UTC"
    expected = (
        "expected an IANA time zone name like America/Los_Angeles (copy it from Amplitude: "
        f"Settings > Projects > the project > General), got {value!r}"
    )
    if not isinstance(value, str):
        raise SettingsError("project_timezone", expected)
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("project_timezone", expected) from None
    return value.strip()


def _secret(config: Mapping[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(name, "is required (find it in Amplitude under Settings > Projects)")
    return value.strip()


def _base_url(config: Mapping[str, Any], region: str) -> str:
    api_url = config.get("api_url")
    if api_url in (None, ""):
        return REGION_URLS[region]
    if not isinstance(api_url, str):
        raise SettingsError(
            "api_url", f"expected a URL like https://amplitude.com, got {api_url!r}"
        )
    parts = urlsplit(api_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(
            "api_url", f"expected a URL like https://amplitude.com, got {api_url!r}"
        )
    if parts.query or parts.fragment:
        raise SettingsError("api_url", "must not carry a query string or fragment")
    return api_url.strip().rstrip("/")


def parse_settings(config: Mapping[str, Any]) -> Settings:
    """Validate ``config`` (the tap's config dict) into :class:`Settings`.

    Raises:
        SettingsError: the first invalid setting, named.
    """
    for name, problem in UNSUPPORTED_SDK_SETTINGS.items():
        if config.get(name):
            raise SettingsError(name, problem)
    api_key = _secret(config, "api_key")
    secret_key = _secret(config, "secret_key")
    region = config.get("data_region") or STANDARD_REGION
    if region not in REGION_URLS:
        raise SettingsError("data_region", f"expected one of {sorted(REGION_URLS)}, got {region!r}")
    start_date = (
        parse_datetime_setting("start_date", config["start_date"])
        if config.get("start_date")
        else DEFAULT_START_DATE
    )
    end_date = (
        parse_datetime_setting("end_date", config["end_date"]) if config.get("end_date") else None
    )
    if end_date is not None and end_date <= start_date:
        raise SettingsError(
            "end_date",
            f"{end_date:%Y-%m-%dT%H:%M:%SZ} is not after "
            f"start_date {start_date:%Y-%m-%dT%H:%M:%SZ}",
        )
    backoff_base = _float(config, "backoff_base_seconds", 1.0, 0.0)
    backoff_max = _float(config, "backoff_max_seconds", 60.0, 0.0)
    if backoff_max < backoff_base:
        raise SettingsError("backoff_max_seconds", "must not be lower than backoff_base_seconds")
    return Settings(
        api_key=api_key,
        secret_key=secret_key,
        base_url=_base_url(config, region),
        data_region=region,
        start_date=start_date,
        start_date_is_default=not config.get("start_date"),
        end_date=end_date,
        request_time_range=_int(config, "request_time_range", 24, 1, 8760),
        export_lag_hours=_int(config, "export_lag_hours", DEFAULT_EXPORT_LAG_HOURS, 0, 168),
        lookback_hours=_int(config, "lookback_hours", DEFAULT_LOOKBACK_HOURS, 0, 168),
        project_timezone=_timezone(config),
        dashboard_lookback_days=_int(
            config, "dashboard_lookback_days", DEFAULT_DASHBOARD_LOOKBACK_DAYS, 0, 365
        ),
        active_users_group_by_country=_bool(config, "active_users_group_by_country", default=True),
        request_timeout=_float(config, "request_timeout", 60.0, 1.0),
        export_timeout=_float(config, "export_timeout", 180.0, 1.0),
        max_attempts=_int(config, "max_attempts", 8, 1, 100),
        max_retry_time=_float(config, "max_retry_time", 900.0, 0.0),
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        max_concurrent_requests=_int(
            config, "max_concurrent_requests", MAX_CONCURRENCY, 1, MAX_CONCURRENCY
        ),
    )
