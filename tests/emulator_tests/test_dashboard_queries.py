"""The Dashboard REST query endpoints, saved charts and deletion job statuses of the emulator
(issue 25), asked as the docs' curl examples ask."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from amplitude_emulator import Emulator, charts, dashboard_queries
from amplitude_emulator.user_admin import DeletionJob

AUTH = ("key-std", "secret-std")
SPAN = [("start", "20260101"), ("end", "20260102")]
PAGE_VIEW = json.dumps({"event_type": "Page View"})


def _get(emulator: Emulator, path: str, params: list[tuple[str, str]]) -> requests.Response:
    return requests.get(emulator.base_url + path, params=params, auth=AUTH, timeout=30)


def test_segmentation_body_and_metrics(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/events/segmentation", [*SPAN, ("e", PAGE_VIEW)]).json()["data"]
    assert set(body) == {"series", "seriesLabels", "seriesCollapsed", "xValues"}
    assert body["xValues"] == ["2026-01-01", "2026-01-02"]
    uniques = body["series"][0]
    totals = _get(
        emulator, "/api/2/events/segmentation", [*SPAN, ("e", PAGE_VIEW), ("m", "totals")]
    )
    assert totals.json()["data"]["series"][0][0] >= uniques[0] > 0
    grouped = _get(
        emulator, "/api/2/events/segmentation", [*SPAN, ("e", PAGE_VIEW), ("g", "country")]
    )
    labels = grouped.json()["data"]["seriesLabels"]
    assert all(isinstance(label, list) and label[0] == 0 for label in labels)
    assert sum(row[0] for row in grouped.json()["data"]["series"]) == uniques[0]


def test_funnel_retention_and_the_other_shapes(emulator: Emulator) -> None:
    steps = [("e", PAGE_VIEW), ("e", json.dumps({"event_type": "Add to Cart"}))]
    funnel = _get(emulator, "/api/2/funnels", [*SPAN, *steps]).json()["data"][0]
    assert funnel["events"] == ["Page View", "Add to Cart"]
    assert funnel["cumulativeRaw"][0] >= funnel["cumulativeRaw"][1]
    day_rows = funnel["dayFunnels"]["series"]
    assert [sum(col) for col in zip(*day_rows, strict=True)] == funnel["cumulativeRaw"]

    both = [("se", '{"event_type":"_new"}'), ("re", '{"event_type":"_active"}')]
    series = _get(emulator, "/api/2/retention", [*SPAN, *both]).json()["data"]["series"][0]
    assert series["dates"] == ["Jan 02", "Jan 01"]  # descending, "Mon DD"
    first = series["values"]["Jan 01"]
    assert first[0]["count"] == first[1]["count"] == first[0]["outof"] > 0  # size, then day 0

    per_user = _get(emulator, "/api/2/sessions/peruser", SPAN).json()["data"]
    assert per_user["seriesMeta"] == [{"segmentIndex": 0}]
    assert len(per_user["series"][0]) == 2
    lengths = _get(emulator, "/api/2/sessions/length", SPAN).json()["data"]
    assert lengths["xValues"][0] == "0s-3s"
    assert lengths["xValues"][-1] == "3600s-86400s"
    composition = _get(emulator, "/api/2/composition", [*SPAN, ("p", "platform")]).json()["data"]
    assert composition["seriesLabels"] == ["platform"]
    assert len(composition["xValues"]) == len(composition["series"][0])
    ltv = _get(emulator, "/api/2/revenue/ltv", SPAN).json()["data"]
    assert ltv["series"][0]["dates"] == ["2026-01-02", "2026-01-01"]
    assert {"r1d", "r90d", "count", "paid", "total_amount"} <= set(
        ltv["series"][0]["values"]["2026-01-01"]
    )


@pytest.mark.parametrize(
    ("path", "params", "cost"),
    [
        ("/api/2/events/segmentation", [("e", PAGE_VIEW)], 2),
        ("/api/2/events/segmentation", [("e", PAGE_VIEW), ("g", "country")], 10),
        ("/api/2/funnels", [("e", PAGE_VIEW), ("e", PAGE_VIEW)], 8),
        ("/api/2/retention", [("se", PAGE_VIEW), ("re", PAGE_VIEW)], 16),
        ("/api/2/sessions/peruser", [], 8),
        ("/api/2/composition", [("p", "country"), ("s", '[{"prop":"x"}]')], 4),
    ],
)
def test_costs_are_charged_as_documented(
    emulator: Emulator, path: str, params: list[tuple[str, str]], cost: int
) -> None:
    assert _get(emulator, path, [*SPAN, *params]).status_code == 200
    assert dashboard_queries.ledger(emulator.project("key-std")).log == [(path, cost)]


def test_over_the_hourly_cost_is_429_until_the_hour_has_passed(emulator: Emulator) -> None:
    ledger = dashboard_queries.ledger(emulator.project("key-std"))
    ledger.per_hour = 20
    assert _get(emulator, "/api/2/retention", [*SPAN, ("se", PAGE_VIEW), ("re", PAGE_VIEW)]).ok
    refused = _get(emulator, "/api/2/sessions/peruser", SPAN)  # 16 + 8 > 20
    assert refused.status_code == 429
    assert "cost per hour" in refused.json()["error"]["message"]
    emulator.advance(timedelta(hours=1))
    assert _get(emulator, "/api/2/sessions/peruser", SPAN).ok


def test_saved_charts_csv_query_and_404(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    charts.add_chart(project, "abc123", "segmentation", [("e", PAGE_VIEW)], days=2)
    csv_text = _get(emulator, "/api/3/chart/abc123/csv", []).json()["data"]
    lines = csv_text.split("\r\n")
    assert lines[2] == '"Segment","2026-01-01T00:00:00","2026-01-02T00:00:00"'
    assert lines[3].startswith('"\tAll Users",')
    query = _get(emulator, "/api/3/chart/abc123/query", []).json()["data"]
    assert query["xValues"] == ["2026-01-01", "2026-01-02"]
    assert lines[3].split(",")[1:] == [f'"{v}"' for v in query["series"][0]]
    gone = _get(emulator, "/api/3/chart/nope/csv", [])
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "Chart not found"


def test_deletion_jobs_move_from_staging_to_submitted_to_done(emulator: Emulator) -> None:
    day = datetime(2026, 1, 13, tzinfo=UTC)
    entry: dict[str, Any] = {"amplitude_id": 1, "requester": "a@b.c", "requested_on_day": "x"}
    emulator.project("key-std").admin.jobs[day.date()] = DeletionJob(day.date(), [entry])
    seen = []
    for now in (day - timedelta(days=4), day - timedelta(days=3), day):
        emulator.clock = now
        jobs = _get(
            emulator,
            "/api/2/deletions/users",
            [("start_day", "2026-01-01"), ("end_day", "2026-01-31")],
        ).json()
        seen.append(jobs[0]["status"])
    assert seen == ["staging", "submitted", "done"]
