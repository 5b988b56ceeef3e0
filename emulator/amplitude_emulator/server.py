"""HTTP handling: parsing, routing, auth, faults and logging; the endpoints are in endpoints/."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from amplitude_emulator import cohort_download, responses
from amplitude_emulator.dashboard import DashboardError
from amplitude_emulator.endpoints import (
    cohorts,
    control,
    dashboard,
    dashboard_queries,
    export,
    ingest,
    taxonomy,
    user_admin,
)
from amplitude_emulator.endpoints.ingest import EPS_THRESHOLDS
from amplitude_emulator.ingest_validation import (
    Rejection,
    form_fields,
    invalid_api_key,
    legacy_text,
)
from amplitude_emulator.store import Project

if TYPE_CHECKING:
    from amplitude_emulator.emulator import Emulator

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
_REDACTED_HEADERS = frozenset({"authorization"})


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
    # Headers and body are written separately: with Nagle's algorithm on, the client's delayed
    # ACK held the second packet of every small answer for about 40 ms (300 small GETs: 16 s).
    disable_nagle_algorithm = True
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
            self.record_once()

    def record_once(self) -> None:
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

    def send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.record_once()
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload).encode(), "application/json", headers)

    def send_text(self, status: int, text: bytes) -> None:
        self.send(status, text, "text/plain; charset=utf-8")

    def drop(self) -> None:
        """Close the connection now; a request dropped before any answer is logged as 0."""
        if not self._recorded:
            self.status = 0
        self.record_once()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Dropped

    # -- routing ---------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str) -> None:
        if path.startswith("/_emulator/"):
            control.handle(self, method, path)
            return
        if (method, path) in ADMIN_ROUTES:
            user_admin.admin(self, method, path)
            return
        read = READ_ROUTES.get(path)
        write = WRITE_ROUTES.get(path) if read is None else None
        if read is None and write is None:
            if dashboard_queries.routes(path):  # endpoints/dashboard_queries.py
                dashboard_queries.query(self, method, path)
                return
            download = cohort_download.route(path)
            if download is not None:
                cohorts.download(self, method, *download)
                return
            self.send_json(404, responses.read_fault_body(404))
            return
        expected = "GET" if read is not None else "POST"
        # The Identify API takes "a POST or GET request" (the form endpoints only).
        allowed = ("GET", "POST") if path in FORM_PATHS else (expected,)
        if method not in allowed:
            self.send_json(
                405,
                {"code": 405, "error": f"Method {method} not allowed; use {expected}"},
                {"Allow": expected},
            )
            return
        faults = self.server.emulator.faults
        faults.wait_if_held(path)
        if faults.take_drop(path):
            self.drop()
        delay = faults.take_slow(path)
        if delay:
            time.sleep(delay)
        if read is not None:
            project = self.authenticate()
            if project is None:
                return
            if self.status_fault(path, read_side=True):
                return
            read(self, project)
        else:
            assert write is not None
            try:
                write(self)
            except Rejection as rejection:
                if rejection.text is not None:
                    self.send_text(rejection.status, rejection.text)
                else:
                    self.send_json(rejection.status, rejection.body)

    def status_fault(
        self, path: str, read_side: bool, events: list[dict[str, Any]] | None = None
    ) -> bool:
        taken = self.server.emulator.faults.take_status(path)
        if taken is None:
            return False
        status, retry_after = taken
        headers = {"Retry-After": f"{retry_after:g}"} if status == 429 and retry_after else {}
        if status in (502, 504):
            self.status = status
            self.send(status, responses.gateway_page(status), "text/html", headers)
        elif read_side:
            self.send_json(status, responses.read_fault_body(status), headers)
        elif status == 429:
            indices = list(range(len(events or [])))
            body = responses.throttle_body(
                EPS_THRESHOLDS.get(path, 1000),
                indices,
                _count(events or [], "device_id"),
                _count(events or [], "user_id"),
            )
            self.send_json(429, body, headers)
        else:
            self.send_json(status, responses.write_fault_body(status), headers)
        return True

    # -- read side -------------------------------------------------------------------------

    def authenticate(self) -> Project | None:
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
            self.send_json(401, responses.read_fault_body(401))
            return None
        self.project = project
        return project

    def bad_request(self, message: str) -> None:
        self.send_json(400, DashboardError(400, "invalid", message).body)

    # -- write side ------------------------------------------------------------------------

    def write_project(self, api_key: str) -> Project:
        project = self.server.emulator.project_for_key(api_key, self.region)
        if project is None:
            if self.route_path in FORM_PATHS:
                raise legacy_text(400, "invalid_api_key")
            raise invalid_api_key(api_key)
        self.project = project
        return project

    def form(self) -> dict[str, str]:
        return form_fields(self.body, self.headers.get("Content-Type", ""), self.query)


# The routes of the Amplitude APIs: a read-side route (Basic auth, GET) answers for a project, a
# write-side route (api_key in the body or form, POST) finds its project itself.
ReadRoute = Callable[[EmulatorHandler, Project], None]
WriteRoute = Callable[[EmulatorHandler], None]
READ_ROUTES: dict[str, ReadRoute] = {
    "/api/2/export": export.export,
    "/api/2/users": dashboard.users,
    "/api/2/sessions/average": dashboard.sessions,
    "/api/2/events/list": dashboard.events_list,
    "/api/2/annotations": dashboard.annotations_v2,
    "/api/3/annotations": dashboard.annotations_v3,
    "/api/3/cohorts": cohorts.cohorts,
    "/api/3/cohorts/usage": cohorts.cohort_usage,
    "/api/2/taxonomy/category": taxonomy.taxonomy,
    "/api/2/taxonomy/event": taxonomy.taxonomy,
    "/api/2/taxonomy/event-property": taxonomy.taxonomy,
    "/api/2/taxonomy/user-property": taxonomy.taxonomy,
    "/api/2/taxonomy/group-property": taxonomy.taxonomy,
}
WRITE_ROUTES: dict[str, WriteRoute] = {
    "/batch": ingest.batch,
    "/2/httpapi": ingest.batch,
    "/identify": ingest.identify,
    "/groupidentify": ingest.group_identify,
    "/usermap": user_admin.usermap,
}


def _count(events: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        value = event.get(key) if isinstance(event, dict) else None
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + 1
    return counts
