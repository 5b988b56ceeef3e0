"""The Dashboard REST API: /api/2/users, /api/2/sessions/average, /api/2/events/list and the
chart annotations (v2, v3); dashboard.py computes the figures."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from amplitude_emulator import responses
from amplitude_emulator.dashboard import (
    GROUP_BY_REFUSED,
    DashboardError,
    events_list_body,
    sessions_body,
    users_body,
)
from amplitude_emulator.labels import group_by_property
from amplitude_emulator.timefmt import (
    MS_PER_DAY,
    datetime_to_ms,
    ms_to_datetime,
    parse_day_param,
)

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler
    from amplitude_emulator.store import Project


def _day_range(handler: EmulatorHandler) -> tuple[date, date] | None:
    try:
        start = parse_day_param(handler.query.get("start", ""))
        end = parse_day_param(handler.query.get("end", ""))
    except ValueError as error:
        handler.bad_request(f"Invalid start or end parameter ({error}): both are YYYYMMDD")
        return None
    if end < start:
        handler.bad_request("Invalid range: end is before start")
        return None
    return start, end


def users(handler: EmulatorHandler, project: Project) -> None:
    days = _day_range(handler)
    if days is None:
        return
    metric = handler.query.get("m", "active")
    interval = handler.query.get("i", "1")
    group_by = handler.query.get("g") or None
    if metric not in ("active", "new"):
        handler.bad_request(f"Invalid metric m={metric}: use active or new")
        return
    if interval not in ("1", "7", "30"):
        handler.bad_request(f"Invalid interval i={interval}: use 1, 7 or 30")
        return
    prop = group_by_property(group_by) if group_by is not None else None
    if group_by is not None and (
        prop is None or (prop == "country" and not project.country_group_by_ok)
    ):
        handler.send_json(
            400,
            DashboardError(
                400, "invalid", GROUP_BY_REFUSED, details=f"Invalid user property {group_by}"
            ).body,
        )
        return
    figures = project.figures()
    handler.send_json(200, users_body(figures, days[0], days[1], metric, int(interval), prop))


def sessions(handler: EmulatorHandler, project: Project) -> None:
    days = _day_range(handler)
    if days is None:
        return
    figures = project.figures()
    handler.send_json(200, sessions_body(figures, days[0], days[1]))


def events_list(handler: EmulatorHandler, project: Project) -> None:
    figures = project.figures()
    declared = project.generated.spec.event_types if project.generated else ()
    handler.send_json(200, events_list_body(figures, declared))


def annotations_v2(handler: EmulatorHandler, project: Project) -> None:
    data = [
        {
            "id": item["id"],
            "date": ms_to_datetime(item["start_ms"]).date().isoformat(),
            "label": item["label"],
            "details": item["details"] or "",
        }
        for item in project.annotations()
    ]
    handler.send_json(200, {"data": data})


def annotations_v3(handler: EmulatorHandler, project: Project) -> None:
    if not project.annotations_v3:
        handler.send_json(404, responses.read_fault_body(404))
        return
    try:
        low = _moment_ms(handler.query.get("start"))
        high = _moment_ms(handler.query.get("end"), end_of_day=True)
    except ValueError as error:
        handler.bad_request(f"Invalid start or end parameter: {error}")
        return
    category, chart_id = handler.query.get("category"), handler.query.get("chart_id")
    data = []
    for item in project.annotations():
        if low is not None and item["start_ms"] < low:
            continue
        if high is not None and item["start_ms"] > high:
            continue
        names = (str(item["category"]["id"]), item["category"]["name"]) if item["category"] else ()
        if category and category not in names:
            continue
        if chart_id and item["chart_id"] != chart_id:
            continue
        end = item["end_ms"]
        data.append(
            {
                "id": item["id"],
                "start": ms_to_datetime(item["start_ms"]).isoformat(),
                "end": None if end is None else ms_to_datetime(end).isoformat(),
                "label": item["label"],
                "details": item["details"],
                "category": item["category"],
                "chart_id": item["chart_id"],
            }
        )
    handler.send_json(200, {"data": data})


def _moment_ms(value: str | None, end_of_day: bool = False) -> int | None:
    """``YYYY-MM-DD``, ``YYYYMMDD`` or an ISO datetime -> epoch ms (None when absent)."""
    if not value:
        return None
    if len(value) in (8, 10) and "T" not in value:
        day = parse_day_param(value.replace("-", ""))
        ms = (day - date(1970, 1, 1)).days * MS_PER_DAY
        return ms + MS_PER_DAY - 1 if end_of_day else ms
    return datetime_to_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
