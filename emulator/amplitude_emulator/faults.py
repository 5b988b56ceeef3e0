"""Fault injection, per path (the path without the ``/eu`` region prefix).

Counted faults (statuses, throttle, slow, truncate, corrupt, drop) apply to the next matching
requests and then disappear; limits (eps_limit, payload_limit, too_large, export_delay) stay until
``clear()``. ``hold`` is a test control, not an Amplitude behaviour: it parks requests until
released, so a test can act (kill a client) at a point chosen by the requests received, not by
timing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

FAULT_STATUSES = frozenset({400, 401, 403, 404, 413, 429, 500, 502, 503, 504})


@dataclass
class Throttle:
    devices: frozenset[str]
    users: frozenset[str]
    daily_quota_devices: frozenset[str]
    daily_quota_users: frozenset[str]
    times: int


@dataclass
class EpsLimit:
    per_device_eps: float
    window_s: float
    seen: dict[str, deque[float]] = field(default_factory=dict)


@dataclass
class _PathFaults:
    statuses: deque[int] = field(default_factory=deque)
    retry_after: float | None = None
    throttle: Throttle | None = None
    eps: EpsLimit | None = None
    slow: deque[float] = field(default_factory=deque)
    truncate: deque[float] = field(default_factory=deque)
    corrupt: int = 0
    drop: int = 0
    payload_limit: int | None = None
    too_large_hours: int | None = None
    delay: float = 0.0


class Hold:
    """Requests to one path after the first ``after`` wait, received and unanswered, until
    ``release()`` (or the faults are cleared); ``wait_held(n)`` waits until ``n`` are waiting."""

    def __init__(self, after: int) -> None:
        self.after = after
        self._seen = 0
        self._held = 0
        self._released = False
        self._condition = threading.Condition()

    def enter(self) -> None:
        """Called by the request handler: returns at once, or once released."""
        with self._condition:
            self._seen += 1
            if self._released or self._seen <= self.after:
                return
            self._held += 1
            self._condition.notify_all()
            self._condition.wait_for(lambda: self._released)

    def wait_held(self, count: int = 1, timeout: float = 60.0) -> int:
        """Wait until ``count`` requests are held; the number held (raises on timeout)."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._held >= count, timeout):
                raise TimeoutError(f"{self._held} request(s) held after {timeout}s, not {count}")
            return self._held

    @property
    def held(self) -> int:
        with self._condition:
            return self._held

    def release(self) -> None:
        """Let every held request (and every later one) through."""
        with self._condition:
            self._released = True
            self._condition.notify_all()


@dataclass(frozen=True)
class ThrottleDecision:
    """Which events of a request are throttled, and the 429 body members describing it."""

    events: list[int]
    devices: dict[str, int]
    users: dict[str, int]
    quota_devices: dict[str, int]
    quota_users: dict[str, int]


def _owner_counts(events: list[dict[str, Any]], indices: Iterable[int], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for index in indices:
        value = events[index].get(key)
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


class Faults:
    """The fault knobs of one emulator (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, _PathFaults] = {}
        self._holds: dict[str, Hold] = {}
        self._expired_links = 0

    def _at(self, path: str) -> _PathFaults:
        return self._paths.setdefault(path, _PathFaults())

    # -- setting faults (the README's API) --------------------------------------------------

    def statuses(
        self, path: str, statuses: Iterable[int], retry_after: float | None = None
    ) -> None:
        codes = [int(code) for code in statuses]
        unknown = [code for code in codes if code not in FAULT_STATUSES]
        if unknown:
            raise ValueError(f"unsupported fault status {unknown[0]}; use {sorted(FAULT_STATUSES)}")
        with self._lock:
            faults = self._at(path)
            faults.statuses.extend(codes)
            faults.retry_after = retry_after

    def throttle(
        self,
        path: str,
        devices: Iterable[str] = (),
        users: Iterable[str] = (),
        daily_quota_devices: Iterable[str] = (),
        daily_quota_users: Iterable[str] = (),
        times: int = 1,
    ) -> None:
        with self._lock:
            self._at(path).throttle = Throttle(
                frozenset(devices),
                frozenset(users),
                frozenset(daily_quota_devices),
                frozenset(daily_quota_users),
                times,
            )

    def eps_limit(self, path: str, per_device_eps: float, window_s: float = 30.0) -> None:
        with self._lock:
            self._at(path).eps = EpsLimit(per_device_eps, window_s)

    def slow(self, path: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._at(path).slow.extend([seconds] * times)

    def truncate(self, path: str, times: int = 1, at_fraction: float = 0.5) -> None:
        if not 0.0 <= at_fraction < 1.0:
            raise ValueError("at_fraction must be in [0, 1)")
        with self._lock:
            self._at(path).truncate.extend([at_fraction] * times)

    def corrupt(self, path: str, times: int = 1) -> None:
        with self._lock:
            self._at(path).corrupt += times

    def drop(self, path: str, times: int = 1) -> None:
        with self._lock:
            self._at(path).drop += times

    def payload_limit(self, path: str, max_bytes: int) -> None:
        with self._lock:
            self._at(path).payload_limit = max_bytes

    def too_large(self, path: str = "/api/2/export", max_hours: int = 0) -> None:
        with self._lock:
            self._at(path).too_large_hours = max_hours

    def hold(self, path: str, after: int = 0) -> Hold:
        """Hold the requests to ``path`` after the next ``after`` (see ``Hold``)."""
        hold = Hold(after)
        with self._lock:
            previous = self._holds.get(path)
            self._holds[path] = hold
        if previous is not None:
            previous.release()
        return hold

    def export_delay(self, seconds: float, path: str = "/api/2/export") -> None:
        """Every following request of ``path`` waits ``seconds`` before its response (a test
        control for the time a server takes to assemble an export, not an Amplitude behaviour)."""
        if seconds < 0:
            raise ValueError("export_delay seconds must be >= 0")
        with self._lock:
            self._at(path).delay = float(seconds)

    def expire_links(self, times: int = 1) -> None:
        """The next ``times`` S3 links of cohort downloads have expired before they are used."""
        with self._lock:
            self._expired_links += times

    def take_expired_link(self) -> bool:
        with self._lock:
            if self._expired_links:
                self._expired_links -= 1
                return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._expired_links = 0
            self._paths.clear()
        self.release_holds()

    def release_holds(self) -> None:
        """Release and forget every ``hold`` (also done when the emulator stops)."""
        with self._lock:
            holds, self._holds = list(self._holds.values()), {}
        for hold in holds:
            hold.release()

    def wait_if_held(self, path: str) -> None:
        with self._lock:
            hold = self._holds.get(path)
        if hold is not None:
            hold.enter()

    def apply(self, spec: dict[str, Any]) -> None:
        """``{"kind": "statuses", "path": ..., ...}`` from the HTTP control API."""
        arguments = dict(spec)
        kind = arguments.pop("kind", None)
        methods: dict[str, Callable[..., None]] = {
            "statuses": self.statuses,
            "throttle": self.throttle,
            "eps_limit": self.eps_limit,
            "slow": self.slow,
            "truncate": self.truncate,
            "corrupt": self.corrupt,
            "drop": self.drop,
            "payload_limit": self.payload_limit,
            "too_large": self.too_large,
            "export_delay": self.export_delay,
            "expire_links": self.expire_links,
        }
        if kind == "clear":
            self.clear()
            return
        if kind not in methods:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(methods)} or clear")
        methods[kind](**arguments)

    # -- consuming faults (the server) ------------------------------------------------------

    def take_drop(self, path: str) -> bool:
        with self._lock:
            faults = self._paths.get(path)
            if faults and faults.drop:
                faults.drop -= 1
                return True
            return False

    def take_slow(self, path: str) -> float:
        """Seconds to wait before answering: the next ``slow`` fault plus any ``export_delay``."""
        with self._lock:
            faults = self._paths.get(path)
            if not faults:
                return 0.0
            return (faults.slow.popleft() if faults.slow else 0.0) + faults.delay

    def take_status(self, path: str) -> tuple[int, float | None] | None:
        with self._lock:
            faults = self._paths.get(path)
            if faults and faults.statuses:
                return faults.statuses.popleft(), faults.retry_after
            return None

    def take_corrupt(self, path: str) -> bool:
        with self._lock:
            faults = self._paths.get(path)
            if faults and faults.corrupt:
                faults.corrupt -= 1
                return True
            return False

    def take_truncate(self, path: str) -> float | None:
        with self._lock:
            faults = self._paths.get(path)
            return faults.truncate.popleft() if faults and faults.truncate else None

    def payload_limit_for(self, path: str) -> int | None:
        with self._lock:
            faults = self._paths.get(path)
            return faults.payload_limit if faults else None

    def too_large_hours(self, path: str) -> int | None:
        with self._lock:
            faults = self._paths.get(path)
            return faults.too_large_hours if faults else None

    def throttle_events(self, path: str, events: list[dict[str, Any]]) -> ThrottleDecision | None:
        """The throttled events of a request (None: accept it). Consumes one ``times``."""
        with self._lock:
            faults = self._paths.get(path)
            if faults is None:
                return None
            decision = self._static_throttle(faults, events)
            if decision is None:
                decision = self._eps_throttle(faults, events)
            return decision

    @staticmethod
    def _static_throttle(
        faults: _PathFaults, events: list[dict[str, Any]]
    ) -> ThrottleDecision | None:
        throttle = faults.throttle
        if throttle is None or throttle.times <= 0:
            return None
        hot, quota = [], []
        for index, event in enumerate(events):
            device, user = event.get("device_id"), event.get("user_id")
            if device in throttle.daily_quota_devices or user in throttle.daily_quota_users:
                quota.append(index)
            elif device in throttle.devices or user in throttle.users:
                hot.append(index)
        if not hot and not quota:
            return None
        throttle.times -= 1
        if throttle.times <= 0:
            faults.throttle = None
        return ThrottleDecision(
            sorted(hot + quota),
            _owner_counts(events, hot, "device_id") if throttle.devices else {},
            _owner_counts(events, hot, "user_id") if throttle.users else {},
            _owner_counts(events, quota, "device_id") if throttle.daily_quota_devices else {},
            _owner_counts(events, quota, "user_id") if throttle.daily_quota_users else {},
        )

    @staticmethod
    def _eps_throttle(faults: _PathFaults, events: list[dict[str, Any]]) -> ThrottleDecision | None:
        limit = faults.eps
        if limit is None:
            return None
        now = time.monotonic()
        budget = limit.per_device_eps * limit.window_s
        by_owner: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            owner = event.get("device_id") or event.get("user_id")
            by_owner.setdefault(str(owner), []).append(index)
        throttled: list[int] = []
        for owner, indices in by_owner.items():
            seen = limit.seen.setdefault(owner, deque())
            while seen and now - seen[0] > limit.window_s:
                seen.popleft()
            if len(seen) + len(indices) > budget:
                throttled.extend(indices)
        if not throttled:
            for owner, indices in by_owner.items():
                limit.seen[owner].extend([now] * len(indices))
            return None
        throttled.sort()
        return ThrottleDecision(
            throttled,
            _owner_counts(events, throttled, "device_id"),
            _owner_counts(events, throttled, "user_id"),
            {},
            {},
        )
