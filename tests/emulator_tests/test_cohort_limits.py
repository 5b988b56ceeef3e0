"""The cohort download's documented limits and its Get usage answer (cohort_limits.py).

Behavioral Cohorts API docs (content/collections/api/en/behavioral-cohorts.md in
amplitude/amplitude-docs, "Considerations"): "60 requests per 10 minutes per app, and 4 parallel
request per minute per app"; "a maximum cohort size of 2 million users"; "a limit of 500
requests per month. Each Get one cohort request counts toward this limit. Use the Get usage
endpoint to check your current usage" (amplitude.com/docs/apis/analytics/behavioral-cohorts).
"""

from __future__ import annotations

import requests
from amplitude_emulator import Emulator
from amplitude_emulator.cohort_limits import CohortLimits

from tests.emulator_tests.helpers import STD_AUTH


def _request(emulator: Emulator, cohort_id: str) -> requests.Response:
    url = f"{emulator.base_url}/api/5/cohorts/request/{cohort_id}"
    return requests.get(url, auth=STD_AUTH, timeout=10)


def _usage(emulator: Emulator) -> dict:
    answer = requests.get(f"{emulator.base_url}/api/3/cohorts/usage", auth=STD_AUTH, timeout=10)
    assert answer.status_code == 200
    return answer.json()


def test_a_61st_request_within_10_minutes_is_refused_then_allowed(emulator: Emulator) -> None:
    now = [0.0]
    project = emulator.project("key-std")
    project.cohort_limits = CohortLimits(clock=lambda: now[0])
    project.add_cohort("Small", 3, cohort_id="small01")
    for _ in range(60):
        assert _request(emulator, "small01").status_code == 202
        now[0] += 1
    refused = _request(emulator, "small01")
    assert refused.status_code == 429
    assert "60 per 10 minutes" in refused.json()["error"]["message"]
    now[0] = 600.0  # the first request is now 10 minutes old
    assert _request(emulator, "small01").status_code == 202


def test_usage_counts_every_request_and_the_month_ends_at_500(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    project.add_cohort("Small", 3, cohort_id="small01")
    project.add_cohort("Too big", 2_000_001, cohort_id="huge001")
    assert _usage(emulator) == {
        "rest_download": {"limit": 500, "usage": 0, "resets_at": "2026-02-01T00:00:00Z"}
    }
    assert _request(emulator, "small01").status_code == 202
    too_big = _request(emulator, "huge001")
    assert too_big.status_code == 400  # counted, then refused: cohort sync serves those
    assert "2000000" in too_big.json()["error"]["message"]
    assert _usage(emulator)["rest_download"]["usage"] == 2
    project.cohort_limits.used = 500
    spent = _request(emulator, "small01")
    assert spent.status_code == 429
    assert "Monthly" in spent.json()["error"]["message"]
