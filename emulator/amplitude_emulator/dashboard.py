"""Dashboard REST figures (/api/2/users, /api/2/sessions/average, /api/2/events/list).

Figures are derived from the project's events (generated and ingested), by event_time day in
the project's time zone ("The Dashboard REST API time zone matches your Amplitude project's time
zone", Dashboard REST API docs; UTC unless the project says otherwise), and computed once per
data version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from amplitude_emulator.generator import EventMeta
from amplitude_emulator.labels import GROUP_BY_PROPERTIES, NO_VALUE
from amplitude_emulator.timefmt import ms_to_date

GROUP_BY_REFUSED = "Invalid chart definition"


class DashboardError(Exception):
    """A Dashboard REST error: ``{"error":{"http_code","type","message","metadata"}}``."""

    def __init__(self, status: int, kind: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = dashboard_error_body(status, kind, message, details)


def dashboard_error_body(
    status: int, kind: str, message: str, details: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"http_code": status, "type": kind, "message": message}
    if details is not None:
        error["metadata"] = {"details": details}
    return {"error": error}


def zone_day(ms: int, zone: ZoneInfo) -> date:
    """The calendar day of an epoch-ms instant in ``zone``."""
    if zone.key == "UTC":
        return ms_to_date(ms)
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).date()


@dataclass
class Figures:
    """Per-day facts every dashboard answer is computed from."""

    active: dict[date, set[str]] = field(default_factory=dict)
    first_seen: dict[str, date] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # property -> user -> value
    sessions: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    event_totals: Counter[str] = field(default_factory=Counter)
    day_of: Callable[[int], date] = ms_to_date  # epoch ms -> the project's day


def compute_figures(
    metas: Iterable[EventMeta],
    canonical: Mapping[str, str] | None = None,
    day_of: Callable[[int], date] = ms_to_date,
) -> Figures:
    """The per-day facts; ``canonical`` maps an anonymous device's key to the user it was
    merged into (one person, counted once in new and active users); ``day_of`` turns an
    event time into the project's day (its time zone)."""
    figures = Figures(labels={name: {} for name in GROUP_BY_PROPERTIES}, day_of=day_of)
    canonical = canonical or {}
    labels = figures.labels
    for meta in metas:
        user_key = canonical.get(meta.user_key, meta.user_key)
        day = day_of(meta.event_time_ms)
        figures.active.setdefault(day, set()).add(user_key)
        first = figures.first_seen.get(user_key)
        if first is None or day < first:
            figures.first_seen[user_key] = day
        if meta.labels is None:
            labels["country"][user_key] = meta.country or NO_VALUE
            labels["platform"][user_key] = meta.platform or NO_VALUE
        else:
            for name, value in meta.labels.items():
                labels[name][user_key] = value
        figures.event_totals[meta.event_type] += 1
        if meta.session_id != -1:
            key = (user_key, meta.session_id)
            low, high = figures.sessions.get(key, (meta.event_time_ms, meta.event_time_ms))
            figures.sessions[key] = (min(low, meta.event_time_ms), max(high, meta.event_time_ms))
    return figures


def _periods(start: date, end: date, interval: int) -> list[tuple[date, date]]:
    """(first, last) day of each period (clipped to the range); interval 1, 7 or 30."""
    periods = []
    day = start
    while day <= end:
        if interval == 1:
            last = day
        elif interval == 7:
            last = day + timedelta(days=6 - day.weekday())
        else:
            next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
            last = next_month - timedelta(days=1)
        last = min(last, end)
        periods.append((day, last))
        day = last + timedelta(days=1)
    return periods


def _label_start(first: date, interval: int) -> date:
    if interval == 7:
        return first - timedelta(days=first.weekday())
    if interval == 30:
        return first.replace(day=1)
    return first


def _users_in(figures: Figures, first: date, last: date, metric: str) -> set[str]:
    result: set[str] = set()
    day = first
    while day <= last:
        active = figures.active.get(day, set())
        if metric == "new":
            result.update(user for user in active if figures.first_seen.get(user) == day)
        else:
            result.update(active)
        day += timedelta(days=1)
    return result


def users_body(
    figures: Figures,
    start: date,
    end: date,
    metric: str,
    interval: int,
    group_by: str | None,
) -> dict[str, Any]:
    """The /api/2/users body: series per group, seriesLabels, seriesMeta, seriesCollapsed."""
    periods = _periods(start, end, interval)
    per_period = [_users_in(figures, first, last, metric) for first, last in periods]
    everyone = set().union(*per_period) if per_period else set()
    if group_by is None:
        labels: list[Any] = [0]
        members = {0: everyone}
    else:
        values = figures.labels[group_by]
        groups: dict[Any, set[str]] = {}
        for user in everyone:
            groups.setdefault(values.get(user, NO_VALUE), set()).add(user)
        labels = sorted(groups, key=lambda label: (-len(groups[label]), label))
        members = groups
    series = [[len(period & members[label]) for period in per_period] for label in labels]
    return {
        "data": {
            "series": series,
            "seriesCollapsed": [[{"setId": "", "value": len(members[label])}] for label in labels],
            "seriesLabels": labels,
            "seriesMeta": [{"segmentIndex": 0} for _ in labels],
            "xValues": [_label_start(first, interval).isoformat() for first, _ in periods],
        }
    }


def sessions_body(figures: Figures, start: date, end: date) -> dict[str, Any]:
    """The /api/2/sessions/average body: mean session length in seconds per day."""
    lengths: dict[date, list[float]] = {}
    for low, high in figures.sessions.values():
        lengths.setdefault(figures.day_of(low), []).append((high - low) / 1000)
    days = [first for first, _ in _periods(start, end, 1)]
    averages = [round(sum(v) / len(v), 2) if (v := lengths.get(day)) else 0.0 for day in days]
    all_lengths = [x for day in days for x in lengths.get(day, [])]
    overall = round(sum(all_lengths) / len(all_lengths), 2) if all_lengths else 0.0
    return {
        "data": {
            "series": [averages],
            "seriesCollapsed": [[{"setId": "", "value": overall}]],
            "seriesLabels": [0],
            "seriesMeta": [{"segmentIndex": 0}],
            "xValues": [day.isoformat() for day in days],
        }
    }


def events_list_body(figures: Figures, declared: Iterable[str]) -> dict[str, Any]:
    """The /api/2/events/list body: every known event type with its total."""
    names = list(dict.fromkeys([*declared, *sorted(figures.event_totals)]))
    return {
        "data": [
            {
                "id": index,
                "value": name,
                "display": name,
                "name": name,
                "totals": figures.event_totals.get(name, 0),
                "totals_delta": 0,
                "deleted": False,
                "hidden": False,
                "non_active": figures.event_totals.get(name, 0) == 0,
                "flow_hidden": False,
                "autohidden": False,
                "in_waitroom": False,
                "clusters_hidden": False,
                "timeline_hidden": False,
            }
            for index, name in enumerate(names, start=1)
        ]
    }
