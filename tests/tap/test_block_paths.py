"""The tap's per-block paths (issue 23) give exactly what the per-record paths give.

- timestamps: a column of raw-form values is checked and rewritten at once
  (:func:`tap_amplitude.timestamps.normalize_records`); it must equal
  :func:`~tap_amplitude.timestamps.normalize_fields` record by record, errors included;
- output: a block of records is encoded and written in one piece
  (:meth:`RecordLineEncoder.encode_block`, :meth:`FastRecordPath.write_block`), or encoded by the
  decompressing process; every RECORD line must be byte for byte the line the SDK's own path
  writes, on every export shape the benchmarks generate (benchmarks/export_shapes.py), read in
  one window and in hourly windows.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage
from tap_amplitude.export_reader import line_parts
from tap_amplitude.fast_path import RecordLineEncoder
from tap_amplitude.timestamps import InvalidTimestampError, normalize_fields, normalize_records

from benchmarks import export_shapes
from tests.tap.helpers import ROOT, TAP, parse_messages, select_catalog, write_json

RAW = "2026-03-04 05:06:07.891234"
FIELDS = ("event_time", "client_event_time", "processed_time", "user_creation_time", "gone")


def _reference(records: list[dict[str, Any]], fields: tuple[str, ...]) -> object:
    """normalize_fields record by record: the records, or the error it raises."""
    expected = copy.deepcopy(records)
    try:
        for record in expected:
            normalize_fields(record, fields)
    except InvalidTimestampError as exc:
        return f"{exc} uuid={record['uuid']}"
    return expected


def _outcome(records: list[dict[str, Any]], fields: tuple[str, ...]) -> object:
    try:
        normalize_records(records, fields)
    except InvalidTimestampError as exc:
        return f"{exc} uuid={(exc.record or {}).get('uuid')}"
    return records


def _raw_records(count: int) -> list[dict[str, Any]]:
    records = []
    for index in range(count):
        second = index % 60
        value = f"2026-03-04 05:06:{second:02d}.{index:06d}"
        records.append(
            {
                "uuid": str(index),
                "event_time": value,
                "client_event_time": value,
                "processed_time": value,
                "user_creation_time": value,
                "event_properties": {"event_time": RAW},  # nested: never rewritten
            }
        )
    return records


def test_raw_columns_are_rewritten_as_record_by_record() -> None:
    records = _raw_records(300)
    for index in range(0, 300, 7):
        records[index]["processed_time"] = None  # null in some records
    for index in range(0, 300, 11):
        del records[index]["user_creation_time"]  # absent from some
    expected = _reference(records, FIELDS)
    assert _outcome(records, FIELDS) == expected
    assert isinstance(expected, list)
    assert [list(r) for r in records] == [list(r) for r in expected]  # key order kept
    assert records[1]["event_time"] == "2026-03-04T05:06:01.000001Z"
    assert records[1]["event_properties"] == {"event_time": RAW}


@pytest.mark.parametrize(
    "odd",
    [
        f"{RAW}\n{RAW}",  # two raw values in one: the column's length gives it away
        RAW[:-1],  # a short form among raw ones
        RAW + "Z",
        "2026-13-04 05:06:07.891234",  # raw length, not a date
        "soon",
        12,
        "",
    ],
)
def test_an_odd_value_in_a_raw_column_gets_the_record_by_record_answer(odd: object) -> None:
    records = _raw_records(50)
    records[30]["client_event_time"] = odd
    records[40]["event_time"] = "later"  # a later record, an earlier field: raised second
    assert _outcome(records, FIELDS) == _reference(records, FIELDS)


def test_the_first_bad_value_in_record_order_is_the_one_raised() -> None:
    records = _raw_records(20)
    records[5]["processed_time"] = "bad-5"
    records[9]["event_time"] = "bad-9"
    outcome = _outcome(records, FIELDS)
    assert outcome == _reference(records, FIELDS)
    assert "'processed_time'" in str(outcome)
    assert "uuid=5" in str(outcome)


@pytest.mark.parametrize("version", [None, 1767225600])
def test_a_block_of_record_lines_equals_the_sdks_lines(version: int | None) -> None:
    extracted = dt.datetime(2026, 11, 23, 2, 45, 49, 528970, tzinfo=dt.UTC)
    records: list[dict[str, Any]] = [
        {"uuid": "1", "quote": 'say "hi"\nthen\\n leave', "emoji": "é\u2028", "n": None},
        {"uuid": "2", "event_properties": {"nested": [1, 2.5, {"x": "\n"}]}, "big": 2**62},
        {},
    ]
    encoder = RecordLineEncoder("events", version=version, time_extracted=extracted)
    writer = MsgSpecWriter()
    expected = b"".join(
        bytes(
            writer.format_message(
                RecordMessage(stream="events", record=r, version=version, time_extracted=extracted)
            )
        )
        for r in records
    )
    assert encoder.encode_block(records) == expected
    assert encoder.encode_block([]) == b""


# -- the RECORD lines on every shape, against the SDK's own path ---------------------------------

# The tap with every per-block path turned off: the SDK's record path (the SDK's RECORD messages
# through its writer) and the record-by-record timestamp function.
SDK_PATH = """
import sys
import time
from tap_amplitude.fast_path import record_path
from tap_amplitude.streams import events
from tap_amplitude.tap import TapAmplitude
from tap_amplitude.timestamps import normalize_fields

def by_record(records, fields):
    for record in records:
        normalize_fields(record, fields)

record_path.FastRecordPath.write_block = lambda self, records: False
record_path.FastRecordPath._direct_output_if_identity = lambda self: None
events.normalize_records = by_record
TapAmplitude.cli()
"""
# The tap whose decompressing process encodes every frame it can (in a run it does so only while
# the tap is behind): its RECORD lines must be the same too.
EAGER_WORKER = """
from tap_amplitude.fast_path import decompressor
from tap_amplitude.tap import TapAmplitude

decompressor.ENCODE_AHEAD = 0
TapAmplitude.cli()
"""
EVENTS = 2400


@pytest.fixture(scope="module")
def export_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cache = tmp_path_factory.mktemp("exports")
    for shape in export_shapes.SHAPES:
        export_shapes.build(shape, EVENTS, cache=cache)
    url_file = cache / "url.txt"
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.export_server", "--folder", str(cache / "none"),
         "--url-file", str(url_file)],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (url_file.exists() and url_file.read_text().strip()):
            assert server.poll() is None, "the export server exited"
            assert time.monotonic() < deadline, "the export server published no URL"
            time.sleep(0.05)
        yield url_file.read_text().strip(), cache
    finally:
        server.terminate()
        server.wait()


def _record_lines(argv: list[str], cwd: Path) -> list[bytes]:
    done = subprocess.run(argv, capture_output=True, check=False, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    lines = done.stdout.splitlines()
    assert parse_messages(done.stdout.decode())  # every line is a Singer message
    return [
        re.sub(rb',"time_extracted":"[^"]*"}$', b"}", line)
        for line in lines
        if line.startswith(b'{"type":"RECORD"')
    ]


@pytest.mark.parametrize("shape", export_shapes.SHAPES)
def test_record_lines_equal_the_sdk_paths_on_every_export_shape(
    tmp_path: Path, export_server: tuple[str, Path], shape: str
) -> None:
    url, cache = export_server
    # The server serves one folder; a symlink per shape points it at this shape's export.
    link = cache / "none"
    link.unlink(missing_ok=True)
    link.symlink_to(export_shapes.folder(shape, EVENTS, cache))
    configs = {
        hours: write_json(
            tmp_path / f"config-{hours}.json",
            {
                "api_key": "k",
                "secret_key": "s",
                "api_url": url,
                "start_date": "2026-01-01T00:00:00Z",
                "end_date": "2026-01-02T00:00:00Z",
                "request_time_range": hours,
            },
        )
        for hours in (24, 1)
    }
    catalog = select_catalog(tmp_path, configs[24], {"events"})
    fast = {
        hours: _record_lines([TAP, "--config", str(config), "--catalog", str(catalog)], ROOT)
        for hours, config in configs.items()
    }
    sdk = _record_lines(
        [sys.executable, "-c", SDK_PATH, "--config", str(configs[24]), "--catalog", str(catalog)],
        ROOT,
    )
    eager = _record_lines(
        [sys.executable, "-c", EAGER_WORKER, "--config", str(configs[1]), "--catalog",
         str(catalog)],
        ROOT,
    )  # fmt: skip
    assert len(sdk) == EVENTS
    assert fast[24] == sdk
    assert fast[1] == sdk
    assert eager == sdk
    first = json.loads(sdk[0])["record"]
    assert first["event_time"].endswith("Z")
    assert " " not in first["server_upload_time"]


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_line_parts_cut_a_block_at_newlines_only(size: int) -> None:
    lines = [b"x" * (n * 37 % 101) + b"\n" for n in range(200)]
    for block in (b"".join(lines), b"".join(lines) + b"no newline at the end", b"", b"\n"):
        parts = list(line_parts(block, size))
        assert b"".join(parts) == block
        assert all(part.endswith(b"\n") for part in parts[:-1])
        assert all(len(part) < size + 102 for part in parts)  # about `size`: up to a line more
