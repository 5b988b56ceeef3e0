"""Amplitude's ingestion endpoints and their documented per-request limits."""

from __future__ import annotations

from dataclasses import dataclass

# Room kept below each byte limit for the envelope (api_key, options) and rounding.
_HEADROOM = 4096


@dataclass(frozen=True, slots=True)
class IngestEndpoint:
    """One ingestion endpoint: path, wire format and per-request limits."""

    name: str
    path: str
    max_count: int
    max_bytes: int
    form: bool
    # Properties per request over all items (Group Identify: 1024 group properties).
    max_properties: int | None = None

    @property
    def max_item_bytes(self) -> int:
        """The largest single payload that can ever fit in a request."""
        return self.max_bytes - _HEADROOM


BATCH = IngestEndpoint("batch", "/batch", max_count=2000, max_bytes=20_000_000, form=False)
# HTTP V2: "< 2000 events" and "< 1 MB" per request.
HTTPAPI = IngestEndpoint("httpapi", "/2/httpapi", max_count=1000, max_bytes=1_000_000, form=False)
IDENTIFY = IngestEndpoint("identify", "/identify", max_count=2000, max_bytes=1_000_000, form=True)
# Group Identify: 1024 identifications and 1024 group properties in total per request.
GROUPIDENTIFY = IngestEndpoint(
    "groupidentify",
    "/groupidentify",
    max_count=1024,
    max_bytes=1_000_000,
    form=True,
    max_properties=1024,
)


def events_endpoint(name: str) -> IngestEndpoint:
    """The endpoint for the events_endpoint setting."""
    return HTTPAPI if name == "httpapi" else BATCH
