"""Sending user mappings, deletions and cohort uploads: pacing, retries, throttling.

One request at a time (the User Privacy API allows 1 request per second; /usermap 50 mappings
per second; a cohort is one upload then membership updates in order).

- Pacing: a request is sent only when the ids answered within the endpoint's window plus its own
  stay within the documented limit. The window is counted from when each answer arrived, so
  Amplitude, which sees a request after we send it, never sees two closer than the limit.
- 5xx, timeouts, dropped connections: retried with exponential backoff and full jitter, as for
  ingestion, until retry_deadline_seconds; 429: retried after Retry-After (else the throttle
  delay with jitter) until the same deadline. Anything else is the caller's to read.
"""

from __future__ import annotations

import random
import time
import typing as t
from collections import deque
from dataclasses import dataclass

from target_amplitude.admin_client import AdminClient, AdminEndpoint, AdminResponse
from target_amplitude.client import TransientError
from target_amplitude.delivery import DeliveryError, DeliveryRetryPolicy, OnRequest


class Pacer:
    """At most `units` per `seconds`, counted from when each answer arrived."""

    def __init__(
        self,
        units: int,
        seconds: float,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.units = units
        self.seconds = seconds
        self._clock = clock
        self._sleep = sleep
        self._answered: deque[tuple[float, int]] = deque()

    def wait(self, units: int) -> None:
        """Block until `units` more fit in the window."""
        while True:
            now = self._clock()
            while self._answered and self._answered[0][0] <= now - self.seconds:
                self._answered.popleft()
            used = sum(n for _, n in self._answered)
            if not self._answered or used + units <= self.units:
                return
            self._sleep(self._answered[0][0] + self.seconds - now)

    def answered(self, units: int) -> None:
        """A request of `units` was answered now."""
        self._answered.append((self._clock(), units))


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
        self._pacers: dict[str, Pacer] = {}

    def _pacer(self, endpoint: AdminEndpoint) -> Pacer | None:
        if endpoint.pace_units is None:
            return None
        pacer = self._pacers.get(endpoint.path)
        if pacer is None:
            pacer = self._pacers[endpoint.path] = Pacer(
                endpoint.pace_units, endpoint.pace_seconds, self._clock, self._sleep
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
        deadline = self._clock() + self._policy.deadline_seconds
        attempt = 0
        figures.requests += 1
        while True:
            if pacer is not None:
                pacer.wait(units)
            started = time.perf_counter()
            try:
                response = self.client.post(endpoint, payload)
            except TransientError as exc:
                self._told(stream, endpoint, exc.status, started)
                if pacer is not None:
                    pacer.answered(units)
                delay = random.uniform(
                    0,
                    min(
                        self._policy.max_delay_seconds,
                        self._policy.initial_delay_seconds * 2**attempt,
                    ),
                )
                last = str(exc)
            else:
                self._told(stream, endpoint, response.status, started)
                if pacer is not None:
                    pacer.answered(units)
                if response.status != 429:
                    return response
                base = self._policy.throttle_delay_seconds
                delay = (
                    response.retry_after
                    if response.retry_after is not None
                    else base + random.uniform(0, base)
                )
                last = f"{endpoint.path}: HTTP 429 {response.text[:200]}"
            if self._clock() + delay > deadline:
                msg = (
                    f"{endpoint.path}: gave up after retry_deadline_seconds "
                    f"({self._policy.deadline_seconds:g} s) of transient failures; last: {last}. "
                    "Nothing after the last emitted STATE is lost: rerun to resume."
                )
                raise DeliveryError(msg)
            attempt += 1
            figures.retried += 1
            self._sleep(delay)

    def _told(
        self, stream: str, endpoint: AdminEndpoint, status: int | None, started: float
    ) -> None:
        if self._on_request is not None:
            self._on_request(stream, endpoint.path, status, time.perf_counter() - started)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
