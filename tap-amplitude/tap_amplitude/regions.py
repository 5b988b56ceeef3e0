"""Amplitude's read-side regions: the ``data_region`` setting's values and their base URLs.

The one place the tap knows hosts. target_amplitude has a module of the same name and shape for
the ingest hosts; tests/test_shared_concepts.py checks that the two agree on the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["API_URL_PATTERN", "EU_REGION", "REGIONS", "STANDARD_REGION", "base_url"]

STANDARD_REGION = "Standard Server"
EU_REGION = "EU Residency Server"
# The Export, Dashboard REST, annotations and cohorts APIs (docs: "Export API", "Dashboard REST
# API"; EU residency projects use analytics.eu.amplitude.com).
REGIONS: Mapping[str, str] = MappingProxyType(
    {
        STANDARD_REGION: "https://amplitude.com",
        EU_REGION: "https://analytics.eu.amplitude.com",
    }
)
# The api_url rule: http(s), a host, an optional path; no query string, no fragment, no spaces.
API_URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"


def base_url(data_region: str, api_url: str | None) -> str:
    """The base URL requests go to: ``api_url`` when set (it wins), else the region's host.

    Both have been validated by the settings schema (``enum`` and ``pattern``).
    """
    if api_url:
        return api_url.strip().rstrip("/")
    return REGIONS[data_region]
