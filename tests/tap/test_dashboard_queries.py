"""Saved charts and declared dashboard queries end to end against the emulator (issue 25):
discovery, the emulator's numbers, the look-back re-read, and pacing within the hourly budget."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from amplitude_emulator import Emulator, GeneratorSpec, charts, dashboard_queries

from tests.tap.helpers import KEY, SECRET, TAP, config_for, run_tap, write_json

NOW = "2026-01-04T04:00:00Z"
EVENT = {"event_type": "Page View"}
STEPS = [{"event_type": "Page View"}, {"event_type": "Add to Cart"}, {"event_type": "Checkout"}]
QUERIES: list[dict[str, Any]] = [
    {"name": "dau_by_country", "kind": "users", "params": {"m": "active", "g": "country"}},
    {"name": "page_views", "kind": "segmentation", "params": {"e": EVENT, "m": "totals"}},
    {"name": "checkout_funnel", "kind": "funnels", "params": {"e": STEPS}},
    {
        "name": "retention",
        "kind": "retention",
        "params": {"se": {"event_type": "_new"}, "re": {"event_type": "_active"}},
    },
    {"name": "sessions_per_user", "kind": "sessions_per_user", "params": {}},
    {"name": "session_lengths", "kind": "session_length", "params": {}},
    {"name": "platforms", "kind": "composition", "params": {"p": "platform"}},
    {"name": "ltv", "kind": "revenue_ltv", "params": {"m": "3"}},
]
CHARTS = [
    {"name": "kpi_page_views", "chart_id": "kpi001"},
    {"name": "funnel_chart", "chart_id": "fun001"},
    {"name": "retention_chart", "chart_id": "ret001"},
    {"name": "country_table", "chart_id": "tab001"},
]
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    emulator = Emulator()
    project = emulator.add_project(api_key=KEY, secret_key=SECRET, project_id=187520)
    project.generate(GeneratorSpec(seed=7, events=3000, start="2026-01-01T00", hours=72, users=60))
    emulator.clock = datetime(2026, 1, 4, 4, tzinfo=UTC)
    charts.add_chart(project, "kpi001", "segmentation", [("e", json.dumps(EVENT))], days=3)
    charts.add_chart(project, "fun001", "funnels", [("e", json.dumps(s)) for s in STEPS], days=3)
    retention = [("se", json.dumps({"event_type": "_new"})), ("re", json.dumps(EVENT))]
    charts.add_chart(project, "ret001", "retention", retention, days=3)
    charts.add_chart(
        project, "tab001", "data_table", [("e", json.dumps(EVENT)), ("g", "country")], days=3
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _config(emu: Emulator, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "start_date": "2026-01-01T00:00:00Z",
        "dashboard_queries": QUERIES,
        "charts": CHARTS,
        "dashboard_lookback_days": 1,
        **overrides,
    }
    config = config_for(emu.url(), **settings)
    del config["end_date"]
    return config


def _catalog(tmp: Path, config: dict[str, Any], streams: set[str]) -> Path:
    path = write_json(tmp / "config-discover.json", config)
    done = subprocess.run(
        [TAP, "--config", str(path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    catalog = json.loads(done.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return write_json(tmp / "catalog.json", catalog)


def _get(emu: Emulator, path: str, params: list[tuple[str, str]]) -> Any:
    """The emulator's answer, asked as the docs' curl examples ask."""
    response = requests.get(emu.url() + path, params=params, auth=(KEY, SECRET), timeout=30)
    response.raise_for_status()
    return response.json()


def test_discover_lists_the_configured_charts_and_queries(emu: Emulator, tmp_path: Path) -> None:
    path = write_json(tmp_path / "config.json", _config(emu))
    done = subprocess.run(
        [TAP, "--config", str(path), "--discover"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    streams = {s["tap_stream_id"]: s for s in json.loads(done.stdout)["streams"]}
    names = {q["name"] for q in QUERIES} | {c["name"] for c in CHARTS}
    assert names <= set(streams)
    assert streams["checkout_funnel"]["key_properties"] == ["date", "segment", "step"]
    assert streams["checkout_funnel"]["replication_key"] == "date"
    assert streams["retention"]["key_properties"] == ["date", "segment", "interval"]
    assert streams["kpi_page_views"]["key_properties"] == ["chart_id", "segment", "date"]
    assert streams["retention_chart"]["key_properties"] == ["chart_id", "segment", "start_date"]
    table = streams["country_table"]["schema"]["properties"]
    assert table["daily_uniques_sum"]["type"] == ["integer", "null"]  # typed from its values
    assert table["segment"]["type"] == ["string", "null"]


def _by_key(records: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in records}


def test_a_run_delivers_the_emulators_numbers_and_the_next_rereads_the_lookback(
    emu: Emulator, tmp_path: Path
) -> None:
    config = _config(emu)
    names = {q["name"] for q in QUERIES} | {c["name"] for c in CHARTS}
    catalog = _catalog(tmp_path, config, names)
    first = run_tap(tmp_path, config, catalog=catalog, now=NOW)
    assert first.returncode == 0, first.stderr
    span = [("start", "20260101"), ("end", "20260104")]

    users = _get(emu, "/api/2/users", [*span, ("m", "active"), ("g", "country")])["data"]
    got = _by_key(first.records("dau_by_country"), "date", "segment")
    assert len(got) == len(users["series"]) * 4
    for label, values in zip(users["seriesLabels"], users["series"], strict=True):
        for day, value in zip(users["xValues"], values, strict=True):
            assert got[(day, label)]["value"] == value

    totals = _get(
        emu, "/api/2/events/segmentation", [*span, ("e", json.dumps(EVENT)), ("m", "totals")]
    )["data"]
    got = _by_key(first.records("page_views"), "date")
    assert [got[(d,)]["value"] for d in DAYS] == totals["series"][0]
    assert sum(totals["series"][0]) > 0

    funnel = _get(emu, "/api/2/funnels", [*span, *(("e", json.dumps(s)) for s in STEPS)])
    day_funnels = funnel["data"][0]["dayFunnels"]
    got = _by_key(first.records("checkout_funnel"), "date", "step")
    for day, counts in zip(day_funnels["xValues"], day_funnels["series"], strict=True):
        for step, users_at_step in enumerate(counts, start=1):
            assert got[(day, step)]["users"] == users_at_step
            assert got[(day, step)]["event"] == STEPS[step - 1]["event_type"]

    retention = _get(
        emu,
        "/api/2/retention",
        [*span, ("se", '{"event_type":"_new"}'), ("re", '{"event_type":"_active"}')],
    )
    values = retention["data"]["series"][0]["values"]
    got = _by_key(first.records("retention"), "date", "interval")
    assert got[("2026-01-01", 1)]["count"] == values["Jan 01"][2]["count"]
    assert got[("2026-01-01", 0)]["cohort_users"] == values["Jan 01"][0]["count"] > 0

    for day in DAYS[:3]:
        one = [("start", day.replace("-", "")), ("end", day.replace("-", ""))]
        lengths = _get(emu, "/api/2/sessions/length", one)["data"]
        rows = [r for r in first.records("session_lengths") if r["date"] == day]
        assert [r["sessions"] for r in rows] == lengths["series"][0]
        assert [r["bucket"] for r in rows] == lengths["xValues"]
        platforms = _get(emu, "/api/2/composition", [*one, ("p", "platform")])["data"]
        rows = [r for r in first.records("platforms") if r["date"] == day]
        assert {r["value"]: r["users"] for r in rows} == dict(
            zip(platforms["xValues"], platforms["series"][0], strict=True)
        )

    per_user = _get(emu, "/api/2/sessions/peruser", span)["data"]["series"][0]
    got = _by_key(first.records("sessions_per_user"), "date")
    assert [got[(d,)]["value"] for d in DAYS] == per_user
    ltv = _get(emu, "/api/2/revenue/ltv", [*span, ("m", "3")])["data"]["series"][0]["values"]
    got = _by_key(first.records("ltv"), "date")
    assert {d: got[(d,)]["count"] for d in DAYS} == {d: ltv[d]["count"] for d in DAYS}
    assert got[("2026-01-01",)]["ltv"]["r1d"] == ltv["2026-01-01"]["r1d"]

    kpi = first.records("kpi_page_views")
    chart_span = [("start", "20260101"), ("end", "20260103"), ("e", json.dumps(EVENT))]
    uniques = _get(emu, "/api/2/events/segmentation", chart_span)["data"]["series"][0]
    assert [r["value"] for r in kpi] == uniques
    assert {(r["chart_id"], r["range_start"], r["range_end"]) for r in kpi} == {
        ("kpi001", "2026-01-01", "2026-01-03")
    }
    steps = first.records("funnel_chart")
    assert steps[0]["step_1_page_view"] >= steps[0]["step_2_add_to_cart"] > 0
    cohorts = first.records("retention_chart")
    assert [r["start_date"] for r in cohorts] == DAYS[:3]
    assert cohorts[0]["users"] > 0
    assert cohorts[2]["day_1"] is None  # not yet measured
    by_country = _get(emu, "/api/2/events/segmentation", [*chart_span, ("g", "country")])
    assert len(first.records("country_table")) == len(by_country["data"]["seriesLabels"])

    # The second run re-reads only dashboard_lookback_days (1) before each bookmark (Jan 4).
    emu.reset_requests()
    second = run_tap(tmp_path, config, catalog=catalog, state=first.states[-1], now=NOW)
    assert second.returncode == 0, second.stderr
    expected = {path: ["20260103"] for path in ["/api/2/users", *dashboard_queries.PATHS]}
    # One day per request; no user was active on Jan 4, so composition's newest row (its
    # bookmark) is Jan 3, and it re-reads from Jan 2.
    expected["/api/2/sessions/length"] = ["20260103", "20260104"]
    expected["/api/2/composition"] = ["20260102", "20260103", "20260104"]
    for path, starts in expected.items():
        assert sorted(r.query["start"] for r in emu.requests_to(path)) == starts, path
    for query in QUERIES:
        days = {r["date"] for r in second.records(query["name"])}
        assert days <= {"2026-01-02", "2026-01-03", "2026-01-04"}, query["name"]
        assert second.records(query["name"]), query["name"]


def test_a_run_over_the_hourly_budget_waits_and_says_so(emu: Emulator, tmp_path: Path) -> None:
    # Each query costs (days) x (conditions) x (its type's cost): 4 days of these queries cost
    # 108 (users g=country 20, segmentation 4, funnel of 3 steps 24, retention 32, sessions per
    # user 16, the other three 4 each); at 40 per hour the tap waits for hours to pass (a
    # frozen clock: no real sleep) and delivers everything.
    config = _config(emu, dashboard_cost_per_hour=40, charts=[])
    catalog = _catalog(tmp_path, config, {q["name"] for q in QUERIES})
    run = run_tap(tmp_path, config, catalog=catalog, now=NOW)
    assert run.returncode == 0, run.stderr
    assert "the Dashboard REST budget of 40 cost per hour" in run.stderr
    assert "waiting" in run.stderr
    slept = [
        float(line.split()[-1])
        for line in run.stderr.splitlines()
        if line.startswith("frozen-clock: slept")
    ]
    assert slept
    assert sum(slept) >= 3600 * 2  # 108 cost at 40 per hour: two hours of waiting at least
    # The emulator charged the documented costs, as the tap paid them (it does not charge
    # /api/2/users, the one endpoint active_users shares: 108 - 20).
    assert dashboard_queries.ledger(emu.project(KEY)).total == 88
    assert all(run.records(q["name"]) for q in QUERIES)


def test_a_bad_query_fails_before_any_request(emu: Emulator, tmp_path: Path) -> None:
    bad = [{"name": "broken", "kind": "funnels", "params": {"e": [EVENT]}}]
    run = run_tap(tmp_path, _config(emu, dashboard_queries=bad))
    assert run.returncode != 0
    assert "query 'broken', parameter `e`" in run.stderr
    assert emu.requests == []


def test_a_deleted_chart_fails_naming_it(emu: Emulator, tmp_path: Path) -> None:
    charts.remove_chart(emu.project(KEY), "fun001")
    config = _config(emu, dashboard_queries=[])
    path = write_json(tmp_path / "config.json", config)
    done = subprocess.run(
        [TAP, "--config", str(path), "--discover"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Chart 'funnel_chart' (chart_id 'fun001')" in done.stderr
    assert "HTTP 404" in done.stderr


def test_days_are_project_days(emu: Emulator) -> None:
    # (a guard on the fixture: the emulator's day is the tap's now, in UTC)
    assert emu.clock.date() == date(2026, 1, 4)
