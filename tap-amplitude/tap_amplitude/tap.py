"""tap-amplitude: the Tap class, its settings schema and its command line.

SDK_OVERRIDES: every singer-sdk member this package overrides, each marked ``@override``
(tests/test_sdk_overrides.py checks both). They were checked against the singer-sdk version
``fast_path.SDK_VERSION_CHECKED`` names; tests/tap/test_fast_paths.py fails when the installed SDK
is of another series or moved a private member. A private member only where no public seam does
the job.

Private, with the reason:
- Stream._increment_stream_state (streams.events.EventsStream, streams.cohort_members
  .CohortMembersStream, streams.merged_ids.MergedIdsStream): no public switch turns off the
  per-record bookmark; the bookmark moves per finished window (events), per finished cohort
  (members) or per hour read whole (merged ids) only.
- Stream._process_record, Stream._write_record_message, Stream._generate_record_messages
  (fast_path.record_path.FastRecordPath): the record path of the bulk streams without the SDK's
  per-record steps that change nothing here; each falls back to the SDK's own method whenever its
  step would change the output (tests/tap/test_fast_paths.py: the same lines either way).

Private SDK members read or called, not overridden: Stream._stream_version (the RECORD
"version", no public getter) and Stream._write_state_message (the one way to emit STATE within a
stream, after each finished window or cohort).

Public: Tap.discover_streams, invoke and cb_test (known errors as one message, exit 1);
RESTStream/_HTTPStream url_base, timeout, get_url_params, get_new_paginator, validate_response,
response_error_message, parse_response, get_records, request_decorator and the backoff hooks
(backoff_wait_generator, backoff_max_tries, backoff_jitter, backoff_handler: the tap's one retry
mechanism, see retry.py); Stream.post_process; BaseAPIPaginator has_more, get_next and
continue_if_empty (dashboard day ranges); MsgSpecWriter.write_message (fast_path.output).
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cached_property
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_amplitude import clock
from tap_amplitude.cohort_limits import CohortRequestPacer
from tap_amplitude.config_schema import CONFIG_SCHEMA, REMOVED_SETTINGS
from tap_amplitude.dashboard_query_kinds import MAX_COST_PER_REQUEST
from tap_amplitude.errors import AmplitudeError
from tap_amplitude.fast_path import BufferedMsgSpecWriter, freeze_at_exit
from tap_amplitude.pacing import TAXONOMY_COST_PER_HOUR, CostBudget
from tap_amplitude.query_pacing import FIVE_MINUTES, HOUR, Window
from tap_amplitude.settings import (
    SettingsError,
    TapSettings,
    parse_settings,
)
from tap_amplitude.storage.source import ExportStorage
from tap_amplitude.streams import STREAM_TYPES, ChartStream, DashboardQueryStream


class TapAmplitude(Tap):
    """Singer tap for Amplitude: events, dashboard figures, cohorts and members, taxonomy."""

    name = "tap-amplitude"
    package_name = "singer-tap-amplitude"  # the distribution on PyPI: --about reads its version
    config_jsonschema = CONFIG_SCHEMA
    # Listed, not inherited, so that a new SDK default cannot slip in. Not advertised: `batch`
    # (the SDK would write every window's bookmark before the one BATCH message holding the
    # records) and `activate-version` (no stream sends it); settings.UNSUPPORTED_SDK_SETTINGS
    # refuses their options.
    capabilities = [  # noqa: RUF012 - the SDK declares it as a ClassVar list
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    message_writer_class = BufferedMsgSpecWriter

    def __init__(self, **kwargs: Any) -> None:
        """The SDK validates the config against the schema (and fills in its defaults); the
        rules a schema cannot state are checked here, before anything runs."""
        super().__init__(**kwargs)
        for name, why in REMOVED_SETTINGS.items():
            if name in self.config:
                self.logger.warning(
                    "The setting `%s` is deprecated and ignored (%s); remove it from the config.",
                    name,
                    why,
                )
        if kwargs.get("validate_config", True):
            self.settings  # noqa: B018 - fail fast: raises ConfigValidationError

    @cached_property
    def settings(self) -> TapSettings:
        """The validated settings (raises a clear ConfigValidationError when invalid)."""
        try:
            return parse_settings(self.config)
        except SettingsError as exc:
            raise ConfigValidationError(
                "Config validation failed", errors=[str(exc)], schema=self.config_jsonschema
            ) from None

    #: True under ``--test`` (streams keep it cheap: no cohort download is requested).
    #: Set by :meth:`cb_test`: the SDK's ``run_connection_test`` is final.
    connection_test = False

    @cached_property
    def taxonomy_budget(self) -> CostBudget:
        """The Taxonomy API's hourly cost budget, shared by the taxonomy streams of a run."""
        return CostBudget(TAXONOMY_COST_PER_HOUR)

    @cached_property
    def export_storage(self) -> ExportStorage:
        """The S3/GCS export (``export_source: storage``), listed once per run."""
        return ExportStorage(self.settings, self.logger)

    @cached_property
    def cohort_pacer(self) -> CohortRequestPacer:
        """The pace of Get-one-cohort requests (60 per 10 minutes, 4 at once) for the run."""
        return CohortRequestPacer()

    @cached_property
    def dashboard_budgets(self) -> tuple[Window, Window]:
        """The Dashboard REST API's cost limits, shared by the charts and dashboard queries of a
        run: ``dashboard_cost_per_hour`` per hour, and 1,000 within five minutes."""
        per_hour = self.settings.dashboard_cost_per_hour

        # Looked up at each call, not bound here: the tests' frozen clock replaces them.
        def now() -> float:
            return clock.monotonic()

        def wait(seconds: float) -> None:
            clock.sleep(seconds)

        return (
            Window.of(
                per_hour,
                HOUR,
                f"{per_hour} cost per hour (setting dashboard_cost_per_hour)",
                now,
                wait,
            ),
            Window.of(
                MAX_COST_PER_REQUEST,
                FIVE_MINUTES,
                f"{MAX_COST_PER_REQUEST} cost within five minutes",
                now,
                wait,
            ),
        )

    @override
    def discover_streams(self) -> list[Stream]:
        """The built-in streams, then one per configured chart and dashboard query."""
        streams: list[Stream] = [stream_type(self) for stream_type in STREAM_TYPES]
        settings = self.settings
        streams += [ChartStream(self, chart) for chart in settings.charts]
        streams += [DashboardQueryStream(self, query) for query in settings.dashboard_queries]
        return streams

    @classmethod
    @override
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the tap; an Amplitude error ends it with one clear message and exit code 1."""
        freeze_at_exit()  # no garbage collection of the whole heap at exit (gc_tuning.py)
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
    @override
    def cb_test(cls, ctx: Any, param: Any, value: str) -> None:
        """``--test``: the SDK's connection check, failing with one clear message."""
        if value == CliTestOptionValue.All.value:  # the process ends after the test
            cls.connection_test = True
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
