"""Saved charts: GET /api/3/chart/:chart_id/csv (and the older /query).

Source: amplitude/amplitude-docs ``content/collections/api/en/dashboard-rest.md``, "Get results
from an existing chart": ``GET https://amplitude.com/api/3/chart/chart_id/csv``, "Responses vary
based on the chart's type"; the path was ``/query`` until the docs' commit e0ee052b7 (2025-03-14,
"Update docs to /csv instead of /query"). The /csv answer is JSON whose ``data`` is the chart's
CSV text (CRLF lines, a title line, a blank line, a header row, label cells starting with a tab,
dates as ``YYYY-MM-DDT00:00:00``), as public clients read it; /query answers the chart's JSON
(for a segmentation chart the /api/2/events/segmentation body). A chart that does not exist
answers 404.

A chart is registered with :func:`add_chart`: a query (kind and parameters as for the Dashboard
REST endpoints) over the last ``days`` days up to the project's today, so its numbers are the
same as the query endpoint's.
"""

from __future__ import annotations

import csv
import io
import threading
import weakref
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from amplitude_emulator import dashboard_queries

if TYPE_CHECKING:
    from amplitude_emulator.store import Project

CHART_TYPES = ("segmentation", "funnels", "retention", "data_table")
PREFIX = "/api/3/chart/"


@dataclass(frozen=True)
class SavedChart:
    chart_id: str
    title: str
    chart_type: str  # one of CHART_TYPES
    params: tuple[tuple[str, str], ...]
    days: int


_CHARTS: weakref.WeakKeyDictionary[Project, dict[str, SavedChart]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def add_chart(
    project: Project,
    chart_id: str,
    chart_type: str,
    params: list[tuple[str, str]],
    days: int = 7,
    title: str = "",
) -> SavedChart:
    """Save a chart in ``project``; a ``data_table`` chart is a segmentation over its range."""
    if chart_type not in CHART_TYPES:
        raise ValueError(f"chart_type must be one of {CHART_TYPES}")
    chart = SavedChart(chart_id, title or chart_id, chart_type, tuple(params), days)
    with _LOCK:
        _CHARTS.setdefault(project, {})[chart_id] = chart
    return chart


def remove_chart(project: Project, chart_id: str) -> None:
    with _LOCK:
        _CHARTS.get(project, {}).pop(chart_id, None)


def route(path: str) -> tuple[str, str] | None:
    """(chart_id, "csv" | "query") of a chart path, None for other paths."""
    if not path.startswith(PREFIX):
        return None
    chart_id, _, tail = path[len(PREFIX) :].partition("/")
    if not chart_id or tail not in ("csv", "query"):
        return None
    return chart_id, tail


def _query_kind(chart: SavedChart) -> str:
    return "segmentation" if chart.chart_type == "data_table" else chart.chart_type


def answer(project: Project, chart_id: str, form: str, today: date) -> tuple[int, Any]:
    with _LOCK:
        chart = _CHARTS.get(project, {}).get(chart_id)
    if chart is None:
        return 404, dashboard_queries.dashboard_error_body(404, "not_found", "Chart not found")
    end = today - timedelta(days=1)
    start = end - timedelta(days=chart.days - 1)
    try:
        body = dashboard_queries.body_for(
            project, _query_kind(chart), list(chart.params), start, end, today
        )
    except dashboard_queries.QueryError as error:
        return error.status, error.body
    if form == "query":
        return 200, body
    return 200, {"data": chart_csv(chart, body, start, end)}


def _write(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def _label(value: Any) -> str:
    if isinstance(value, list):
        value = value[-1]
    return "All Users" if value in ("", 0) else str(value)


def chart_csv(chart: SavedChart, body: Any, start: date, end: date) -> str:
    """The chart's CSV as the /csv endpoint's ``data``."""
    title = [[f"{chart.title} ({start:%b %d, %Y} - {end:%b %d, %Y})"], [" "]]
    data = body["data"]
    if chart.chart_type == "segmentation":
        dates = [f"{x}T00:00:00" for x in data["xValues"]]
        rows: list[list[Any]] = [["Segment", *dates]]
        for label, values in zip(data["seriesLabels"], data["series"], strict=True):
            rows.append([f"\t{_label(label)}", *values])
        return _write(title + rows)
    if chart.chart_type == "data_table":
        rows = [["Segment", "Daily uniques (sum)", "Days with data"]]
        for label, values in zip(data["seriesLabels"], data["series"], strict=True):
            rows.append([f"\t{_label(label)}", sum(values), sum(1 for v in values if v)])
        return _write(title + rows)
    if chart.chart_type == "funnels":
        group = data[0]
        header = ["Segment", *[f"Step {k + 1}: {e}" for k, e in enumerate(group["events"])]]
        return _write([*title, header, ["\tAll Users", *group["cumulativeRaw"]]])
    series = data["series"][0]
    width = max(len(cells) for cells in series["values"].values())
    header = ["Segment", "Start Date", "Users", *[f"Day {n}" for n in range(width - 1)]]
    rows = [header]
    day = start
    while day <= end:
        cells = series["values"][dashboard_queries.month_day(day)]
        counts = [cell["count"] for cell in cells]
        padding = [""] * (width - len(cells))
        rows.append(["\tAll Users", f"{day:%b %d, %Y}", *counts, *padding])
        day += timedelta(days=1)
    return _write(title + rows)
