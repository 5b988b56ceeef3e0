"""Unit tests of the tap's pure modules: timestamps, windows, settings, export reader, retry."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import zipfile
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator
from tap_amplitude.api import ApiPath
from tap_amplitude.cohort_plan import Cohort, epoch_to_datetime, plan_downloads, poll_delay
from tap_amplitude.errors import CorruptExportError, ExportGatewayTimeoutError, RetryableError
from tap_amplitude.export_reader import ExportArchive
from tap_amplitude.progress import ExportProgress
from tap_amplitude.responses import Action, classify
from tap_amplitude.retry import RetryPolicy, retry_waits
from tap_amplitude.retry_after import parse_retry_after
from tap_amplitude.settings import (
    CONFIG_SCHEMA,
    DEFAULT_START_DATE,
    SettingsError,
    parse_settings,
)
from tap_amplitude.streams.dashboard import (
    DayRange,
    DayRangePaginator,
    active_users_records,
    session_length_records,
)
from tap_amplitude.timestamps import InvalidTimestampError, normalize_timestamp
from tap_amplitude.windows import Window, export_range, plan_windows, reread_point

UTC = dt.UTC


def hour(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- timestamps -------------------------------------------------------------------------------


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


# -- windows ----------------------------------------------------------------------------------


def test_windows_cover_the_range_without_gap_or_overlap() -> None:
    windows = list(plan_windows(hour("2026-01-01T00:00"), hour("2026-01-03T05:00"), 24))
    assert [w.hours for w in windows] == [24, 24, 5]
    assert windows[0].export_params == {"start": "20260101T00", "end": "20260101T23"}
    assert windows[-1].export_params == {"start": "20260103T00", "end": "20260103T04"}
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_halves_split_odd_windows_on_whole_hours() -> None:
    first, second = Window(hour("2026-01-01T00:00"), hour("2026-01-01T05:00")).halves()
    assert (first.hours, second.hours) == (3, 2)
    assert first.end == second.start


def _range(**overrides: object) -> tuple[dt.datetime, dt.datetime]:
    arguments: dict = {
        "bookmark": None,
        "reread_from": None,
        "start_date": hour("2026-01-01T00:00"),
        "end_date": None,
        "now": hour("2026-01-03T10:30"),
        "lag_hours": 3,
        **overrides,
    }
    return export_range(**arguments)


def test_the_default_margin_never_reads_an_hour_at_its_documented_availability() -> None:
    # Amplitude: hour H is exportable at H+3h. At 10:30 the 07:00 hour has been available for
    # 30 minutes only: the default (export_lag_hours=3) stops before it; 06:00 is read.
    assert parse_settings(BASE).export_lag_hours == 3
    assert _range() == (hour("2026-01-01T00:00"), hour("2026-01-03T07:00"))
    # At 10:00 exactly, 07:00 has just become available (H+3h): still not read.
    assert _range(now=hour("2026-01-03T10:00"))[1] == hour("2026-01-03T07:00")
    assert _range(now=hour("2026-01-03T11:00"))[1] == hour("2026-01-03T08:00")


def test_slice_bounds_off_the_hour_round_down_so_adjacent_slices_share_no_hour() -> None:
    cut = hour("2026-01-02T07:30")
    first = _range(end_date=cut)
    second = _range(start_date=cut, end_date=hour("2026-01-02T12:00"))
    assert first == (hour("2026-01-01T00:00"), hour("2026-01-02T07:00"))
    assert second == (hour("2026-01-02T07:00"), hour("2026-01-02T12:00"))
    hours = [w for r in (first, second) for w in plan_windows(*r, 1)]
    assert len(hours) == len({w.start for w in hours}) == 36  # every hour once


def test_start_date_later_than_the_bookmark_wins_and_a_mid_hour_bookmark_rereads_its_hour() -> None:
    now = hour("2026-02-01T00:00")
    start, _ = _range(
        bookmark=hour("2026-01-01T05:00"), start_date=hour("2026-01-10T00:00"), now=now
    )
    assert start == hour("2026-01-10T00:00")
    start, _ = _range(
        bookmark=hour("2026-01-12T05:00") + dt.timedelta(minutes=35),
        start_date=hour("2026-01-10T00:00"),
        now=now,
    )
    assert start == hour("2026-01-12T05:00")


def test_a_run_resumes_at_reread_from_when_it_is_before_the_bookmark() -> None:
    start, _ = _range(bookmark=hour("2026-01-03T07:00"), reread_from=hour("2026-01-03T05:00"))
    assert start == hour("2026-01-03T05:00")
    # start_date moved forward on purpose still wins
    start, _ = _range(
        bookmark=hour("2026-01-03T07:00"),
        reread_from=hour("2026-01-03T05:00"),
        start_date=hour("2026-01-03T06:00"),
    )
    assert start == hour("2026-01-03T06:00")


def test_reread_point_keeps_only_hours_read_while_recent() -> None:
    now = hour("2026-01-03T10:30")
    # read up to 07:00 at 10:30 with lag 3 + lookback 2: hours from 05:00 on were recent
    assert reread_point(
        run_start=hour("2026-01-01T00:00"),
        done_until=hour("2026-01-03T07:00"),
        now=now,
        settle_hours=5,
    ) == hour("2026-01-03T05:00")
    # a backfill slice long finished: nothing to read again, so a re-run requests nothing
    assert reread_point(
        run_start=hour("2025-01-01T00:00"),
        done_until=hour("2025-02-01T00:00"),
        now=now,
        settle_hours=5,
    ) == hour("2025-02-01T00:00")
    # never before the hours this run read itself
    assert reread_point(
        run_start=hour("2026-01-03T06:00"),
        done_until=hour("2026-01-03T07:00"),
        now=now,
        settle_hours=5,
    ) == hour("2026-01-03T06:00")
    assert reread_point(
        run_start=hour("2026-01-01T00:00"),
        done_until=hour("2026-01-03T07:00"),
        now=now,
        settle_hours=3,
    ) == hour("2026-01-03T07:00")  # lookback_hours=0


def test_windows_before_2014_11_12_are_day_grouped() -> None:
    assert Window(hour("2014-11-11T23:00"), hour("2014-11-12T01:00")).day_grouped
    assert not Window(hour("2014-11-12T00:00"), hour("2014-11-12T01:00")).day_grouped


# -- settings ---------------------------------------------------------------------------------

BASE = {"api_key": "k-123", "secret_key": "s-456"}


def test_settings_defaults_and_regions() -> None:
    settings = parse_settings(BASE)
    assert settings.base_url == "https://amplitude.com"
    assert settings.start_date == DEFAULT_START_DATE
    assert settings.request_time_range == 24
    assert (settings.export_lag_hours, settings.lookback_hours) == (3, 2)
    assert (settings.project_timezone, settings.dashboard_lookback_days) == ("UTC", 3)
    eu = parse_settings({**BASE, "data_region": "EU Residency Server"})
    assert eu.base_url == "https://analytics.eu.amplitude.com"
    proxied = parse_settings(
        {**BASE, "data_region": "EU Residency Server", "api_url": "http://x/eu/"}
    )
    assert proxied.base_url == "http://x/eu"
    assert settings.retry_policy == RetryPolicy(max_attempts=8, max_time=900, base=1, cap=60)
    assert "s-456" not in repr(settings)
    assert "k-123" not in repr(settings)


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"data_region": "Mars"}, "data_region"),
        ({"request_time_range": 0}, "request_time_range"),
        ({"request_time_range": 9000}, "request_time_range"),
        ({"api_url": "amplitude.com"}, "api_url"),
        ({"api_url": "https://amplitude.com/?x=1"}, "api_url"),
        ({"secret_key": ""}, "secret_key"),
        ({"api_key": "   "}, "api_key"),
        ({"lookback_hours": -1}, "lookback_hours"),
        ({"dashboard_lookback_days": "a few"}, "dashboard_lookback_days"),
        ({"request_timeout": 0.5}, "request_timeout"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"active_users_group_by_country": "maybe"}, "active_users_group_by_country"),
    ],
)
def test_the_schema_refuses_invalid_settings_naming_them(override: dict, setting: str) -> None:
    """Types, ranges, enums and patterns live in the schema (the SDK validates with it)."""
    errors = list(Draft202012Validator(CONFIG_SCHEMA).iter_errors({**BASE, **override}))
    assert {tuple(e.path) for e in errors} == {(setting,)}


def test_the_schema_accepts_the_defaults_and_a_valid_config() -> None:
    defaults = {k: v["default"] for k, v in CONFIG_SCHEMA["properties"].items() if "default" in v}
    valid = {**BASE, **defaults, "api_url": "http://127.0.0.1:8080/std", "end_date": "2026-01-01"}
    assert list(Draft202012Validator(CONFIG_SCHEMA).iter_errors(valid)) == []
    assert set(CONFIG_SCHEMA["required"]) == {"api_key", "secret_key"}


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"start_date": "01/02/2024"}, "start_date"),
        ({"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"}, "end_date"),
        ({"backoff_base_seconds": 10, "backoff_max_seconds": 5}, "backoff_max_seconds"),
        ({"project_timezone": "Pacific Standard Time"}, "project_timezone"),
        ({"project_timezone": "America/Nowhere"}, "project_timezone"),
        ({"batch_config": {"encoding": {"format": "jsonl"}}}, "batch_config"),
        ({"emit_activate_version_messages": True}, "emit_activate_version_messages"),
    ],
)
def test_rules_beyond_the_schema_are_named(override: dict, setting: str) -> None:
    """Only what a schema cannot state is checked in code (dates, time zones, cross-field)."""
    with pytest.raises(SettingsError, match=f"`{setting}`"):
        parse_settings({**BASE, **override})


# -- export reader ----------------------------------------------------------------------------

WINDOW = Window(hour("2026-01-01T00:00"), hour("2026-01-01T02:00"))


def _zip(tmp_path: Path, entries: dict[str, bytes | None], *, deflate: bool = False) -> Path:
    path = tmp_path / "export.zip"
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, lines in entries.items():
            if lines is None:
                archive.writestr(zipfile.ZipInfo(name), b"")  # a directory entry
            else:
                archive.writestr(name, gzip.compress(lines))
    return path


def test_archive_yields_every_line_of_every_entry_and_deletes_its_file(tmp_path: Path) -> None:
    lines = b"".join(b'{"n":%d}\n' % i for i in range(5000))
    path = _zip(
        tmp_path,
        {
            "187/": None,
            "187/187_2026-01-01_0#0.json.gz": lines,
            "187/187_2026-01-01_1#0.json.gz": b'{"n":"last"}',
        },
        deflate=True,
    )
    with ExportArchive(path, WINDOW) as archive:
        lines = b"".join(archive.blocks()).splitlines()
    assert len(lines) == 5001
    assert lines[-2:] == [b'{"n":4999}', b'{"n":"last"}']
    assert not path.exists()


@pytest.mark.parametrize("body", [b"", b"<html>Internal error</html>", b"PK\x03\x04truncated"])
def test_a_body_that_is_not_a_zip_is_corrupt_naming_the_window(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(body)
    with pytest.raises(CorruptExportError, match="2026-01-01T00:00Z to 2026-01-01T01:59Z"):
        ExportArchive(path, WINDOW)
    assert not path.exists()


def test_a_truncated_zip_is_corrupt(tmp_path: Path) -> None:
    good = _zip(tmp_path, {"a.json.gz": b'{"n":1}\n' * 1000}).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptExportError):
        ExportArchive(path, WINDOW)


def test_an_entry_failing_its_crc_is_corrupt(tmp_path: Path) -> None:
    payload = gzip.compress(b'{"n":1}\n' * 1000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json.gz", payload)
    data = bytearray(buffer.getvalue())
    data[100] ^= 0xFF  # flip a byte inside the stored entry
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptExportError, match=r"CRC|corrupt|decompress"):
        ExportArchive(path, WINDOW)


# -- retry waits and the response table --------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _waits(policy: RetryPolicy, failures: list[BaseException], clock: FakeClock) -> list[float]:
    """Drive retry_waits as backoff does: prime, then send each failure; stop = give up."""
    waits = retry_waits(policy, clock=clock, uniform=lambda low, high: high)
    waits.send(None)
    out: list[float] = []
    for exc in failures:
        try:
            wait = waits.send(exc)
        except StopIteration:
            break
        out.append(wait)
        clock.now += wait
    return out


def test_retry_after_wins_and_is_capped_then_backoff_doubles() -> None:
    policy = RetryPolicy(max_attempts=8, max_time=10_000, base=0.5, cap=2.0, max_retry_after=60)
    failures = [
        RetryableError("429", retry_after=7.0),
        RetryableError("429", retry_after=3600.0),
        RetryableError("503"),
        RetryableError("503"),
        RetryableError("503"),
    ]
    assert _waits(policy, failures, FakeClock()) == [7.0, 60.0, 2.0, 2.0, 2.0]
    jittered = RetryPolicy(max_attempts=8, max_time=10, base=0.5, cap=2.0)
    assert 0.0 <= jittered.delay(2, None) <= 1.0  # full jitter under base * 2**1


def test_retry_waits_stop_before_passing_max_retry_time() -> None:
    policy = RetryPolicy(max_attempts=100, max_time=10, base=4, cap=4)
    assert _waits(policy, [RetryableError("503")] * 10, FakeClock()) == [4, 4]


def test_export_504_gets_its_own_attempt_limit() -> None:
    policy = RetryPolicy(max_attempts=8, max_time=900, base=0, cap=0)
    window = Window(hour("2026-01-01T00:00"), hour("2026-01-01T02:00"))
    failures = [ExportGatewayTimeoutError(window, max_attempts=3)] * 5
    assert len(_waits(policy, failures, FakeClock())) == 2  # 3 attempts, then halve


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


def _response(
    status: int, body: bytes = b"", url: str = "https://amplitude.com/x"
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.request = requests.Request("GET", url).prepare()
    return response


_INVALID_KEY = (
    b'{"error":{"http_code":403,"type":"unspecified","message":"Unspecified Error",'
    b'"metadata":{"details":"Invalid API Key"}}}'
)


@pytest.mark.parametrize(
    ("path", "status", "body", "url", "action"),
    [
        (ApiPath.EXPORT, 200, b"", "", None),
        (ApiPath.EXPORT, 404, b"", "", Action.TOLERATE),
        (ApiPath.EXPORT, 504, b"", "", Action.RETRY),
        (ApiPath.EXPORT, 400, b"Request exceeds 4GB", "", Action.HALVE),
        (ApiPath.EXPORT, 400, b'{"error": "Invalid start"}', "", Action.FAIL),
        (ApiPath.EXPORT, 401, b"", "", Action.AUTH),
        (ApiPath.COHORTS, 403, b"", "", Action.TOLERATE),
        (ApiPath.COHORTS, 402, b"", "", Action.TOLERATE),
        # a bad key answers 403 "Invalid API Key": never mistaken for a plan gate
        (ApiPath.COHORTS, 403, _INVALID_KEY, "", Action.AUTH),
        (ApiPath.COHORT_REQUEST, 403, b"", "", Action.TOLERATE),
        (ApiPath.COHORT_REQUEST, 403, _INVALID_KEY, "", Action.AUTH),
        (ApiPath.COHORT_REQUEST, 404, b"", "", Action.SKIP),
        (ApiPath.COHORT_STATUS, 503, b"", "", Action.RETRY),
        (ApiPath.COHORT_S3_FILE, 403, b"<Error>Request has expired</Error>", "", Action.RETRY),
        (ApiPath.TAXONOMY_CATEGORY, 404, b"", "", Action.TOLERATE),
        (ApiPath.TAXONOMY_EVENT_PROPERTY, 400, b"", "", Action.SKIP),
        (ApiPath.TAXONOMY_EVENT, 400, b"", "", Action.FAIL),
        (ApiPath.TAXONOMY_USER_PROPERTY, 429, b"", "", Action.RETRY),
        (ApiPath.EVENTS_LIST, 403, b"", "", Action.AUTH),
        (ApiPath.EVENTS_LIST, 429, b"", "", Action.RETRY),
        (ApiPath.EVENTS_LIST, 501, b"", "", Action.FAIL),  # only 429/500/502/503/504 retry
        (ApiPath.ACTIVE_USERS, 400, b"", "?g=country", Action.FAIL),
        (ApiPath.ACTIVE_USERS, 400, b"", "?m=active", Action.FAIL),
        (ApiPath.ANNOTATIONS_V3, 404, b"", "", Action.FALLBACK),
        (ApiPath.ANNOTATIONS_V2, 404, b"", "", Action.FAIL),
    ],
)
def test_the_response_table(
    path: ApiPath, status: int, body: bytes, url: str, action: Action | None
) -> None:
    rule = classify(path, _response(status, body, "https://amplitude.com/x" + url))
    assert (rule.action if rule else None) == action
    if path is ApiPath.ACTIVE_USERS:
        assert bool(rule and rule.fix) == ("g=country" in url)  # names the setting to change
    if action is Action.RETRY and path is ApiPath.EXPORT:
        assert rule is not None
        assert rule.max_attempts == 3


def test_day_range_paginator_covers_every_day_once_in_chunks() -> None:
    first, last = dt.date(2026, 1, 1), dt.date(2026, 7, 1)
    paginator = DayRangePaginator(first, last, days=90)
    ranges = [paginator.current_value]
    response = _response(200)
    while paginator.has_more(response):
        paginator.advance(response)
        ranges.append(paginator.current_value)
    assert ranges == [
        DayRange(dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        DayRange(dt.date(2026, 4, 1), dt.date(2026, 6, 29)),
        DayRange(dt.date(2026, 6, 30), dt.date(2026, 7, 1)),
    ]
    assert paginator.continue_if_empty(response) is False


# -- dashboard bodies -------------------------------------------------------------------------


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


def test_export_progress_line_says_window_i_of_n_events_so_far_and_rate() -> None:
    progress = ExportProgress(total_windows=2)
    first = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    progress.add(1500)
    progress.add(500)  # the second half of a split window
    line = progress.window_done(first)
    assert line.startswith("window 1 of 2 done [2026-01-01T00:00Z to 2026-01-01T23:59Z]: ")
    assert ": 2,000 events; 2,000 events so far" in line
    assert line.endswith(" events/s")
    second = Window(first.end, first.end + dt.timedelta(days=1))
    assert ": 0 events; 2,000 events so far" in progress.window_done(second)


def test_cohort_plan_recomputed_only_waiting_longest_first_within_the_limit() -> None:
    def at(day: int) -> dt.datetime:
        return dt.datetime(2026, 1, day, tzinfo=dt.UTC)

    cohorts = [
        Cohort("a", "A", at(5), archived=False),  # recomputed after its bookmark
        Cohort("b", "B", at(3), archived=False),  # unchanged
        Cohort("c", "C", at(4), archived=False),  # never downloaded
        Cohort("d", "D", at(6), archived=True),  # archived: not by default
        Cohort("e", "E", None, archived=False),  # never computed
        Cohort("f", "F", at(9), archived=False),  # recomputed, downloaded longer ago than a
    ]
    bookmarks = {"a": at(2), "b": at(3), "f": at(1)}
    plan = plan_downloads(cohorts, wanted_ids=None, bookmarks=bookmarks, incremental=True, limit=2)
    assert [c.id for c in plan.download] == ["c", "f"]
    assert [c.id for c in plan.over_limit] == ["a"]
    assert [c.id for c in plan.unchanged] == ["b"]
    assert [c.id for c in plan.archived] == ["d"]
    assert [c.id for c in plan.never_computed] == ["e"]
    chosen = plan_downloads(
        cohorts, wanted_ids=("d", "b", "zz"), bookmarks=bookmarks, incremental=False, limit=5
    )
    assert sorted(c.id for c in chosen.download) == ["b", "d"]  # listed: archived too
    assert chosen.unknown_ids == ["zz"]


def test_last_computed_in_seconds_or_milliseconds() -> None:
    seconds = epoch_to_datetime(1679440233)
    assert seconds == epoch_to_datetime(1679440233000)
    assert seconds == dt.datetime(2023, 3, 21, 23, 10, 33, tzinfo=dt.UTC)
    assert epoch_to_datetime(None) is None
    assert epoch_to_datetime("soon") is None
    assert [poll_delay(n, 1, 60) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
