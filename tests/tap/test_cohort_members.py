"""cohort_members against the emulator: every member of every recomputed cohort once, per-cohort
bookmarks, the per-run guard, slow jobs, expired links, cut downloads, full-table mode."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from amplitude_emulator.cohort_download import TRICKY_VALUE, member_rows
from tap_amplitude.cohort_file import CohortFileError, read_members, spool_members

from tests.tap.helpers import (
    KEY,
    Emulator,
    Run,
    base_config,
    make_emulator,
    run_tap,
    select_catalog,
    write_json,
)

BIG = 100_000  # members of the largest cohort of the emulator's tests
MID = 12_000  # above the emulator's body limit: served through the expiring S3 link (gzip)
STREAM = {"cohort_members"}


def _expected(emu: Emulator, cohort_ids: set[str] | None = None) -> Counter[tuple[str, int]]:
    project = emu.project(KEY)
    wanted = [
        c
        for c in project.cohorts()
        if (cohort_ids is None and not c["archived"]) or (cohort_ids and c["id"] in cohort_ids)
    ]
    return Counter(
        (c["id"], amplitude_id)
        for c in wanted
        for amplitude_id, _, _ in member_rows(c["id"], int(c["size"]))
    )


def _delivered(run: Run) -> Counter[tuple[str, int]]:
    return Counter((r["cohort_id"], r["amplitude_id"]) for r in run.records("cohort_members"))


def _download_requests(emu: Emulator) -> list[str]:
    """The cohort ids whose download was requested (each counts toward 500 per month)."""
    prefix = "/api/5/cohorts/request/"
    return [
        r.path.removeprefix(prefix)
        for r in emu.requests
        if r.path.startswith(prefix) and not r.path.endswith("/file")
    ]


@pytest.fixture
def emu() -> Any:
    emulator = make_emulator(events=100)
    emulator.project(KEY).add_cohort("Mid audience", MID, cohort_id="mid0001")
    emulator.project(KEY).add_cohort("Old campaign", 40, cohort_id="arch001", archived=True)
    yield emulator
    emulator.stop()


def test_every_member_of_every_recomputed_cohort_once_then_nothing_new(
    emu: Emulator, tmp_path: Path
) -> None:
    project = emu.project(KEY)
    project.add_cohort("Big audience", BIG, cohort_id="big0001")
    first = run_tap(tmp_path, base_config(emu), streams=STREAM)
    assert first.returncode == 0, first.stderr[-2000:]
    delivered = _delivered(first)
    assert delivered == _expected(emu)  # every member of every non-archived cohort, once
    assert max(delivered.values()) == 1
    archived = [c["id"] for c in project.cohorts() if c["archived"]]
    assert archived
    assert not set(archived) & set(_download_requests(emu))
    # the big file came through a 302 to the S3 link, the small ones as the body of /file
    assert [r.status for r in emu.requests if r.path.startswith("/s3/")] == [200, 200]
    small = len([c for c in project.cohorts() if not c["archived"]]) - 2
    files = sorted(r.status for r in emu.requests if r.path.endswith("/file"))
    assert files == [200] * small + [302, 302]
    records = first.records("cohort_members")
    anonymous = [r for r in records if r["user_id"] is None]
    assert anonymous
    assert all(r["user_properties"] is None for r in records)  # none requested
    assert {r["cohort_last_computed"] for r in records if r["cohort_id"] == "big0001"} == {
        "2026-01-01T00:00:00.000000Z"
    }
    state = first.states[-1]
    assert set(state["bookmarks"]["cohort_members"]["cohorts"]) == {
        c["id"] for c in project.cohorts() if not c["archived"]
    }

    emu.reset_requests()
    second = run_tap(tmp_path, base_config(emu), streams=STREAM, state=state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.records("cohort_members") == []
    assert _download_requests(emu) == []  # nothing downloaded: the monthly budget is kept
    assert "not recomputed since their last download" in second.stderr

    small = next(c for c in project.cohorts() if not c["archived"] and c["size"] < 1000)
    project.recompute_cohort(small["id"], small["lastComputed"] + 3600, size=5)
    emu.reset_requests()
    third = run_tap(tmp_path, base_config(emu), streams=STREAM, state=second.states[-1])
    assert third.returncode == 0, third.stderr[-2000:]
    assert _download_requests(emu) == [small["id"]]
    assert _delivered(third) == _expected(emu, {small["id"]})
    bookmark = third.states[-1]["bookmarks"]["cohort_members"]["cohorts"][small["id"]]
    assert bookmark > state["bookmarks"]["cohort_members"]["cohorts"][small["id"]]


def test_slow_jobs_expired_links_cut_downloads_and_5xx_are_recovered(
    emu: Emulator, tmp_path: Path
) -> None:
    project = emu.project(KEY)
    project.cohort_job_polls = 3
    emu.faults.expire_links(times=1)
    emu.faults.truncate("/s3/cohort-files/:token", times=1, at_fraction=0.4)
    emu.faults.statuses("/api/5/cohorts/request-status/:request_id", [503])
    run = run_tap(tmp_path, base_config(emu, cohort_ids=["mid0001"]), streams=STREAM)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _delivered(run) == _expected(emu, {"mid0001"})
    assert _download_requests(emu) == ["mid0001"]  # one job: the link is renewed, not the job
    s3 = [r for r in emu.requests if r.path.startswith("/s3/")]
    assert [r.status for r in s3] == [403, 200, 200]  # expired, cut off, complete
    assert len(emu.requests_to("/api/5/cohorts/request/" + _job_id(emu) + "/file")) == 3
    statuses = [r.status for r in emu.requests if "request-status" in r.path]
    assert statuses == [503, 202, 202, 202, 200]


def _job_id(emu: Emulator) -> str:
    (job,) = emu.cohort_downloads.jobs.values()
    return job.request_id


def test_the_guard_names_the_skipped_cohorts_and_the_next_run_takes_them(
    emu: Emulator, tmp_path: Path
) -> None:
    project = emu.project(KEY)
    for i in range(3):
        project.add_cohort(f"Extra {i}", 10 + i, cohort_id=f"extra{i}")
    wanted = {c["id"] for c in project.cohorts() if c["size"] < 1000}
    config = base_config(emu, max_cohort_downloads_per_run=4, cohort_ids=sorted(wanted))
    first = run_tap(tmp_path, config, streams=STREAM)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len(_download_requests(emu)) == 4
    (line,) = [x for x in first.stderr.splitlines() if "max_cohort_downloads_per_run=4" in x]
    skipped = wanted - set(_download_requests(emu))
    assert f"skipped {len(skipped)} recomputed cohort(s)" in line
    assert all(f"(id {cohort_id})" in line for cohort_id in skipped)
    state = first.states[-1]
    delivered = set(_download_requests(emu))
    while len(delivered) < len(wanted):
        emu.reset_requests()
        run = run_tap(tmp_path, config, streams=STREAM, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        now = set(_download_requests(emu))
        assert now  # those left waiting,
        assert not now & delivered  # never one twice
        delivered |= now
        state = run.states[-1]
    assert delivered == wanted


def test_properties_and_cohort_ids_are_requested_and_unknown_ids_named(
    emu: Emulator, tmp_path: Path
) -> None:
    config = base_config(
        emu,
        cohort_ids=["mid0001", "no-such-cohort"],
        cohort_member_properties=["country", "gp:plan"],
    )
    run = run_tap(tmp_path, config, streams=STREAM)
    assert run.returncode == 0, run.stderr[-2000:]
    (request,) = emu.requests_to("/api/5/cohorts/request/mid0001")
    assert request.query["props"] == "1"
    records = run.records("cohort_members")
    assert len(records) == MID
    assert records[0]["user_properties"] == {"country": "United States", "gp:plan": "free"}
    tricky = [r for r in records if r["user_properties"]["country"] == TRICKY_VALUE]
    assert len(tricky) == MID // 1000  # a quoted value with a newline stays one member
    assert "no-such-cohort" in run.stderr
    assert "cohort_ids" in run.stderr


def test_full_table_mode_downloads_every_cohort_again_without_bookmarks(
    emu: Emulator, tmp_path: Path
) -> None:
    config = base_config(emu, cohort_ids=["mid0001"])
    first = run_tap(tmp_path, config, streams=STREAM)
    assert first.returncode == 0
    catalog = _full_table_catalog(tmp_path, config)
    emu.reset_requests()
    snapshot = run_tap(tmp_path, config, catalog=catalog)
    assert snapshot.returncode == 0, snapshot.stderr[-2000:]
    assert _delivered(snapshot) == _expected(emu, {"mid0001"})
    assert "cohorts" not in snapshot.states[-1]["bookmarks"].get("cohort_members", {})
    emu.reset_requests()
    again = run_tap(tmp_path, config, state=first.states[-1], catalog=catalog)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _download_requests(emu) == ["mid0001"]  # the bookmark does not hold a snapshot back
    assert _delivered(again) == _expected(emu, {"mid0001"})


def _full_table_catalog(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = select_catalog(tmp_path, write_json(tmp_path / "c.json", config), STREAM)
    catalog = json.loads(path.read_text())
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "cohort_members":
            entry["replication_method"] = "FULL_TABLE"
            for item in entry["metadata"]:
                if item["breadcrumb"] == []:
                    item["metadata"]["forced-replication-method"] = "FULL_TABLE"
                    item["metadata"]["replication-method"] = "FULL_TABLE"
    return write_json(tmp_path / "full-table.json", catalog)


def test_a_job_never_ready_fails_the_run_naming_the_setting(emu: Emulator, tmp_path: Path) -> None:
    emu.project(KEY).cohort_job_polls = 10**9
    config = base_config(emu, cohort_ids=["mid0001"], cohort_poll_timeout=1)
    run = run_tap(tmp_path, config, streams=STREAM)
    assert run.returncode == 1
    assert "cohort_poll_timeout" in run.stderr
    assert "'Mid audience' (id mid0001)" in run.stderr


# -- the member file, without the server --------------------------------------------------------


class _CountingFile(io.BytesIO):
    """A file that counts the bytes handed out."""

    handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.handed_out += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.handed_out += count
        return count


def test_members_are_read_row_by_row_not_by_loading_the_file() -> None:
    size = 200_000
    body = b'"amplitude_id","user_id"\n' + b"".join(
        f'"{1000 + i}","user-{i}"\n'.encode() for i in range(size)
    )
    source = _CountingFile(body)
    members = read_members(source)  # type: ignore[arg-type]
    first = next(members)
    assert first == ("1000", "user-0", {})
    assert source.handed_out < len(body) // 10  # the rest is still on disk
    assert sum(1 for _ in members) == size - 1


def test_spooling_gunzips_by_magic_bytes_and_refuses_a_truncated_gzip() -> None:
    text = b'"amplitude_id","user_id","country"\n"1","","line\nbreak"\n"2","u2",""\n'
    packed = gzip.compress(text[:30]) + gzip.compress(text[30:])  # two members
    chunks = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    with spool_members(chunks) as spool:
        assert list(read_members(spool)) == [
            ("1", "", {"country": "line\nbreak"}),
            ("2", "u2", {"country": None}),
        ]
    with spool_members([text]) as spool:  # plain CSV passes through
        assert len(list(read_members(spool))) == 2
    with pytest.raises(CohortFileError, match="ends early"):
        spool_members([packed[: len(packed) // 2]])
