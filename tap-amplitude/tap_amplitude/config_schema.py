"""The tap's settings as one JSON schema: types, ranges, enums, patterns, titles, defaults.

The one place a setting's rules and default live (as the target's config_schema.py). The SDK
validates every config against it and fills in the defaults before the tap starts; settings.py
adds only conversions and the rules that span settings. meltano.yml, docs/settings.md and the Hub
definition are checked against (or generated from) `tap-amplitude --about`, i.e. this schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from singer_sdk import typing as th

from tap_amplitude.dashboard_query_kinds import KINDS
from tap_amplitude.regions import API_URL_PATTERN, EU_REGION, REGIONS, STANDARD_REGION
from tap_amplitude.storage.settings import STORAGE_PROPERTIES

# Amplitude was founded in 2012: no project holds data before this, so "all data" starts here.
DEFAULT_START_DATE = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
# Amplitude documents hour H as exportable at H+3h ("data sent between 8 and 9 PM begins loading
# at 9 PM and is available through the Export API at 11 PM"): export_lag_hours=2 reads it then,
# with no margin. The default (3, in the schema) adds one hour of margin.
DOCUMENTED_EXPORT_LAG_HOURS = 2
# Amplitude allows 5 concurrent REST requests per project (Dashboard REST API, Rate limits; the
# Export API documents none): the window being read plus this many ahead stays within them.
MAX_EXPORT_PREFETCH_WINDOWS = 4
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
# Amplitude's Dashboard REST budget: "Rate Limit: Up to 108,000 cost per hour." (per project)
DASHBOARD_COST_PER_HOUR = 108_000
QUERY_KINDS = list(KINDS)
# Names of the streams a user declares (charts, dashboard queries): safe as table names.
STREAM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
BUILT_IN_STREAMS = frozenset(
    {
        "events",
        "active_users",
        "average_session_length",
        "annotations",
        "cohorts",
        "events_list",
        "cohort_members",
        "taxonomy_categories",
        "taxonomy_event_types",
        "taxonomy_event_properties",
        "taxonomy_user_properties",
        "taxonomy_group_properties",
        "deletion_jobs",
    }
)
# Settings of earlier versions that no longer do anything: ignored with a deprecation warning.
REMOVED_SETTINGS = {
    "max_concurrent_requests": (
        "the tap syncs its streams one request at a time, so the setting never had an effect"
    ),
}

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType(min_length=1, pattern=r"\S"),
        required=True,
        secret=True,
        title="API Key",
        description="The project's API key (Amplitude > Settings > Projects > the project).",
    ),
    th.Property(
        "secret_key",
        th.StringType(min_length=1, pattern=r"\S"),
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
        allowed_values=list(REGIONS),
        title="Data Region",
        description=(
            f"Region of the project: '{STANDARD_REGION}' (amplitude.com) or '{EU_REGION}' "
            "(analytics.eu.amplitude.com)."
        ),
    ),
    th.Property(
        "request_time_range",
        th.IntegerType(minimum=1, maximum=8760),
        default=24,
        title="Request Time Range (hours)",
        description=(
            "Hours of events per Export API request. Lower it for very busy projects; windows "
            "that are too large are halved automatically."
        ),
    ),
    th.Property(
        "export_prefetch_windows",
        th.IntegerType(minimum=0, maximum=MAX_EXPORT_PREFETCH_WINDOWS),
        default=2,
        title="Export Prefetch (windows)",
        description=(
            "Export windows requested and spooled to disk ahead of the one being read, so that "
            "Amplitude's time to assemble an export overlaps the reading of the previous one. "
            "At most this many plus one export requests run at once, and as many spooled files "
            f"exist. Maximum {MAX_EXPORT_PREFETCH_WINDOWS}: with the window being read, 5 "
            "requests, Amplitude's limit of concurrent REST requests per project (the tap's "
            "other streams never run at the same time; parallel jobs on one project add up). "
            "0 reads one window at a time."
        ),
    ),
    th.Property(
        "export_lag_hours",
        th.IntegerType(minimum=0, maximum=168),
        default=DOCUMENTED_EXPORT_LAG_HOURS + 1,
        title="Export Lag (hours)",
        description=(
            "Hours after an hour ends before it is exported. Amplitude documents an hour as "
            "exportable 2 hours after it ends; the default 3 adds one hour of margin."
        ),
    ),
    th.Property(
        "lookback_hours",
        th.IntegerType(minimum=0, maximum=168),
        default=2,
        title="Lookback (hours)",
        description=(
            "Hours read again by the next run when they were read less than export_lag_hours "
            "plus this after they ended, in case Amplitude was still loading them. "
            "Events read twice keep their uuid: merge targets deduplicate on it; append-only "
            "targets get those events twice (set 0 there and raise export_lag_hours instead)."
        ),
    ),
    *STORAGE_PROPERTIES,
    th.Property(
        "project_timezone",
        th.StringType(min_length=1),
        default="UTC",
        title="Project Time Zone",
        description=(
            "The project's time zone, an IANA name like America/Los_Angeles: copy it from "
            "Amplitude's project settings. The dashboard streams' days are days in this zone."
        ),
    ),
    th.Property(
        "dashboard_lookback_days",
        th.IntegerType(minimum=0, maximum=365),
        default=3,
        title="Dashboard Lookback (days)",
        description=(
            "Days before the bookmarked day that active_users, average_session_length and the "
            "dashboard_queries streams read again on each run: late events change recent days' "
            "figures."
        ),
    ),
    th.Property(
        "active_users_group_by_country",
        th.BooleanType,
        default=True,
        title="Active Users Grouped by Country",
        description=(
            "Group the active_users stream by country. Set to false if Amplitude answers "
            "'Invalid user property country'."
        ),
    ),
    th.Property(
        "charts",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType(pattern=STREAM_NAME_PATTERN), required=True),
                th.Property("chart_id", th.StringType(min_length=1), required=True),
                additional_properties=False,
            )
        ),
        default=[],
        title="Saved Charts",
        description=(
            "Saved charts to extract, each {name, chart_id}: one stream named `name` per chart "
            "(letters, digits, _), with the chart's own rows and columns "
            "(/api/3/chart/:chart_id/csv). chart_id is the id in the chart's URL. See "
            "docs/dashboard-queries.md."
        ),
    ),
    th.Property(
        "dashboard_queries",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType(pattern=STREAM_NAME_PATTERN), required=True),
                th.Property("kind", th.StringType, required=True, allowed_values=QUERY_KINDS),
                th.Property("params", th.ObjectType(), default={}),
                additional_properties=False,
            )
        ),
        default=[],
        title="Dashboard Queries",
        description=(
            "Dashboard REST queries to extract, each {name, kind, params}: one stream named "
            "`name`, incremental by day in project_timezone (re-reading dashboard_lookback_days). "
            f"kind: {', '.join(QUERY_KINDS)}; params: the endpoint's own query parameters "
            "except start and end. See docs/dashboard-queries.md."
        ),
    ),
    th.Property(
        "dashboard_cost_per_hour",
        th.IntegerType(minimum=1, maximum=DASHBOARD_COST_PER_HOUR),
        default=DASHBOARD_COST_PER_HOUR,
        title="Dashboard Query Cost per Hour",
        description=(
            "The share of the project's Dashboard REST budget (Amplitude: 108,000 cost per "
            "hour per project) the charts and dashboard queries may spend in any hour; the tap "
            "waits instead of passing it. Lower it when other jobs query the same project."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType(pattern=API_URL_PATTERN),
        title="API URL Override",
        description=(
            "Optional base URL replacing https://amplitude.com or "
            "https://analytics.eu.amplitude.com (a proxy, a local emulator); the API paths "
            "are appended. When set it wins over data_region. No query string or fragment."
        ),
    ),
    th.Property(
        "cohort_ids",
        th.ArrayType(th.StringType(min_length=1)),
        title="Cohort IDs",
        description=(
            "Ids of the cohorts whose members the cohort_members stream downloads (the id in "
            "the cohort's URL in Amplitude). Default: every cohort that is not archived."
        ),
    ),
    th.Property(
        "cohort_member_properties",
        th.ArrayType(th.StringType(min_length=1)),
        default=[],
        title="Cohort Member Properties",
        description=(
            "User properties to download with each cohort member (e.g. country, gp:plan), in "
            "the record's user_properties. Default: none (Amplitude's docs advise leaving "
            "properties out when downloads time out)."
        ),
    ),
    th.Property(
        "max_cohort_downloads_per_run",
        th.IntegerType(minimum=1, maximum=500),
        default=10,
        title="Max Cohort Downloads per Run",
        description=(
            "At most this many cohorts are downloaded per run (Amplitude allows 500 cohort "
            "downloads per month). Cohorts over the limit are named in the log and downloaded "
            "by the next runs, least recently downloaded first."
        ),
    ),
    th.Property(
        "cohort_poll_timeout",
        th.DecimalType(minimum=1),
        default=1800,
        title="Cohort Poll Timeout (seconds)",
        description=(
            "Seconds to wait for Amplitude to prepare one cohort's member file (its status is "
            "polled with growing intervals). A cohort not ready by then fails the run once "
            "the other cohorts are delivered; the next run asks for it again."
        ),
    ),
    th.Property(
        "request_timeout",
        th.DecimalType(minimum=1),
        default=60,
        title="Request Timeout (seconds)",
        description=(
            "Seconds to wait for a Dashboard REST, annotations, cohorts or taxonomy response."
        ),
    ),
    th.Property(
        "export_timeout",
        th.DecimalType(minimum=1),
        default=180,
        title="Export Timeout (seconds)",
        description="Seconds to wait for Export API data (exports can take minutes to start).",
    ),
    th.Property(
        "max_attempts",
        th.IntegerType(minimum=1, maximum=100),
        default=8,
        title="Max Attempts",
        description="Attempts per request on 429, 5xx, timeouts and dropped connections.",
    ),
    th.Property(
        "max_retry_time",
        th.DecimalType(minimum=0),
        default=900,
        title="Max Retry Time (seconds)",
        description="Seconds after which a request that keeps failing transiently gives up.",
    ),
    th.Property(
        "backoff_base_seconds",
        th.DecimalType(minimum=0),
        default=1,
        title="Backoff Base (seconds)",
        description=(
            "First retry delay ceiling; it doubles per attempt (full jitter). A Retry-After "
            "header from Amplitude is honoured instead."
        ),
    ),
    th.Property(
        "backoff_max_seconds",
        th.DecimalType(minimum=0),
        default=60,
        title="Backoff Max (seconds)",
        description=(
            "Upper bound of a single retry delay (without Retry-After); not below "
            "backoff_base_seconds."
        ),
    ),
).to_dict()
