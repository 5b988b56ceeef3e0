"""HTTP handling: routing, auth, faults, and the Amplitude endpoints over a :class:`Project`."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import time
from collections.abc import Callable
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from amplitude_emulator import charts, cohort_download, dashboard_queries, responses
from amplitude_emulator.dashboard import (
    GROUP_BY_REFUSED,
    DashboardError,
    events_list_body,
    sessions_body,
    users_body,
)
from amplitude_emulator.export import ZipLayout
from amplitude_emulator.ingest_validation import (
    Rejection,
    check_events,
    form_fields,
    invalid_api_key,
    legacy_text,
    parse_event_batch,
    parse_group_identify,
    parse_identify,
    payload_too_large,
)
from amplitude_emulator.labels import group_by_property
from amplitude_emulator.store import Project
from amplitude_emulator.taxonomy import TAXONOMY_PATHS, error_body
from amplitude_emulator.timefmt import (
    MS_PER_DAY,
    datetime_to_ms,
    ms_to_datetime,
    parse_day_param,
    parse_hour_param,
)
from amplitude_emulator.user_admin import (
    handle_cohort_membership,
    handle_cohort_upload,
    handle_deletion,
    handle_deletion_jobs,
    handle_usermap,
)

if TYPE_CHECKING:
    from amplitude_emulator.emulator import Emulator

MAX_EXPORT_HOURS = 365 * 24
WRITE_LIMITS = {
    "/batch": 20 * 1024 * 1024,
    "/2/httpapi": 1024 * 1024,
    "/identify": 1024 * 1024,
    "/groupidentify": 1024 * 1024,
    "/usermap": 1024 * 1024,
}
EPS_THRESHOLDS = {"/batch": 1000, "/2/httpapi": 30}
FORM_PATHS = frozenset({"/identify", "/groupidentify", "/usermap"})
# Basic-auth JSON APIs that change the project (method, path).
ADMIN_ROUTES = frozenset(
    {
        ("POST", "/api/2/deletions/users"),
        ("GET", "/api/2/deletions/users"),
        ("POST", "/api/3/cohorts/upload"),
        ("POST", "/api/3/cohorts/membership"),
    }
)
READ_PATHS = frozenset(
    {
        "/api/2/export",
        "/api/2/users",
        "/api/2/sessions/average",
        "/api/2/events/list",
        "/api/2/annotations",
        "/api/3/annotations",
        "/api/3/cohorts",
        *TAXONOMY_PATHS,
    }
)
_REDACTED_HEADERS = frozenset({"authorization"})
_SEND_CHUNK = 1 << 20


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        super().__init__(address, EmulatorHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        for sock in list(self.open_sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Dropped(Exception):  # noqa: N818 - control flow: the connection was closed on purpose
    pass


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer
    server_version = "AmplitudeEmulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- entry points ----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        path, region = split.path, "standard"
        if path == "/eu" or path.startswith("/eu/"):
            path, region = path[3:] or "/", "eu"
        self.route_path, self.region = path, region
        self.query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.status = 0
        self.project: Project | None = None
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self._method, self._started, self._recorded = method, started, False
        try:
            self._dispatch(method, path)
        except _Dropped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._record_once()

    def _record_once(self) -> None:
        """Log the request. Called before the last byte goes out, so a client that has its
        answer always finds the request in ``emu.requests``."""
        if self._recorded or self.route_path.startswith("/_emulator/"):
            return
        self._recorded = True
        headers = {
            k: ("<redacted>" if k.lower() in _REDACTED_HEADERS else v)
            for k, v in self.headers.items()
        }
        self.server.emulator._record(
            method=self._method,
            path=self.route_path,
            region=self.region,
            query=self.query,
            headers=headers,
            body=self.body,
            status=self.status,
            started=self._started,
            finished=time.monotonic(),
            project_id=self.project.project_id if self.project else None,
        )

    # -- sending ---------------------------------------------------------------------------

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._record_once()
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _text(self, status: int, text: bytes) -> None:
        self._send(status, text, "text/plain; charset=utf-8")

    def _drop(self) -> None:
        """Close the connection now; a request dropped before any answer is logged as 0."""
        if not self._recorded:
            self.status = 0
        self._record_once()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Dropped

    # -- routing ---------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str) -> None:
        if path.startswith("/_emulator/"):
            self._control(method, path)
            return
        if (method, path) in ADMIN_ROUTES:
            self._admin(method, path)
            return
        read_routes: dict[str, Callable[[Project], None]] = {
            "/api/2/export": self._export,
            "/api/2/users": self._users,
            "/api/2/sessions/average": self._sessions,
            "/api/2/events/list": self._events_list,
            "/api/2/annotations": self._annotations_v2,
            "/api/3/annotations": self._annotations_v3,
            "/api/3/cohorts": self._cohorts,
            "/api/2/taxonomy/category": self._taxonomy,
            "/api/2/taxonomy/event": self._taxonomy,
            "/api/2/taxonomy/event-property": self._taxonomy,
            "/api/2/taxonomy/user-property": self._taxonomy,
            "/api/2/taxonomy/group-property": self._taxonomy,
        }
        if path in dashboard_queries.PATHS or charts.route(path) is not None:
            self._dashboard_query(method, path)  # dashboard_queries.py, charts.py
            return
        download = cohort_download.route(path)
        if download is not None:
            self._cohort_download(method, *download)
            return
        write_routes: dict[str, Callable[[], None]] = {
            "/batch": self._batch,
            "/2/httpapi": self._batch,
            "/identify": self._identify,
            "/groupidentify": self._group_identify,
            "/usermap": self._usermap,
        }
        if path not in read_routes and path not in write_routes:
            self._json(404, responses.read_fault_body(404))
            return
        expected = "GET" if path in read_routes else "POST"
        # The Identify API takes "a POST or GET request" (the form endpoints only).
        allowed = ("GET", "POST") if path in FORM_PATHS else (expected,)
        if method not in allowed:
            self._json(
                405,
                {"code": 405, "error": f"Method {method} not allowed; use {expected}"},
                {"Allow": expected},
            )
            return
        faults = self.server.emulator.faults
        faults.wait_if_held(path)
        if faults.take_drop(path):
            self._drop()
        delay = faults.take_slow(path)
        if delay:
            time.sleep(delay)
        if path in read_routes:
            project = self._authenticate()
            if project is None:
                return
            if self._status_fault(path, read_side=True):
                return
            read_routes[path](project)
        else:
            try:
                write_routes[path]()
            except Rejection as rejection:
                if rejection.text is not None:
                    self._text(rejection.status, rejection.text)
                else:
                    self._json(rejection.status, rejection.body)

    def _status_fault(
        self, path: str, read_side: bool, events: list[dict[str, Any]] | None = None
    ) -> bool:
        taken = self.server.emulator.faults.take_status(path)
        if taken is None:
            return False
        status, retry_after = taken
        headers = {"Retry-After": f"{retry_after:g}"} if status == 429 and retry_after else {}
        if status in (502, 504):
            self.status = status
            self._send(status, responses.gateway_page(status), "text/html", headers)
        elif read_side:
            self._json(status, responses.read_fault_body(status), headers)
        elif status == 429:
            indices = list(range(len(events or [])))
            body = responses.throttle_body(
                EPS_THRESHOLDS.get(path, 1000),
                indices,
                _count(events or [], "device_id"),
                _count(events or [], "user_id"),
            )
            self._json(429, body, headers)
        else:
            self._json(status, responses.write_fault_body(status), headers)
        return True

    # -- read side -------------------------------------------------------------------------

    def _authenticate(self) -> Project | None:
        header = self.headers.get("Authorization", "")
        api_key = secret = None
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
                api_key, _, secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                api_key = None
        project = self.server.emulator.project_for_key(api_key or "", self.region)
        if project is None or project.secret_key != secret:
            self._json(401, responses.read_fault_body(401))
            return None
        self.project = project
        return project

    def _bad_request(self, message: str) -> None:
        self._json(400, DashboardError(400, "invalid", message).body)

    def _export(self, project: Project) -> None:
        try:
            start = parse_hour_param(self.query.get("start", ""))
            end = parse_hour_param(self.query.get("end", ""))
        except ValueError as error:
            self._bad_request(
                f"Invalid start or end parameter ({error}): both are required as YYYYMMDDTHH"
            )
            return
        if end < start:
            self._bad_request("Invalid range: end is before start")
            return
        if end - start + 1 > MAX_EXPORT_HOURS:
            self._bad_request("Invalid range: the export window is limited to 365 days")
            return
        max_hours = self.server.emulator.faults.too_large_hours("/api/2/export")
        if max_hours is not None and end - start + 1 > max_hours:
            self._json(400, DashboardError(400, "invalid", responses.EXPORT_TOO_LARGE_MESSAGE).body)
            return
        now_ms = self.server.emulator.clock_ms()
        project.apply_due_deletions()
        hours = project.hours_with_data(*project.export_hours(start, end))
        blobs = [blob for hour in hours for blob in project.export_blobs(hour, now_ms)]
        if not blobs:
            self._text(404, responses.EXPORT_NOT_FOUND)
            return
        faults = self.server.emulator.faults
        if faults.take_corrupt("/api/2/export"):
            self._send(200, responses.CORRUPT_PAGE, "text/html")
            return
        layout = ZipLayout(project.project_id, blobs, project.zip_directory_entry)
        cut = faults.take_truncate("/api/2/export")
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Disposition", f'attachment; filename="{project.project_id}.zip"')
        self.send_header("Content-Length", str(layout.content_length))
        self.end_headers()
        budget = None if cut is None else int(layout.content_length * cut)
        if budget is not None:
            self._record_once()  # logged as 200: the client saw a 200 with a cut body
        pieces = list(layout.chunks())
        for index, chunk in enumerate(pieces):
            view = memoryview(chunk)
            if budget is not None:
                view = view[:budget]
                budget -= len(view)
            if index == len(pieces) - 1:
                self._record_once()
            for offset in range(0, len(view), _SEND_CHUNK):
                self.wfile.write(view[offset : offset + _SEND_CHUNK])
            if budget is not None and budget <= 0:
                self.wfile.flush()
                self._drop()

    def _day_range(self) -> tuple[date, date] | None:
        try:
            start = parse_day_param(self.query.get("start", ""))
            end = parse_day_param(self.query.get("end", ""))
        except ValueError as error:
            self._bad_request(f"Invalid start or end parameter ({error}): both are YYYYMMDD")
            return None
        if end < start:
            self._bad_request("Invalid range: end is before start")
            return None
        return start, end

    def _users(self, project: Project) -> None:
        days = self._day_range()
        if days is None:
            return
        metric = self.query.get("m", "active")
        interval = self.query.get("i", "1")
        group_by = self.query.get("g") or None
        if metric not in ("active", "new"):
            self._bad_request(f"Invalid metric m={metric}: use active or new")
            return
        if interval not in ("1", "7", "30"):
            self._bad_request(f"Invalid interval i={interval}: use 1, 7 or 30")
            return
        prop = group_by_property(group_by) if group_by is not None else None
        if group_by is not None and (
            prop is None or (prop == "country" and not project.country_group_by_ok)
        ):
            self._json(
                400,
                DashboardError(
                    400, "invalid", GROUP_BY_REFUSED, details=f"Invalid user property {group_by}"
                ).body,
            )
            return
        figures = project.figures()
        self._json(200, users_body(figures, days[0], days[1], metric, int(interval), prop))

    def _sessions(self, project: Project) -> None:
        days = self._day_range()
        if days is None:
            return
        figures = project.figures()
        self._json(200, sessions_body(figures, days[0], days[1]))

    def _events_list(self, project: Project) -> None:
        figures = project.figures()
        declared = project.generated.spec.event_types if project.generated else ()
        self._json(200, events_list_body(figures, declared))

    def _annotations_v2(self, project: Project) -> None:
        data = [
            {
                "id": item["id"],
                "date": ms_to_datetime(item["start_ms"]).date().isoformat(),
                "label": item["label"],
                "details": item["details"] or "",
            }
            for item in project.annotations()
        ]
        self._json(200, {"data": data})

    def _annotations_v3(self, project: Project) -> None:
        if not project.annotations_v3:
            self._json(404, responses.read_fault_body(404))
            return
        try:
            low = _moment_ms(self.query.get("start"))
            high = _moment_ms(self.query.get("end"), end_of_day=True)
        except ValueError as error:
            self._bad_request(f"Invalid start or end parameter: {error}")
            return
        category, chart_id = self.query.get("category"), self.query.get("chart_id")
        data = []
        for item in project.annotations():
            if low is not None and item["start_ms"] < low:
                continue
            if high is not None and item["start_ms"] > high:
                continue
            names = (
                (str(item["category"]["id"]), item["category"]["name"]) if item["category"] else ()
            )
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
        self._json(200, {"data": data})

    def _cohorts(self, project: Project) -> None:
        if not project.cohorts_enabled:
            self._json(403, DashboardError(403, "forbidden", responses.COHORTS_DISABLED).body)
            return
        cohorts = project.cohorts()
        if self.query.get("includeSyncInfo", "").lower() == "true":
            cohorts = [{**cohort, "syncMetadata": []} for cohort in cohorts]
        self._json(200, {"cohorts": cohorts})

    # -- dashboard queries and saved charts (dashboard_queries.py, charts.py) ------------------

    def _dashboard_query(self, method: str, path: str) -> None:
        if method != "GET":
            self._json(405, {"code": 405, "error": f"Method {method} not allowed; use GET"})
            return
        faults = self.server.emulator.faults
        if faults.take_drop(path):
            self._drop()
        project = self._authenticate()
        if project is None or self._status_fault(path, read_side=True):
            return
        today = project.day(self.server.emulator.clock_ms())
        chart = charts.route(path)
        if chart is not None:
            status, body = charts.answer(project, chart[0], chart[1], today)
        else:
            query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
            now_ms = self.server.emulator.clock_ms()
            status, body = dashboard_queries.answer(project, path, query, today, now_ms)
        self._json(status, body)

    # -- user mapping, deletions, cohort upload (user_admin.py) ---------------------------------

    def _admin(self, method: str, path: str) -> None:
        faults = self.server.emulator.faults
        if faults.take_drop(path):
            self._drop()
        project = self._authenticate()
        if project is None:
            return
        if self._status_fault(path, read_side=True):
            return
        emulator = self.server.emulator
        today = emulator.clock.date()
        now_s = emulator.clock_ms() // 1000
        body: Any = None
        if method == "POST":
            try:
                body = json.loads(self.body)
            except ValueError:
                self._bad_request("The body must be JSON")
                return
        lookup = project.admin_lookup()
        if path == "/api/2/deletions/users":
            if method == "GET":
                status, answer = handle_deletion_jobs(project.admin, self.query, today)
            else:
                status, answer = handle_deletion(project.admin, body, lookup, today)
        elif path == "/api/3/cohorts/upload":
            status, answer = handle_cohort_upload(
                project.admin, body, lookup, project.project_id, now_s
            )
        else:
            status, answer = handle_cohort_membership(project.admin, body, lookup, now_s)
        self._json(status, answer)

    def _usermap(self) -> None:
        form = self._form()
        project = self._write_project(form.get("api_key", ""))
        if self._status_fault(self.route_path, read_side=False):
            return
        status, answer = handle_usermap(project.admin, form.get("mapping"), len(self.body))
        if isinstance(answer, str):
            self._send(status, answer.encode(), "text/plain; charset=utf-8")
        else:
            self._json(status, answer)

    # -- cohort download (cohort_download.py) -----------------------------------------------

    def _cohort_download(self, method: str, route: str, ident: str) -> None:
        if method != "GET":
            self._json(405, {"code": 405, "error": f"Method {method} not allowed; use GET"})
            return
        faults = self.server.emulator.faults
        if faults.take_drop(route):
            self._drop()
        delay = faults.take_slow(route)
        if delay:
            time.sleep(delay)
        downloads = self.server.emulator.cohort_downloads
        if route == cohort_download.S3_FILE:
            self._s3_file(downloads, ident)
            return
        project = self._authenticate()
        if project is None or self._status_fault(route, read_side=True):
            return
        if not project.cohorts_enabled:
            self._json(403, DashboardError(403, "forbidden", responses.COHORTS_DISABLED).body)
            return
        if route == cohort_download.COHORT_REQUEST:
            cohort = project.cohort(ident)
            if cohort is None:
                self._json(404, DashboardError(404, "not_found", "Cohort not found").body)
                return
            query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
            keys = tuple(value for name, value in query if name == "propKeys" and value)
            with_props = self.query.get("props") == "1"
            job = downloads.request(
                project.project_id,
                cohort,
                int(cohort.get("size") or 0),
                (keys or cohort_download.MEMBER_PROPERTIES) if with_props else None,
                project.cohort_job_polls,
            )
            self._json(202, {"request_id": job.request_id, "cohort_id": job.cohort_id})
            return
        found = downloads.job(ident, project.project_id)
        if found is None:
            self._json(404, DashboardError(404, "not_found", "Request not found").body)
            return
        job = found
        if route == cohort_download.COHORT_STATUS:
            done = downloads.poll(job)
            body = {
                "request_id": job.request_id,
                "cohort_id": job.cohort_id,
                "async_status": "JOB COMPLETED" if done else "JOB INPROGRESS",
            }
            self._json(200 if done else 202, body)
            return
        if job.polls_left > 0:
            self._bad_request("The cohort download job has not completed yet")
            return
        if job.size <= downloads.body_limit:
            self._send(200, downloads.content(job, gzipped=False), "text/csv")
            return
        token = downloads.new_link(job, expired=faults.take_expired_link())
        host = self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}")
        location = f"http://{host}/s3/cohort-files/{token}?X-Amz-Expires=60"
        self._send(302, b"", "text/plain", {"Location": location})

    def _s3_file(self, downloads: cohort_download.CohortDownloads, token: str) -> None:
        job, expired = downloads.resolve(token)
        if job is None or expired:
            self._send(403, cohort_download.S3_EXPIRED_BODY, "application/xml")
            return
        body = downloads.content(job, gzipped=True)
        cut = self.server.emulator.faults.take_truncate(cohort_download.S3_FILE)
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._record_once()
        view = memoryview(body)[: int(len(body) * cut)] if cut is not None else memoryview(body)
        for offset in range(0, len(view), _SEND_CHUNK):
            self.wfile.write(view[offset : offset + _SEND_CHUNK])
        if cut is not None:
            self.wfile.flush()
            self._drop()

    # -- taxonomy (taxonomy.py) --------------------------------------------------------------

    def _taxonomy(self, project: Project) -> None:
        if not project.taxonomy_enabled:
            # Docs: "The Taxonomy API requires an Enterprise plan account. If your
            # subscription doesn't qualify, the call results in a 404 Bad Request response."
            self._json(404, error_body("Bad Request"))
            return
        limits = project.taxonomy_limits
        refused = limits.enter()
        if refused is not None:
            self._json(429, error_body(refused))
            return
        try:
            taxonomy = project.taxonomy()
            show_deleted = self.query.get("showDeleted", "").lower() == "true"
            path = self.route_path
            data: list[dict[str, Any]] | None
            if path.endswith("/category"):
                data = list(taxonomy.categories)
            elif path.endswith("/event"):
                data = taxonomy.events_body(show_deleted)
            elif path.endswith("/event-property"):
                data = taxonomy.event_properties_body(self.query.get("event_type"))
            elif path.endswith("/user-property"):
                data = taxonomy.user_properties_body(show_deleted)
            else:
                data = taxonomy.group_properties_body(self.query.get("group_type"))
            if data is None:
                self._json(400, error_body("Not found"))
            else:
                self._json(200, {"success": True, "data": data})
        finally:
            limits.leave()

    # -- write side ------------------------------------------------------------------------

    def _write_project(self, api_key: str) -> Project:
        project = self.server.emulator.project_for_key(api_key, self.region)
        if project is None:
            if self.route_path in FORM_PATHS:
                raise legacy_text(400, "invalid_api_key")
            raise invalid_api_key(api_key)
        self.project = project
        return project

    def _form(self) -> dict[str, str]:
        return form_fields(self.body, self.headers.get("Content-Type", ""), self.query)

    def _check_size(self) -> None:
        path = self.route_path
        limit = self.server.emulator.faults.payload_limit_for(path) or WRITE_LIMITS[path]
        if len(self.body) > limit:
            raise payload_too_large()

    def _batch(self) -> None:
        path = self.route_path
        self._check_size()
        batch = parse_event_batch(self.body)
        project = self._write_project(batch.api_key)
        if self._status_fault(path, read_side=False, events=batch.events):
            return
        kept = check_events(batch.events, batch.min_id_length)
        decision = self.server.emulator.faults.throttle_events(path, batch.events)
        if decision is not None:
            body = responses.throttle_body(
                EPS_THRESHOLDS[path],
                decision.events,
                decision.devices,
                decision.users,
                decision.quota_devices,
                decision.quota_users,
            )
            self._json(429, body)
            return
        project.ingest(kept, path)
        self._json(
            200,
            {
                "code": 200,
                "events_ingested": len(batch.events),
                "payload_size_bytes": len(self.body),
                "server_upload_time": self.server.emulator.clock_ms(),
            },
        )

    def _identify(self) -> None:
        self._check_size()
        request = parse_identify(self._form())
        project = self._write_project(request.api_key)
        if self._status_fault(self.route_path, read_side=False):
            return
        project.identify(request.identifications)
        self._send(200, b"success", "text/plain; charset=utf-8")

    def _group_identify(self) -> None:
        self._check_size()
        request = parse_group_identify(self._form())
        project = self._write_project(request.api_key)
        if self._status_fault(self.route_path, read_side=False):
            return
        project.group_identify(request.identifications)
        self._send(200, b"success", "text/plain; charset=utf-8")

    # -- control API -----------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        emulator = self.server.emulator
        try:
            payload = json.loads(self.body) if self.body else {}
        except ValueError:
            self._json(400, {"error": "the body must be JSON"})
            return
        if method == "GET" and path == "/_emulator/state":
            include = self.query.get("events", "1") not in ("0", "false")
            self._json(200, emulator.state(include_events=include))
        elif method == "GET" and path == "/_emulator/requests":
            self._json(200, {"requests": [record.summary() for record in emulator.requests]})
        elif method == "POST" and path == "/_emulator/faults":
            try:
                emulator.faults.apply(payload)
            except (TypeError, ValueError) as error:
                self._json(400, {"error": str(error)})
                return
            self._json(200, {"ok": True})
        elif method == "POST" and path == "/_emulator/reset":
            emulator.reset(data=bool(payload.get("data")))
            self._json(200, {"ok": True})
        elif method == "POST" and path == "/_emulator/clock":
            try:
                emulator.clock = _parse_clock(payload.get("now"))
            except ValueError as error:
                self._json(400, {"error": str(error)})
                return
            self._json(200, {"clock": emulator.clock.isoformat()})
        else:
            self._json(404, {"error": f"unknown control endpoint {method} {path}"})


def _count(events: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        value = event.get(key) if isinstance(event, dict) else None
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def _moment_ms(value: str | None, end_of_day: bool = False) -> int | None:
    """``YYYY-MM-DD``, ``YYYYMMDD`` or an ISO datetime -> epoch ms (None when absent)."""
    if not value:
        return None
    if len(value) in (8, 10) and "T" not in value:
        day = parse_day_param(value.replace("-", ""))
        ms = (day - date(1970, 1, 1)).days * MS_PER_DAY
        return ms + MS_PER_DAY - 1 if end_of_day else ms
    return datetime_to_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _parse_clock(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("now must be an ISO-8601 string or null")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
