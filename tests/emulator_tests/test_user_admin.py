"""/usermap, /api/2/deletions/users, /api/3/cohorts/upload and /membership (user_admin.py)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import requests

from tests.emulator_tests.helpers import STD_AUTH, export, unzip_events

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

DELETIONS = "/api/2/deletions/users"


def _seed(emulator: Emulator, *user_ids: str) -> None:
    emulator.project("key-std").ingest(
        [{"event_type": "Seen", "user_id": u, "insert_id": f"seen-{u}"} for u in user_ids],
        "/batch",
    )


def _usermap(base: str, mapping: object, api_key: str = "key-std") -> requests.Response:
    return requests.post(
        f"{base}/usermap",
        data={"api_key": api_key, "mapping": json.dumps(mapping)},
        timeout=10,
    )


def test_usermap_form_fields_limits_and_eu_host(emulator: Emulator) -> None:
    base = emulator.base_url
    answer = _usermap(
        base, [{"user_id": "u1", "global_user_id": "g1"}, {"user_id": "u2", "global_user_id": "g1"}]
    )
    assert (answer.status_code, answer.text) == (200, "success")
    assert emulator.project("key-std").admin.usermap == {"u1": "g1", "u2": "g1"}
    assert _usermap(base, {"user_id": "u2", "unmap": True}).status_code == 200
    assert emulator.project("key-std").admin.usermap == {"u1": "g1"}
    assert _usermap(base, [{"user_id": "u3"}]).status_code == 400  # global_user_id required
    assert (
        _usermap(
            base, [{"user_id": f"x{i}", "global_user_id": "g"} for i in range(2001)]
        ).status_code
        == 413
    )
    eu = _usermap(emulator.url("eu"), {"user_id": "e1", "global_user_id": "g"}, api_key="key-eu")
    assert eu.status_code == 200
    assert emulator.project("key-eu").admin.usermap == {"e1": "g"}


def test_usermap_throttles_over_1500_mappings_in_30_seconds(emulator: Emulator) -> None:
    base = emulator.base_url
    first = [{"user_id": f"a{i}", "global_user_id": "g"} for i in range(1500)]
    assert _usermap(base, first).status_code == 200
    answer = _usermap(base, {"user_id": "one-more", "global_user_id": "g"})
    assert answer.status_code == 429
    assert "one-more" not in emulator.project("key-std").admin.usermap


def test_a_mapped_users_later_events_count_under_the_global_user(emulator: Emulator) -> None:
    _usermap(emulator.base_url, {"user_id": "phone", "global_user_id": "person"})
    _seed(emulator, "person", "phone")
    events = [
        e
        for e in emulator.project("key-std").export_events(0, 1 << 40)
        if e["event_type"] == "Seen"
    ]
    ids = {e["user_id"]: e["amplitude_id"] for e in events}
    assert ids["phone"] == ids["person"]


def test_deletions_rules_jobs_and_effect_on_exports(emulator: Emulator) -> None:
    base = emulator.base_url
    _seed(emulator, "d1", "d2", "keep")
    url = f"{base}{DELETIONS}"
    refused = requests.post(
        url, auth=STD_AUTH, json={"user_ids": ["d1", "nobody"], "requester": "a@b.c"}, timeout=10
    )
    assert refused.status_code == 400  # ignore_invalid_id off: nothing marked
    time.sleep(1.0)
    assert (
        requests.post(
            url, auth=("key-std", "wrong"), json={"user_ids": ["d1"]}, timeout=10
        ).status_code
        == 401
    )
    for flag in (True, "true", "yes", 1):  # the server takes only the strings 'True'/'False'
        wrong = {"user_ids": ["d1"], "requester": "a@b.c", "ignore_invalid_id": flag}
        answer = requests.post(url, auth=STD_AUTH, json=wrong, timeout=10)
        assert answer.status_code == 400, flag
        assert (
            answer.json()["error"]["message"] == "ignore_invalid_id can only be 'True' or 'False'"
        )
    body = {"user_ids": ["d1", "d2", "nobody"], "requester": "a@b.c", "ignore_invalid_id": "True"}
    answer = requests.post(url, auth=STD_AUTH, json=body, timeout=10)
    assert answer.status_code == 200
    (job,) = answer.json()
    assert job["day"] == "2026-01-13"
    assert job["status"] == "staging"
    assert job["invalid_ids"] == ["nobody"]
    assert [e["user_id"] for e in job["amplitude_ids"]] == ["d1", "d2"]
    too_soon = requests.post(url, auth=STD_AUTH, json={**body, "user_ids": ["keep"]}, timeout=10)
    assert too_soon.status_code == 429  # 1 request per second
    time.sleep(1.0)
    over = requests.post(
        url, auth=STD_AUTH, json={**body, "user_ids": [f"x{i}" for i in range(101)]}, timeout=10
    )
    assert over.status_code == 400  # 100 ids per request
    listed = requests.get(
        url, auth=STD_AUTH, params={"start_day": "2026-01-03", "end_day": "2026-02-02"}, timeout=10
    )
    assert [j["day"] for j in listed.json()] == ["2026-01-13"]
    wide = requests.get(
        url, auth=STD_AUTH, params={"start_day": "2026-01-01", "end_day": "2026-12-31"}, timeout=10
    )
    assert wide.status_code == 400  # at most six months

    def exported_users() -> set[str]:
        reply = export(base, "20260103T00", "20260103T23")
        return {e["user_id"] for e in unzip_events(reply.content)[1]}

    assert exported_users() == {"d1", "d2", "keep"}
    emulator.advance(timedelta(days=10))
    assert exported_users() == {"keep"}
    listed = requests.get(
        url, auth=STD_AUTH, params={"start_day": "2026-01-03", "end_day": "2026-02-02"}, timeout=10
    )
    assert listed.json()[0]["status"] == "done"


def test_cohort_upload_membership_and_list(emulator: Emulator) -> None:
    base = emulator.base_url
    _seed(emulator, "m1", "m2", "m3")
    upload = {
        "name": "VIP",
        "app_id": 187520,
        "id_type": "BY_USER_ID",
        "ids": ["m1", "m2", "ghost"],
        "owner": "o@example.com",
        "published": True,
    }
    dry = requests.post(
        f"{base}/api/3/cohorts/upload",
        auth=STD_AUTH,
        json={**upload, "skip_save": True},
        timeout=10,
    )
    assert dry.json()["metadata"] == {"matched": 2, "totals": 3, "invalid_ids_sample": ["ghost"]}
    assert emulator.project("key-std").admin.cohorts == {}
    wrong_app = requests.post(
        f"{base}/api/3/cohorts/upload", auth=STD_AUTH, json={**upload, "app_id": 1}, timeout=10
    )
    assert wrong_app.status_code == 400
    strict = requests.post(
        f"{base}/api/3/cohorts/upload",
        auth=STD_AUTH,
        json={**upload, "skip_invalid_ids": False},
        timeout=10,
    )
    assert strict.status_code == 400
    made = requests.post(
        f"{base}/api/3/cohorts/upload", auth=STD_AUTH, json=upload, timeout=10
    ).json()
    cohort_id = made["cohortId"]
    membership = {
        "cohort_id": cohort_id,
        "memberships": [
            {"ids": ["m3", "ghost"], "id_type": "BY_NAME", "operation": "ADD"},
            {"ids": ["m1"], "id_type": "BY_NAME", "operation": "REMOVE"},
        ],
    }
    answer = requests.post(
        f"{base}/api/3/cohorts/membership", auth=STD_AUTH, json=membership, timeout=10
    )
    assert answer.json()["memberships_result"][0]["skipped_ids"] == ["ghost"]
    bad_type = {
        **membership,
        "memberships": [{"ids": ["m3"], "id_type": "BY_USER_ID", "operation": "ADD"}],
    }
    assert (
        requests.post(
            f"{base}/api/3/cohorts/membership", auth=STD_AUTH, json=bad_type, timeout=10
        ).status_code
        == 400
    )
    listed = requests.get(f"{base}/api/3/cohorts", auth=STD_AUTH, timeout=10).json()["cohorts"]
    (vip,) = [c for c in listed if c["id"] == cohort_id]
    assert vip["size"] == 2
    assert vip["type"] == "manual_upload"
    assert set(emulator.project("key-std").admin.members[cohort_id]) == {"m2", "m3"}
    replaced = requests.post(
        f"{base}/api/3/cohorts/upload",
        auth=STD_AUTH,
        json={**upload, "ids": ["m1"], "existing_cohort_id": cohort_id},
        timeout=10,
    )
    assert replaced.json()["cohortId"] == cohort_id
    assert set(emulator.project("key-std").admin.members[cohort_id]) == {"m1"}
