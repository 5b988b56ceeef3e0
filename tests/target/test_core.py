"""The Singer SDK's standard target tests (as the SDK cookiecutter's tests/test_core.py), loading
into a live emulator. Run in the serial step of `make test` (the Makefile's SERIAL_TESTS says why).

The generic test streams are not Amplitude-shaped, so the config maps each of them as user
profiles keyed by their id column (min_id_length 1: their ids are 1, 2, 3).
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from amplitude_emulator import Emulator
from amplitude_emulator.pytest_plugin import build_default_emulator
from singer_sdk.testing import TargetTestRunner, get_target_test_class
from target_amplitude.target import TargetAmplitude

_ID_FIELDS = {
    "TestCamelcase": "Id",
    "ForecastingTypeToCategory": "Id",
    "test:SpecialChars!in?attributes": "_id",
    "test_object_schema_with_properties": "object_store",
    "test_object_schema_no_properties": "object_store",
}
_STREAMS = [
    "test_array_data", "test_duplicate_records", "test_strings", "test_strings_in_arrays",
    "test_strings_in_objects", "test_invalid_schema", "test_multiple_state_messages_a",
    "test_multiple_state_messages_b", "test_no_pk", "test_optional_attributes",
    "test_record_before_schema", "test_record_missing_key_property",
    "test_record_missing_required_property", "test_schema_updates", "example_stream",
    "record_missing_fields", "test_locations", "test_user_in_location", "test_users",
    *_ID_FIELDS,
]  # fmt: skip


def _config(api_url: str, folder: Path) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": api_url,
        "min_id_length": 1,
        "rejected_records_path": str(folder / "rejected.jsonl"),
        "retry_initial_delay_seconds": 0.01,
        "stream_mappings": {
            name: {"object": "user", "user_id_field": _ID_FIELDS.get(name, "id")}
            for name in _STREAMS
        },
    }


@pytest.fixture(scope="module")
def standard_emulator() -> Iterator[Emulator]:
    with build_default_emulator() as emulator:
        yield emulator


class TestTargetAmplitudeStandard(get_target_test_class(TargetAmplitude)):
    """The SDK's standard target tests. The SDK class needs no config to be built; its
    ``runner`` fixture is overridden (same runner, same arguments) with the live config."""

    @pytest.fixture
    def runner(self, standard_emulator: Emulator, tmp_path: Path) -> TargetTestRunner:
        config = _config(standard_emulator.base_url, tmp_path)
        return TargetTestRunner(TargetAmplitude, config=config, parse_env_config=True)
