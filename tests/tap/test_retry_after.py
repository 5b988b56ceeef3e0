"""Unit tests of tap_amplitude.retry_after: the Retry-After header, seconds or an HTTP date."""

from __future__ import annotations

import datetime as dt

from tap_amplitude.retry_after import parse_retry_after

from tests.tap.units import UTC


def test_retry_after_header_parsing() -> None:
    now = dt.datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0
