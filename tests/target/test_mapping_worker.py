"""Mapping workers (mapping_pipeline.py) give the same run as the target alone: the same events
stored, rejected lines, STATEs, METRIC counts and errors, whatever the worker answers or if it
dies. Each input runs in-process twice, ``mapping_workers`` 1 and 0; the worker is started
after the first record and waited for, so the records after it are surely its own."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from target_amplitude import mapping_pipeline
from target_amplitude.mapping_pipeline import MappingPipeline
from target_amplitude.reader import InputLineError
from target_amplitude.target import TargetAmplitude

from tests.target.helpers import (
    FAST_RETRIES,
    TARGET,
    props,
    read_rejected,
    record,
    run_target,
    schema,
    state,
    write_config,
)
from tests.target.test_fast_path import EXPORT_PROPS, _export_event, _lines

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

ORDERS = {
    "object": "event",
    "event_type": "Order Completed",
    "user_id_field": "customer_id",
    "time_field": "created_at",
}


class Seen(t.NamedTuple):
    """What a user sees of one run, and how its records were taken."""

    stored: list[dict[str, t.Any]]
    rejected: list[dict[str, t.Any]]
    states: list[t.Any]
    counts: list[str]
    by_worker: int  # records the target took as a worker prepared them
    error: str | None
    messages: list[str]


@pytest.fixture
def start_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker starts after the first record, and the target waits for it to be ready."""
    monkeypatch.setattr(mapping_pipeline, "START_AFTER_RECORDS", 1)
    monkeypatch.setattr(mapping_pipeline, "READY_CHECK_EVERY", 1)
    monkeypatch.setattr(mapping_pipeline, "WAIT_FOR_READY", True)
    monkeypatch.setattr(mapping_pipeline, "CHUNK_LINES", 7)  # many chunks, ends mid-chunk


def _config(
    emulator: Emulator,
    tmp_path: Path,
    workers: int,
    mappings: dict[str, t.Any],
    ledger: str,
) -> dict[str, t.Any]:
    """One run's config: rejected-{workers}.jsonl, its own ledger-{ledger}.sqlite."""
    return {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "rejected_records_path": str(tmp_path / f"rejected-{workers}.jsonl"),
        "ledger_path": str(tmp_path / f"ledger-{ledger}.sqlite"),
        "batch_size_rows": 16,
        "mapping_workers": workers,
        "stream_mappings": mappings,
        **FAST_RETRIES,
    }


def _run(
    emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    *,
    workers: int,
    on_chunk: t.Callable[[MappingPipeline, int], None] | None = None,
) -> Seen:
    emulator.reset(data=True)
    emulator.faults.throttle("/batch", daily_quota_users=["user-over-quota"], times=1000)
    by_worker = 0
    take_prepared, take_rows = TargetAmplitude._take_prepared, TargetAmplitude._take_rows

    def spy(self: TargetAmplitude, *args: t.Any) -> None:
        nonlocal by_worker
        by_worker += 1
        take_prepared(self, *args)

    def rows_spy(self: TargetAmplitude, route: t.Any, rows: list[t.Any], *args: t.Any) -> None:
        nonlocal by_worker
        by_worker += len(rows)
        take_rows(self, route, rows, *args)

    monkeypatch.setattr(TargetAmplitude, "_take_prepared", spy)
    monkeypatch.setattr(TargetAmplitude, "_take_rows", rows_spy)
    if on_chunk is not None:
        take_oldest = MappingPipeline._take_oldest
        chunks = 0

        def chunk_spy(self: MappingPipeline) -> None:
            nonlocal chunks
            chunks += 1
            on_chunk(self, chunks)
            take_oldest(self)

        monkeypatch.setattr(MappingPipeline, "_take_oldest", chunk_spy)
    rejected_path = tmp_path / f"rejected-{workers}.jsonl"
    config = _config(emulator, tmp_path, workers, {"orders": ORDERS}, f"{workers}-{len(lines)}")
    capfd.readouterr()
    caplog.clear()
    target = TargetAmplitude(config=config, validate_config=True)
    data = ("\n".join(lines) + "\n").encode()
    error = None
    try:
        target.listen(file_input=io.BytesIO(data))  # type: ignore[arg-type]
    except InputLineError as exc:
        error = str(exc)
    finally:
        target.close()
    out, _ = capfd.readouterr()
    monkeypatch.setattr(TargetAmplitude, "_take_prepared", take_prepared)
    monkeypatch.setattr(TargetAmplitude, "_take_rows", take_rows)
    stored = sorted(emulator.project("key-std").ingested, key=lambda e: e["insert_id"])
    rejected = sorted(
        ({k: v for k, v in line.items() if k != "at"} for line in read_rejected(rejected_path)),
        key=lambda line: json.dumps(line, sort_keys=True),
    )
    states = [json.loads(line) for line in out.splitlines() if line.strip()]
    counts = sorted(m for m in caplog.messages if '"record_count"' in m)
    return Seen(stored, rejected, states, counts, by_worker, error, list(caplog.messages))


def _same_run(with_worker: Seen, alone: Seen, *, counts: bool = True) -> None:
    assert with_worker.stored == alone.stored
    assert with_worker.rejected == alone.rejected
    assert with_worker.states[-1:] == alone.states[-1:]
    if counts:
        assert with_worker.counts == alone.counts
    assert with_worker.error == alone.error
    assert alone.by_worker == 0


@pytest.mark.usefixtures("start_at_once")
@pytest.mark.parametrize(
    ("workers", "prepared_by"),
    [(1, "workers"), (2, "workers"), (1, "target"), (1, "both")],
)
def test_mapping_workers_give_the_same_run_as_the_target_alone(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    prepared_by: str,
) -> None:
    """``prepared_by``: every chunk by the workers, every chunk by the target itself as a worker
    would (SELF_PREPARE_BACKLOG 0), or each chunk by the target once the worker has one to
    answer (1)."""
    caplog.set_level(logging.INFO)
    backlog = {"workers": 10**9, "target": 0, "both": 1}[prepared_by]
    monkeypatch.setattr(mapping_pipeline, "SELF_PREPARE_BACKLOG", backlog)
    here = 0
    prepare_here = MappingPipeline._take_prepared_here

    def count_here(self: MappingPipeline, chunk: t.Any) -> None:
        nonlocal here
        here += 1
        prepare_here(self, chunk)

    monkeypatch.setattr(MappingPipeline, "_take_prepared_here", count_here)
    # Early rejects (SCHEMA, ids), skips (deletes), quota rejects after delivery, STATEs every
    # 20 records and a second, mapped stream (test_fast_path's input).
    lines = _lines()
    args = (empty_emulator, tmp_path, capfd, caplog, monkeypatch, lines)
    worker = _run(*args, workers=workers)
    alone = _run(*args, workers=0)
    _same_run(worker, alone)
    if prepared_by == "workers":
        assert here == 0
    else:
        assert here > 0
    assert len(worker.stored) > 30
    assert len(worker.rejected) >= 10
    assert all("_sdc_extracted_at" not in line["record"] for line in worker.rejected)
    records = sum('"RECORD"' in line for line in lines)
    assert worker.by_worker >= records - 4, worker.by_worker  # all but each stream's first
    assert any(f"prepared by {workers} mapping worker" in m for m in worker.messages)


@pytest.mark.usefixtures("start_at_once")
def test_the_ledger_cuts_a_workers_rows_into_batches_where_sync_mode_all_does(
    empty_emulator: Emulator, tmp_path: Path
) -> None:
    """Rows offered to the ledger wait for its verdict a slice of a worker's chunk at a time:
    a batch still ends at batch_size_rows, so a new ledger sends the same requests, in the
    same order, as `all`."""
    lines = [
        schema("orders", props("order_id", "customer_id", "created_at"), ["order_id"]),
        *(
            record(
                "orders",
                {
                    "order_id": f"o-{n}",
                    "customer_id": f"customer-{n}",
                    "created_at": "2026-01-02T10:00:00Z",
                },
            )
            for n in range(40)
        ),
        state({"bookmarks": {"orders": "done"}}),
    ]
    sent: dict[str, list[list[str]]] = {}
    for mode in ("all", "create_only"):
        empty_emulator.reset(data=True)
        config = {
            "api_key": "key-std",
            "api_url": empty_emulator.base_url,
            "rejected_records_path": str(tmp_path / f"rejected-{mode}.jsonl"),
            "ledger_path": str(tmp_path / f"ledger-{mode}.sqlite"),
            "batch_size_rows": 7,
            "max_concurrent_requests": 1,  # one lane: a request a batch, in order
            "mapping_workers": 1,
            "stream_mappings": {"orders": {**ORDERS, "sync_mode": mode}},
            **FAST_RETRIES,
        }
        target = TargetAmplitude(config=config, validate_config=True)
        try:
            target.listen(file_input=io.BytesIO(("\n".join(lines) + "\n").encode()))  # type: ignore[arg-type]
        finally:
            target.close()
        bodies = [json.loads(r.body) for r in empty_emulator.requests_to("/batch")]
        sent[mode] = [[e["event_properties"]["order_id"] for e in b["events"]] for b in bodies]
    assert [len(ids) for ids in sent["all"]] == [7, 7, 7, 7, 7, 5]
    assert sent["create_only"] == sent["all"]


@pytest.mark.usefixtures("start_at_once")
def test_a_new_schema_mid_stream_sends_its_records_through_the_new_sink(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    narrow = {k: v for k, v in EXPORT_PROPS.items() if k != "amount"}
    lines = [schema("events", EXPORT_PROPS, ["uuid"])]
    lines += [record("events", _export_event(i)) for i in range(30)]
    # The new SCHEMA no longer allows `amount` (additionalProperties stays false): records
    # with it are now rejected, so a record still taken by the old sink would show.
    lines.append(schema("events", {**narrow, "amount": {"type": "null"}}, ["uuid"]))
    lines += [record("events", _export_event(i)) for i in range(30, 60)]
    lines.append(state({"done": True}))
    args = (empty_emulator, tmp_path, capfd, caplog, monkeypatch, lines)
    worker = _run(*args, workers=1)
    alone = _run(*args, workers=0)
    # Not the METRIC counts: the SDK logs a replaced sink's only if no STATE drained it
    # before the end, and the wait for the worker to start makes a drain due (timing).
    _same_run(worker, alone, counts=False)
    assert len(worker.rejected) == 30  # every record after the new SCHEMA (amount = i / 4)
    assert worker.by_worker >= 55


@pytest.mark.usefixtures("start_at_once")
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"type": "RECORD", "stream": "events", "record": {"uuid": ', "not valid JSON"),
        (record("events", {"event_type": "x"}), "key_properties"),  # no uuid: its key property
        ('{"type":"RECORD","stream":"events","record":[1]}', "not a JSON object"),
    ],
    ids=["truncated", "key-property-missing", "record-not-an-object"],
)
def test_a_bad_line_among_a_workers_lines_fails_naming_that_line(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    bad: str,
    reason: str,
) -> None:
    lines = [schema("events", EXPORT_PROPS, ["uuid"])]
    lines += [record("events", _export_event(i)) for i in range(25)]
    lines.append(state({"upto": 25}))
    lines += [record("events", _export_event(i)) for i in range(25, 40)]
    bad_number = len(lines) + 1
    lines.append(bad)
    lines += [record("events", _export_event(i)) for i in range(40, 50)]
    lines.append(state({"upto": 50}))
    args = (empty_emulator, tmp_path, capfd, caplog, monkeypatch, lines)
    worker = _run(*args, workers=1)
    alone = _run(*args, workers=0)
    _same_run(worker, alone)
    assert worker.error is not None
    assert re.search(rf"\bline {bad_number}\b", worker.error), worker.error
    assert reason in worker.error
    assert [e["insert_id"] for e in worker.stored] == [f"ins-{i:05d}" for i in range(40)]
    assert worker.by_worker >= 35


@pytest.mark.usefixtures("start_at_once")
@pytest.mark.parametrize("how", ["killed", "nonsense"])
def test_a_worker_that_dies_or_answers_nonsense_costs_nothing_but_time(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    caplog.set_level(logging.INFO)

    def break_it(pipeline: MappingPipeline, chunk: int) -> None:
        if chunk != 3:
            return
        worker = pipeline._workers[0]
        if how == "killed":
            worker._process.kill()
            worker._process.wait()
            worker._in.clear()  # what it had answered is lost with it
        else:
            worker._in[:] = b"\x00\x00\x00\x02\x91\x07"  # a frame, but not its protocol

    monkeypatch.setattr(mapping_pipeline, "SELF_PREPARE_BACKLOG", 10**9)  # the worker's only
    lines = _lines()
    args = (empty_emulator, tmp_path, capfd, caplog, monkeypatch, lines)
    worker = _run(*args, workers=1, on_chunk=break_it)
    warnings = [m for m in worker.messages if "mapping worker failed" in m]
    alone = _run(*args, workers=0)
    _same_run(worker, alone)
    assert len(warnings) == 1, warnings
    assert "Nothing is lost or sent twice" in warnings[0]
    assert 0 < worker.by_worker < 20  # two chunks of 7, and the rest by the target itself


def test_a_large_run_through_the_command_line_uses_a_worker_and_stores_every_event(
    empty_emulator: Emulator, tmp_path: Path
) -> None:
    empty_emulator.reset(data=True)
    count = 40_000
    lines = [schema("events", EXPORT_PROPS, ["uuid"])]
    lines += [record("events", _export_event(i, user_id=f"user-{i}")) for i in range(count)]
    lines.append(state({"upto": count}))
    config = {
        "api_key": "key-std",
        "api_url": empty_emulator.base_url,
        "ledger_path": str(tmp_path / "ledger.sqlite"),
    }
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.states == [{"upto": count}]
    stored = [e["insert_id"] for e in empty_emulator.project("key-std").ingested]
    summary = [line for line in run.stderr.splitlines() if "Summary" in line or "worker" in line]
    assert sorted(stored) == [f"ins-{i:05d}" for i in range(count)], summary
    assert "Traceback" not in run.stderr
    if sys.platform.startswith("linux"):  # forked while the target has no other thread
        assert "1 mapping worker(s) forked from the target" in run.stderr, summary


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_a_forked_worker_keeps_nothing_of_the_target_but_its_two_pipes(
    empty_emulator: Emulator, tmp_path: Path
) -> None:
    """While a run goes on, its forked worker holds no descriptor of the target's (its input,
    output, connections, the ledger's file) but its own two pipes and stderr, leaves SIGTERM
    to its default (the target's handler would drain the target's sinks) and ignores SIGINT;
    the run ends as usual and the worker with it."""
    empty_emulator.reset(data=True)
    count = 3000
    config = {
        "api_key": "key-std",
        "api_url": empty_emulator.base_url,
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        "rejected_records_path": str(tmp_path / "rejected.jsonl"),
    }
    target = subprocess.Popen(
        [TARGET, "--config", str(write_config(tmp_path, config))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert target.stdin is not None
    assert target.stdout is not None
    assert target.stderr is not None
    try:
        first = [schema("events", EXPORT_PROPS, ["uuid"])]
        first += [record("events", _export_event(i)) for i in range(count // 2)]
        target.stdin.write(("\n".join(first) + "\n").encode())
        target.stdin.flush()
        logged, worker = [], 0
        for raw in target.stderr:  # forked after about 1,000 records; ready (READY) after it
            logged.append(raw.decode())
            forked = re.search(r"forked from the target \(process (\d+)\)", logged[-1])
            worker = int(forked.group(1)) if forked else worker
            if "records prepared by 1 mapping worker(s)" in logged[-1]:
                break
        assert worker, "".join(logged)
        descriptors = {
            int(fd): os.readlink(f"/proc/{worker}/fd/{fd}")
            for fd in os.listdir(f"/proc/{worker}/fd")
        }
        own = {os.readlink(f"/proc/{target.pid}/fd/{fd}") for fd in (0, 1)}
        assert set(descriptors) == {0, 1, 2}, descriptors
        assert descriptors[0].startswith("pipe:"), descriptors
        assert descriptors[1].startswith("pipe:"), descriptors
        assert not own & {descriptors[0], descriptors[1]}, (own, descriptors)
        status = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{worker}/status").read_text().splitlines()
            if ":\t" in line
        )
        caught, ignored = int(status["SigCgt"], 16), int(status["SigIgn"], 16)
        assert not caught & 1 << (signal.SIGTERM - 1), status["SigCgt"]
        assert ignored & 1 << (signal.SIGINT - 1), status["SigIgn"]
        # The rest written as tap-amplitude writes its lines (no spaces): routed all the same.
        rest = [
            json.dumps(json.loads(record("events", _export_event(i))), separators=(",", ":"))
            for i in range(count // 2, count)
        ]
        assert rest[0].startswith('{"type":"RECORD","stream":"events"')
        rest.append(state({"upto": count}))
        out, err = target.communicate(("\n".join(rest) + "\n").encode(), timeout=120)
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
    assert target.returncode == 0, err.decode()[-2000:]
    assert [json.loads(line) for line in out.splitlines()] == [{"upto": count}]
    assert not Path(f"/proc/{worker}").exists()  # it exited, and the target reaped it
    stored = [e["insert_id"] for e in empty_emulator.project("key-std").ingested]
    assert sorted(stored) == [f"ins-{i:05d}" for i in range(count)]


@pytest.mark.usefixtures("start_at_once")
def test_profiles_groups_and_a_mirror_snapshot_through_a_worker_as_without(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Form endpoints (/identify, /groupidentify), devices, and sync_mode mirror: the rows gone
    from the second snapshot are unset once its ACTIVATE_VERSION ends it."""
    mappings = {
        "customers": {"object": "user", "user_id_field": "id", "sync_mode": "mirror"},
        "devices": {"object": "device", "device_id_field": "device_id", "user_id_field": "owner"},
        "accounts": {"object": "group", "group_type": "company", "group_value_field": "id"},
    }

    def snapshot(version: int, customers: range) -> list[str]:
        activate = json.dumps(
            {"type": "ACTIVATE_VERSION", "stream": "customers", "version": version}
        )
        return [
            schema("customers", props("id", "plan")),
            activate,
            *(
                record("customers", {"id": f"customer-{i:03d}", "plan": f"p{i % 3}"})
                for i in customers
            ),
            activate,
            schema("devices", props("device_id", "owner", "model")),
            *(
                record(
                    "devices",
                    {"device_id": f"device-{i:03d}", "owner": f"customer-{i:03d}", "model": "X"},
                )
                for i in customers
            ),
            schema("accounts", props("id", "name")),
            *(
                record("accounts", {"id": f"acct-{i:03d}", "name": f"n{version}"})
                for i in customers
            ),
            state({"version": version}),
        ]

    caplog.set_level(logging.INFO)
    seen = []
    for workers in (1, 0):
        empty_emulator.reset(data=True)
        config = _config(empty_emulator, tmp_path, workers, mappings, str(workers))
        for version, customers in ((1, range(40)), (2, range(5, 40))):
            target = TargetAmplitude(config=config, validate_config=True)
            data = ("\n".join(snapshot(version, customers)) + "\n").encode()
            target.listen(file_input=io.BytesIO(data))  # type: ignore[arg-type]
        capfd.readouterr()
        project = empty_emulator.project("key-std")
        seen.append(
            (
                dict(project.users),
                dict(project.groups),
                read_rejected(tmp_path / f"rejected-{workers}.jsonl"),
            )
        )
    with_worker, alone = seen
    assert with_worker == alone
    routed = {m.split(":")[0] for m in caplog.messages if "prepared by 1 mapping worker" in m}
    assert routed == {"customers", "devices", "accounts"}
    users = with_worker[0]
    assert "plan" not in users["customer-000"]  # gone from the second snapshot: unset
    assert users["customer-039"]["plan"] == "p0"
    assert users["customer-039"]["model"] == "X"
    assert with_worker[1][("company", "acct-039")] == {"name": "n2"}


@pytest.mark.usefixtures("start_at_once")
def test_no_worker_starts_on_one_cpu_core(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(mapping_pipeline, "_usable_cores", lambda: 1)
    args = (empty_emulator, tmp_path, capfd, caplog, monkeypatch, _lines())
    one_core = _run(*args, workers=1)
    alone = _run(*args, workers=0)
    _same_run(one_core, alone)
    assert one_core.by_worker == 0
    assert "No mapping worker: one CPU core." in one_core.messages
