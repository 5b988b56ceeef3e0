"""The delivery engine against a scripted fake Amplitude (pure logic, no sockets)."""

from __future__ import annotations

import json
import threading
import typing as t

import pytest
from target_amplitude.client import Response, TransientError
from target_amplitude.delivery import DeliveryEngine, DeliveryError, DeliveryRetryPolicy, Item
from target_amplitude.endpoints import BATCH, GROUPIDENTIFY, HTTPAPI, IDENTIFY, IngestEndpoint

Answer = t.Callable[[list[dict]], Response | Exception]
FAST = DeliveryRetryPolicy(
    deadline_seconds=5, initial_delay_seconds=0.001, throttle_delay_seconds=0.01
)


def ok(_events: list[dict]) -> Response:
    return Response(200, {"code": 200}, "", None)


class FakeAmplitude:
    """Answers requests from a script (then 200), recording every request's events."""

    def __init__(self, *script: Answer) -> None:
        self.script = list(script)
        self.requests: list[list[dict]] = []
        self.stored: list[dict] = []
        self.lock = threading.Lock()

    def send(self, endpoint: IngestEndpoint, wires: t.Sequence[bytes]) -> Response:
        events = [json.loads(w) for w in wires]
        with self.lock:
            self.requests.append(events)
            answer = self.script.pop(0) if self.script else ok
        result = answer(events)
        if isinstance(result, Exception):
            raise result
        if result.status == 200:
            with self.lock:
                self.stored.extend(events)
        return result


def items(n: int, devices: int = 1, size: int = 0) -> list[Item]:
    out = []
    for i in range(n):
        dev = f"device-{i % devices}"
        payload = {"event_type": "E", "device_id": dev, "insert_id": str(i), "pad": "x" * size}
        out.append(Item(ref=i, key=dev, wire=json.dumps(payload).encode(), device_id=dev))
    return out


def engine(fake: FakeAmplitude, concurrency: int = 1) -> DeliveryEngine:
    return DeliveryEngine(fake.send, concurrency=concurrency, policy=FAST, fatal_hint="HINT")


def test_packs_by_count() -> None:
    fake = FakeAmplitude()
    outcome = engine(fake).deliver(BATCH, items(4500))
    assert [len(r) for r in fake.requests] == [2000, 2000, 500]
    assert outcome.accepted == 4500
    assert outcome.rejected == []


def test_packs_by_bytes_for_httpapi() -> None:
    fake = FakeAmplitude()
    engine(fake).deliver(HTTPAPI, items(300, size=10_000))
    assert len(fake.requests) > 1
    for req in fake.requests:
        assert sum(len(json.dumps(e)) + 1 for e in req) < 1_000_000


def test_413_splits_that_request_only_and_rejects_single_oversize() -> None:
    too_large = Response(413, {"code": 413, "error": "Payload too large"}, "", None)
    fake = FakeAmplitude(lambda e: too_large)
    outcome = engine(fake).deliver(BATCH, items(4000))
    assert [len(r) for r in fake.requests] == [2000, 1000, 1000, 2000]
    assert outcome.accepted == 4000
    always = FakeAmplitude(*[lambda e: too_large] * 3)
    outcome = engine(always).deliver(BATCH, items(2))
    assert outcome.accepted == 0
    assert [ref for ref, _ in outcome.rejected] == [0, 1]
    assert "413" in outcome.rejected[0][1]


def test_partial_400_rejects_listed_and_resends_rest_until_accepted() -> None:
    first = Response(
        400,
        {
            "code": 400,
            "error": "Invalid field values on some events",
            "events_with_invalid_fields": {"time": [1]},
            "events_with_missing_fields": {},
        },
        "",
        None,
    )
    second = Response(
        400,
        {"code": 400, "error": "x", "events_with_invalid_id_lengths": {"device_id": [0]}},
        "",
        None,
    )
    fake = FakeAmplitude(lambda e: first, lambda e: second)
    outcome = engine(fake).deliver(BATCH, items(4, devices=4))
    assert sorted(ref for ref, _ in outcome.rejected) == [0, 1]
    assert "invalid value for field 'time'" in dict(outcome.rejected)[1]
    assert outcome.accepted == 2
    assert sorted(e["insert_id"] for e in fake.stored) == ["2", "3"]


@pytest.mark.parametrize(
    "body",
    [{"code": 400, "error": "Invalid API key: SECRET"}, {"code": 400, "missing_field": "api_key"}],
)
def test_whole_request_400_is_fatal_and_names_region_hint(body: dict) -> None:
    fake = FakeAmplitude(lambda e: Response(400, body, json.dumps(body), None))
    with pytest.raises(DeliveryError, match="HINT"):
        engine(fake).deliver(BATCH, items(3))
    assert len(fake.requests) == 1


def test_403_is_fatal_without_loop() -> None:
    fake = FakeAmplitude(lambda e: Response(403, {"code": 403}, "", None))
    with pytest.raises(DeliveryError, match="403"):
        engine(fake).deliver(BATCH, items(3))
    assert len(fake.requests) == 1


def test_429_holds_only_throttled_device_and_keeps_its_order() -> None:
    def throttle(events: list[dict]) -> Response:
        idx = [i for i, e in enumerate(events) if e["device_id"] == "device-0"]
        return Response(
            429,
            {"code": 429, "throttled_events": idx, "throttled_devices": {"device-0": 40}},
            "",
            None,
        )

    fake = FakeAmplitude(throttle)
    outcome = engine(fake).deliver(BATCH, items(10, devices=2))
    assert outcome.accepted == 10
    # Second request: the non-throttled device at once; third: the held device, in order.
    assert {e["device_id"] for e in fake.requests[1]} == {"device-1"}
    assert [e["insert_id"] for e in fake.requests[2]] == ["0", "2", "4", "6", "8"]


def test_daily_quota_rejects_instead_of_retrying() -> None:
    body = {
        "code": 429,
        "throttled_events": [0, 1],
        "exceeded_daily_quota_devices": {"device-0": 1},
    }
    fake = FakeAmplitude(lambda e: Response(429, body, "", None))
    outcome = engine(fake).deliver(BATCH, items(2, devices=2))
    assert [ref for ref, _ in outcome.rejected] == [0]
    assert "daily" in outcome.rejected[0][1]
    assert outcome.retryable == {0}  # marked for a later resend
    assert outcome.accepted == 1


def test_transient_failures_retried_with_same_bytes() -> None:
    fake = FakeAmplitude(
        lambda e: TransientError("503"),
        lambda e: TransientError("ConnectionError"),
        lambda e: TransientError("timeout"),
    )
    outcome = engine(fake).deliver(BATCH, items(5))
    assert outcome.accepted == 5
    assert outcome.retried == 3
    assert len({json.dumps(r) for r in fake.requests}) == 1


def test_retry_deadline_gives_up_with_clear_error() -> None:
    fake = FakeAmplitude(*[lambda e: TransientError("503")] * 10_000)
    quick = DeliveryEngine(
        fake.send,
        concurrency=1,
        policy=DeliveryRetryPolicy(
            deadline_seconds=0.05, initial_delay_seconds=0.001, throttle_delay_seconds=0.01
        ),
        fatal_hint="",
    )
    with pytest.raises(DeliveryError, match="retry_deadline_seconds"):
        quick.deliver(BATCH, items(1))


def test_lanes_keep_per_device_order_with_concurrency() -> None:
    fake = FakeAmplitude()
    eng = engine(fake, concurrency=4)
    outcome = eng.deliver(BATCH, items(20_000, devices=50))
    eng.close()
    assert outcome.accepted == 20_000
    seen: dict[str, int] = {}
    for event in fake.stored:
        n = int(event["insert_id"])
        assert seen.get(event["device_id"], -1) < n
        seen[event["device_id"]] = n


@pytest.mark.parametrize(
    ("endpoint", "body", "text", "names"),
    [
        (IDENTIFY, {}, "invalid_api_key", "HINT"),
        (GROUPIDENTIFY, {}, "missing_event", "api_url"),
        (BATCH, {"code": 400, "error": "Invalid JSON request body"}, "", "api_url"),
        (HTTPAPI, {"code": 400, "error": "Invalid request path"}, "", "api_url"),
        (BATCH, {"code": 400, "error": "something new"}, "", "api_key, data_region and api_url"),
    ],
)
def test_request_level_400_fails_at_once_without_bisection(
    endpoint: IngestEndpoint, body: dict, text: str, names: str
) -> None:
    """Issue 11 point 5: 50 records, one request, a fatal error naming the setting."""
    fake = FakeAmplitude(*[lambda e: Response(400, body, text or json.dumps(body), None)] * 200)
    with pytest.raises(DeliveryError, match=names) as error:
        engine(fake).deliver(endpoint, items(50))
    assert len(fake.requests) == 1
    assert "no STATE" in str(error.value)


def test_400_naming_one_item_rejects_it_and_resends_the_rest() -> None:
    body = {"code": 400, "error": "Invalid identification at index 1: invalid user_id 'x'"}
    fake = FakeAmplitude(lambda e: Response(400, body, json.dumps(body), None))
    outcome = engine(fake).deliver(IDENTIFY, items(3))
    assert [ref for ref, _ in outcome.rejected] == [1]
    assert outcome.accepted == 2
    assert len(fake.requests) == 2


def test_circuit_breaker_stops_a_bisection_whose_single_requests_all_fail_alike() -> None:
    too_large = Response(413, {"code": 413, "error": "Payload too large"}, "", None)
    fake = FakeAmplitude(*[lambda e: too_large] * 10_000)
    with pytest.raises(DeliveryError, match="single-record requests in a row"):
        engine(fake).deliver(BATCH, items(2000))
    assert len(fake.requests) < 40  # not 2 x 2000


def test_group_identify_requests_hold_at_most_1024_group_properties() -> None:
    """Issue 11 point 7: counted by properties, not only by identifications."""
    groups = []
    for i in range(10):
        props = {f"p{k}": k for k in range(300)}
        wire = json.dumps(
            {"group_type": "company", "group_value": f"g{i}", "group_properties": props}
        )
        groups.append(Item(ref=i, key=f"g{i}", wire=wire.encode(), weight=300))
    fake = FakeAmplitude()
    outcome = engine(fake).deliver(GROUPIDENTIFY, groups)
    assert outcome.accepted == 10
    assert [len(r) for r in fake.requests] == [3, 3, 3, 1]
    for request in fake.requests:
        assert sum(len(g["group_properties"]) for g in request) <= 1024


def _devices_in_distinct_lanes(count: int) -> tuple[str, str]:
    """Two device ids that hash to different lanes (hash randomization differs per process)."""
    seen: dict[int, str] = {}
    for n in range(1000):
        device = f"device-{n}"
        lane = hash(device) % count
        seen.setdefault(lane, device)
        if len(seen) == 2:
            first, second = seen.values()
            return first, second
    raise AssertionError("no two lanes")


def _events(device: str, first: int, n: int) -> list[Item]:
    return [
        Item(
            ref=i,
            key=device,
            wire=json.dumps({"event_type": "E", "device_id": device, "insert_id": str(i)}).encode(),
            device_id=device,
        )
        for i in range(first, first + n)
    ]


def test_a_lane_goes_on_to_the_next_batch_while_another_lane_is_still_sending() -> None:
    slow_device, fast_device = _devices_in_distinct_lanes(2)
    release = threading.Event()
    fast_second_batch_sent = threading.Event()

    def send(endpoint: IngestEndpoint, wires: t.Sequence[bytes]) -> Response:
        events = [json.loads(w) for w in wires]
        if events[0]["device_id"] == slow_device and events[0]["insert_id"] == "0":
            assert release.wait(10), "the other lane never reached the second batch"
        if events[0]["device_id"] == fast_device and events[0]["insert_id"] == "200":
            fast_second_batch_sent.set()
        stored.extend(events)
        return Response(200, {"code": 200}, "", None)

    stored: list[dict] = []
    eng = DeliveryEngine(send, concurrency=2, policy=FAST, fatal_hint="")
    first = eng.start(BATCH, [*_events(slow_device, 0, 100), *_events(fast_device, 100, 100)])
    second = eng.start(BATCH, [*_events(slow_device, 300, 100), *_events(fast_device, 200, 100)])
    # The fast lane sends its part of the second batch while the slow lane holds the first.
    assert fast_second_batch_sent.wait(10)
    assert not first.done()
    release.set()
    assert first.result()[0].accepted == 200
    assert second.result()[0].accepted == 200
    eng.close()
    # Each device's events in input order, across both batches.
    for device in (slow_device, fast_device):
        sent = [int(e["insert_id"]) for e in stored if e["device_id"] == device]
        assert sent == sorted(sent)
        assert len(sent) == 200


def test_a_failure_in_a_later_batch_is_what_an_earlier_unfinished_batch_raises() -> None:
    slow_device, failing_device = _devices_in_distinct_lanes(2)
    failed = threading.Event()

    def send(endpoint: IngestEndpoint, wires: t.Sequence[bytes]) -> Response:
        events = [json.loads(w) for w in wires]
        if events[0]["device_id"] == slow_device:
            assert failed.wait(10)
            return Response(200, {"code": 200}, "", None)
        if int(events[0]["insert_id"]) >= 200:  # the second batch's part of this lane
            failed.set()
            return Response(403, {"code": 403}, "", None)
        return Response(200, {"code": 200}, "", None)

    eng = DeliveryEngine(send, concurrency=2, policy=FAST, fatal_hint="")
    first = eng.start(
        BATCH,
        [
            *_events(slow_device, 0, 10),
            *_events(slow_device, 10, 2500),
            *_events(failing_device, 100, 10),
        ],
    )
    second = eng.start(BATCH, _events(failing_device, 200, 10))
    # The slow lane's first request succeeds once the failure happened; its second request is
    # never sent. The first batch raises the 403, not "delivery aborted".
    with pytest.raises(DeliveryError, match="403"):
        first.result()
    with pytest.raises(DeliveryError, match="403"):
        second.result()
    eng.close()
