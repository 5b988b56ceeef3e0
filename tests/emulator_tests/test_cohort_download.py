"""The asynchronous cohort download: request, status polls, file body or S3 link, faults."""

from __future__ import annotations

import csv
import gzip
import io

import requests
from amplitude_emulator import Emulator
from amplitude_emulator.cohort_download import TRICKY_VALUE

from tests.emulator_tests.helpers import STD_AUTH


def _get(emulator: Emulator, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("auth", STD_AUTH)
    return requests.get(emulator.base_url + path, timeout=30, allow_redirects=False, **kwargs)


def _job(emulator: Emulator, cohort_id: str, **params) -> str:
    started = _get(emulator, f"/api/5/cohorts/request/{cohort_id}", params=params)
    assert started.status_code == 202
    body = started.json()
    assert body["cohort_id"] == cohort_id
    return str(body["request_id"])


def test_request_poll_then_the_file_as_quoted_csv(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    project.cohort_job_polls = 2
    cohort = project.add_cohort("Small", 30, cohort_id="small01")
    request_id = _job(emulator, cohort["id"])
    statuses = [_get(emulator, f"/api/5/cohorts/request-status/{request_id}") for _ in range(3)]
    assert [s.status_code for s in statuses] == [202, 202, 200]
    assert [s.json()["async_status"] for s in statuses] == [
        "JOB INPROGRESS",
        "JOB INPROGRESS",
        "JOB COMPLETED",
    ]
    file = _get(emulator, f"/api/5/cohorts/request/{request_id}/file")
    assert file.status_code == 200
    lines = file.text.splitlines()
    assert lines[0] == '"amplitude_id","user_id"'
    assert len(lines) == 31
    assert lines[4].endswith(',""')  # an anonymous member: empty user_id, quoted


def test_props_and_prop_keys_choose_the_columns(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    project.cohort_job_polls = 0
    project.add_cohort("Props", 1200, cohort_id="props01")
    chosen = _job(emulator, "props01", props=1, propKeys=["country", "gp:plan"])
    every = _job(emulator, "props01", props=1)
    rows = list(
        csv.reader(io.StringIO(_get(emulator, f"/api/5/cohorts/request/{chosen}/file").text))
    )
    assert rows[0] == ["amplitude_id", "user_id", "country", "gp:plan"]
    assert len(rows) == 1201
    assert TRICKY_VALUE in {row[2] for row in rows}  # a quoted value holding a newline
    header = _get(emulator, f"/api/5/cohorts/request/{every}/file").text.splitlines()[0]
    assert header == '"amplitude_id","user_id","country","platform","gp:plan"'


def test_a_large_file_is_a_302_to_an_s3_link_that_expires(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    project.cohort_job_polls = 0
    project.add_cohort("Large", 100_000, cohort_id="large01")
    request_id = _job(emulator, "large01")
    file = _get(emulator, f"/api/5/cohorts/request/{request_id}/file")
    assert file.status_code == 302
    link = file.headers["Location"]
    s3 = requests.get(link, timeout=60, stream=True)  # no Basic auth: the link is pre-signed
    assert s3.headers["Content-Encoding"] == "gzip"
    raw = s3.raw.read()
    text = gzip.decompress(raw).decode()
    assert text.count("\n") == 100_001
    emulator.faults.expire_links(times=1)
    expired = _get(emulator, f"/api/5/cohorts/request/{request_id}/file").headers["Location"]
    refused = requests.get(expired, timeout=30)
    assert refused.status_code == 403
    assert b"Request has expired" in refused.content
    fresh = _get(emulator, f"/api/5/cohorts/request/{request_id}/file").headers["Location"]
    assert requests.get(fresh, timeout=60).status_code == 200  # /file gives a new link


def test_cohort_download_needs_the_add_on_and_a_known_cohort(emulator_factory) -> None:
    emu = emulator_factory([{"api_key": "k-nc", "secret_key": "s-nc", "cohorts_enabled": False}])
    gated = _get(emu, "/api/5/cohorts/request/abc", auth=("k-nc", "s-nc"))
    assert gated.status_code == 403
    assert "add-on" in gated.json()["error"]["message"]
    emu2 = emulator_factory()
    assert _get(emu2, "/api/5/cohorts/request/nope").status_code == 404
    assert _get(emu2, "/api/5/cohorts/request-status/nope").status_code == 404
    assert _get(emu2, "/api/5/cohorts/request/abc", auth=("key-std", "bad")).status_code == 401
