"""The Emulator: projects, clock, request log and the server thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from amplitude_emulator.cohort_download import CohortDownloads
from amplitude_emulator.faults import Faults
from amplitude_emulator.generator import GeneratorSpec
from amplitude_emulator.server import EmulatorHTTPServer
from amplitude_emulator.store import Project
from amplitude_emulator.timefmt import datetime_to_ms


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered (or dropped: status 0).

    ``path`` has no region prefix; ``region`` says which base was used. ``started``/``finished``
    are ``time.monotonic()`` values. The Authorization header is redacted.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int
    started: float
    finished: float
    region: str = "standard"
    project_id: int | None = None
    body_size: int = field(default=0)

    @property
    def duration(self) -> float:
        return self.finished - self.started

    def summary(self) -> dict[str, Any]:
        """JSON-able form for ``GET /_emulator/requests`` (no body, no credentials)."""
        return {
            "method": self.method,
            "path": self.path,
            "region": self.region,
            "query": self.query,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "project_id": self.project_id,
            "body_size": self.body_size,
        }


class Emulator:
    """A local Amplitude (both regions) on 127.0.0.1; see emulator/README.md."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, record_bodies: bool = True) -> None:
        self.host = host
        self.port = port
        self.record_bodies = record_bodies
        self.faults = Faults()
        self.cohort_downloads = CohortDownloads()
        self.projects: list[Project] = []
        self._clock: datetime | None = None
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- projects --------------------------------------------------------------------------

    def add_project(
        self,
        api_key: str,
        secret_key: str,
        region: str = "standard",
        project_id: int | None = None,
        cohorts_enabled: bool = True,
        country_group_by_ok: bool = True,
        annotations_v3: bool = True,
        partition_events: int = 50_000,
        zip_directory_entry: bool = True,
        spec: GeneratorSpec | None = None,
        export_lag_hours: float | None = None,
        timezone: str = "UTC",
        taxonomy_enabled: bool = True,
        cohort_job_polls: int = 1,
    ) -> Project:
        if any(p.api_key == api_key for p in self.projects):
            raise ValueError(f"a project with api_key {api_key!r} already exists")
        project = Project(
            api_key=api_key,
            secret_key=secret_key,
            region=region,
            project_id=project_id if project_id is not None else 187520 + len(self.projects),
            cohorts_enabled=cohorts_enabled,
            country_group_by_ok=country_group_by_ok,
            annotations_v3=annotations_v3,
            partition_events=partition_events,
            zip_directory_entry=zip_directory_entry,
            export_lag_hours=export_lag_hours,
            timezone=timezone,
            taxonomy_enabled=taxonomy_enabled,
            cohort_job_polls=cohort_job_polls,
            clock_ms=self.clock_ms,
        )
        if spec is not None:
            project.generate(spec)
        self.projects.append(project)
        return project

    def project(self, api_key: str) -> Project:
        for project in self.projects:
            if project.api_key == api_key:
                return project
        raise KeyError(f"no project with api_key {api_key!r}")

    def project_for_key(self, api_key: str, region: str) -> Project | None:
        """The project of this key in this region (None: unknown or wrong-region key)."""
        for project in self.projects:
            if project.api_key == api_key and project.region == region:
                return project
        return None

    # -- clock -----------------------------------------------------------------------------

    @property
    def clock(self) -> datetime:
        """The emulator's now (UTC). Frozen once set; the real time while None."""
        return self._clock if self._clock is not None else datetime.now(UTC)

    @clock.setter
    def clock(self, value: datetime | None) -> None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        self._clock = value

    def advance(self, delta: timedelta) -> None:
        """Move a frozen clock forward (freezes the real time first if the clock is live)."""
        self.clock = self.clock + delta

    def clock_ms(self) -> int:
        return datetime_to_ms(self.clock)

    # -- server ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._server = EmulatorHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"amplitude-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.faults.release_holds()  # a held handler thread would block server_close()
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def warm(self) -> None:
        """Pre-build every project's export blobs (see Project.warm)."""
        for project in self.projects:
            project.warm()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started: call start() first")
        return f"http://{self.host}:{self.port}"

    def url(self, region: str = "standard") -> str:
        if region not in ("standard", "eu"):
            raise ValueError(f"region must be 'standard' or 'eu', got {region!r}")
        return self.base_url + ("/eu" if region == "eu" else "")

    # -- inspection ------------------------------------------------------------------------

    def _record(self, **fields: Any) -> None:
        body = fields["body"]
        fields["body_size"] = len(body)
        if not self.record_bodies:
            fields["body"] = b""
        with self._lock:
            self._requests.append(RequestRecord(**fields))

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RequestRecord]:
        return [record for record in self.requests if record.path == path]

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def max_concurrency(self, path_prefix: str = "/api/") -> int:
        """Most requests under ``path_prefix`` in flight at once for any one project."""
        by_project: dict[int | None, list[tuple[float, int]]] = {}
        for record in self.requests:
            if record.path.startswith(path_prefix):
                points = by_project.setdefault(record.project_id, [])
                points.append((record.started, 1))
                points.append((record.finished, -1))
        best = 0
        for points in by_project.values():
            current = 0
            for _, step in sorted(points, key=lambda p: (p[0], p[1])):
                current += step
                best = max(best, current)
        return best

    def reset(self, data: bool = False) -> None:
        """Clear the request log and faults; with ``data`` also ingested events and profiles."""
        self.reset_requests()
        self.faults.clear()
        self.cohort_downloads.clear()
        if data:
            for project in self.projects:
                project.reset_ingested()

    def state(self, include_events: bool = True) -> dict[str, Any]:
        return {
            "clock": self.clock.isoformat(),
            "projects": [p.summary(include_events=include_events) for p in self.projects],
        }
