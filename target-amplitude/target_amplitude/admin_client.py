"""The HTTP edge of user mapping, privacy deletions and cohorts, with their documented limits.

/usermap is a form POST on the ingestion side (api_key and mapping fields, host api_url or the
region's api host); the User Privacy and Behavioral Cohorts APIs are JSON over HTTP Basic
(api_key:secret_key) on the analytics host. Neither key ever leaves this module in a message:
response texts and transport errors are redacted before anyone else sees them.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass

import requests

from target_amplitude.client import TransientError, redact
from target_amplitude.retry_after import parse_retry_after


@dataclass(frozen=True, slots=True)
class AdminResponse:
    """What Amplitude answered (keys redacted); body is the parsed JSON (a list for deletions)."""

    status: int
    body: t.Any
    text: str
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class AdminEndpoint:
    """One endpoint: its path, ids per request, and its pace (None: not paced)."""

    name: str
    path: str
    max_ids: int
    # At most `pace_units` ids (or requests, when per_request) per `pace_seconds`.
    pace_units: int | None = None
    pace_seconds: float = 0.0
    per_request: bool = False
    max_bytes: int | None = None


# "Max of 2000 requests/events in a batch", "Max size of 1MB", "up to 50 events per second over
# a 30-second window, equalling 1500 alias calls (not batches) total in a 30-second window": a
# request never holds more than the window allows.
USERMAP = AdminEndpoint(
    "usermap", "/usermap", max_ids=1500, pace_units=1500, pace_seconds=30.0, max_bytes=1_000_000
)
# "rate limit of 1 HTTP request per second. Each HTTP request can contain up to 100 ids".
DELETIONS = AdminEndpoint(
    "deletions",
    "/api/2/deletions/users",
    max_ids=100,
    pace_units=1,
    pace_seconds=1.0,
    per_request=True,
)
# "Amplitude limits single requests to 100,000 identifiers".
COHORT_UPLOAD = AdminEndpoint("cohort_upload", "/api/3/cohorts/upload", max_ids=100_000)
COHORT_MEMBERSHIP = AdminEndpoint("cohort_membership", "/api/3/cohorts/membership", max_ids=100_000)
# The cohort list: a cohort_name is looked up there so a re-run replaces it instead of adding one.
COHORT_LIST = AdminEndpoint("cohorts", "/api/3/cohorts", max_ids=0)


class AdminClient:
    """Sends one request to one of the endpoints above; raises TransientError for 5xx/transport."""

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str | None,
        usermap_url: str,
        analytics_url: str,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key or ""
        self._usermap_url = usermap_url.rstrip("/")
        self._analytics_url = analytics_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "target-amplitude"

    def url(self, endpoint: AdminEndpoint) -> str:
        """Where the endpoint's requests go."""
        base = self._usermap_url if endpoint is USERMAP else self._analytics_url
        return base + endpoint.path

    def _redact(self, text: str) -> str:
        return redact(redact(text, self._api_key), self._secret_key)

    def usermap_body(self, mapping_json: bytes) -> bytes:
        """The form body of one /usermap request."""
        from urllib.parse import quote_from_bytes  # noqa: PLC0415 - local: one use

        return (
            b"api_key="
            + quote_from_bytes(self._api_key.encode(), safe="").encode()
            + b"&mapping="
            + quote_from_bytes(mapping_json, safe="").encode()
        )

    def post(self, endpoint: AdminEndpoint, payload: t.Any) -> AdminResponse:
        """POST the payload (the mapping array for /usermap, a JSON object otherwise).

        COHORT_LIST is a GET (payload ignored).
        """
        if endpoint is COHORT_LIST:
            kwargs: dict[str, t.Any] = {"auth": (self._api_key, self._secret_key)}
            method = "GET"
        elif endpoint is USERMAP:
            method = "POST"
            data = self.usermap_body(json.dumps(payload, separators=(",", ":")).encode())
            kwargs = {
                "data": data,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            }
        else:
            method = "POST"
            kwargs = {
                "data": json.dumps(payload, separators=(",", ":")).encode(),
                "headers": {"Content-Type": "application/json"},
                "auth": (self._api_key, self._secret_key),
            }
        try:
            resp = self._session.request(
                method, self.url(endpoint), timeout=self._timeout, **kwargs
            )
            text = resp.text
        except requests.RequestException as exc:
            msg = f"{endpoint.path}: {type(exc).__name__}: {self._redact(str(exc))}"
            raise TransientError(msg) from None
        text = self._redact(text)
        if resp.status_code >= 500:
            msg = f"{endpoint.path}: HTTP {resp.status_code} {text[:200]}"
            raise TransientError(msg, resp.status_code)
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        return AdminResponse(
            status=resp.status_code,
            body=body,
            text=text,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()
