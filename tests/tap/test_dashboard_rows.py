"""The declared queries' checks, costs and rows, and the saved charts' tables, on the bodies
Amplitude's Dashboard REST docs show (amplitude-docs: content/collections/api/en/
dashboard-rest.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from tap_amplitude.chart_table import ChartTableError, parse_chart
from tap_amplitude.dashboard_query_kinds import QueryError, parse_query
from tap_amplitude.settings import SettingsError, parse_settings

JAN = (dt.date(2017, 8, 14), dt.date(2017, 8, 15))


def _query(kind: str, **params: Any) -> Any:
    return parse_query({"name": "q", "kind": kind, "params": params})


def test_users_rows_follow_series_labels_and_x_values() -> None:
    body = {
        "data": {
            "series": [[46109, 47542], [42845, 42626]],
            "seriesMeta": ["United States", "Canada"],
            "xValues": ["2017-08-14", "2017-08-15"],
        }
    }
    rows = list(_query("users", g="country").rows(body, *JAN))
    assert rows == [
        {"date": "2017-08-14", "segment": "United States", "value": 46109},
        {"date": "2017-08-15", "segment": "United States", "value": 47542},
        {"date": "2017-08-14", "segment": "Canada", "value": 42845},
        {"date": "2017-08-15", "segment": "Canada", "value": 42626},
    ]


def test_funnel_rows_are_day_funnels_per_step() -> None:
    body = {
        "data": [
            {
                "meta": {"segmentIndex": 0},
                "dayFunnels": {
                    "series": [[125259, 123716, 118636], [126964, 125373, 119986]],
                    "xValues": ["2017-08-14", "2017-08-15"],
                },
                "cumulativeRaw": [163054, 161670, 157485],
                "events": ["Search Song or Video", "Select Song or Video", "Play Song or Video"],
            }
        ]
    }
    steps = [{"event_type": e} for e in ("a", "b", "c")]
    rows = list(_query("funnels", e=steps).rows(body, *JAN))
    assert len(rows) == 6
    assert rows[2] == {
        "date": "2017-08-14",
        "segment": "",
        "step": 3,
        "event": "Play Song or Video",
        "users": 118636,
    }


def test_retention_rows_map_month_day_labels_into_the_range() -> None:
    cell = {"count": 12864, "outof": 12864, "incomplete": False}
    body = {
        "data": {
            "series": [
                {
                    "dates": ["Aug 15", "Aug 14"],
                    "values": {
                        "Aug 14": [cell, cell, {"count": 9061, "outof": 12864, "incomplete": True}],
                        "Aug 15": [{"count": 14720, "outof": 14720, "incomplete": False}],
                    },
                }
            ],
            "seriesMeta": [{"segmentIndex": 0, "eventIndex": 0}],
        }
    }
    query = _query("retention", se={"event_type": "_active"}, re={"event_type": "_active"})
    rows = list(query.rows(body, *JAN))
    assert [(r["date"], r["interval"], r["count"], r["incomplete"]) for r in rows] == [
        ("2017-08-14", 0, 12864, False),
        ("2017-08-14", 1, 9061, True),
    ]
    assert rows[0]["cohort_users"] == 12864


def test_distribution_rows_carry_the_day_asked_for() -> None:
    day = (dt.date(2021, 4, 26), dt.date(2021, 4, 26))
    lengths = {"data": {"series": [[0, 120408]], "xValues": ["0s-60s", "60s-120s"]}}
    rows = list(_query("session_length").rows(lengths, *day))
    assert rows[1] == {
        "date": "2021-04-26",
        "bucket": "60s-120s",
        "bucket_start_seconds": 60.0,
        "bucket_end_seconds": 120.0,
        "sessions": 120408,
    }
    composition = {
        "data": {
            "series": [[69643, 47419]],
            "seriesLabels": ["version"],
            "xValues": ["1.0", "(none)"],
        }
    }
    rows = list(_query("composition", p="version").rows(composition, *day))
    assert rows == [
        {"date": "2021-04-26", "property": "version", "value": "1.0", "users": 69643},
        {"date": "2021-04-26", "property": "version", "value": "(none)", "users": 47419},
    ]


def test_revenue_ltv_rows_per_day_with_the_n_day_values() -> None:
    body = {
        "data": {
            "seriesLabels": [""],
            "series": [
                {
                    "dates": ["2021-10-02", "2021-10-01"],
                    "values": {
                        "2021-10-01": {
                            "r1d": 9.99,
                            "r90d": 742.52,
                            "count": 110,
                            "paid": 37,
                            "total_amount": 781.39,
                        }
                    },
                }
            ],
        }
    }
    rows = list(_query("revenue_ltv").rows(body, dt.date(2021, 10, 1), dt.date(2021, 10, 2)))
    assert rows == [
        {
            "date": "2021-10-01",
            "segment": "",
            "count": 110,
            "paid": 37,
            "total_amount": 781.39,
            "ltv": {"r1d": 9.99, "r90d": 742.52},
        }
    ]


@pytest.mark.parametrize(
    ("kind", "params", "per_day"),
    [
        ("users", {}, 1),
        ("users", {"g": "country"}, 5),  # "Each group by counts as 4 segments"
        ("segmentation", {"e": {"event_type": "a"}, "e2": {"event_type": "b"}}, 2),
        (
            "segmentation",
            {"e": {"event_type": "a", "group_by": [{"type": "user", "value": "x"}]}},
            5,
        ),
        ("funnels", {"e": [{"event_type": "a"}, {"event_type": "b"}, {"event_type": "c"}]}, 6),
        ("retention", {"se": {"event_type": "_new"}, "re": {"event_type": "_all"}}, 8),
        ("retention", {"se": {"event_type": "_new"}, "re": {"event_type": "_all"}, "s": [{}]}, 16),
        ("sessions_per_user", {}, 4),
        ("session_length", {}, 1),
        ("composition", {"p": "country"}, 1),
        ("revenue_ltv", {}, 1),
    ],
)
def test_costs_follow_the_documented_formula(kind: str, params: Any, per_day: int) -> None:
    query = _query(kind, **params)
    assert query.cost_per_day == per_day
    assert query.cost(30) == 30 * per_day
    assert query.cost(query.days_per_request(108_000)) <= 1000


@pytest.mark.parametrize(
    ("kind", "params", "named"),
    [
        ("users", {"m": "weekly"}, "`m`"),
        ("users", {"start": "20260101"}, "`start`"),
        ("users", {"x": "1"}, "`x`"),
        ("segmentation", {}, "`e`"),
        ("segmentation", {"e": "not json"}, "`e`"),
        ("segmentation", {"e": {"event_type": "a"}, "i": "-300000"}, "`i`"),
        ("funnels", {"e": [{"event_type": "a"}]}, "`e`"),
        ("retention", {"se": {"event_type": "_new"}}, "`re`"),
        ("composition", {}, "`p`"),
        ("revenue_ltv", {"m": "9"}, "`m`"),
        ("session_length", {"timeHistogramConfigBinMin": "ten"}, "`timeHistogramConfigBinMin`"),
        ("nope", {}, "`kind`"),
    ],
)
def test_bad_parameters_name_the_query_and_the_parameter(
    kind: str, params: Any, named: str
) -> None:
    with pytest.raises(QueryError, match="query 'q', parameter " + named.replace("`", "`")):
        _query(kind, **params)


def test_settings_refuse_duplicate_and_built_in_names() -> None:
    base = {"api_key": "k", "secret_key": "s"}
    with pytest.raises(SettingsError, match="'events' is a built-in stream's name"):
        parse_settings({**base, "charts": [{"name": "events", "chart_id": "a"}]})
    same = [{"name": "x", "chart_id": "a"}, {"name": "x", "chart_id": "b"}]
    with pytest.raises(SettingsError, match="another stream's name"):
        parse_settings({**base, "charts": same})
    funnel = {"name": "f", "kind": "funnels", "params": {"e": [{"event_type": "a"}] * 3}}
    with pytest.raises(SettingsError, match="dashboard_cost_per_hour"):
        parse_settings({**base, "dashboard_queries": [funnel], "dashboard_cost_per_hour": 5})


CSV = (
    '"Weekly KPI (Jan 05, 2026 - Jan 11, 2026)"\r\n" "\r\n'
    '"Segment","Event","2026-01-05T00:00:00","2026-01-12T00:00:00"\r\n'
    '"\tApps Only","\tSession Start","1,234","12.5"\r\n'
    '"\tWeb Only","\tSession Start","99",""\r\n'
)


def test_a_time_series_csv_becomes_one_row_per_label_and_date() -> None:
    for body in ({"data": CSV}, CSV):
        table = parse_chart(body)
        assert table.columns == {
            "segment": "string",
            "event": "string",
            "date": "date",
            "value": "number",
        }
        assert table.keys == ["segment", "event", "date"]
        assert table.rows[:2] == [
            {
                "segment": "Apps Only",
                "event": "Session Start",
                "date": "2026-01-05",
                "value": 1234.0,
            },
            {"segment": "Apps Only", "event": "Session Start", "date": "2026-01-12", "value": 12.5},
        ]
        assert table.rows[3]["value"] is None
        assert (table.range_start, table.range_end) == ("2026-01-05", "2026-01-12")


def test_a_table_csv_keeps_its_columns_typed() -> None:
    csv_text = '"Funnel"\r\n"Segment","Step 1: Sign Up","Step 2: Buy","Conversion"\r\n'
    csv_text += '"\tAll Users","10","4","40%"\r\n'
    table = parse_chart({"data": csv_text})
    assert table.columns == {
        "segment": "string",
        "step_1_sign_up": "integer",
        "step_2_buy": "integer",
        "conversion": "integer",
    }
    assert table.rows == [
        {"segment": "All Users", "step_1_sign_up": 10, "step_2_buy": 4, "conversion": 40}
    ]


def test_the_query_answer_of_a_chart_is_read_too() -> None:
    body = {
        "data": {
            "series": [[{"setId": "", "value": 3}, {"setId": "", "value": 4}]],
            "seriesLabels": [[0, "France"]],
            "xValues": ["2026-01-01", "2026-01-02"],
        }
    }
    table = parse_chart(body)
    assert [(r["segment"], r["date"], r["value"]) for r in table.rows] == [
        ("France", "2026-01-01", 3),
        ("France", "2026-01-02", 4),
    ]
    with pytest.raises(ChartTableError):
        parse_chart({"data": [1, 2]})
    assert json.dumps(table.columns)
