"""The Dashboard REST query endpoints beyond /api/2/users and /sessions/average: event
segmentation, funnels, retention, sessions per user, session length distribution, user
composition and revenue LTV, each with its documented body and cost.

Source: amplitude/amplitude-docs ``content/collections/api/en/dashboard-rest.md`` (sections
"Endpoint costs", "Event segmentation", "Funnel analysis", "Retention analysis", "Get average
sessions per user", "Get session length distribution", "User composition", "Revenue lifetime
value"); emulator/README.md's table names each. Figures come from the project's events (merged
users, days in the project's time zone), as /api/2/users does.

What the emulator does not model: event and segment property filters (``filters``, ``s``) and
``formula``/rolling metrics are accepted and ignored (each still counts in the cost); revenue
amounts are not tracked (LTV amounts are 0, counts and paying users are real).

Cost (``cost = days * conditions * cost of the query type``; "Each group by counts as 4
segments"; segmentation: the number of events, plus 4 per group by and event; funnels: twice the
number of events, plus 4 per group by and event; retention 8; sessions per user 4; others 1). The
hourly limit, "Up to 108,000 cost per hour", is kept per project on the emulator's clock: over it
the request is refused with 429.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from amplitude_emulator.dashboard import Figures, _label_start, _periods, dashboard_error_body
from amplitude_emulator.labels import NO_VALUE, group_by_property
from amplitude_emulator.timefmt import parse_day_param

if TYPE_CHECKING:
    from amplitude_emulator.store import Project

COST_PER_HOUR = 108_000  # "Rate Limit: Up to 108,000 cost per hour."
HOUR_MS = 3_600_000
PATHS = {
    "/api/2/events/segmentation": "segmentation",
    "/api/2/funnels": "funnels",
    "/api/2/retention": "retention",
    "/api/2/sessions/peruser": "sessions_per_user",
    "/api/2/sessions/length": "session_length",
    "/api/2/composition": "composition",
    "/api/2/revenue/ltv": "revenue_ltv",
}
# Default bins of /sessions/length, in ms ("When combined timeHistogramConfigBin parameters are
# invalid or missing, Amplitude defaults to default bins ...").
DEFAULT_BINS_MS = (0, 3000, 10_000, 30_000, 60_000, 180_000, 600_000, 1_800_000, 3_600_000)
DAY_MS = 86_400_000
UNIT_MS = {"seconds": 1000, "minutes": 60_000, "hours": 3_600_000}
LTV_DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 30, 60, 90)


class QueryError(Exception):
    """A refused query: (status, Dashboard REST error body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = dashboard_error_body(status, "invalid" if status == 400 else "limit", message)


# -- cost ----------------------------------------------------------------------------------------


def _event_list(query: list[tuple[str, str]], name: str = "e") -> list[dict[str, Any]]:
    events = []
    for key, value in query:
        if key == name or (name == "e" and key == "e2"):
            try:
                event = json.loads(value)
            except ValueError:
                raise QueryError(400, f"Invalid {key} parameter: not JSON") from None
            if not isinstance(event, dict) or not event.get("event_type"):
                raise QueryError(400, f"Invalid {key} parameter: an event_type is required")
            events.append(event)
    return events


def query_cost(kind: str, query: list[tuple[str, str]], days: int) -> int:
    """The documented cost of one query over ``days`` days."""
    params = dict(query)
    segments = 1
    conditions = 0
    if params.get("s"):
        try:
            filters = json.loads(params["s"])
        except ValueError:
            raise QueryError(400, "Invalid s parameter: not JSON") from None
        conditions = len(filters) if isinstance(filters, list) else 1
    group_bys = sum(1 for key, value in query if key in ("g", "g2") and value)
    condition_count = segments + conditions + 4 * group_bys
    if kind in ("segmentation", "funnels"):
        events = _event_list(query)
        event_group_bys = sum(len(event.get("group_by") or []) for event in events)
        per_event = 2 if kind == "funnels" else 1
        type_cost = per_event * len(events) + 4 * event_group_bys
    else:
        type_cost = {"retention": 8, "sessions_per_user": 4}.get(kind, 1)
    return days * condition_count * type_cost


@dataclass
class CostLedger:
    """The query cost a project spent, per request, on the emulator's clock."""

    per_hour: int = COST_PER_HOUR
    spent: deque[tuple[int, int]] = field(default_factory=deque)  # (clock ms, cost)
    log: list[tuple[str, int]] = field(default_factory=list)  # (path, cost) of each answer
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def charge(self, path: str, cost: int, now_ms: int) -> None:
        with self.lock:
            while self.spent and self.spent[0][0] <= now_ms - HOUR_MS:
                self.spent.popleft()
            used = sum(c for _, c in self.spent)
            if used + cost > self.per_hour:
                raise QueryError(
                    429,
                    f"Exceeded rate limit: this query costs {cost} and {used} of the project's "
                    f"{self.per_hour} cost per hour is used",
                )
            self.spent.append((now_ms, cost))
            self.log.append((path, cost))

    @property
    def total(self) -> int:
        with self.lock:
            return sum(cost for _, cost in self.log)


_LEDGERS: weakref.WeakKeyDictionary[Project, CostLedger] = weakref.WeakKeyDictionary()
_FACTS: weakref.WeakKeyDictionary[Project, tuple[int, Facts]] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def ledger(project: Project) -> CostLedger:
    """The project's cost ledger (tests read ``total`` and ``log``, or lower ``per_hour``)."""
    with _GUARD:
        found = _LEDGERS.get(project)
        if found is None:
            found = _LEDGERS[project] = CostLedger()
        return found


# -- facts ----------------------------------------------------------------------------------------


@dataclass
class Facts:
    """Each person's events (time, day, type), in time order, and the dashboard figures."""

    figures: Figures
    events: dict[str, list[tuple[int, date, str]]]


def facts(project: Project) -> Facts:
    """Computed once per data version of the project."""
    version = project.version
    with _GUARD:
        cached = _FACTS.get(project)
    if cached is not None and cached[0] == version:
        return cached[1]
    figures = project.figures()
    merged = dict(project.people.identities.merged)
    events: dict[str, list[tuple[int, date, str]]] = {}
    for meta in project.all_metas():
        user = merged.get(meta.user_key, meta.user_key)
        events.setdefault(user, []).append(
            (meta.event_time_ms, project.day(meta.event_time_ms), meta.event_type)
        )
    for items in events.values():
        items.sort()
    result = Facts(figures, events)
    with _GUARD:
        _FACTS[project] = (version, result)
    return result


def _matches(event_type: str, wanted: str) -> bool:
    if wanted in ("_active", "_all"):
        return True
    return event_type == (wanted[3:] if wanted.startswith("ce:") else wanted)


def _group(facts_: Facts, query: dict[str, str]) -> tuple[str | None, Callable[[str], str]]:
    g = query.get("g") or None
    if g is None:
        return None, lambda _user: ""
    prop = group_by_property(g)
    if prop is None:
        raise QueryError(400, f"Invalid group by property {g}")
    labels = facts_.figures.labels[prop]
    return prop, lambda user: labels.get(user, NO_VALUE)


def _interval(query: dict[str, str]) -> int:
    value = query.get("i", "1")
    if value not in ("1", "7", "30"):
        raise QueryError(400, f"Invalid interval i={value}: the emulator serves 1, 7 or 30")
    return int(value)


# -- bodies ----------------------------------------------------------------------------------------


def segmentation(f: Facts, query: list[tuple[str, str]], start: date, end: date) -> Any:
    params = dict(query)
    events = _event_list(query)
    if not events:
        raise QueryError(400, "Missing required parameter e")
    metric = params.get("m", "uniques")
    if metric not in ("uniques", "totals", "pct_dau", "average"):
        raise QueryError(
            400,
            f"Invalid metric m={metric}: the emulator serves uniques, totals, pct_dau and average",
        )
    interval = _interval(params)
    periods = _periods(start, end, interval)
    prop, label_of = _group(f, params)
    series: list[list[float]] = []
    labels: list[Any] = []
    collapsed: list[list[dict[str, Any]]] = []
    for index, event in enumerate(events):
        wanted = str(event["event_type"])
        per_group: dict[str, list[tuple[set[str], int]]] = {}
        for user, items in f.events.items():
            for k, (first, last) in enumerate(periods):
                hits = sum(
                    1 for _, day, kind in items if first <= day <= last and _matches(kind, wanted)
                )
                if hits:
                    cells = per_group.setdefault(label_of(user), [(set(), 0) for _ in periods])
                    users, total = cells[k]
                    users.add(user)
                    cells[k] = (users, total + hits)
        if prop is None and not per_group:
            per_group[""] = [(set(), 0) for _ in periods]

        def size(group: str, cells: dict[str, list[tuple[set[str], int]]] = per_group) -> int:
            return len(set().union(*(c[0] for c in cells[group])))

        ordered = sorted(per_group, key=lambda g: (-size(g), g))
        for group in ordered:
            row: list[float] = []
            for k, (first, last) in enumerate(periods):
                users, total = per_group[group][k]
                if metric == "uniques":
                    row.append(len(users))
                elif metric == "totals":
                    row.append(total)
                elif metric == "average":
                    row.append(round(total / len(users), 4) if users else 0.0)
                else:
                    active = set().union(
                        *(
                            f.figures.active.get(first + timedelta(days=d), set())
                            for d in range((last - first).days + 1)
                        )
                    )
                    row.append(round(len(users) / len(active), 6) if active else 0.0)
            series.append(row)
            every = set().union(*(c[0] for c in per_group[group]))
            collapsed.append([{"setId": "", "value": len(every)}])
            labels.append([index, group] if prop is not None else index)
    return {
        "data": {
            "series": series,
            "seriesLabels": labels,
            "seriesCollapsed": collapsed,
            "xValues": [_label_start(first, interval).isoformat() for first, _ in periods],
        }
    }


def _entered(f: Facts, user: str, day: date, wanted: str) -> list[int]:
    return [ms for ms, d, kind in f.events.get(user, ()) if d == day and _matches(kind, wanted)]


def funnels(f: Facts, query: list[tuple[str, str]], start: date, end: date) -> Any:
    params = dict(query)
    steps = [str(event["event_type"]) for event in _event_list(query) if True]
    if len(steps) < 2:
        raise QueryError(400, "A funnel needs at least two e parameters")
    if params.get("mode", "ordered") != "ordered" or params.get("g"):
        raise QueryError(400, "The emulator serves ordered funnels without a group by only")
    window_ms = int(params.get("cs", "2592000")) * 1000
    new_only = params.get("n", "active") == "new"
    days = [first for first, _ in _periods(start, end, 1)]
    day_rows: list[list[int]] = []
    overall = [0] * len(steps)
    for day in days:
        row = [0] * len(steps)
        for user, items in f.events.items():
            if new_only and f.figures.first_seen.get(user) != day:
                continue
            starts = [ms for ms, d, kind in items if d == day and _matches(kind, steps[0])]
            if not starts:
                continue
            at, reached = starts[0], 1
            for step in steps[1:]:
                nxt = next(
                    (
                        ms
                        for ms, _, kind in items
                        if ms > at and ms - starts[0] <= window_ms and _matches(kind, step)
                    ),
                    None,
                )
                if nxt is None:
                    break
                at, reached = nxt, reached + 1
            for k in range(reached):
                row[k] += 1
        day_rows.append(row)
        overall = [a + b for a, b in zip(overall, row, strict=True)]
    top = overall[0] or 1
    return {
        "data": [
            {
                "meta": {"segmentIndex": 0},
                "events": steps,
                "cumulativeRaw": overall,
                "cumulative": [round(n / top, 6) if overall[0] else 0.0 for n in overall],
                "stepByStep": [
                    1.0 if k == 0 else (round(n / overall[k - 1], 6) if overall[k - 1] else 0.0)
                    for k, n in enumerate(overall)
                ],
                "dayFunnels": {
                    "series": day_rows,
                    "xValues": [day.isoformat() for day in days],
                    "formattedXValues": [f"{day:%b} {day.day:02d}" for day in days],
                },
            }
        ]
    }


def month_day(day: date) -> str:
    """How retention labels a date: "Aug 14" (no year)."""
    return f"{day:%b} {day.day:02d}"


def retention(f: Facts, query: list[tuple[str, str]], start: date, end: date, today: date) -> Any:
    params = dict(query)
    try:
        se = json.loads(params.get("se", ""))["event_type"]
        re_ = json.loads(params.get("re", ""))["event_type"]
    except (ValueError, KeyError, TypeError):
        raise QueryError(400, "se and re are required: full events with an event_type") from None
    if _interval(params) != 1 or params.get("rm", "n-day") not in ("n-day", "") or params.get("g"):
        raise QueryError(400, "The emulator serves daily n-day retention without a group by only")
    days = [first for first, _ in _periods(start, end, 1)]
    horizon = (end - start).days + 1
    values: dict[str, list[dict[str, Any]]] = {}
    combined_counts = [0] * (horizon + 1)
    for day in days:
        if se == "_new":
            cohort = {u for u, first in f.figures.first_seen.items() if first == day}
        else:
            cohort = {
                u
                for u, items in f.events.items()
                if any(d == day and _matches(k, se) for _, d, k in items)
            }
        size = len(cohort)
        cells = [{"count": size, "outof": size, "incomplete": False}]
        for n in range(horizon - (day - start).days):
            target = day + timedelta(days=n)
            kept = sum(
                1
                for u in cohort
                if any(d == target and _matches(k, re_) for _, d, k in f.events[u])
            )
            cells.append({"count": kept, "outof": size, "incomplete": target >= today})
            combined_counts[n + 1] += kept
        combined_counts[0] += size
        values[month_day(day)] = cells
    total = combined_counts[0]
    return {
        "data": {
            "series": [
                {
                    "dates": [month_day(day) for day in reversed(days)],
                    "values": values,
                    "combined": [
                        {"count": c, "outof": total, "retainedSetId": None, "incomplete": False}
                        for c in combined_counts
                    ],
                }
            ],
            "seriesMeta": [{"segmentIndex": 0, "eventIndex": 0}],
        }
    }


def sessions_per_user(f: Facts, start: date, end: date) -> Any:
    counts: dict[date, int] = {}
    for low, _high in f.figures.sessions.values():
        day = f.figures.day_of(low)
        counts[day] = counts.get(day, 0) + 1
    days = [first for first, _ in _periods(start, end, 1)]
    series = []
    for day in days:
        active = len(f.figures.active.get(day, ()))
        series.append(round(counts.get(day, 0) / active, 4) if active else 0.0)
    return {
        "data": {
            "series": [series],
            "seriesMeta": [{"segmentIndex": 0}],
            "xValues": [day.isoformat() for day in days],
        }
    }


def _bins(params: dict[str, str]) -> list[tuple[int, int]]:
    unit = UNIT_MS.get(params.get("timeHistogramConfigBinTimeUnit", ""))
    try:
        low = float(params["timeHistogramConfigBinMin"])
        high = float(params["timeHistogramConfigBinMax"])
        size = float(params.get("timeHistogramConfigBinSize") or 0) or None
    except (KeyError, ValueError):
        unit = None
    if unit is None or high <= low:
        edges = [*DEFAULT_BINS_MS, DAY_MS]
        return list(itertools.pairwise(edges))
    step = (size or (high - low) / 10) * unit
    result, at = [], low * unit
    while at < high * unit:
        result.append((int(at), int(min(at + step, high * unit))))
        at += step
    return result


def session_length(f: Facts, query: list[tuple[str, str]], start: date, end: date) -> Any:
    bins = _bins(dict(query))
    counts = [0] * len(bins)
    for low, high in f.figures.sessions.values():
        if not start <= f.figures.day_of(low) <= end:
            continue
        length = min(high - low, DAY_MS - 1)
        for k, (a, b) in enumerate(bins):
            if a <= length < b:
                counts[k] += 1
                break
    return {
        "data": {
            "series": [counts],
            "xValues": [f"{a // 1000}s-{b // 1000}s" for a, b in bins],
        }
    }


def composition(f: Facts, query: list[tuple[str, str]], start: date, end: date) -> Any:
    params = dict(query)
    p = params.get("p")
    prop = group_by_property(p or "")
    if prop is None:
        raise QueryError(400, f"Invalid or missing property p={p}")
    users: set[str] = set()
    day = start
    while day <= end:
        users |= f.figures.active.get(day, set())
        day += timedelta(days=1)
    labels = f.figures.labels[prop]
    counts: dict[str, int] = {}
    for user in users:
        value = labels.get(user, NO_VALUE)
        counts[value] = counts.get(value, 0) + 1
    ordered = sorted(counts, key=lambda v: (-counts[v], v))
    return {
        "data": {
            "series": [[counts[v] for v in ordered]],
            "seriesLabels": [p],
            "xValues": ordered,
        }
    }


def revenue_ltv(
    f: Facts, query: list[tuple[str, str]], start: date, end: date, paying: set[str]
) -> Any:
    params = dict(query)
    metric = params.get("m", "0")
    if metric not in ("0", "1", "2", "3"):
        raise QueryError(400, f"Invalid metric m={metric}: use 0, 1, 2 or 3")
    if _interval(params) != 1 or params.get("g"):
        raise QueryError(400, "The emulator serves daily LTV without a group by only")
    days = [first for first, _ in _periods(start, end, 1)]
    values = {}
    for day in days:
        cohort = [u for u, first in f.figures.first_seen.items() if first == day]
        paid = sum(1 for u in cohort if u in paying)
        row: dict[str, Any] = {f"r{n}d": float(paid) if metric == "3" else 0.0 for n in LTV_DAYS}
        row.update({"count": len(cohort), "paid": paid, "total_amount": 0.0})
        values[day.isoformat()] = row
    return {
        "data": {
            "seriesLabels": [""],
            "series": [{"dates": [d.isoformat() for d in reversed(days)], "values": values}],
        }
    }


# -- the endpoint --------------------------------------------------------------------------------


def day_range(query: dict[str, str]) -> tuple[date, date]:
    try:
        start = parse_day_param(query.get("start", ""))
        end = parse_day_param(query.get("end", ""))
    except ValueError as error:
        raise QueryError(
            400, f"Invalid start or end parameter ({error}): both are YYYYMMDD"
        ) from None
    if end < start:
        raise QueryError(400, "Invalid range: end is before start")
    return start, end


def answer(
    project: Project, path: str, query: list[tuple[str, str]], today: date, now_ms: int
) -> tuple[int, Any]:
    """(status, body) of a query endpoint; the cost is charged before it is answered."""
    kind = PATHS[path]
    try:
        start, end = day_range(dict(query))
        body = body_for(project, kind, query, start, end, today)
        ledger(project).charge(path, query_cost(kind, query, (end - start).days + 1), now_ms)
    except QueryError as error:
        return error.status, error.body
    return 200, body


def body_for(
    project: Project, kind: str, query: list[tuple[str, str]], start: date, end: date, today: date
) -> Any:
    """The body of a query of ``kind`` (also what a saved chart of that kind shows)."""
    f = facts(project)
    if kind == "segmentation":
        return segmentation(f, query, start, end)
    if kind == "funnels":
        return funnels(f, query, start, end)
    if kind == "retention":
        return retention(f, query, start, end, today)
    if kind == "sessions_per_user":
        return sessions_per_user(f, start, end)
    if kind == "session_length":
        return session_length(f, query, start, end)
    if kind == "composition":
        return composition(f, query, start, end)
    return revenue_ltv(f, query, start, end, set(project.people.paying()))
