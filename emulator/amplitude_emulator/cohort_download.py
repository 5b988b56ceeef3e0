"""The asynchronous cohort download (Behavioral Cohorts API, /api/5/cohorts/...).

Three steps (amplitude.com/docs/apis/analytics/behavioral-cohorts, "Get one cohort"): request a
download job (202 ``{request_id, cohort_id}``), poll its status (202 ``JOB INPROGRESS``, 200
``JOB COMPLETED``), fetch the file: the body for a small cohort, otherwise a 302 to a pre-signed
S3 URL "valid for one minute" (the ``/file`` link itself stays valid for seven days, and a new GET
of it gives a new S3 link). The file is quoted CSV with a header row (Amplitude's Postman
collection's example), served gzip-compressed with ``Content-Encoding: gzip`` from S3
(Pipedream's client). Members are derived deterministically from the cohort's id and size.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COHORT_FILE",
    "COHORT_REQUEST",
    "COHORT_STATUS",
    "S3_FILE",
    "CohortDownloads",
    "CohortJob",
    "cohort_csv",
    "member_rows",
    "route",
]

COHORT_REQUEST = "/api/5/cohorts/request/:id"
COHORT_STATUS = "/api/5/cohorts/request-status/:request_id"
COHORT_FILE = "/api/5/cohorts/request/:request_id/file"
S3_FILE = "/s3/cohort-files/:token"  # stands for the pre-signed Amazon S3 URL
_ROUTES = (
    (re.compile(r"^/api/5/cohorts/request-status/([^/]+)$"), COHORT_STATUS),
    (re.compile(r"^/api/5/cohorts/request/([^/]+)/file$"), COHORT_FILE),
    (re.compile(r"^/api/5/cohorts/request/([^/]+)$"), COHORT_REQUEST),
    (re.compile(r"^/s3/cohort-files/([^/]+)$"), S3_FILE),
)
# Docs: "The download URL is valid for one minute".
S3_LINK_SECONDS = 60.0
# Undocumented ("For small cohorts, the response body contains the cohort data"): our choice.
BODY_LIMIT_MEMBERS = 10_000
# Every user property the emulator knows for a member ("props=1" without propKeys: all).
MEMBER_PROPERTIES = ("country", "platform", "gp:plan")
_COUNTRIES = ("United States", "Germany", "France", "Japan", "Brazil")
_PLATFORMS = ("iOS", "Android", "Web")
_PLANS = ("free", "pro", "enterprise")
# One value with what a strict line-based reader gets wrong: a newline, quotes and a comma.
TRICKY_VALUE = 'line one\nline "two", three'


def route(path: str) -> tuple[str, str] | None:
    """``(route, id)`` of a cohort-download path; None for any other path."""
    for pattern, name in _ROUTES:
        match = pattern.match(path)
        if match:
            return name, match.group(1)
    return None


def _base_id(cohort_id: str) -> int:
    return 100_000_000_000 + (zlib.crc32(cohort_id.encode()) % 100_000) * 10_000_000


def member_rows(
    cohort_id: str, size: int, prop_keys: tuple[str, ...] = ()
) -> Iterator[tuple[int, str, dict[str, str]]]:
    """``(amplitude_id, user_id, properties)`` of each member; user_id "" for anonymous ones."""
    base = _base_id(cohort_id)
    for i in range(size):
        user_id = "" if i % 7 == 3 else f"user-{i}"
        props: dict[str, str] = {}
        for key in prop_keys:
            if i % 1000 == 17:
                props[key] = TRICKY_VALUE
            elif key == "country":
                props[key] = _COUNTRIES[i % len(_COUNTRIES)]
            elif key == "platform":
                props[key] = _PLATFORMS[i % len(_PLATFORMS)]
            elif key == "gp:plan":
                props[key] = _PLANS[i % len(_PLANS)]
            else:
                props[key] = ""
        yield base + i, user_id, props


def cohort_csv(cohort_id: str, size: int, prop_keys: tuple[str, ...] | None) -> bytes:
    """The file: a header row, then one member per row, every field quoted."""
    keys = prop_keys or ()
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["amplitude_id", "user_id", *keys])
    for amplitude_id, user_id, props in member_rows(cohort_id, size, keys):
        writer.writerow([str(amplitude_id), user_id, *(props[k] for k in keys)])
    return buffer.getvalue().encode()


@dataclass
class CohortJob:
    """One requested download."""

    request_id: str
    cohort_id: str
    project_id: int
    size: int
    prop_keys: tuple[str, ...] | None  # None: props=0
    polls_left: int
    file: bytes | None = None
    gzipped: bytes | None = None


@dataclass
class CohortDownloads:
    """Jobs and S3 links of one emulator (thread-safe)."""

    link_seconds: float = S3_LINK_SECONDS
    body_limit: int = BODY_LIMIT_MEMBERS
    jobs: dict[str, CohortJob] = field(default_factory=dict)
    links: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request(
        self,
        project_id: int,
        cohort: dict[str, Any],
        size: int,
        prop_keys: tuple[str, ...] | None,
        polls: int,
    ) -> CohortJob:
        job = CohortJob(
            request_id=secrets.token_hex(8),
            cohort_id=str(cohort["id"]),
            project_id=project_id,
            size=size,
            prop_keys=prop_keys,
            polls_left=polls,
        )
        with self._lock:
            self.jobs[job.request_id] = job
        return job

    def job(self, request_id: str, project_id: int) -> CohortJob | None:
        with self._lock:
            job = self.jobs.get(request_id)
        return job if job is not None and job.project_id == project_id else None

    def poll(self, job: CohortJob) -> bool:
        """Whether the job is done (each poll of a running job brings it one step closer)."""
        with self._lock:
            if job.polls_left > 0:
                job.polls_left -= 1
                return False
            return True

    def content(self, job: CohortJob, *, gzipped: bool) -> bytes:
        """The job's file (built once)."""
        with self._lock:
            if job.file is None:
                job.file = cohort_csv(job.cohort_id, job.size, job.prop_keys)
            if gzipped and job.gzipped is None:
                job.gzipped = gzip.compress(job.file, compresslevel=1)
            content = job.gzipped if gzipped else job.file
            assert content is not None
            return content

    def new_link(self, job: CohortJob, *, expired: bool = False) -> str:
        """A fresh S3 token for the job (already expired when ``expired``)."""
        token = secrets.token_hex(12)
        expires = time.monotonic() + (0.0 if expired else self.link_seconds)
        with self._lock:
            self.links[token] = (job.request_id, expires)
        return token

    def resolve(self, token: str) -> tuple[CohortJob | None, bool]:
        """``(job, expired)`` of an S3 token (job None: unknown token)."""
        with self._lock:
            found = self.links.get(token)
            if found is None:
                return None, False
            request_id, expires = found
            return self.jobs.get(request_id), time.monotonic() >= expires

    def clear(self) -> None:
        with self._lock:
            self.jobs.clear()
            self.links.clear()


S3_EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires></Error>"
)
