"""Amplitude's ingestion hosts per data region, and the api_url override rule (pure).

The tap keeps its own copy for the read hosts (tap_amplitude/regions.py): the region names and
the api_url rule are the same there, tests/test_shared_concepts.py asserts that they agree.
"""

from __future__ import annotations

import re
import typing as t

# The data_region setting's values (as in tap_amplitude/regions.py).
STANDARD_REGION: t.Final = "Standard Server"
EU_REGION: t.Final = "EU Residency Server"
DEFAULT_REGION: t.Final = STANDARD_REGION

# The data_region setting's value -> the ingestion base URL (HTTP V2, Batch, Identify APIs).
REGIONS: t.Final[t.Mapping[str, str]] = {
    STANDARD_REGION: "https://api2.amplitude.com",
    EU_REGION: "https://api.eu.amplitude.com",
}
# The User Mapping API's host per region (api_url, when set, carries /usermap too).
USERMAP_REGIONS: t.Final[t.Mapping[str, str]] = {
    STANDARD_REGION: "https://api.amplitude.com",
    EU_REGION: "https://api.eu.amplitude.com",
}
# The Basic-auth REST host (User Privacy and Behavioral Cohorts APIs); analytics_api_url overrides.
ANALYTICS_REGIONS: t.Final[t.Mapping[str, str]] = {
    STANDARD_REGION: "https://amplitude.com",
    EU_REGION: "https://analytics.eu.amplitude.com",
}

# api_url: an http(s) scheme and a host, an optional path, no query or fragment, no spaces.
API_URL_PATTERN: t.Final = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"
_API_URL = re.compile(API_URL_PATTERN)


def is_valid_api_url(value: object) -> bool:
    """True when value may be used as the api_url override."""
    return isinstance(value, str) and _API_URL.match(value) is not None


def base_url(
    data_region: str,
    api_url: str | None = None,
    hosts: t.Mapping[str, str] = REGIONS,
    setting: str = "api_url",
) -> str:
    """The base URL requests go to: the override when set, else the region's host (no /)."""
    if api_url:
        if not is_valid_api_url(api_url):
            msg = f"{setting} {api_url!r} is not an http(s) base URL without query or fragment"
            raise ValueError(msg)
        return api_url.rstrip("/")
    return hosts[data_region]
