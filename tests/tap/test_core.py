"""The Singer SDK's standard tap tests (as the SDK cookiecutter's tests/test_core.py), on a live
emulator (the ``cli_config`` fixture of tests/tap/conftest.py). Run in the serial step of
``make test`` (the Makefile's SERIAL_TESTS says why)."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, TapTestRunner, get_tap_test_class
from tap_amplitude.tap import TapAmplitude

from tests.tap.helpers import config_for

# No server exists while pytest collects this module. The SDK builds the test class (one
# parameter per stream and attribute) from a tap it creates with this config, which makes no
# request: a placeholder URL (a closed port) is enough there. The runner that syncs is built by
# the ``runner`` fixture below, against the emulator of the ``cli_config`` fixture.
_COLLECTION_CONFIG = config_for("http://127.0.0.1:9")


class TestTapAmplitude(
    get_tap_test_class(
        TapAmplitude,
        config=_COLLECTION_CONFIG,
        # merged_ids comes from the S3/GCS export only (export_source storage, tested in
        # tests/tap/test_storage_export.py): with the Export API it is skipped, without records.
        suite_config=SuiteConfig(ignore_no_records_for_streams=["merged_ids"]),
    )
):
    """The SDK's standard tap tests, on the live emulator."""

    @pytest.fixture(scope="class")
    @classmethod
    def runner(cls, cli_config: dict) -> TapTestRunner:
        """Overrides the SDK class's fixture (same runner, same arguments) with the live config."""
        runner = TapTestRunner(TapAmplitude, config=cli_config, parse_env_config=True)
        runner.sync_all()
        return runner
