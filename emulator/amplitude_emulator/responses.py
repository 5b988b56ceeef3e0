"""Bodies of the emulator's non-200 answers, in one place (documented in the README)."""

from __future__ import annotations

from typing import Any

from amplitude_emulator.dashboard import dashboard_error_body

EXPORT_NOT_FOUND = b"Raw data files were not found."
EXPORT_TOO_LARGE_MESSAGE = (
    "The export is over the 4GB limit: request a shorter time range, "
    "or use the Amazon S3 export for hours that are larger than 4GB."
)
CORRUPT_PAGE = (
    b"<html><head><title>Service Unavailable</title></head><body>"
    b"<h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>"
)
_READ_FAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid", "Bad request"),
    401: ("unauthorized", "Invalid API key or secret key"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    413: ("payload_too_large", "Payload too large"),
    429: (
        "too_many_requests",
        "Too many requests: this project is over its concurrent request limit or query budget",
    ),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service unavailable"),
}
_WRITE_FAULTS: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    413: "Payload too large",
    500: "Internal server error",
    503: "Service Unavailable",
}
COHORTS_DISABLED = (
    "Behavioral cohorts are not available for this project: "
    "the organization's plan does not include the Audiences add-on"
)
THROTTLE_MESSAGE = "Too many requests for some devices and users"


def gateway_page(status: int) -> bytes:
    """502/504 come from the load balancer: an HTML page, not JSON."""
    title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
    page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
    return (page + "</body></html>").encode()


def read_fault_body(status: int) -> dict[str, Any]:
    kind, message = _READ_FAULTS.get(status, ("error", f"HTTP {status}"))
    return dashboard_error_body(status, kind, message)


def write_fault_body(status: int) -> dict[str, Any]:
    return {"code": status, "error": _WRITE_FAULTS.get(status, f"HTTP {status}")}


def throttle_body(
    eps_threshold: int,
    throttled_events: list[int],
    devices: dict[str, int],
    users: dict[str, int],
    quota_devices: dict[str, int] | None = None,
    quota_users: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "code": 429,
        "error": THROTTLE_MESSAGE,
        "eps_threshold": eps_threshold,
        "throttled_devices": devices,
        "throttled_users": users,
        "throttled_events": throttled_events,
        "exceeded_daily_quota_users": quota_users or {},
        "exceeded_daily_quota_devices": quota_devices or {},
    }
