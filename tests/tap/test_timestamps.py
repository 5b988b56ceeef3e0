"""Unit tests of tap_amplitude.timestamps: every Amplitude timestamp form normalised, others
refused."""

from __future__ import annotations

import pytest
from tap_amplitude.timestamps import InvalidTimestampError, normalize_timestamp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01 10:00:00", "2026-01-01T10:00:00.000000Z"),
        ("2026-01-01 10:00:00.1", "2026-01-01T10:00:00.100000Z"),
        ("2026-01-01 10:00:00.123", "2026-01-01T10:00:00.123000Z"),
        ("2026-01-01 10:00:00.123456", "2026-01-01T10:00:00.123456Z"),
        ("2026-01-01T10:00:00.123456", "2026-01-01T10:00:00.123456Z"),
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00.000000Z"),
        ("2026-01-01T10:00:00.5Z", "2026-01-01T10:00:00.500000Z"),
        ("2026-01-01 10:00:00.123+00:00", "2026-01-01T10:00:00.123000Z"),
        ("2026-01-01T10:00:00.1234567", "2026-01-01T10:00:00.123456Z"),
        ("2026-01-01T12:00:00+02:00", "2026-01-01T10:00:00.000000Z"),
        ("2026-01-01", "2026-01-01T00:00:00.000000Z"),
        (None, None),
        ("", None),
    ],
)
def test_every_amplitude_timestamp_form_normalises(raw: str | None, expected: str | None) -> None:
    assert normalize_timestamp(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01 10:00:00", 1735725600, "2026-01-01 1"])
def test_a_non_timestamp_is_refused_with_the_value(raw: object) -> None:
    with pytest.raises(InvalidTimestampError, match="not a timestamp"):
        normalize_timestamp(raw)
