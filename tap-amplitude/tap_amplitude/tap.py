"""tap-amplitude: the Tap class, its settings schema and its command line."""

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

from tap_amplitude.errors import AmplitudeError
from tap_amplitude.fast_path import BufferedMsgSpecWriter
from tap_amplitude.pacing import TAXONOMY_COST_PER_HOUR, CostBudget
from tap_amplitude.settings import (
    CONFIG_SCHEMA,
    REMOVED_SETTINGS,
    SettingsError,
    TapSettings,
    parse_settings,
)
from tap_amplitude.storage.source import ExportStorage
from tap_amplitude.streams import STREAM_TYPES


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

    def discover_streams(self) -> list[Stream]:
        """The streams (the catalog is static)."""
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
