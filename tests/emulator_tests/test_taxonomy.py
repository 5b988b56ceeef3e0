"""The Taxonomy API: bodies, showDeleted, hidden items, the plan gate and the cost limits."""

from __future__ import annotations

import requests
from amplitude_emulator import Emulator
from amplitude_emulator.taxonomy import TaxonomyLimits

from tests.emulator_tests.helpers import STD_AUTH


def _get(emulator: Emulator, path: str, auth=STD_AUTH, **params) -> requests.Response:
    return requests.get(
        f"{emulator.base_url}/api/2/taxonomy/{path}", params=params, auth=auth, timeout=10
    )


def test_bodies_deleted_only_with_show_deleted_and_hidden_never(emulator: Emulator) -> None:
    body = _get(emulator, "category").json()
    assert body["success"] is True
    assert {c["name"] for c in body["data"]} == {"Commerce", "Engagement"}
    events = {e["event_type"] for e in _get(emulator, "event").json()["data"]}
    with_deleted = {
        e["event_type"] for e in _get(emulator, "event", showDeleted="true").json()["data"]
    }
    assert with_deleted - events == {"Legacy Signup"}
    assert "Internal Debug" not in with_deleted  # hidden: never returned
    users = _get(emulator, "user-property").json()["data"]
    assert "gp:old_flag" not in {u["user_property"] for u in users}
    users = _get(emulator, "user-property", showDeleted="true").json()["data"]
    assert {u["user_property"]: u["deleted"] for u in users} == {
        "gp:plan": False,
        "gp:company": False,
        "gp:old_flag": True,
    }
    groups = _get(emulator, "group-property", group_type="company").json()["data"]
    assert {g["group_property"] for g in groups} == {"grp:industry", "grp:seats"}


def test_event_properties_per_event_type_shared_without_and_unknown_is_400(
    emulator: Emulator,
) -> None:
    name = sorted(_get(emulator, "event").json()["data"], key=lambda e: e["event_type"])[0]
    per_type = _get(emulator, "event-property", event_type=name["event_type"]).json()["data"]
    assert {p["event_property"] for p in per_type} == {"item_id", "price"}
    assert {p["event_type"] for p in per_type} == {name["event_type"]}
    shared = _get(emulator, "event-property").json()["data"]
    assert [p["event_property"] for p in shared] == ["source"]
    unknown = _get(emulator, "event-property", event_type="No Such Event")
    assert unknown.status_code == 400
    assert unknown.json() == {"success": False, "errors": [{"message": "Not found"}]}


def test_without_an_enterprise_plan_every_taxonomy_call_is_404(emulator_factory) -> None:
    emu = emulator_factory([{"api_key": "k-nt", "secret_key": "s-nt", "taxonomy_enabled": False}])
    for path in ("category", "event", "event-property", "user-property", "group-property"):
        response = _get(emu, path, auth=("k-nt", "s-nt"))
        assert response.status_code == 404, path
        assert response.json()["success"] is False


def test_cost_limits_4_at_a_time_and_per_hour_then_429(emulator: Emulator) -> None:
    limits = TaxonomyLimits()
    assert all(limits.enter() is None for _ in range(4))
    assert "4 cost at the same time" in (limits.enter() or "")
    limits.leave()
    assert limits.enter() is None
    project = emulator.project("key-std")
    project.taxonomy_limits = TaxonomyLimits(hourly=3)
    assert [_get(emulator, "category").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert "7200 cost per hour" in _get(emulator, "category").json()["errors"][0]["message"]
