"""tap-amplitude: the Tap class, its settings schema and its command line."""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cached_property
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities

from tap_amplitude.client import AmplitudeClient
from tap_amplitude.errors import AmplitudeError
from tap_amplitude.output import BufferedMsgSpecWriter
from tap_amplitude.settings import (
    DEFAULT_DASHBOARD_LOOKBACK_DAYS,
    DEFAULT_EXPORT_LAG_HOURS,
    DEFAULT_LOOKBACK_HOURS,
    DEFAULT_START_DATE,
    EU_REGION,
    MAX_CONCURRENCY,
    STANDARD_REGION,
    Settings,
    SettingsError,
    parse_settings,
)
from tap_amplitude.streams import STREAM_TYPES

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        title="API Key",
        description="The project's API key (Amplitude > Settings > Projects > the project).",
    ),
    th.Property(
        "secret_key",
        th.StringType,
        required=True,
        secret=True,
        title="Secret Key",
        description="The project's secret key, next to the API key.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start Date",
        description=(
            "RFC 3339 date-time (e.g. 2024-01-31T00:00:00Z); events uploaded and days on or "
            "after it are replicated. When it is later than the saved state, it wins. Default: "
            f"{DEFAULT_START_DATE:%Y-%m-%d} (Amplitude's founding), i.e. all data."
        ),
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        title="End Date",
        description=(
            "Optional RFC 3339 upper bound (exclusive), e.g. to split a backfill across parallel "
            "jobs. Events are read in whole UTC hours: start_date and end_date are both rounded "
            "down to the hour, so slices that meet at any instant never read the same hour."
        ),
    ),
    th.Property(
        "data_region",
        th.StringType,
        default=STANDARD_REGION,
        allowed_values=[STANDARD_REGION, EU_REGION],
        title="Data Region",
        description=(
            "Region of the project: 'Standard Server' (amplitude.com) or 'EU Residency Server' "
            "(analytics.eu.amplitude.com)."
        ),
    ),
    th.Property(
        "request_time_range",
        th.IntegerType,
        default=24,
        title="Request Time Range",
        description=(
            "Hours of events per Export API request (1 to 8760). Lower it for very busy "
            "projects; windows that are too large are halved automatically."
        ),
    ),
    th.Property(
        "export_lag_hours",
        th.IntegerType,
        default=DEFAULT_EXPORT_LAG_HOURS,
        title="Export Lag Hours",
        description=(
            "Hours after an hour ends before it is exported (0 to 168). Amplitude documents an "
            "hour as exportable 2 hours after it ends; the default 3 adds one hour of margin."
        ),
    ),
    th.Property(
        "lookback_hours",
        th.IntegerType,
        default=DEFAULT_LOOKBACK_HOURS,
        title="Lookback Hours",
        description=(
            "Hours read again by the next run when they were read less than export_lag_hours "
            "plus this after they ended, in case Amplitude was still loading them (0 to 168). "
            "Events read twice keep their uuid: merge targets deduplicate on it; append-only "
            "targets get those events twice (set 0 there and raise export_lag_hours instead)."
        ),
    ),
    th.Property(
        "project_timezone",
        th.StringType,
        default="UTC",
        title="Project Time Zone",
        description=(
            "The project's time zone, an IANA name like America/Los_Angeles: copy it from "
            "Amplitude's project settings. The dashboard streams' days are days in this zone."
        ),
    ),
    th.Property(
        "dashboard_lookback_days",
        th.IntegerType,
        default=DEFAULT_DASHBOARD_LOOKBACK_DAYS,
        title="Dashboard Lookback Days",
        description=(
            "Days before the bookmarked day that active_users and average_session_length read "
            "again on each run: late events change recent days' figures (0 to 365)."
        ),
    ),
    th.Property(
        "active_users_group_by_country",
        th.BooleanType,
        default=True,
        title="Active Users Group by Country",
        description=(
            "Group the active_users stream by country. Set to false if Amplitude answers "
            "'Invalid user property country'."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType,
        title="API URL",
        description=(
            "Optional base URL replacing https://amplitude.com or "
            "https://analytics.eu.amplitude.com (a proxy, a local emulator); the API paths "
            "are appended. When set it wins over data_region."
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=60,
        title="Request Timeout",
        description="Seconds to wait for a Dashboard REST, annotations or cohorts response.",
    ),
    th.Property(
        "export_timeout",
        th.NumberType,
        default=180,
        title="Export Timeout",
        description="Seconds to wait for Export API data (exports can take minutes to start).",
    ),
    th.Property(
        "max_attempts",
        th.IntegerType,
        default=8,
        title="Max Attempts",
        description="Attempts per request on 429, 5xx, timeouts and dropped connections.",
    ),
    th.Property(
        "max_retry_time",
        th.NumberType,
        default=900,
        title="Max Retry Time",
        description="Seconds after which a request that keeps failing transiently gives up.",
    ),
    th.Property(
        "backoff_base_seconds",
        th.NumberType,
        default=1.0,
        title="Backoff Base Seconds",
        description=(
            "First retry delay ceiling; it doubles per attempt (full jitter). A Retry-After "
            "header from Amplitude is honoured instead."
        ),
    ),
    th.Property(
        "backoff_max_seconds",
        th.NumberType,
        default=60.0,
        title="Backoff Max Seconds",
        description="Upper bound of a single retry delay (without Retry-After).",
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType,
        default=MAX_CONCURRENCY,
        title="Max Concurrent Requests",
        description=(
            f"Concurrent requests per project (1 to {MAX_CONCURRENCY}, Amplitude's limit for "
            "its REST APIs)."
        ),
    ),
).to_dict()


class TapAmplitude(Tap):
    """Singer tap for Amplitude: events (Export API), dashboard figures, annotations, cohorts."""

    name = "tap-amplitude"
    package_name = "singer-tap-amplitude"  # the distribution on PyPI: --about reads its version
    config_jsonschema = CONFIG_SCHEMA
    # Not advertised: `batch` (the SDK would write every window's bookmark before the one BATCH
    # message holding the records) and `activate-version` (no stream sends it). Checked against
    # singer-sdk 0.54's default list; settings.UNSUPPORTED_SDK_SETTINGS refuses their options.
    capabilities = [  # noqa: RUF012 - the SDK declares it as a ClassVar list
        capability
        for capability in Tap.capabilities
        if capability not in (PluginCapabilities.BATCH, TapCapabilities.ACTIVATE_VERSION)
    ]
    message_writer_class = BufferedMsgSpecWriter

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=raise_errors)
        try:
            parse_settings(self.config)
        except SettingsError as exc:
            if raise_errors:
                raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
            errors.append(str(exc))
        return errors

    @cached_property
    def settings(self) -> Settings:
        """The validated settings (raises a clear ConfigValidationError when invalid)."""
        try:
            return parse_settings(self.config)
        except SettingsError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None

    @cached_property
    def client(self) -> AmplitudeClient:
        """The one HTTP client all streams share."""
        return AmplitudeClient(self.settings, logger=self.logger)

    def discover_streams(self) -> list[Stream]:
        """The six streams (the catalog is static)."""
        return [stream_type(self) for stream_type in STREAM_TYPES]

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the tap; an Amplitude error ends it with one clear message and exit code 1."""
        try:
            super().invoke(*args, **kwargs)
        except AmplitudeError as exc:
            _fail(cls, exc)
        except BrokenPipeError:
            # The consumer of stdout (the target) exited: its own log says why.
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - no flush error at exit
            cls.logger.error(
                "The process reading the tap's output (the target) stopped reading; see its "
                "log for why. The state it last emitted is where a re-run resumes."
            )
            sys.exit(1)

    @classmethod
    def cb_test(cls, ctx: Any, param: Any, value: str) -> None:
        """``--test``: the SDK's connection check, failing with one clear message."""
        try:
            super().cb_test(ctx, param, value)
        except AmplitudeError as exc:
            _fail(cls, exc, prefix="Connection test failed: ")


def _fail(cls: type[TapAmplitude], exc: AmplitudeError, prefix: str = "") -> None:
    cls.logger.error("%s%s", prefix, exc)
    sys.stdout.flush()
    sys.exit(1)


if __name__ == "__main__":
    TapAmplitude.cli()
