"""A saved chart's answer as a table of rows (pure; no I/O).

``GET /api/3/chart/:chart_id/csv`` "Get JSON results from any saved chart via chart ID ...
Responses vary based on the chart's type" (Dashboard REST API docs); it was ``/query`` until the
docs' change of 2025-03-14. Both answers are read:

- ``{"data": "<CSV text>"}`` (the /csv answer, as public clients read it) or the CSV text itself:
  title lines, then a header row and rows of the same width; label cells may start with a tab.
  When header cells are dates (a time series: segmentation), each row becomes one record per
  date (``date``, ``value``), so the columns do not change as the chart's range moves;
  otherwise (funnel steps, retention days, a data table) the columns are the header's.
- ``{"data": {"series", "seriesLabels", "xValues"}}`` (the /query answer of a time series):
  one record per series and x value.

Column names are the header's, lower-cased with non-alphanumerics as ``_``; values are typed
(integer, number, string) where every value of the column allows it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChartTable", "ChartTableError", "parse_chart"]

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ][\d:.]+Z?)?$")
_LONG_DATE = re.compile(r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4})$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")


class ChartTableError(ValueError):
    """The chart's answer is not a table this tap can read."""


@dataclass
class ChartTable:
    """Rows of one chart answer, their columns (in order, with JSON types), the columns that
    name a row (labels and the date) and the days the chart covers."""

    columns: dict[str, str] = field(default_factory=dict)  # name -> integer|number|string
    keys: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    range_start: str | None = None
    range_end: str | None = None


def _name(text: str, taken: set[str], position: int) -> str:
    base = re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_") or f"column_{position}"
    name, suffix = base, 2
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(name)
    return name


def _as_date(text: str) -> str | None:
    text = text.strip()
    match = _DATE.match(text)
    if match:
        return match.group(1)
    long = _LONG_DATE.match(text)
    if long:
        try:
            return dt.datetime.strptime(text, "%b %d, %Y").date().isoformat()
        except ValueError:
            return None
    return None


def _cell(text: str) -> str:
    return text.strip().strip("\t").strip()


def _number_text(text: str) -> str | None:
    """A cell as a number's text ("1,234" and "12.5%" read as shown), None when it is not."""
    cleaned = text.replace(",", "").rstrip("%").strip()
    return cleaned if _NUMBER.match(cleaned) else None


def _typed(values: Iterable[str]) -> str:
    kind = "integer"
    seen = False
    for value in values:
        if value == "":
            continue
        seen = True
        number = _number_text(value)
        if number is None:
            return "string"
        if not _INTEGER.match(number):
            kind = "number"
    return kind if seen else "string"


def _convert(value: str, kind: str) -> Any:
    if value == "":
        return None
    if kind == "string":
        return value
    number = _number_text(value) or "0"
    return int(number) if kind == "integer" else float(number)


def _csv_table(text: str) -> ChartTable:
    lines = list(csv.reader(io.StringIO(text.replace("\r\n", "\n"))))
    rows = [[_cell(c) for c in line] for line in lines]
    header_at = next(
        (
            k
            for k, row in enumerate(rows)
            if len(row) >= 2 and any(row) and all(len(r) == len(row) for r in rows[k + 1 :] if r)
        ),
        None,
    )
    if header_at is None:
        raise ChartTableError("the chart's CSV has no header row followed by rows of its width")
    header, body = rows[header_at], [r for r in rows[header_at + 1 :] if r and any(r)]
    dates = [_as_date(cell) for cell in header]
    table = ChartTable()
    taken: set[str] = {"chart_id", "range_start", "range_end"}
    if any(dates):
        labels = [k for k, d in enumerate(dates) if d is None]
        names = [_name(header[k], taken, k + 1) for k in labels]
        value_kind = _typed(row[k] for row in body for k, d in enumerate(dates) if d)
        table.columns = {**dict.fromkeys(names, "string"), "date": "date", "value": value_kind}
        table.keys = [*names, "date"]
        for row in body:
            label_values = {n: row[k] for n, k in zip(names, labels, strict=True)}
            for k, day in enumerate(dates):
                if day is not None:
                    table.rows.append({**label_values, "date": day, "value": row[k]})
        days = sorted(d for d in dates if d)
    else:
        names = [_name(cell, taken, k + 1) for k, cell in enumerate(header)]
        kinds = [_typed(row[k] for row in body) for k in range(len(header))]
        table.columns = dict(zip(names, kinds, strict=True))
        table.rows = [dict(zip(names, row, strict=True)) for row in body]
        days = sorted(d for row in body for cell in row if (d := _as_date(cell)))
        for name in names:
            cells = [row[name] for row in table.rows if row[name]]
            if cells and all(_as_date(cell) for cell in cells):
                table.columns[name] = "date"
        table.keys = [n for n, kind in table.columns.items() if kind in ("string", "date")]
        table.keys = table.keys or names[:1]
    for record in table.rows:
        for name, kind in table.columns.items():
            value = str(record.get(name, ""))
            record[name] = _as_date(value) if kind == "date" and value else _convert(value, kind)
    if not days:
        days = sorted(d for line in rows[:header_at] for c in line for d in _dates_in(c))
    table.range_start, table.range_end = (days[0], days[-1]) if days else (None, None)
    return table


def _dates_in(text: str) -> list[str]:
    found = [m.group(0) for m in re.finditer(r"\d{4}-\d{2}-\d{2}", text)]
    for match in re.finditer(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", text):
        day = _as_date(match.group(0))
        if day:
            found.append(day)
    return [d[:10] for d in found]


def _series_table(data: dict[str, Any]) -> ChartTable:
    series = data.get("series") or []
    labels = data.get("seriesLabels") or []
    xs = [_as_date(str(x)) or str(x) for x in data.get("xValues") or []]
    table = ChartTable(
        columns={"segment": "string", "date": "date", "value": "number"}, keys=["segment", "date"]
    )
    for k, values in enumerate(series):
        label = labels[k] if k < len(labels) else k
        if isinstance(label, list) and label:
            label = label[-1]
        segment = "" if isinstance(label, int) and not isinstance(label, bool) else str(label)
        for x, cell in zip(xs, values, strict=False):
            value = cell.get("value") if isinstance(cell, dict) else cell
            table.rows.append({"segment": segment, "date": x, "value": value})
    days = sorted(x for x in xs if _as_date(x))
    table.range_start, table.range_end = (days[0], days[-1]) if days else (None, None)
    return table


def parse_chart(body: Any) -> ChartTable:
    """The table of a chart answer: decoded JSON (either form) or the CSV text.

    Raises:
        ChartTableError: the answer is neither.
    """
    if isinstance(body, str):
        return _csv_table(body)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, str):
        return _csv_table(data)
    if isinstance(data, dict) and isinstance(data.get("series"), list) and "xValues" in data:
        return _series_table(data)
    raise ChartTableError("the chart answered neither CSV text nor a time series (series, xValues)")
