"""Every fault knob, through the Python API and the HTTP control API."""

from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from amplitude_emulator import Emulator

from tests.emulator_tests.helpers import batch, export, identify, unzip_events

EXPORT = "/api/2/export"
DAY = ("20260101T00", "20260101T23")


def _events(*devices: str) -> list[dict]:
    return [{"event_type": "x", "device_id": device} for device in devices]


def test_read_side_statuses_in_order_then_normal(emulator: Emulator) -> None:
    emulator.faults.statuses(EXPORT, [429, 500, 502, 503, 504])
    seen = [export(emulator.base_url, *DAY) for _ in range(6)]
    assert [r.status_code for r in seen] == [429, 500, 502, 503, 504, 200]
    assert "Retry-After" not in seen[0].headers
    assert seen[0].json()["error"]["type"] == "too_many_requests"
    assert seen[1].json()["error"]["http_code"] == 500
    assert "Bad Gateway" in seen[2].text
    assert seen[2].headers["Content-Type"] == "text/html"
    assert seen[3].json()["error"]["http_code"] == 503
    assert "Gateway Time-out" in seen[4].text


def test_retry_after_on_429(emulator: Emulator) -> None:
    emulator.faults.statuses("/api/2/users", [429], retry_after=2)
    response = requests.get(
        emulator.base_url + "/api/2/users",
        params={"start": "20260101", "end": "20260101"},
        auth=("key-std", "secret-std"),
        timeout=10,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_write_side_statuses(emulator: Emulator) -> None:
    emulator.faults.statuses("/batch", [429, 500, 503, 413])
    first = batch(emulator.base_url, _events("device-00001", "device-00002"))
    assert first.status_code == 429
    assert first.json()["throttled_events"] == [0, 1]
    assert first.json()["throttled_devices"] == {"device-00001": 1, "device-00002": 1}
    assert batch(emulator.base_url, _events("device-00001")).json() == {
        "code": 500,
        "error": "Internal server error",
    }
    assert batch(emulator.base_url, _events("device-00001")).status_code == 503
    assert batch(emulator.base_url, _events("device-00001")).status_code == 413
    assert emulator.project("key-std").ingested == []
    assert batch(emulator.base_url, _events("device-00001")).status_code == 200
    emulator.faults.statuses("/identify", [503])
    assert identify(emulator.base_url, {"user_id": "user-00001"}).status_code == 503
    with pytest.raises(ValueError, match="unsupported fault status"):
        emulator.faults.statuses("/batch", [418])


def test_throttle_hot_devices_only(emulator: Emulator) -> None:
    emulator.faults.throttle(
        "/batch",
        devices={"device-hot1"},
        users={"user-hot01"},
        daily_quota_devices={"device-quota"},
        times=1,
    )
    events = _events("device-00001", "device-hot1", "device-00002", "device-quota")
    events.append({"event_type": "x", "user_id": "user-hot01"})
    response = batch(emulator.base_url, events)
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "Too many requests for some devices and users"
    assert body["throttled_events"] == [1, 3, 4]
    assert body["throttled_devices"] == {"device-hot1": 1}
    assert body["throttled_users"] == {"user-hot01": 1}
    assert body["exceeded_daily_quota_devices"] == {"device-quota": 1}
    assert body["exceeded_daily_quota_users"] == {}
    assert body["eps_threshold"] == 1000
    assert emulator.project("key-std").ingested == []
    assert batch(emulator.base_url, _events("device-00001")).status_code == 200  # no hot device
    assert batch(emulator.base_url, events).status_code == 200  # times used up


def test_eps_limit_throttles_devices_over_the_rate(emulator: Emulator) -> None:
    emulator.faults.eps_limit("/2/httpapi", per_device_eps=1, window_s=3)
    path = "/2/httpapi"
    assert batch(emulator.base_url, _events(*["device-busy"] * 3), path=path).status_code == 200
    response = batch(emulator.base_url, _events("device-busy", "device-calm"), path=path)
    assert response.status_code == 429
    assert response.json()["throttled_events"] == [0]
    assert response.json()["eps_threshold"] == 30
    assert batch(emulator.base_url, _events("device-calm"), path=path).status_code == 200


def test_slow_delays_the_response(emulator: Emulator) -> None:
    emulator.faults.slow("/api/2/events/list", seconds=0.3, times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(
            emulator.base_url + "/api/2/events/list", auth=("key-std", "secret-std"), timeout=0.1
        )
    assert (
        requests.get(
            emulator.base_url + "/api/2/events/list", auth=("key-std", "secret-std"), timeout=5
        ).status_code
        == 200
    )


def test_hold_parks_requests_after_the_first_n_until_released(emulator: Emulator) -> None:
    hold = emulator.faults.hold("/batch", after=1)
    # The first goes through.
    assert batch(emulator.base_url, _events("device-1")).status_code == 200
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = [pool.submit(batch, emulator.base_url, _events(f"device-{n}")) for n in (2, 3)]
        assert hold.wait_held(2) == 2
        assert not any(future.done() for future in pending)  # received, unanswered
        assert len(emulator.project("key-std").ingested) == 1
        hold.release()
        assert [future.result().status_code for future in pending] == [200, 200]
    assert len(emulator.project("key-std").ingested) == 3
    assert batch(emulator.base_url, _events("device-4")).status_code == 200  # released for good


def test_export_delay_holds_every_export(emulator: Emulator) -> None:
    emulator.faults.export_delay(0.5)
    params = {"start": DAY[0], "end": DAY[1]}
    for _ in range(2):  # a limit, not a counted fault: every export waits
        with pytest.raises(requests.ReadTimeout):
            requests.get(
                emulator.base_url + EXPORT,
                params=params,
                auth=("key-std", "secret-std"),
                timeout=0.1,
            )
    emulator.faults.clear()
    response = requests.get(
        emulator.base_url + EXPORT, params=params, auth=("key-std", "secret-std"), timeout=10
    )
    assert len(unzip_events(response.content)[1]) == 2000


def test_truncate_cuts_the_zip_mid_stream(emulator: Emulator) -> None:
    emulator.faults.truncate(EXPORT, times=1, at_fraction=0.5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        export(emulator.base_url, *DAY)
    response = requests.get(
        emulator.base_url + EXPORT,
        params={"start": DAY[0], "end": DAY[1]},
        auth=("key-std", "secret-std"),
        stream=True,
        timeout=10,
    )
    assert len(unzip_events(response.content)[1]) == 2000


def test_corrupt_is_a_200_that_is_not_a_zip(emulator: Emulator) -> None:
    emulator.faults.corrupt(EXPORT, times=1)
    response = export(emulator.base_url, *DAY)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html"
    with pytest.raises(zipfile.BadZipFile):
        unzip_events(response.content)
    assert len(unzip_events(export(emulator.base_url, *DAY).content)[1]) == 2000


def test_drop_closes_without_response(emulator: Emulator) -> None:
    emulator.faults.drop("/batch", times=1)
    with pytest.raises(requests.ConnectionError):
        batch(emulator.base_url, _events("device-00001"))
    assert emulator.requests_to("/batch")[-1].status == 0
    assert batch(emulator.base_url, _events("device-00001")).status_code == 200


def test_payload_limit_and_too_large(emulator: Emulator) -> None:
    emulator.faults.payload_limit("/batch", 200)
    assert batch(emulator.base_url, _events(*["device-00001"] * 10)).status_code == 413
    assert batch(emulator.base_url, _events("device-00001")).status_code == 200
    emulator.faults.too_large(EXPORT, max_hours=2)
    assert export(emulator.base_url, "20260101T00", "20260101T01").status_code == 200
    response = export(emulator.base_url, "20260101T00", "20260101T02")
    assert response.status_code == 400
    assert "4GB" in response.json()["error"]["message"]
    emulator.faults.too_large(EXPORT, max_hours=0)
    assert export(emulator.base_url, "20260101T00", "20260101T00").status_code == 400
    emulator.faults.clear()
    assert export(emulator.base_url, *DAY).status_code == 200


def test_faults_apply_under_the_eu_prefix_too(emulator: Emulator) -> None:
    emulator.faults.statuses("/batch", [503])
    response = batch(emulator.url("eu"), _events("device-00001"), api_key="key-eu")
    assert response.status_code == 503


def test_http_control_api(emulator: Emulator) -> None:
    base = emulator.base_url
    assert requests.post(
        base + "/_emulator/faults",
        json={"kind": "statuses", "path": EXPORT, "statuses": [504]},
        timeout=10,
    ).json() == {"ok": True}
    assert export(base, *DAY).status_code == 504
    bad = requests.post(base + "/_emulator/faults", json={"kind": "nope"}, timeout=10)
    assert bad.status_code == 400
    assert "unknown fault kind" in bad.json()["error"]
    requests.post(base + "/_emulator/faults", json={"kind": "drop", "path": EXPORT}, timeout=10)
    requests.post(base + "/_emulator/faults", json={"kind": "clear"}, timeout=10)
    assert export(base, *DAY).status_code == 200
    batch(base, _events("device-00001"))
    state = requests.get(base + "/_emulator/state", timeout=10).json()
    assert state["clock"] == "2026-01-03T00:00:00+00:00"
    std = state["projects"][0]
    assert std["ingested_count"] == 1
    assert std["export_count"] == 2001
    assert "secret-std" not in str(state)
    log = requests.get(base + "/_emulator/requests", timeout=10).json()["requests"]
    assert [entry["path"] for entry in log] == [EXPORT, EXPORT, "/batch"]
    assert [entry["status"] for entry in log] == [504, 200, 200]
    clock = requests.post(
        base + "/_emulator/clock", json={"now": "2026-02-01T00:00:00Z"}, timeout=10
    )
    assert clock.json()["clock"] == "2026-02-01T00:00:00+00:00"
    requests.post(base + "/_emulator/reset", json={"data": True}, timeout=10)
    assert emulator.requests == []
    assert emulator.project("key-std").ingested == []
