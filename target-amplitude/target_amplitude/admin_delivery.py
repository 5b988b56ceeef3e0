"""Sending user mappings, deletions and cohort uploads: pacing, retries, throttling.

One request at a time (the User Privacy API allows 1 request per second; /usermap 50 mappings
per second; a cohort is one upload then membership updates in order).

- Pacing (pacing.SlidingWindow): a request is sent only when the ids answered within the
  endpoint's window plus its own stay within the documented limit. The window is counted from
  when each answer arrived, so Amplitude, which sees a request after we send it, never sees two
  closer than the limit.
- 5xx, timeouts, dropped connections: retried with exponential backoff and full jitter, as for
  ingestion, until retry_deadline_seconds; 429: retried after Retry-After (else the throttle
  delay with jitter) until the same deadline (both by retry.py, as for ingestion). Anything else
  is the caller's to read.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass

from target_amplitude.admin_client import AdminClient, AdminEndpoint, AdminResponse
from target_amplitude.client import TransientError
from target_amplitude.delivery import DeliveryError, OnRequest
from target_amplitude.pacing import SlidingWindow
from target_amplitude.retry import (
    DeliveryRetryPolicy,
    ThrottledError,
    gave_up_message,
    with_retries,
)


@dataclass(slots=True)
class SendFigures:
    """Requests sent and retried (for the summary and the METRIC lines)."""

    requests: int = 0
    retried: int = 0


class AdminSender:
    """Sends to the admin endpoints through one client, paced, with retries."""

    def __init__(
        self,
        client: AdminClient,
        policy: DeliveryRetryPolicy,
        *,
        on_request: OnRequest | None = None,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self._policy = policy
        self._on_request = on_request
        self._clock = clock
        self._sleep = sleep
        self._pacers: dict[str, SlidingWindow] = {}

    def _pacer(self, endpoint: AdminEndpoint) -> SlidingWindow | None:
        if endpoint.pace_units is None:
            return None
        pacer = self._pacers.get(endpoint.path)
        if pacer is None:
            pacer = self._pacers[endpoint.path] = SlidingWindow(
                endpoint.pace_units, endpoint.pace_seconds, clock=self._clock, sleep=self._sleep
            )
        return pacer

    def send(
        self,
        endpoint: AdminEndpoint,
        payload: t.Any,
        *,
        ids: int,
        stream: str,
        figures: SendFigures,
    ) -> AdminResponse:
        """One request, paced and retried; returns any answer that is not 429 or 5xx."""
        pacer = self._pacer(endpoint)
        units = 1 if endpoint.per_request else ids

        def attempt() -> AdminResponse:
            if pacer is not None:
                pacer.wait(units)
            started = time.perf_counter()
            try:
                response = self.client.post(endpoint, payload)
            except TransientError as exc:
                self._told(stream, endpoint, exc.status, started)
                if pacer is not None:
                    pacer.spend(units)
                raise
            self._told(stream, endpoint, response.status, started)
            if pacer is not None:
                pacer.spend(units)
            if response.status == 429:
                last = f"{endpoint.path}: HTTP 429 {response.text[:200]}"
                raise ThrottledError(last, response.retry_after)
            return response

        def count_retry() -> None:
            figures.retried += 1

        figures.requests += 1
        try:
            return with_retries(attempt, self._policy, count_retry)()
        except TransientError as exc:
            raise DeliveryError(gave_up_message(endpoint.path, self._policy, exc)) from None

    def _told(
        self, stream: str, endpoint: AdminEndpoint, status: int | None, started: float
    ) -> None:
        if self._on_request is not None:
            self._on_request(stream, endpoint.path, status, time.perf_counter() - started)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
