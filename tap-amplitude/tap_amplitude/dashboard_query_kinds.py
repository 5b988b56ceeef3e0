"""The declared dashboard queries (setting ``dashboard_queries``): each kind's endpoint, its
parameters and their checks, its cost, and how its answer becomes rows (pure; no I/O).

Source: Amplitude's Dashboard REST API docs (amplitude/amplitude-docs,
``content/collections/api/en/dashboard-rest.md``). Cost: "``cost = (# of days) * (# of
conditions) * (cost for the query type)``"; conditions are "the number of segments plus the
number of conditions within the segments ... Each group by counts as 4 segments"; Event
Segmentation costs "the number of events ... If any event has a group by, add a cost of 4 per
group by and event", Funnel Analysis "the number of events ... multiplied by two" (same group-by
rule), Retention Analysis 8, User Sessions (sessions per user) 4, "For all endpoints not listed
here, the cost is 1". Limits: "Concurrent Limit: Up to 1000 cost within a five minute period",
"Rate Limit: Up to 108,000 cost per hour".

Every kind's rows carry ``date`` (a day in the project's time zone: a day of the series, a
retention cohort's day, or the one day a distribution was asked for) and the segment, so that
re-read days replace the same keys downstream.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from tap_amplitude.api import ApiPath

__all__ = [
    "KINDS",
    "MAX_COST_PER_REQUEST",
    "DashboardQuery",
    "Kind",
    "QueryError",
    "parse_query",
]

MAX_COST_PER_REQUEST = 1000  # "Concurrent Limit: Up to 1000 cost within a five minute period"
MAX_DAYS_PER_REQUEST = 90
GROUP_BY_SEGMENTS = 4  # "Each group by counts as 4 segments."
INTERVALS = ("1", "7", "30")
OPERATORS = (
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "set is",
    "set is not",
)


class QueryError(ValueError):
    """A declared query that cannot be sent; the message names the query and the parameter."""


Rows = Iterator[dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One Dashboard REST endpoint a declared query may use."""

    name: str
    path: ApiPath
    required: tuple[str, ...]
    optional: tuple[str, ...]
    primary_keys: tuple[str, ...]
    schema: dict[str, Any]
    #: The answer covers the whole range without dates: asked one day at a time.
    per_day: bool = False
    #: ``i`` (1, 7 or 30) sets the periods the answer's dates start.
    has_interval: bool = False


@dataclass(frozen=True)
class DashboardQuery:
    """A declared query, checked: its kind, the request's parameters (besides ``start`` and
    ``end``, which the tap sets per request), its cost per day and days per request."""

    name: str
    kind: Kind
    params: tuple[tuple[str, str], ...]
    cost_per_day: int

    @property
    def interval(self) -> int:
        """1, 7 or 30: the days of one period of the answer."""
        return int(dict(self.params).get("i", "1")) if self.kind.has_interval else 1

    def days_per_request(self, budget_per_hour: int) -> int:
        """Days per request: at most 90, and a request costs at most the concurrent limit and
        the hourly budget."""
        if self.kind.per_day:
            return 1
        ceiling = min(MAX_COST_PER_REQUEST, budget_per_hour)
        return max(1, min(MAX_DAYS_PER_REQUEST, ceiling // self.cost_per_day))

    def cost(self, days: int) -> int:
        """The documented cost of one request over ``days`` days."""
        return days * self.cost_per_day

    def rows(self, body: Any, first: dt.date, last: dt.date) -> Rows:
        """The records of one answer for the days ``first`` to ``last``."""
        data = body.get("data") if isinstance(body, dict) else None
        if data is None:
            msg = f"{self.kind.path.value} answered without data; Amplitude changed its API?"
            raise QueryError(msg)
        return ROWS[self.kind.name](data, first, last)


# -- parameters ----------------------------------------------------------------------------------


def _fail(query: str, param: str, problem: str) -> QueryError:
    return QueryError(f"query {query!r}, parameter `{param}`: {problem}")


def _json_value(query: str, param: str, value: Any) -> Any:
    """A JSON-valued parameter, given as JSON text or as an object/array in the config."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _fail(query, param, f"expected JSON, got {value!r}") from None
    return value


def _event(query: str, param: str, value: Any) -> dict[str, Any]:
    event = _json_value(query, param, value)
    if not isinstance(event, dict) or not str(event.get("event_type") or "").strip():
        raise _fail(
            query, param, 'expected an event like {"event_type": "Sign Up"} (event_type required)'
        )
    for index, prop in enumerate(event.get("filters") or []):
        if not isinstance(prop, dict) or prop.get("subprop_op") not in OPERATORS:
            raise _fail(
                query,
                param,
                f"filter {index + 1} needs subprop_type, subprop_key, subprop_value and a "
                f"subprop_op of {', '.join(OPERATORS)}",
            )
    group_by = event.get("group_by") or []
    if not isinstance(group_by, list) or len(group_by) > 2:
        raise _fail(query, param, "group_by is a list of at most 2 {type, value} objects")
    return event


def _segments(query: str, value: Any) -> list[Any]:
    filters = _json_value(query, "s", value)
    if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        raise _fail(
            query,
            "s",
            'expected a list of filters like [{"prop": "country", "op": '
            '"is", "values": ["France"]}]',
        )
    return filters


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _choice(query: str, param: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _fail(query, param, f"expected one of {', '.join(allowed)}, got {value!r}")


def _number(query: str, param: str, value: str) -> None:
    try:
        float(value)
    except ValueError:
        raise _fail(query, param, f"expected a number, got {value!r}") from None


def parse_query(item: Mapping[str, Any]) -> DashboardQuery:
    """Check one item of ``dashboard_queries`` (``{name, kind, params}``) before any request.

    Raises:
        QueryError: naming the query and the parameter.
    """
    name = str(item.get("name") or "")
    kind = KINDS.get(str(item.get("kind") or ""))
    if kind is None:
        raise _fail(name, "kind", f"expected one of {', '.join(KINDS)}, got {item.get('kind')!r}")
    given = dict(item.get("params") or {})
    for reserved in ("start", "end"):
        if reserved in given:
            raise _fail(
                name,
                reserved,
                "the tap sets start and end itself (each run reads from the bookmarked day); "
                "remove it, and use the setting `start_date` for the first day",
            )
    unknown = sorted(set(given) - set(kind.required) - set(kind.optional))
    if unknown:
        allowed = ", ".join((*kind.required, *kind.optional)) or "none"
        raise _fail(name, unknown[0], f"not a parameter of {kind.path.value} (allowed: {allowed})")
    for required in kind.required:
        if given.get(required) in (None, "", []):
            raise _fail(name, required, f"required by {kind.path.value}")
    params: list[tuple[str, str]] = []
    events: list[dict[str, Any]] = []
    for param, value in given.items():
        if value is None:
            continue
        if param in ("e", "e2", "se", "re"):
            values = [value]
            if kind.name == "funnels":
                values = _json_value(name, param, value)
                if not isinstance(values, list) or len(values) < 2:
                    raise _fail(name, "e", "a funnel needs a list of at least two events")
            for one in values:
                event = _event(name, param, one)
                events.append(event)
                params.append((param, _text(event)))
            continue
        if param == "s":
            params.append((param, _text(_segments(name, value))))
            continue
        text = _text(value)
        _check_value(name, kind, param, text)
        params.append((param, text))
    conditions = (
        1
        + _segment_conditions(params)
        + GROUP_BY_SEGMENTS * sum(1 for param, value in params if param in ("g", "g2") and value)
    )
    cost_per_day = conditions * _type_cost(kind.name, events)
    if cost_per_day > MAX_COST_PER_REQUEST:
        raise _fail(
            name,
            "params",
            f"one day of this query costs {cost_per_day}, above Amplitude's limit of "
            f"{MAX_COST_PER_REQUEST} cost within five minutes; use fewer events, segments or "
            "group-bys",
        )
    return DashboardQuery(name, kind, tuple(params), cost_per_day)


def _check_value(name: str, kind: Kind, param: str, text: str) -> None:
    if param == "i":
        _choice(name, "i", text, INTERVALS)
    elif param == "m" and kind.name == "users":
        _choice(name, "m", text, ("active", "new"))
    elif param == "m" and kind.name == "segmentation":
        _choice(name, "m", text, SEGMENTATION_METRICS)
    elif param == "m" and kind.name == "revenue_ltv":
        _choice(name, "m", text, ("0", "1", "2", "3"))
    elif param == "n":
        _choice(
            name, "n", text, ("any", "active") if kind.name == "segmentation" else ("new", "active")
        )
    elif param == "mode":
        _choice(name, "mode", text, ("ordered", "unordered", "sequential"))
    elif param == "rm":
        _choice(name, "rm", text, ("bracket", "rolling", "n-day"))
    elif param == "timeHistogramConfigBinTimeUnit":
        _choice(name, param, text, ("hours", "minutes", "seconds"))
    elif param in ("cs", "limit", "rollingWindow", "rollingAverage") or param.startswith(
        "timeHistogramConfigBin"
    ):
        _number(name, param, text)


SEGMENTATION_METRICS = (
    "uniques",
    "totals",
    "pct_dau",
    "average",
    "histogram",
    "sums",
    "value_avg",
    "formula",
)


def _segment_conditions(params: list[tuple[str, str]]) -> int:
    return sum(len(json.loads(value)) for param, value in params if param == "s")


def _type_cost(kind: str, events: list[dict[str, Any]]) -> int:
    group_bys = sum(len(event.get("group_by") or []) for event in events)
    if kind == "segmentation":
        return len(events) + 4 * group_bys
    if kind == "funnels":
        return 2 * len(events) + 4 * group_bys
    return {"retention": 8, "sessions_per_user": 4}.get(kind, 1)


# -- answers into rows -------------------------------------------------------------------------


def _label(value: Any) -> tuple[int | None, str]:
    """(event index, group label) of a series label: ``[index, label]`` pairs, a bare segment
    index (an ungrouped series: label ""), or a label."""
    if isinstance(value, list) and value:
        index = value[0] if len(value) > 1 and isinstance(value[0], int) else None
        return index, _label(value[-1])[1]
    if isinstance(value, dict):
        return None, str(value.get("label", ""))
    if isinstance(value, int) and not isinstance(value, bool):
        return value, ""
    return None, "" if value is None else str(value)


def _value(cell: Any) -> Any:
    """A series cell: a number, or ``{"setId", "value"}``."""
    return cell.get("value") if isinstance(cell, dict) else cell


def _series_labels(data: Mapping[str, Any], count: int) -> list[Any]:
    labels = data.get("seriesLabels")
    if not isinstance(labels, list) or len(labels) < count:
        labels = data.get("seriesMeta")
    if not isinstance(labels, list):
        labels = []
    return [labels[k] if k < len(labels) else k for k in range(count)]


def _day(text: Any) -> str:
    return str(text)[:10]


def series_rows(data: Any, first: dt.date, last: dt.date) -> Rows:  # noqa: ARG001
    """``{date, segment, value}`` per series and x value (users, sessions per user)."""
    series = data.get("series") or []
    for label, values in zip(_series_labels(data, len(series)), series, strict=True):
        _, segment = _label(label)
        for x, cell in zip(data.get("xValues") or [], values, strict=False):
            yield {"date": _day(x), "segment": segment, "value": _value(cell)}


def segmentation_rows(data: Any, first: dt.date, last: dt.date) -> Rows:  # noqa: ARG001
    """``{date, event_index, segment, value}`` per series and x value."""
    series = data.get("series") or []
    for position, (label, values) in enumerate(
        zip(_series_labels(data, len(series)), series, strict=True)
    ):
        index, segment = _label(label)
        event_index = index if index is not None else (0 if segment else position)
        for x, cell in zip(data.get("xValues") or [], values, strict=False):
            yield {
                "date": _day(x),
                "event_index": event_index,
                "segment": segment,
                "value": _value(cell),
            }


def funnel_rows(data: Any, first: dt.date, last: dt.date) -> Rows:  # noqa: ARG001
    """``{date, segment, step, event, users}`` per group, day and step (``dayFunnels``)."""
    groups = data if isinstance(data, list) else [data]
    for group in groups:
        meta = group.get("meta") or {}
        segment = str(group.get("groupValue") or meta.get("groupValue") or "")
        events = group.get("events") or []
        day_funnels = group.get("dayFunnels") or {}
        for x, counts in zip(
            day_funnels.get("xValues") or [], day_funnels.get("series") or [], strict=False
        ):
            for step, users in enumerate(counts, start=1):
                event = events[step - 1] if step - 1 < len(events) else None
                yield {
                    "date": _day(x),
                    "segment": segment,
                    "step": step,
                    "event": event,
                    "users": users,
                }


_MONTH_DAY = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2})\s*$")


def day_labels(first: dt.date, last: dt.date) -> dict[str, str]:
    """Retention's cohort labels ("Aug 14", no year) of the days ``first`` to ``last``, by
    ``(month, day)`` key; ISO dates are kept as they are."""
    labels: dict[str, str] = {}
    day = first
    while day <= last:
        labels[f"{day:%b} {day.day}".lower()] = day.isoformat()
        day += dt.timedelta(days=1)
    return labels


def _cohort_day(label: Any, labels: Mapping[str, str]) -> str | None:
    text = str(label)
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return text[:10]
    match = _MONTH_DAY.match(text)
    if match is None:
        return None
    return labels.get(f"{match.group(1).title()} {int(match.group(2))}".lower())


def retention_rows(data: Any, first: dt.date, last: dt.date) -> Rows:
    """``{date, segment, interval, count, outof, incomplete, cohort_users}`` per cohort day and
    interval: each value list starts with the cohort's size, then "element at index N+1
    corresponds to the retention for N intervals"."""
    labels = day_labels(first, last)
    series = data.get("series") or []
    metas = data.get("seriesMeta") or []
    for position, item in enumerate(series):
        meta = metas[position] if position < len(metas) else {}
        # seriesMeta is {segmentIndex, eventIndex} without a group by: segment "" as elsewhere.
        segment = (
            _label(meta.get("groupValue", meta.get("label", "")))[1]
            if isinstance(meta, dict)
            else _label(meta)[1]
        )
        for label, cells in (item.get("values") or {}).items():
            day = _cohort_day(label, labels)
            if day is None or not cells:
                continue
            size = cells[0].get("count") if isinstance(cells[0], dict) else cells[0]
            for interval, raw in enumerate(cells[1:]):
                cell = raw if isinstance(raw, dict) else {"count": raw}
                yield {
                    "date": day,
                    "segment": segment,
                    "interval": interval,
                    "count": cell.get("count"),
                    "outof": cell.get("outof"),
                    "incomplete": cell.get("incomplete"),
                    "cohort_users": size,
                }


_BUCKET = re.compile(r"^\s*([\d.]+)s?\s*-\s*([\d.]+)s?\s*$")


def session_length_rows(data: Any, first: dt.date, last: dt.date) -> Rows:  # noqa: ARG001
    """``{date, bucket, bucket_start_seconds, bucket_end_seconds, sessions}`` per bucket of
    the one day asked for."""
    series = data.get("series") or [[]]
    counts = series[0] if series else []
    for bucket, sessions in zip(data.get("xValues") or [], counts, strict=False):
        match = _BUCKET.match(str(bucket))
        yield {
            "date": first.isoformat(),
            "bucket": str(bucket),
            "bucket_start_seconds": float(match.group(1)) if match else None,
            "bucket_end_seconds": float(match.group(2)) if match else None,
            "sessions": sessions,
        }


def composition_rows(data: Any, first: dt.date, last: dt.date) -> Rows:  # noqa: ARG001
    """``{date, property, value, users}`` per value of the property on the one day asked for."""
    series = data.get("series") or [[]]
    counts = series[0] if series else []
    labels = data.get("seriesLabels") or [""]
    for value, users in zip(data.get("xValues") or [], counts, strict=False):
        yield {
            "date": first.isoformat(),
            "property": str(labels[0]),
            "value": str(value),
            "users": users,
        }


LTV_FIELDS = ("count", "paid", "total_amount")


def revenue_ltv_rows(data: Any, first: dt.date, last: dt.date) -> Rows:
    """``{date, segment, count, paid, total_amount, ltv: {r1d, ...}}`` per group and day."""
    labels = day_labels(first, last)
    series = data.get("series") or []
    names = data.get("seriesLabels") or []
    for position, item in enumerate(series):
        segment = _label(names[position])[1] if position < len(names) else str(position)
        for label, values in (item.get("values") or {}).items():
            day = _cohort_day(label, labels)
            if day is None or not isinstance(values, dict):
                continue
            yield {
                "date": day,
                "segment": segment,
                **{key: values.get(key) for key in LTV_FIELDS},
                "ltv": {k: v for k, v in values.items() if re.fullmatch(r"r\d+d", k)},
            }


ROWS: dict[str, Callable[[Any, dt.date, dt.date], Rows]] = {
    "users": series_rows,
    "segmentation": segmentation_rows,
    "funnels": funnel_rows,
    "retention": retention_rows,
    "sessions_per_user": series_rows,
    "session_length": session_length_rows,
    "composition": composition_rows,
    "revenue_ltv": revenue_ltv_rows,
}


# -- schemas -------------------------------------------------------------------------------------


def _schema(*properties: th.Property[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = th.PropertiesList(
        th.Property("date", th.DateType, required=True, description="Day, project time zone"),
        *properties,
    ).to_dict()
    return schema


_SEGMENT = th.Property(
    "segment", th.StringType, required=True, description='Group label ("" when not grouped)'
)
_NUMBER = th.NumberType
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "users",
            ApiPath.ACTIVE_USERS,
            (),
            ("m", "i", "s", "g"),
            ("date", "segment"),
            _schema(
                _SEGMENT,
                th.Property("value", _NUMBER, description="The metric on that day (or period)"),
            ),
            has_interval=True,
        ),
        Kind(
            "segmentation",
            ApiPath.EVENTS_SEGMENTATION,
            ("e",),
            (
                "e2",
                "m",
                "n",
                "i",
                "s",
                "g",
                "g2",
                "limit",
                "formula",
                "rollingWindow",
                "rollingAverage",
            ),
            ("date", "event_index", "segment"),
            _schema(
                th.Property(
                    "event_index", th.IntegerType, required=True, description="0: e, 1: e2"
                ),
                _SEGMENT,
                th.Property("value", _NUMBER, description="The metric on that day (or period)"),
            ),
            has_interval=True,
        ),
        Kind(
            "funnels",
            ApiPath.FUNNELS,
            ("e",),
            ("mode", "n", "s", "g", "cs", "limit"),
            ("date", "segment", "step"),
            _schema(
                _SEGMENT,
                th.Property(
                    "step", th.IntegerType, required=True, description="Funnel step, from 1"
                ),
                th.Property("event", th.StringType, description="The step's event"),
                th.Property("users", th.IntegerType, description="Users who reached the step"),
            ),
        ),
        Kind(
            "retention",
            ApiPath.RETENTION,
            ("se", "re"),
            ("rm", "rb", "s", "g"),
            ("date", "segment", "interval"),
            _schema(
                _SEGMENT,
                th.Property(
                    "interval", th.IntegerType, required=True, description="N days/weeks/months out"
                ),
                th.Property("count", th.IntegerType, description="Users retained"),
                th.Property("outof", th.IntegerType, description="Users in the cohort"),
                th.Property("incomplete", th.BooleanType, description="Not yet measurable"),
                th.Property("cohort_users", th.IntegerType, description="The cohort's size"),
            ),
        ),
        Kind(
            "sessions_per_user",
            ApiPath.SESSIONS_PER_USER,
            (),
            (),
            ("date", "segment"),
            _schema(
                _SEGMENT,
                th.Property("value", _NUMBER, description="The metric on that day (or period)"),
            ),
        ),
        Kind(
            "session_length",
            ApiPath.SESSIONS_LENGTH,
            (),
            (
                "timeHistogramConfigBinTimeUnit",
                "timeHistogramConfigBinMin",
                "timeHistogramConfigBinMax",
                "timeHistogramConfigBinSize",
            ),
            ("date", "bucket"),
            _schema(
                th.Property("bucket", th.StringType, required=True, description="e.g. 60s-120s"),
                th.Property("bucket_start_seconds", _NUMBER, description="Bucket start"),
                th.Property("bucket_end_seconds", _NUMBER, description="Bucket end"),
                th.Property("sessions", th.IntegerType, description="Sessions that long"),
            ),
            per_day=True,
        ),
        Kind(
            "composition",
            ApiPath.COMPOSITION,
            ("p",),
            (),
            ("date", "value"),
            _schema(
                th.Property("property", th.StringType, description="The property (p)"),
                th.Property("value", th.StringType, required=True, description="A value of it"),
                th.Property("users", th.IntegerType, description="Users with that value"),
            ),
            per_day=True,
        ),
        Kind(
            "revenue_ltv",
            ApiPath.REVENUE_LTV,
            (),
            ("m", "i", "s", "g"),
            ("date", "segment"),
            _schema(
                _SEGMENT,
                th.Property("count", th.IntegerType, description="New users that day"),
                th.Property("paid", th.IntegerType, description="Of them, paying"),
                th.Property("total_amount", _NUMBER, description="Amount they paid"),
                th.Property(
                    "ltv",
                    th.ObjectType(additional_properties=_NUMBER),
                    description="r1d ... r90d: the metric m on day N",
                ),
            ),
            has_interval=True,
        ),
    )
}
