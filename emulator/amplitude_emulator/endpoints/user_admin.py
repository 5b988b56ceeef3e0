"""User mapping, privacy deletions, cohort upload and membership over HTTP (user_admin.py holds
the state and rules)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from amplitude_emulator.user_admin import (
    handle_cohort_membership,
    handle_cohort_upload,
    handle_deletion,
    handle_deletion_jobs,
    handle_usermap,
)

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler


def admin(handler: EmulatorHandler, method: str, path: str) -> None:
    faults = handler.server.emulator.faults
    if faults.take_drop(path):
        handler.drop()
    project = handler.authenticate()
    if project is None:
        return
    if handler.status_fault(path, read_side=True):
        return
    emulator = handler.server.emulator
    today = emulator.clock.date()
    now_s = emulator.clock_ms() // 1000
    body: Any = None
    if method == "POST":
        try:
            body = json.loads(handler.body)
        except ValueError:
            handler.bad_request("The body must be JSON")
            return
    lookup = project.admin_lookup()
    if path == "/api/2/deletions/users":
        if method == "GET":
            status, answer = handle_deletion_jobs(project.admin, handler.query, today)
        else:
            status, answer = handle_deletion(project.admin, body, lookup, today)
    elif path == "/api/3/cohorts/upload":
        status, answer = handle_cohort_upload(
            project.admin, body, lookup, project.project_id, now_s
        )
    else:
        status, answer = handle_cohort_membership(project.admin, body, lookup, now_s)
    handler.send_json(status, answer)


def usermap(handler: EmulatorHandler) -> None:
    form = handler.form()
    project = handler.write_project(form.get("api_key", ""))
    if handler.status_fault(handler.route_path, read_side=False):
        return
    status, answer = handle_usermap(project.admin, form.get("mapping"), len(handler.body))
    if isinstance(answer, str):
        handler.send(status, answer.encode(), "text/plain; charset=utf-8")
    else:
        handler.send_json(status, answer)
