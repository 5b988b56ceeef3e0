"""The Export API, GET /api/2/export: a zip of the hours' gzip files, streamed (export.py
builds it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amplitude_emulator import responses
from amplitude_emulator.dashboard import DashboardError
from amplitude_emulator.endpoints import SEND_CHUNK
from amplitude_emulator.export import ZipLayout
from amplitude_emulator.timefmt import parse_hour_param

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler
    from amplitude_emulator.store import Project


# The longest range one export may span, 365 days (emulator/README.md).
MAX_EXPORT_HOURS = 365 * 24


def export(handler: EmulatorHandler, project: Project) -> None:
    try:
        start = parse_hour_param(handler.query.get("start", ""))
        end = parse_hour_param(handler.query.get("end", ""))
    except ValueError as error:
        handler.bad_request(
            f"Invalid start or end parameter ({error}): both are required as YYYYMMDDTHH"
        )
        return
    if end < start:
        handler.bad_request("Invalid range: end is before start")
        return
    if end - start + 1 > MAX_EXPORT_HOURS:
        handler.bad_request("Invalid range: the export window is limited to 365 days")
        return
    max_hours = handler.server.emulator.faults.too_large_hours("/api/2/export")
    if max_hours is not None and end - start + 1 > max_hours:
        handler.send_json(
            400, DashboardError(400, "invalid", responses.EXPORT_TOO_LARGE_MESSAGE).body
        )
        return
    now_ms = handler.server.emulator.clock_ms()
    project.apply_due_deletions()
    hours = project.hours_with_data(*project.export_hours(start, end))
    blobs = [blob for hour in hours for blob in project.export_blobs(hour, now_ms)]
    if not blobs:
        handler.send_text(404, responses.EXPORT_NOT_FOUND)
        return
    faults = handler.server.emulator.faults
    if faults.take_corrupt("/api/2/export"):
        handler.send(200, responses.CORRUPT_PAGE, "text/html")
        return
    layout = ZipLayout(project.project_id, blobs, project.zip_directory_entry)
    cut = faults.take_truncate("/api/2/export")
    handler.status = 200
    handler.send_response(200)
    handler.send_header("Content-Type", "application/zip")
    handler.send_header("Content-Disposition", f'attachment; filename="{project.project_id}.zip"')
    handler.send_header("Content-Length", str(layout.content_length))
    handler.end_headers()
    budget = None if cut is None else int(layout.content_length * cut)
    if budget is not None:
        handler.record_once()  # logged as 200: the client saw a 200 with a cut body
    pieces = list(layout.chunks())
    for index, chunk in enumerate(pieces):
        view = memoryview(chunk)
        if budget is not None:
            view = view[:budget]
            budget -= len(view)
        if index == len(pieces) - 1:
            handler.record_once()
        for offset in range(0, len(view), SEND_CHUNK):
            handler.wfile.write(view[offset : offset + SEND_CHUNK])
        if budget is not None and budget <= 0:
            handler.wfile.flush()
            handler.drop()
