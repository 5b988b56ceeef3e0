"""The Dashboard REST query endpoints (segmentation, funnels, retention, sessions per user,
session length, composition, revenue LTV) and saved charts (/api/3/chart/:id/csv and /query);
dashboard_queries.py and charts.py compute the answers and their costs."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from amplitude_emulator import charts, dashboard_queries

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler


def routes(path: str) -> bool:
    """Whether the path is a query endpoint or a saved chart's."""
    return path in dashboard_queries.PATHS or charts.route(path) is not None


def query(handler: EmulatorHandler, method: str, path: str) -> None:
    if method != "GET":
        handler.send_json(405, {"code": 405, "error": f"Method {method} not allowed; use GET"})
        return
    faults = handler.server.emulator.faults
    if faults.take_drop(path):
        handler.drop()
    project = handler.authenticate()
    if project is None or handler.status_fault(path, read_side=True):
        return
    today = project.day(handler.server.emulator.clock_ms())
    chart = charts.route(path)
    if chart is not None:
        status, body = charts.answer(project, chart[0], chart[1], today)
    else:
        params = parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
        now_ms = handler.server.emulator.clock_ms()
        status, body = dashboard_queries.answer(project, path, params, today, now_ms)
    handler.send_json(status, body)
