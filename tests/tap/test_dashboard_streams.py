"""Unit tests of tap_amplitude.streams.dashboard: the day-range paginator and the records of the
dashboard bodies."""

from __future__ import annotations

import datetime as dt

from tap_amplitude.streams.dashboard import (
    DayRange,
    DayRangePaginator,
    active_users_records,
    session_length_records,
)

from tests.tap.units import fake_response


def test_day_range_paginator_covers_every_day_once_in_chunks() -> None:
    first, last = dt.date(2026, 1, 1), dt.date(2026, 7, 1)
    paginator = DayRangePaginator(first, last, days=90)
    ranges = [paginator.current_value]
    response = fake_response(200)
    while paginator.has_more(response):
        paginator.advance(response)
        ranges.append(paginator.current_value)
    assert ranges == [
        DayRange(dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        DayRange(dt.date(2026, 4, 1), dt.date(2026, 6, 29)),
        DayRange(dt.date(2026, 6, 30), dt.date(2026, 7, 1)),
    ]
    assert paginator.continue_if_empty(response) is False


def test_active_users_one_record_per_day_with_a_count_per_label() -> None:
    body = {
        "data": {
            "series": [[46109, 47542], [42845, 42626]],
            "seriesLabels": [[0, "United States"], [0, "Canada"]],
            "seriesMeta": [{"segmentIndex": 0}],
            "xValues": ["2017-08-14", "2017-08-15"],
        }
    }
    assert list(active_users_records(body)) == [
        {"date": "2017-08-14", "statistics": {"United States": 46109, "Canada": 42845}},
        {"date": "2017-08-15", "statistics": {"United States": 47542, "Canada": 42626}},
    ]


def test_session_length_one_record_per_day() -> None:
    body = {"data": {"series": [[1204.02, 1197.41]], "xValues": ["2017-08-14", "2017-08-15"]}}
    assert list(session_length_records(body)) == [
        {"date": "2017-08-14", "length": 1204.02},
        {"date": "2017-08-15", "length": 1197.41},
    ]
