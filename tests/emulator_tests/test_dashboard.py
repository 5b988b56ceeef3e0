"""Dashboard REST endpoints, annotations and cohorts."""

from __future__ import annotations

import pytest
import requests
from amplitude_emulator import Emulator

from tests.emulator_tests.helpers import STD_AUTH, batch

DAYS = {"start": "20260101", "end": "20260102"}


def _get(emulator: Emulator, path: str, auth=STD_AUTH, **params) -> requests.Response:
    return requests.get(emulator.base_url + path, params=params, auth=auth, timeout=10)


def test_active_users_shape_and_figures(emulator: Emulator) -> None:
    data = _get(emulator, "/api/2/users", **DAYS).json()["data"]
    assert data["xValues"] == ["2026-01-01", "2026-01-02"]
    assert data["seriesLabels"] == [0]
    assert data["seriesMeta"] == [{"segmentIndex": 0}]
    assert data["series"] == [[200, 0]]
    assert data["seriesCollapsed"] == [[{"setId": "", "value": 200}]]
    batch(
        emulator.base_url, [{"event_type": "x", "user_id": "user-new-1", "time": 1767312000000}]
    )  # 2026-01-02
    data = _get(emulator, "/api/2/users", **DAYS).json()["data"]
    assert data["series"] == [[200, 1]]
    new = _get(emulator, "/api/2/users", m="new", **DAYS).json()["data"]
    assert new["series"][0][1] == 1


def test_group_by_country_and_intervals(emulator: Emulator) -> None:
    data = _get(emulator, "/api/2/users", g="country", **DAYS).json()["data"]
    assert len(data["seriesLabels"]) == 6
    assert "Germany" in data["seriesLabels"]
    assert sum(series[0] for series in data["series"]) == 200
    assert len(data["seriesMeta"]) == len(data["series"]) == len(data["seriesCollapsed"])
    weekly = _get(emulator, "/api/2/users", i="7", start="20251229", end="20260111").json()["data"]
    assert weekly["xValues"] == ["2025-12-29", "2026-01-05"]
    monthly = _get(emulator, "/api/2/users", i="30", start="20251201", end="20260131").json()
    assert monthly["data"]["xValues"] == ["2025-12-01", "2026-01-01"]


def test_users_errors(emulator_factory) -> None:
    emu = emulator_factory(
        [{"api_key": "k-nc", "secret_key": "s-nc", "country_group_by_ok": False}]
    )
    response = _get(emu, "/api/2/users", auth=("k-nc", "s-nc"), g="country", **DAYS)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["http_code"] == 400
    assert error["type"] == "invalid"
    assert error["message"] == "Invalid chart definition"
    assert error["metadata"] == {"details": "Invalid user property country"}
    assert _get(emu, "/api/2/users", auth=("k-nc", "s-nc"), **DAYS).status_code == 200
    for params in [
        {"start": "2026-01-01", "end": "20260102"},
        {"start": "20260101"},
        {**DAYS, "m": "weird"},
        {**DAYS, "i": "2"},
        {**DAYS, "g": "shoe_size"},
        {"start": "20260102", "end": "20260101"},
    ]:
        bad = _get(emu, "/api/2/users", auth=("k-nc", "s-nc"), **params)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["http_code"] == 400, params


# The group-bys the Dashboard REST docs list; each label as the user property definitions
# show it (OS = os_name + os_version, Paying "true" or none).
GROUP_BYS = {
    "country": "United States",
    "city": "San Francisco",
    "region": "California",
    "DMA": "San Francisco-Oakland-San Jose, CA",
    "language": "English",
    "platform": "iOS",
    "os": "ios 17.2",
    "device": "Apple iPhone",
    "version": None,
    "start_version": None,
    "paying": None,
}


@pytest.mark.parametrize(("group_by", "expected_label"), GROUP_BYS.items())
def test_every_documented_group_by_splits_the_users(
    emulator: Emulator, group_by: str, expected_label: str | None
) -> None:
    plain = _get(emulator, "/api/2/users", **DAYS).json()["data"]
    response = _get(emulator, "/api/2/users", g=group_by, **DAYS)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data["seriesLabels"]) >= 2
    assert all(isinstance(label, str) for label in data["seriesLabels"])
    # every user is in exactly one group: the groups add up to the ungrouped counts
    assert [sum(column) for column in zip(*data["series"], strict=True)] == plain["series"][0]
    if expected_label is not None:
        assert expected_label in data["seriesLabels"]
    lower = _get(emulator, "/api/2/users", g=group_by.lower(), **DAYS)
    assert lower.json()["data"]["seriesLabels"] == data["seriesLabels"]


def test_sessions_average(emulator: Emulator) -> None:
    response = _get(emulator, "/api/2/sessions/average", **DAYS)
    data = response.json()["data"]
    assert data["xValues"] == ["2026-01-01", "2026-01-02"]
    assert data["seriesMeta"] == [{"segmentIndex": 0}]
    assert data["seriesLabels"] == [0]
    assert data["series"][0][0] > 0
    assert data["series"][0][1] == 0.0
    assert _get(emulator, "/api/2/sessions/average", start="x", end="y").status_code == 400


def test_events_list(emulator: Emulator) -> None:
    rows = _get(emulator, "/api/2/events/list").json()["data"]
    assert [row["name"] for row in rows] == [
        "Page View",
        "Add to Cart",
        "Checkout",
        "Sign Up",
        "Search",
    ]
    assert sum(row["totals"] for row in rows) >= 2000
    assert set(rows[0]) == {
        "id",
        "value",
        "display",
        "name",
        "totals",
        "totals_delta",
        "deleted",
        "hidden",
        "non_active",
        "flow_hidden",
        "autohidden",
        "in_waitroom",
        "clusters_hidden",
        "timeline_hidden",
    }


def test_annotations_v2_and_v3(emulator: Emulator) -> None:
    v2 = _get(emulator, "/api/2/annotations").json()["data"]
    v3 = _get(emulator, "/api/3/annotations").json()["data"]
    assert len(v2) == len(v3) >= 2
    assert set(v2[0]) == {"id", "date", "label", "details"}
    assert set(v3[0]) == {"id", "start", "end", "label", "details", "category", "chart_id"}
    assert v3[0]["start"].endswith("+00:00")
    assert v2[0]["date"] == v3[0]["start"][:10]
    only_day_one = _get(emulator, "/api/3/annotations", start="2026-01-01", end="2026-01-01")
    assert 0 < len(only_day_one.json()["data"]) < len(v3)
    releases = _get(emulator, "/api/3/annotations", category="Releases").json()["data"]
    assert releases
    assert all(a["category"]["name"] == "Releases" for a in releases)


def test_annotations_v3_absent_is_404(emulator_factory) -> None:
    emu = emulator_factory([{"api_key": "k-v2", "secret_key": "s-v2", "annotations_v3": False}])
    response = _get(emu, "/api/3/annotations", auth=("k-v2", "s-v2"))
    assert response.status_code == 404
    assert response.json()["error"]["http_code"] == 404
    assert _get(emu, "/api/2/annotations", auth=("k-v2", "s-v2")).status_code == 200


def test_cohorts(emulator: Emulator) -> None:
    cohorts = _get(emulator, "/api/3/cohorts").json()["cohorts"]
    assert len(cohorts) >= 2
    assert {
        "appId",
        "archived",
        "definition",
        "id",
        "name",
        "size",
        "lastComputed",
        "createdAt",
        "owners",
        "viewers",
    } <= set(cohorts[0])
    with_sync = _get(emulator, "/api/3/cohorts", includeSyncInfo="true").json()["cohorts"]
    assert with_sync[0]["syncMetadata"] == []


def test_cohorts_without_the_add_on_is_403(emulator_factory) -> None:
    emu = emulator_factory([{"api_key": "k-nc", "secret_key": "s-nc", "cohorts_enabled": False}])
    response = _get(emu, "/api/3/cohorts", auth=("k-nc", "s-nc"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "forbidden"
    assert "add-on" in error["message"]


def test_every_read_endpoint_requires_credentials(emulator: Emulator) -> None:
    for path in [
        "/api/2/users",
        "/api/2/sessions/average",
        "/api/2/events/list",
        "/api/2/annotations",
        "/api/3/annotations",
        "/api/3/cohorts",
    ]:
        assert _get(emulator, path, auth=("key-std", "bad"), **DAYS).status_code == 401
    assert _get(emulator, "/api/9/unknown").status_code == 404
    assert requests.post(emulator.base_url + "/api/2/users", timeout=10).status_code == 405
