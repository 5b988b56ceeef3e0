"""The concepts both plugins implement, each in its own package, agree.

Regions (the data_region values), the api_url rule, Retry-After parsing and the pacing window
live once per plugin (regions.py, retry_after.py and pacing.py in tap_amplitude and in
target_amplitude): the hosts differ (the tap reads from the Dashboard/Export host, the target
writes to the ingestion host), the names, the rules and the parsing must not.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import types

import pytest
from target_amplitude import regions as target_regions
from target_amplitude.retry_after import parse_retry_after

NOW = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)

# header value -> seconds (None: absent or unreadable), at NOW.
RETRY_AFTER = [
    (None, None),
    ("", None),
    ("   ", None),
    ("0", 0.0),
    ("7", 7.0),
    (" 120 ", 120.0),
    ("1.5", 1.5),
    ("-3", None),
    ("soon", None),
    ("nan", None),
    ("inf", None),
    ("Mon, 30 Nov 2026 12:00:30 GMT", 30.0),  # IMF-fixdate
    ("Monday, 30-Nov-26 12:01:00 GMT", 60.0),  # obsolete RFC 850 form
    ("Mon Nov 30 12:00:10 2026", 10.0),  # asctime form
    ("Mon, 30 Nov 2026 11:00:00 GMT", 0.0),  # in the past: no wait
    ("Mon, 32 Nov 2026 12:00:00 GMT", None),
]

# api_url value -> allowed by the rule.
API_URLS = [
    ("https://api2.amplitude.com", True),
    ("http://127.0.0.1:8080", True),
    ("http://127.0.0.1:8080/", True),
    ("http://proxy.local/amplitude/eu", True),
    ("localhost:80", False),
    ("ftp://host", False),
    ("https://", False),
    ("https:///path", False),
    ("http://host/p?x=1", False),
    ("http://host/p#frag", False),
    ("http://ho st", False),
]


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER)
def test_target_parses_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == (
        pytest.approx(seconds) if seconds is not None else None
    )


@pytest.mark.parametrize(("url", "allowed"), API_URLS)
def test_target_api_url_rule(url: str, allowed: bool) -> None:
    assert target_regions.is_valid_api_url(url) is allowed
    assert (re.match(target_regions.API_URL_PATTERN, url) is not None) is allowed


def test_target_regions() -> None:
    assert dict(target_regions.REGIONS) == {
        "Standard Server": "https://api2.amplitude.com",
        "EU Residency Server": "https://api.eu.amplitude.com",
    }
    assert target_regions.base_url("EU Residency Server") == "https://api.eu.amplitude.com"
    assert target_regions.base_url("Standard Server", "http://127.0.0.1:9/x/") == (
        "http://127.0.0.1:9/x"
    )


def _tap_modules() -> tuple[types.ModuleType, types.ModuleType]:
    return (
        importlib.import_module("tap_amplitude.retry_after"),
        importlib.import_module("tap_amplitude.regions"),
    )


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER)
def test_both_plugins_parse_retry_after_alike(value: str | None, seconds: float | None) -> None:
    tap_retry_after, _ = _tap_modules()
    assert tap_retry_after.parse_retry_after(value, NOW) == parse_retry_after(value, NOW)


def test_both_plugins_have_the_same_regions() -> None:
    _, tap_regions = _tap_modules()
    assert list(tap_regions.REGIONS) == list(target_regions.REGIONS)
    assert (tap_regions.STANDARD_REGION, tap_regions.EU_REGION) == (
        target_regions.STANDARD_REGION,
        target_regions.EU_REGION,
    )
    # The target's deletions and cohorts go to the host the tap reads from.
    assert dict(tap_regions.REGIONS) == dict(target_regions.ANALYTICS_REGIONS)
    assert dict(target_regions.USERMAP_REGIONS) == {
        "Standard Server": "https://api.amplitude.com",
        "EU Residency Server": "https://api.eu.amplitude.com",
    }


@pytest.mark.parametrize(("url", "allowed"), API_URLS)
def test_both_plugins_apply_the_same_api_url_rule(url: str, allowed: bool) -> None:
    _, tap_regions = _tap_modules()
    assert tap_regions.API_URL_PATTERN == target_regions.API_URL_PATTERN
    assert (re.match(tap_regions.API_URL_PATTERN, url) is not None) is allowed


def test_both_plugins_apply_api_url_alike() -> None:
    _, tap_regions = _tap_modules()
    for region in target_regions.REGIONS:
        for url in ("http://127.0.0.1:9/x/", "https://proxy.local"):
            assert tap_regions.base_url(region, url) == target_regions.base_url(region, url)


def _paced(window_class: type) -> list[tuple[float, float]]:
    """(when each request went, seconds it waited) for a scripted run of one SlidingWindow."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    window = window_class(5, 10.0, clock=lambda: now[0], sleep=sleep)
    went: list[tuple[float, float]] = []
    for units, gap in [(1, 0), (2, 1), (2, 1), (1, 0.5), (3, 2), (7, 0), (1, 3), (5, 0), (1, 11)]:
        now[0] += gap
        waited = window.wait(units)
        went.append((now[0], waited))
        window.spend(units)
    return went


def test_both_plugins_pace_alike() -> None:
    from target_amplitude.pacing import SlidingWindow  # noqa: PLC0415

    tap_pacing = importlib.import_module("tap_amplitude.pacing")
    target = _paced(SlidingWindow)
    assert target == _paced(tap_pacing.SlidingWindow)
    # 5 units per 10 s: the 6th unit waits for the first to leave (at 10 s); 7 units, over the
    # limit, go once the window is empty (at 22 s, 10 s after the last request before them).
    assert target == [
        (0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (10.0, 7.5), (12.0, 0.0), (22.0, 10.0),
        (32.0, 7.0), (42.0, 10.0), (53.0, 0.0),
    ]  # fmt: skip
