"""The delivery engine: pack payloads into requests, send, interpret Amplitude's answers.

Independent of the Singer SDK. The HTTP send is injected (client.IngestClient.post in
production), so every rule below is testable with a fake.

- Items are spread over `concurrency` lanes by their ordering key (device_id, else user_id;
  the group for /groupidentify). A lane is one thread that sends its requests one after the
  other, batch after batch in hand-off order, so the events of one device reach Amplitude in
  input order; lanes run in parallel, and a lane goes on to the next batch's items without
  waiting for the other lanes to finish this batch (start() hands a batch off; its
  DeliveryTicket completes when every lane has answered each of its items). LaneFill tells a
  sink collecting a batch when one lane already holds a full request.
- A request holds at most the endpoint's count and byte limits (bytes of the serialized items).
- 413: the request is split in half and each half retried; a single item still too large is
  rejected. Later requests keep the full size.
- A request also holds at most the endpoint's property count (Group Identify: 1024 group
  properties over all its identifications).
- 400 with index lists (or an error naming one item, "... at index N: ..."): the listed items
  are rejected with Amplitude's reason, the rest resent, until accepted. A 400 without index
  lists is about the whole request (invalid API key, missing_field, invalid JSON, text/plain
  `invalid_api_key` / `missing_event` from the form endpoints): fatal at once, with the setting
  to check, never bisected. 403 and other 4xx are fatal too: DeliveryError, no loop.
- Circuit breaker: when a bisection's single-item requests fail with one same answer
  BREAKER_FAILURES times in a row (nothing accepted in between), the answer is about every
  request, not about those items: DeliveryError, instead of one rejected record per item.
- 429: only the throttled items' keys are held back (Retry-After, else the throttle delay with
  jitter); a held key's later items wait too, so order holds. Items of users/devices over the
  daily quota are rejected with that reason, marked retryable (a later run can resend them).
- 5xx, timeouts, dropped connections: retried with exponential backoff and full jitter until the
  retry deadline (retry.py, the target's one retry mechanism), resending the same bytes, so the
  same insert_id.
"""

from __future__ import annotations

import random
import re
import threading
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from target_amplitude.client import Response, TransientError
from target_amplitude.endpoints import IngestEndpoint
from target_amplitude.retry import DeliveryRetryPolicy, gave_up_message, with_retries

Send = t.Callable[[IngestEndpoint, t.Sequence[bytes]], Response]
# Told about every POST: stream, endpoint path, HTTP status (None: no answer), seconds.
OnRequest = t.Callable[[str, str, int | None, float], None]

# 400 body keys that list the indices of refused events, with the reason to record.
_INDEX_LISTS = {
    "events_with_invalid_fields": "invalid value for field",
    "events_with_missing_fields": "missing required field",
    "events_with_invalid_id_lengths": "id shorter than min_id_length for field",
}


BREAKER_FAILURES = 8
# A 400 whose error names one item ("Invalid identification at index 3: ..."): item-level.
_AT_INDEX = re.compile(r"\bat index (\d+)\b")


class DeliveryError(Exception):
    """Delivery cannot continue (configuration problem, or retries exhausted)."""


class _AbortedError(DeliveryError):
    """A lane stopped because a request elsewhere failed (the ticket raises that failure)."""


@dataclass(slots=True)
class Item:
    """One serialized payload on its way to Amplitude."""

    ref: int
    key: str
    wire: bytes
    user_id: str | None = None
    device_id: str | None = None
    # What the item counts against the endpoint's max_properties.
    weight: int = 0


@dataclass(slots=True)
class Outcome:
    """What happened to the items of one deliver() call."""

    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    retried: int = 0
    requests: int = 0
    # refs of rejected items that can succeed later as they are (daily quota): resendable.
    retryable: set[int] = field(default_factory=set)
    # Circuit breaker: single-item failures in a row with the same answer (per lane).
    same_failures: int = 0
    last_failure: str = ""

    def merge(self, other: Outcome) -> None:
        """Add another outcome's figures to this one."""
        self.accepted += other.accepted
        self.rejected.extend(other.rejected)
        self.retried += other.retried
        self.requests += other.requests
        self.retryable.update(other.retryable)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A delivered batch: its outcome and the seconds from hand-off to the last answer."""

    stream: str
    endpoint: IngestEndpoint
    outcome: Outcome
    seconds: float


def lane_count(concurrency: int) -> int:
    """Lanes of an engine with this many concurrent requests (max_concurrent_requests)."""
    return max(1, concurrency)


class LaneFill:
    """Items and bytes per lane of a batch being collected, as the engine will split it.

    `full` turns true once one lane holds a full request (the endpoint's count or byte limit),
    so each lane sends one full request per batch instead of a full one and a small remainder.
    """

    __slots__ = ("_bytes", "_items", "_lanes", "_max_bytes", "_max_count", "full")

    def __init__(self, concurrency: int, endpoint: IngestEndpoint) -> None:
        self._lanes = lane_count(concurrency)
        self._max_count = endpoint.max_count
        self._max_bytes = endpoint.max_item_bytes
        self._items = [0] * self._lanes
        self._bytes = [0] * self._lanes
        self.full = False

    def add(self, key: str, size: int) -> None:
        """One item of `size` bytes (serialized) with this ordering key."""
        lane = hash(key) % self._lanes  # as DeliveryEngine.lane_parts splits it
        items = self._items[lane] = self._items[lane] + 1
        sent = self._bytes[lane] = self._bytes[lane] + size + 3
        if items >= self._max_count or sent >= self._max_bytes:
            self.full = True

    @property
    def room(self) -> int:
        """Items any one lane can still take before its request is full (by count; by bytes,
        none once a lane is half full)."""
        if max(self._bytes) * 2 >= self._max_bytes:
            return 0
        return self._max_count - max(self._items)

    def clear(self) -> None:
        """The batch was handed off: a new one starts empty."""
        self._items = [0] * self._lanes
        self._bytes = [0] * self._lanes
        self.full = False


@dataclass(slots=True)
class _ChunkResult:
    accepted: list[Item] = field(default_factory=list)
    rejected: list[tuple[Item, str]] = field(default_factory=list)
    held: dict[str, float] = field(default_factory=dict)
    retryable: list[Item] = field(default_factory=list)


class DeliveryTicket:
    """A batch handed to the lanes: done when every lane has answered each of its items."""

    __slots__ = ("_engine", "_parts", "started")

    def __init__(
        self, engine: DeliveryEngine, parts: list[Future[tuple[Outcome, float]]], started: float
    ) -> None:
        self._engine = engine
        self._parts = parts
        self.started = started  # time.perf_counter() at hand-off

    def done(self) -> bool:
        """Every lane has answered (or failed) this batch's items."""
        return all(part.done() for part in self._parts)

    def result(self) -> tuple[Outcome, float]:
        """Wait; the outcome and the seconds from hand-off to the last answer, else raise.

        A lane stopped because a request of another batch failed raises that failure, so the
        error always names what went wrong.
        """
        outcome = Outcome()
        finished = self.started
        error: BaseException | None = None
        for part in self._parts:
            try:
                lane_outcome, lane_finished = part.result()
            except _AbortedError as exc:
                error = error or self._engine.failure or exc
                continue
            except BaseException as exc:  # raised below, after every lane
                error = exc if error is None or isinstance(error, _AbortedError) else error
                continue
            outcome.merge(lane_outcome)
            finished = max(finished, lane_finished)
        if error is not None:
            raise error
        return outcome, finished - self.started


def _indices(value: t.Any) -> list[int]:
    if isinstance(value, list):
        return [i for i in value if isinstance(i, int) and not isinstance(i, bool)]
    if isinstance(value, dict):
        return [i for v in value.values() for i in _indices(v)]
    return []


class DeliveryEngine:
    """Delivers items to one Amplitude project with bounded concurrency."""

    def __init__(
        self,
        send: Send,
        *,
        concurrency: int,
        policy: DeliveryRetryPolicy,
        fatal_hint: str,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
        on_request: OnRequest | None = None,
    ) -> None:
        self._local = threading.local()  # the stream a lane is delivering (request metrics)
        self._send = send if on_request is None else self._timed(send, on_request)
        self._concurrency = lane_count(concurrency)
        self._policy = policy
        self._fatal_hint = fatal_hint
        self._clock = clock
        self._sleep = sleep
        # One single-thread executor per lane: its queue keeps the lane's parts in hand-off order.
        self._lanes: list[ThreadPoolExecutor] = []
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self.failure: BaseException | None = None  # the first failed request's error

    def _timed(self, send: Send, on_request: OnRequest) -> Send:
        local = self._local

        def timed(endpoint: IngestEndpoint, wires: t.Sequence[bytes]) -> Response:
            stream = getattr(local, "stream", "")
            started = time.perf_counter()
            try:
                response = send(endpoint, wires)
            except TransientError as exc:
                on_request(stream, endpoint.path, exc.status, time.perf_counter() - started)
                raise
            on_request(stream, endpoint.path, response.status, time.perf_counter() - started)
            return response

        return timed

    # Packing -----------------------------------------------------------------------------

    @staticmethod
    def lane_parts(items: t.Sequence[Item], count: int) -> list[list[Item]]:
        """Items per lane (index = lane, by ordering key), in input order within each lane."""
        lanes: list[list[Item]] = [[] for _ in range(count)]
        for item in items:
            lanes[hash(item.key) % count].append(item)  # the same split as LaneFill.add
        return lanes

    @staticmethod
    def next_chunk(
        endpoint: IngestEndpoint, pending: t.Sequence[Item], held: t.Container[str]
    ) -> list[Item]:
        """The next request: pending items in order, skipping held keys, within the limits."""
        chunk: list[Item] = []
        size = 0
        weight = 0
        max_weight = endpoint.max_properties
        for item in pending:
            if item.key in held:
                continue
            item_size = len(item.wire) + 3
            if chunk and (
                len(chunk) >= endpoint.max_count
                or size + item_size > endpoint.max_item_bytes
                or (max_weight is not None and weight + item.weight > max_weight)
            ):
                break
            chunk.append(item)
            size += item_size
            weight += item.weight
        return chunk

    # Delivery ----------------------------------------------------------------------------

    def start(
        self,
        endpoint: IngestEndpoint,
        items: t.Sequence[Item],
        *,
        stream: str = "",
        on_done: t.Callable[[], None] | None = None,
    ) -> DeliveryTicket:
        """Hand a batch to the lanes; each lane sends it after the batches handed off before.

        Called from one thread (the target's, through Checkpoint.hand_off); `stream` tags request
        metrics; `on_done` runs in a lane thread as each lane finishes its part. Once a request
        has failed, every lane stops before its next request and each ticket not yet complete
        raises that failure.
        """
        started = time.perf_counter()
        if not self._lanes:
            self._lanes = [
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"amplitude-lane-{n}")
                for n in range(self._concurrency)
            ]
        parts = [
            self._lanes[index].submit(self._run_part, endpoint, part, stream)
            for index, part in enumerate(self.lane_parts(items, self._concurrency))
            if part
        ]
        if on_done is not None:
            for part in parts:
                part.add_done_callback(lambda _part: on_done())
        return DeliveryTicket(self, parts, started)

    def deliver(
        self, endpoint: IngestEndpoint, items: t.Sequence[Item], *, stream: str = ""
    ) -> Outcome:
        """Deliver every item: on return each one is accepted or rejected; else raise."""
        return self.start(endpoint, items, stream=stream).result()[0]

    def close(self) -> None:
        """Stop the lane threads (parts not started yet are dropped)."""
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)
        self._lanes = []

    def _run_part(
        self, endpoint: IngestEndpoint, items: list[Item], stream: str
    ) -> tuple[Outcome, float]:
        """One batch's items of one lane (in the lane's thread): the outcome and when it ended."""
        self._local.stream = stream
        try:
            outcome = self._run_lane(endpoint, items)
        except _AbortedError:
            raise
        except BaseException as exc:
            with self._lock:
                if self.failure is None:
                    self.failure = exc
            self._abort.set()
            raise
        return outcome, time.perf_counter()

    def _run_lane(self, endpoint: IngestEndpoint, items: list[Item]) -> Outcome:
        outcome = Outcome()
        pending = items
        held: dict[str, float] = {}
        while pending:
            if self._abort.is_set():
                msg = "delivery aborted: another request failed"
                raise _AbortedError(msg)
            now = self._clock()
            held = {k: until for k, until in held.items() if until > now}
            chunk = self.next_chunk(endpoint, pending, held)
            if not chunk:
                self._sleep(max(0.0, min(held.values()) - now))
                continue
            result = self._attempt(endpoint, chunk, outcome)
            held.update(result.held)
            done = {id(i) for i in result.accepted}
            done.update(id(i) for i, _ in result.rejected)
            outcome.accepted += len(result.accepted)
            outcome.rejected.extend((i.ref, reason) for i, reason in result.rejected)
            outcome.retryable.update(i.ref for i in result.retryable)
            pending = [i for i in pending if id(i) not in done]
        return outcome

    def _post_with_retry(
        self, endpoint: IngestEndpoint, chunk: list[Item], outcome: Outcome
    ) -> Response:
        wires = [i.wire for i in chunk]

        def count_retry() -> None:
            outcome.retried += 1

        post = with_retries(self._send, self._policy, count_retry)
        outcome.requests += 1
        try:
            return post(endpoint, wires)
        except TransientError as exc:
            raise DeliveryError(gave_up_message(endpoint.path, self._policy, exc)) from None

    def _hold_until(self, response: Response) -> float:
        if response.retry_after is not None:
            delay = response.retry_after
        else:
            base = self._policy.throttle_delay_seconds
            delay = base + random.uniform(0, base)
        return self._clock() + delay

    def _attempt(
        self, endpoint: IngestEndpoint, chunk: list[Item], outcome: Outcome
    ) -> _ChunkResult:
        response = self._post_with_retry(endpoint, chunk, outcome)
        status = response.status
        if 200 <= status < 300:
            outcome.same_failures = 0
            return _ChunkResult(accepted=list(chunk))
        if status == 413:
            return self._split(
                endpoint, chunk, outcome, f"HTTP 413 payload too large at {endpoint.path}"
            )
        if status == 429:
            return self._throttled(chunk, response)
        if status == 400:
            return self._bad_request(endpoint, chunk, response, outcome)
        if status == 403:
            msg = (
                f"{endpoint.path}: HTTP 403 Forbidden: Amplitude's firewall blocked this client. "
                "Check the network/proxy (api_url) and contact Amplitude support; not retried."
            )
            raise DeliveryError(msg)
        msg = f"{endpoint.path}: unexpected HTTP {status}: {response.text[:300]}"
        raise DeliveryError(msg)

    def _split(
        self, endpoint: IngestEndpoint, chunk: list[Item], outcome: Outcome, reason: str
    ) -> _ChunkResult:
        if len(chunk) == 1:
            self._count_single_failure(endpoint, reason, outcome)
            return _ChunkResult(rejected=[(chunk[0], reason)])
        half = len(chunk) // 2
        result = self._attempt(endpoint, chunk[:half], outcome)
        # Items of a key held back in the first half stay pending, so their order holds.
        rest = [i for i in chunk[half:] if i.key not in result.held]
        if rest:
            second = self._attempt(endpoint, rest, outcome)
            result.accepted.extend(second.accepted)
            result.rejected.extend(second.rejected)
            result.held.update(second.held)
        return result

    @staticmethod
    def _count_single_failure(endpoint: IngestEndpoint, reason: str, outcome: Outcome) -> None:
        """The circuit breaker: the same answer for single items, again and again, is fatal."""
        if reason == outcome.last_failure:
            outcome.same_failures += 1
        else:
            outcome.last_failure, outcome.same_failures = reason, 1
        if outcome.same_failures >= BREAKER_FAILURES:
            msg = (
                f"{endpoint.path}: {outcome.same_failures} single-record requests in a row got "
                f"the same answer ({reason[:200]}): it is about every request, not about those "
                "records. Stopped before STATE moves past them; check the settings api_key, "
                "data_region and api_url, and the emulator or proxy in between."
            )
            raise DeliveryError(msg)

    def _throttled(self, chunk: list[Item], response: Response) -> _ChunkResult:
        body = response.body
        quota_users = set(body.get("exceeded_daily_quota_users") or {})
        quota_devices = set(body.get("exceeded_daily_quota_devices") or {})
        throttled_idx = set(_indices(body.get("throttled_events")))
        throttled_users = set(body.get("throttled_users") or {})
        throttled_devices = set(body.get("throttled_devices") or {})
        specific = bool(
            throttled_idx or throttled_users or throttled_devices or quota_users or quota_devices
        )
        result = _ChunkResult()
        until = self._hold_until(response)
        for index, item in enumerate(chunk):
            if (item.user_id and item.user_id in quota_users) or (
                item.device_id and item.device_id in quota_devices
            ):
                who = (
                    f"user_id {item.user_id!r}"
                    if item.user_id in quota_users
                    else f"device_id {item.device_id!r}"
                )
                result.rejected.append(
                    (
                        item,
                        f"{who} is over Amplitude's daily event quota (HTTP 429): retryable once "
                        "its rolling 24 h drops below the quota; resend this file later",
                    )
                )
                result.retryable.append(item)
            elif (
                not specific
                or index in throttled_idx
                or (
                    not throttled_idx
                    and (item.user_id in throttled_users or item.device_id in throttled_devices)
                )
            ):
                result.held[item.key] = until
        # Everything else was not stored either: it stays pending and is resent at once.
        return result

    def _bad_request(
        self, endpoint: IngestEndpoint, chunk: list[Item], response: Response, outcome: Outcome
    ) -> _ChunkResult:
        body = response.body
        error = str(body.get("error") or response.text or "").strip()
        named = _AT_INDEX.search(error)
        if named is not None and int(named.group(1)) < len(chunk):
            return _ChunkResult(
                rejected=[(chunk[int(named.group(1))], f"Amplitude 400: {error[:200]}")]
            )
        if not any(isinstance(body.get(k), dict) for k in _INDEX_LISTS) and not _indices(
            body.get("silenced_events")
        ):
            raise DeliveryError(self._request_level_message(endpoint, body, error))
        reasons: dict[int, list[str]] = {}
        for list_key, label in _INDEX_LISTS.items():
            per_field = body.get(list_key)
            if isinstance(per_field, dict):
                for field_name, indices in per_field.items():
                    for i in _indices(indices):
                        reasons.setdefault(i, []).append(f"{label} '{field_name}'")
        for i in _indices(body.get("silenced_events")):
            reasons.setdefault(i, []).append("device silenced by Amplitude's spam protection")
        listed = {i: r for i, r in reasons.items() if 0 <= i < len(chunk)}
        if not listed:
            # Index lists that name no item of this request: isolate the bad items by halving
            # (the circuit breaker stops it if every single item gets the same answer).
            return self._split(
                endpoint, chunk, outcome, f"HTTP 400 at {endpoint.path}: {error[:200]}"
            )
        return _ChunkResult(
            rejected=[
                (chunk[i], f"Amplitude 400 ({error[:80]}): {'; '.join(r)}")
                for i, r in sorted(listed.items())
            ]
        )

    def _request_level_message(
        self, endpoint: IngestEndpoint, body: dict[str, t.Any], error: str
    ) -> str:
        """A 400 about the whole request: what Amplitude said and the setting to check."""
        said = f"HTTP 400 {error[:160]}" if error else "HTTP 400 without a reason"
        lowered = error.lower()
        if (
            lowered.startswith("invalid api key")
            or lowered == "invalid_api_key"
            or body.get("missing_field") == "api_key"
        ):
            what = f"refused the api_key ({said}). {self._fatal_hint}"
        elif body.get("missing_field") or lowered == "missing_event":
            missing = body.get("missing_field") or "identification"
            what = (
                f"found a required field missing for the whole request ({missing}; {said}). "
                "This is a bug in target-amplitude or a proxy changing requests: check the "
                "api_url setting, and report it with the run's log"
            )
        elif "json" in lowered or "path" in lowered:
            what = (
                f"could not read the request ({said}). Check that the api_url setting points at "
                "Amplitude's ingestion host (or a proxy that forwards bodies unchanged); if it "
                "does, report it with the run's log"
            )
        else:
            what = (
                f"refused the whole request ({said}, no per-event index lists). Check the "
                "api_key, data_region and api_url settings"
            )
        return (
            f"{endpoint.path}: Amplitude {what.rstrip('.')}. Nothing was bisected into "
            "per-record rejects and no STATE was emitted past this batch."
        )
