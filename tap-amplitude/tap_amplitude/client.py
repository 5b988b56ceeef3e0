"""All HTTP of the tap: one session, Basic auth, timeouts, retries, concurrency, error mapping.

Every stream calls :meth:`AmplitudeClient.get_json` or :meth:`AmplitudeClient.fetch_export`;
both go through :func:`tap_amplitude.retry.call_with_retries` and a per-project semaphore that
keeps concurrent requests at or under Amplitude's limit of 5.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import msgspec
import requests

from tap_amplitude import __name__ as _package
from tap_amplitude.errors import (
    AmplitudeAPIError,
    AuthenticationError,
    CohortsUnavailableError,
    ExportGatewayTimeoutError,
    ExportTooLargeError,
    GroupByCountryError,
    RetryableError,
)
from tap_amplitude.export_reader import ExportArchive, spool_to_tempfile
from tap_amplitude.retry import RetryPolicy, call_with_retries, parse_retry_after
from tap_amplitude.settings import Settings
from tap_amplitude.windows import Window

__all__ = ["AmplitudeClient", "Endpoint"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
EXPORT_504_ATTEMPTS = 3  # then the window is halved
CHUNK_SIZE = 1 << 20
USER_AGENT = f"{_package.replace('_', '-')}/singer"


class Endpoint(StrEnum):
    """The API paths the tap reads; errors are mapped per endpoint."""

    EXPORT = "/api/2/export"
    ACTIVE_USERS = "/api/2/users"
    SESSIONS_AVERAGE = "/api/2/sessions/average"
    EVENTS_LIST = "/api/2/events/list"
    ANNOTATIONS_V3 = "/api/3/annotations"
    ANNOTATIONS_V2 = "/api/2/annotations"
    COHORTS = "/api/3/cohorts"


_semaphores: dict[str, threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def _project_semaphore(settings: Settings) -> threading.BoundedSemaphore:
    """One semaphore per project (base URL + key), shared by every client in the process."""
    ident = hashlib.sha256(f"{settings.base_url}\0{settings.api_key}".encode()).hexdigest()
    with _semaphores_lock:
        if ident not in _semaphores:
            _semaphores[ident] = threading.BoundedSemaphore(settings.max_concurrent_requests)
        return _semaphores[ident]


def _error_detail(response: requests.Response) -> str:
    """The human part of an Amplitude error body (never the request's credentials)."""
    text = response.text[:2000] if response.content else ""
    try:
        body = msgspec.json.decode(text) if text else None
    except msgspec.DecodeError:
        return text.strip()[:300] or response.reason or ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("type") or ""
            details = (
                (error.get("metadata") or {}).get("details")
                if isinstance(error.get("metadata"), dict)
                else None
            )
            return f"{message}: {details}" if details else str(message)
        if error:
            return str(error)
        if body.get("message"):
            return str(body["message"])
    return text.strip()[:300]


class AmplitudeClient:
    """Reads Amplitude's Export, Dashboard REST, annotations and cohorts APIs."""

    def __init__(
        self,
        settings: Settings,
        *,
        logger: logging.Logger,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.logger = logger
        self.policy = policy or RetryPolicy(
            max_attempts=settings.max_attempts,
            max_time=settings.max_retry_time,
            base=settings.backoff_base,
            cap=settings.backoff_max,
        )
        self.session = session or requests.Session()
        self.session.auth = (settings.api_key, settings.secret_key)
        self.session.headers["User-Agent"] = USER_AGENT
        self._semaphore = _project_semaphore(settings)

    # -- public API ------------------------------------------------------------------------

    def get_json(self, endpoint: Endpoint, params: Mapping[str, str] | None = None) -> Any:
        """GET a JSON endpoint and return its decoded body.

        Raises:
            AmplitudeError: mapped per endpoint (see :mod:`tap_amplitude.errors`).
        """

        def attempt() -> Any:
            with self._request(endpoint, params, timeout=self.settings.request_timeout) as resp:
                self._raise_for_status(endpoint, resp, params)
                try:
                    return msgspec.json.decode(resp.content)
                except msgspec.DecodeError as exc:
                    msg = f"{endpoint.value} answered 200 with a body that is not JSON ({exc})"
                    raise RetryableError(msg) from None

        return call_with_retries(
            attempt, self.policy, what=f"GET {endpoint.value}", logger=self.logger
        )

    def fetch_export(self, window: Window) -> ExportArchive | None:
        """Download the export of ``window`` to a temporary file; None when it is empty (404).

        Raises:
            ExportTooLargeError: 400, the window is over 4 GB (the caller halves it).
            ExportTimeoutError: 504 on every attempt (the caller halves it).
            RetriesExhaustedError: the body stayed corrupt, or transient errors persisted.
        """

        def attempt() -> ExportArchive | None:
            with self._request(
                Endpoint.EXPORT,
                window.export_params,
                timeout=self.settings.export_timeout,
                stream=True,
            ) as resp:
                if resp.status_code == 404:
                    return None
                if resp.status_code == 504:
                    raise ExportGatewayTimeoutError(window, max_attempts=EXPORT_504_ATTEMPTS)
                if resp.status_code == 400 and not _error_detail(resp).lower().startswith(
                    "invalid"
                ):
                    raise ExportTooLargeError(window)
                self._raise_for_status(Endpoint.EXPORT, resp, window.export_params)
                try:
                    spool = spool_to_tempfile(resp.iter_content(CHUNK_SIZE))
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                    msg = f"the export download of {window} was cut off ({type(exc).__name__})"
                    raise RetryableError(msg) from None
            return ExportArchive(spool, window)

        return call_with_retries(
            attempt, self.policy, what=f"export of {window}", logger=self.logger
        )

    # -- internals -------------------------------------------------------------------------

    @contextmanager
    def _request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, str] | None,
        *,
        timeout: float,
        stream: bool = False,
    ) -> Iterator[requests.Response]:
        url = self.settings.url(endpoint.value)
        with self._semaphore:
            try:
                response = self.session.get(
                    url,
                    params=dict(params or {}),
                    timeout=(min(30.0, timeout), timeout),
                    stream=stream,
                )
            except requests.Timeout:
                msg = f"GET {endpoint.value} timed out after {timeout:.0f}s"
                raise RetryableError(msg) from None
            except requests.ConnectionError as exc:
                msg = f"GET {endpoint.value}: connection failed or dropped ({_reason(exc)})"
                raise RetryableError(msg) from None
            try:
                yield response
            except requests.Timeout:
                msg = f"GET {endpoint.value}: the response stalled for over {timeout:.0f}s"
                raise RetryableError(msg) from None
            finally:
                response.close()

    def _raise_for_status(
        self,
        endpoint: Endpoint,
        response: requests.Response,
        params: Mapping[str, str] | None,
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401 or (status == 403 and endpoint is not Endpoint.COHORTS):
            raise AuthenticationError(
                status, endpoint.value, self.settings.data_region, self.settings.base_url
            )
        detail = _error_detail(response)
        if status in RETRYABLE_STATUSES:
            raise RetryableError(
                f"HTTP {status} on {endpoint.value}" + (f": {detail}" if detail else ""),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if endpoint is Endpoint.ACTIVE_USERS and status == 400 and (params or {}).get("g"):
            raise GroupByCountryError(f"HTTP 400 on {endpoint.value}: {detail}")
        if endpoint is Endpoint.COHORTS and status in (400, 402, 403, 404):
            raise CohortsUnavailableError(
                f"Amplitude did not serve {endpoint.value} (HTTP {status}: {detail}). The "
                "Behavioral Cohorts add-on is probably not on this project's plan, or the key "
                "lacks permission for it."
            )
        raise AmplitudeAPIError(f"HTTP {status} on {endpoint.value}: {detail}", status=status)


def _reason(exc: Exception) -> str:
    """A short cause without URLs' query strings (which hold no secret, but are long)."""
    text = str(exc)
    return text if len(text) < 200 else type(exc).__name__
