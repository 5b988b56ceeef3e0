"""The tap's settings: a thin typed view of the config the SDK checked against the JSON schema
(config_schema.py, the one source of truth, as in the target).

:func:`parse_settings` only converts (dates, the base URL, the time zone) and applies the rules
that span settings or that a schema cannot state; each error names the setting to fix. Nothing
here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_amplitude.config_schema import (
    BUILT_IN_STREAMS,
    CONFIG_SCHEMA,
    DEFAULT_START_DATE,
    UNSUPPORTED_SDK_SETTINGS,
)
from tap_amplitude.dashboard_query_kinds import DashboardQuery, QueryError, parse_query
from tap_amplitude.regions import base_url
from tap_amplitude.retry import RetryPolicy
from tap_amplitude.storage.location import StorageLocation
from tap_amplitude.storage.settings import (
    StorageSettings,
    parse_storage_settings,
)
from tap_amplitude.timestamps import InvalidTimestampError, parse_iso_utc

__all__ = [
    "SavedChart",
    "SettingsError",
    "TapSettings",
    "parse_datetime_setting",
    "parse_settings",
    "setting",
]


class SettingsError(ValueError):
    """An invalid setting; the message names it and says what is expected."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"Invalid setting `{setting}`: {problem}")


@dataclass(frozen=True)
class SavedChart:
    """One item of the setting ``charts``."""

    name: str
    chart_id: str


@dataclass(frozen=True)
class TapSettings:
    """The settings, converted. Secrets are excluded from repr so they never reach a log.

    No defaults here: they live in :data:`CONFIG_SCHEMA` only.
    """

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    base_url: str
    data_region: str
    start_date: dt.datetime
    start_date_is_default: bool
    end_date: dt.datetime | None
    request_time_range: int
    export_prefetch_windows: int
    export_lag_hours: int
    lookback_hours: int
    project_timezone: str
    dashboard_lookback_days: int
    active_users_group_by_country: bool
    request_timeout: float
    export_timeout: float
    retry_policy: RetryPolicy
    cohort_ids: tuple[str, ...] | None
    cohort_member_properties: tuple[str, ...]
    max_cohort_downloads_per_run: int
    cohort_poll_timeout: float
    charts: tuple[SavedChart, ...]
    dashboard_queries: tuple[DashboardQuery, ...]
    dashboard_cost_per_hour: int
    #: export_source and, for ``storage``, where and how to read (tap_amplitude.storage.settings)
    storage: StorageSettings

    @property
    def export_storage(self) -> StorageLocation | None:
        """The parsed ``export_storage_url`` (None with ``export_source: api``)."""
        return self.storage.location

    @property
    def zone(self) -> ZoneInfo:
        """The project's time zone (the Dashboard REST API's days are days there)."""
        return ZoneInfo(self.project_timezone)


def setting(config: Mapping[str, Any], name: str) -> Any:
    """The value of ``name``, or its schema default when unset or null (the SDK fills in
    defaults for unset keys only)."""
    value = config.get(name)
    return CONFIG_SCHEMA["properties"][name].get("default") if value is None else value


def parse_datetime_setting(name: str, value: Any) -> dt.datetime:
    """Parse an RFC 3339 date-time (or a plain date) into an aware UTC datetime.

    The SDK does not check ``format: date-time`` on config, so the value is checked here.
    """
    expected = f"expected an RFC 3339 date-time like 2024-01-31T00:00:00Z, got {value!r}"
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(name, expected)
    try:
        return parse_iso_utc(value)
    except InvalidTimestampError:
        raise SettingsError(name, expected) from None


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            "project_timezone",
            "expected an IANA time zone name like America/Los_Angeles (copy it from Amplitude: "
            f"Settings > Projects > the project > General), got {value!r}",
        ) from None
    return value.strip()


def parse_settings(config: Mapping[str, Any]) -> TapSettings:
    """Convert ``config`` (already validated against :data:`CONFIG_SCHEMA`) into
    :class:`TapSettings`, applying the rules a schema cannot state.

    Raises:
        SettingsError: the first invalid setting, named.
    """
    for name, problem in UNSUPPORTED_SDK_SETTINGS.items():
        if config.get(name):
            raise SettingsError(name, problem)
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
    backoff_base = float(setting(config, "backoff_base_seconds"))
    backoff_max = float(setting(config, "backoff_max_seconds"))
    if backoff_max < backoff_base:
        raise SettingsError("backoff_max_seconds", "must not be lower than backoff_base_seconds")
    region = setting(config, "data_region")
    return TapSettings(
        api_key=str(config["api_key"]).strip(),
        secret_key=str(config["secret_key"]).strip(),
        base_url=base_url(region, config.get("api_url")),
        data_region=region,
        start_date=start_date,
        start_date_is_default=not config.get("start_date"),
        end_date=end_date,
        request_time_range=int(setting(config, "request_time_range")),
        export_prefetch_windows=int(setting(config, "export_prefetch_windows")),
        export_lag_hours=int(setting(config, "export_lag_hours")),
        lookback_hours=int(setting(config, "lookback_hours")),
        project_timezone=_timezone(str(setting(config, "project_timezone"))),
        dashboard_lookback_days=int(setting(config, "dashboard_lookback_days")),
        active_users_group_by_country=bool(setting(config, "active_users_group_by_country")),
        request_timeout=float(setting(config, "request_timeout")),
        export_timeout=float(setting(config, "export_timeout")),
        retry_policy=RetryPolicy(
            max_attempts=int(setting(config, "max_attempts")),
            max_time=float(setting(config, "max_retry_time")),
            base=backoff_base,
            cap=backoff_max,
        ),
        cohort_ids=_distinct(config.get("cohort_ids")) or None,
        cohort_member_properties=_distinct(setting(config, "cohort_member_properties")) or (),
        max_cohort_downloads_per_run=int(setting(config, "max_cohort_downloads_per_run")),
        cohort_poll_timeout=float(setting(config, "cohort_poll_timeout")),
        **_declared_streams(config),
        storage=parse_storage_settings(config),
    )


def _declared_streams(config: Mapping[str, Any]) -> dict[str, Any]:
    """The charts and dashboard queries, checked: names unique and not a built-in stream's,
    every query's parameters valid (before any request)."""
    charts = tuple(
        SavedChart(str(item["name"]), str(item["chart_id"]).strip())
        for item in setting(config, "charts")
    )
    queries = []
    for item in setting(config, "dashboard_queries"):
        try:
            queries.append(parse_query(item))
        except QueryError as exc:
            raise SettingsError("dashboard_queries", str(exc)) from None
    budget = int(setting(config, "dashboard_cost_per_hour"))
    seen: set[str] = set()
    for name, where in [
        *((c.name, "charts") for c in charts),
        *((q.name, "dashboard_queries") for q in queries),
    ]:
        if name in BUILT_IN_STREAMS or name in seen:
            taken = "a built-in stream's" if name in BUILT_IN_STREAMS else "another stream's"
            raise SettingsError(where, f"the name {name!r} is {taken} name; choose another")
        seen.add(name)
    for query in queries:
        if query.cost_per_day > budget:
            raise SettingsError(
                "dashboard_cost_per_hour",
                f"one day of the query {query.name!r} costs {query.cost_per_day}, more than "
                f"{budget} per hour; raise it or simplify the query",
            )
    return {
        "charts": charts,
        "dashboard_queries": tuple(queries),
        "dashboard_cost_per_hour": budget,
    }


def _distinct(values: Any) -> tuple[str, ...] | None:
    """A list setting without blanks or repeats (None when unset)."""
    if values is None:
        return None
    return tuple(dict.fromkeys(str(value).strip() for value in values if str(value).strip()))
