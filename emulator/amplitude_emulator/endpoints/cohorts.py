"""The Behavioral Cohorts API's read side: GET /api/3/cohorts and the asynchronous cohort
download (cohort_download.py holds the jobs and files)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from amplitude_emulator import cohort_download, responses
from amplitude_emulator.cohort_limits import MAX_COHORT_MEMBERS
from amplitude_emulator.dashboard import DashboardError
from amplitude_emulator.endpoints import SEND_CHUNK

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler
    from amplitude_emulator.store import Project


def cohorts(handler: EmulatorHandler, project: Project) -> None:
    if not project.cohorts_enabled:
        handler.send_json(403, DashboardError(403, "forbidden", responses.COHORTS_DISABLED).body)
        return
    cohorts = project.cohorts()
    if handler.query.get("includeSyncInfo", "").lower() == "true":
        cohorts = [{**cohort, "syncMetadata": []} for cohort in cohorts]
    handler.send_json(200, {"cohorts": cohorts})


def cohort_usage(handler: EmulatorHandler, project: Project) -> None:
    """Get usage: this month's Get-one-cohort requests (cohort_limits.py)."""
    if not project.cohorts_enabled:
        handler.send_json(403, DashboardError(403, "forbidden", responses.COHORTS_DISABLED).body)
        return
    handler.send_json(200, project.cohort_limits.usage_body(handler.server.emulator.clock))


def download(handler: EmulatorHandler, method: str, route: str, ident: str) -> None:
    if method != "GET":
        handler.send_json(405, {"code": 405, "error": f"Method {method} not allowed; use GET"})
        return
    faults = handler.server.emulator.faults
    if faults.take_drop(route):
        handler.drop()
    delay = faults.take_slow(route)
    if delay:
        time.sleep(delay)
    downloads = handler.server.emulator.cohort_downloads
    if route == cohort_download.S3_FILE:
        _s3_file(handler, downloads, ident)
        return
    project = handler.authenticate()
    if project is None or handler.status_fault(route, read_side=True):
        return
    if not project.cohorts_enabled:
        handler.send_json(403, DashboardError(403, "forbidden", responses.COHORTS_DISABLED).body)
        return
    if route == cohort_download.COHORT_REQUEST:
        cohort = project.cohort(ident)
        if cohort is None:
            handler.send_json(404, DashboardError(404, "not_found", "Cohort not found").body)
            return
        refused = project.cohort_limits.enter()  # cohort_limits.py: 60/10 min, 4, 500
        if refused is not None:
            handler.send_json(429, DashboardError(429, "too_many_requests", refused).body)
            return
        project.cohort_limits.leave()  # the job is queued: the request is answered now
        if int(cohort.get("size") or 0) > MAX_COHORT_MEMBERS:
            message = (
                f"Cohort size exceeds the maximum of {MAX_COHORT_MEMBERS} users for "
                "download; use a cohort sync"
            )
            handler.send_json(400, DashboardError(400, "invalid", message).body)
            return
        query = parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
        keys = tuple(value for name, value in query if name == "propKeys" and value)
        with_props = handler.query.get("props") == "1"
        job = downloads.request(
            project.project_id,
            cohort,
            int(cohort.get("size") or 0),
            (keys or cohort_download.MEMBER_PROPERTIES) if with_props else None,
            project.cohort_job_polls,
        )
        handler.send_json(202, {"request_id": job.request_id, "cohort_id": job.cohort_id})
        return
    found = downloads.job(ident, project.project_id)
    if found is None:
        handler.send_json(404, DashboardError(404, "not_found", "Request not found").body)
        return
    job = found
    if route == cohort_download.COHORT_STATUS:
        done = downloads.poll(job)
        body = {
            "request_id": job.request_id,
            "cohort_id": job.cohort_id,
            "async_status": "JOB COMPLETED" if done else "JOB INPROGRESS",
        }
        handler.send_json(200 if done else 202, body)
        return
    if job.polls_left > 0:
        handler.bad_request("The cohort download job has not completed yet")
        return
    if job.size <= downloads.body_limit:
        handler.send(200, downloads.content(job, gzipped=False), "text/csv")
        return
    token = downloads.new_link(job, expired=faults.take_expired_link())
    host = handler.headers.get("Host", f"127.0.0.1:{handler.server.server_address[1]}")
    location = f"http://{host}/s3/cohort-files/{token}?X-Amz-Expires=60"
    handler.send(302, b"", "text/plain", {"Location": location})


def _s3_file(
    handler: EmulatorHandler, downloads: cohort_download.CohortDownloads, token: str
) -> None:
    job, expired = downloads.resolve(token)
    if job is None or expired:
        handler.send(403, cohort_download.S3_EXPIRED_BODY, "application/xml")
        return
    body = downloads.content(job, gzipped=True)
    cut = handler.server.emulator.faults.take_truncate(cohort_download.S3_FILE)
    handler.status = 200
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.record_once()
    view = memoryview(body)[: int(len(body) * cut)] if cut is not None else memoryview(body)
    for offset in range(0, len(view), SEND_CHUNK):
        handler.wfile.write(view[offset : offset + SEND_CHUNK])
    if cut is not None:
        handler.wfile.flush()
        handler.drop()
