"""The events stream's fast paths give exactly what the general paths give.

Timestamps (raw form vs every other form), gunzip in large reads (several members, truncation,
CRC), the decompressing worker process, RECORD lines encoded directly vs the SDK's writer, the GC
tuning, and a sync in which a deselected field sends the stream back through the SDK's path.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import gc
import gzip
import inspect
import io
import json
import os
import random
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import msgspec
import pytest
from singer_sdk import RESTStream, Stream, metrics
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.singerlib import RecordMessage, StateMessage
from tap_amplitude.errors import CorruptExportError
from tap_amplitude.export_reader import BLOCK_SIZE, ExportArchive, gunzip, line_blocks
from tap_amplitude.fast_path import (
    BufferedMsgSpecWriter,
    RecordLineEncoder,
    bulk_allocation_gc,
)
from tap_amplitude.fast_path.output import RECORD_BUFFER_BYTES
from tap_amplitude.fast_path.record_path import (
    SDK_PRIVATE_MEMBERS,
    SDK_VERSION_CHECKED,
    FastRecordPath,
)
from tap_amplitude.streams.events import EventsStream
from tap_amplitude.timestamps import (
    InvalidTimestampError,
    format_rfc3339,
    normalize_fields,
    normalize_records,
    normalize_timestamp,
)
from tap_amplitude.windows import Window

from tests.tap.helpers import (
    TAP,
    Emulator,
    base_config,
    parse_messages,
    select_catalog,
    write_json,
)

UTC = dt.UTC

# -- timestamps -------------------------------------------------------------------------------


def _reference(raw: str) -> str:
    """What the general datetime path makes of a zone-less timestamp."""
    return format_rfc3339(dt.datetime.fromisoformat(raw))


def test_the_raw_form_equals_the_datetime_path_for_random_instants() -> None:
    rng = random.Random(11)
    base = dt.datetime(2012, 1, 1)
    for _ in range(3000):
        instant = base + dt.timedelta(microseconds=rng.randrange(15 * 365 * 86400 * 10**6))
        raw = instant.strftime("%Y-%m-%d %H:%M:%S.%f")
        assert len(raw) == 26
        assert normalize_timestamp(raw) == _reference(raw) == raw.replace(" ", "T") + "Z"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-04 05:06:07", "2026-03-04T05:06:07.000000Z"),  # 0 fraction digits
        ("2026-03-04 05:06:07.8", "2026-03-04T05:06:07.800000Z"),
        ("2026-03-04 05:06:07.89", "2026-03-04T05:06:07.890000Z"),
        ("2026-03-04 05:06:07.891", "2026-03-04T05:06:07.891000Z"),
        ("2026-03-04 05:06:07.8912", "2026-03-04T05:06:07.891200Z"),
        ("2026-03-04 05:06:07.89123", "2026-03-04T05:06:07.891230Z"),
        ("2026-03-04 05:06:07.891234", "2026-03-04T05:06:07.891234Z"),  # the raw form
        ("2026-03-04T05:06:07.891234", "2026-03-04T05:06:07.891234Z"),  # 'T', 26 characters
        ("2026-03-04 05:06:07.891234Z", "2026-03-04T05:06:07.891234Z"),
        ("2026-03-04 05:06:07.891234+00:00", "2026-03-04T05:06:07.891234Z"),
        ("2026-03-04T05:06:07+0000", "2026-03-04T05:06:07.000000Z"),
        ("2026-03-04T07:06:07.5+02:00", "2026-03-04T05:06:07.500000Z"),
        ("2026-03-04 05:06:07,891234", "2026-03-04T05:06:07.891234Z"),  # comma, 26 characters
        ("2026-03-04", "2026-03-04T00:00:00.000000Z"),
        (None, None),
        ("", None),
    ],
)
def test_every_other_form_takes_the_general_path(raw: str | None, expected: str | None) -> None:
    assert normalize_timestamp(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2026-13-04 05:06:07.891234",  # month 13, otherwise the raw form
        "2026-00-04 05:06:07.891234",
        "2026-03-32 05:06:07.891234",
        "2026-03-04 24:06:07.891234",
        "2026-03-04 05:60:07.891234",
        "2026-03-04 05:06:60.891234",
        "2026-03-04 05:06:07.89123x",
        "\uff12026-03-04 05:06:07.891234",  # a non-ASCII digit (fullwidth two)
        "2026/03/04 05:06:07.891234",
    ],
)
def test_near_misses_of_the_raw_form_are_refused(raw: str) -> None:
    with pytest.raises(InvalidTimestampError, match="not a timestamp"):
        normalize_timestamp(raw)


def test_normalize_fields_touches_only_the_named_top_level_fields() -> None:
    raw = "2026-03-04 05:06:07.891234"
    record = {
        "event_time": raw,
        "processed_time": None,
        "event_properties": {"event_time": raw},
        "user_properties": {"processed_time": raw},
        "other": raw,
    }
    normalize_fields(record, ("event_time", "processed_time", "absent_time"))
    assert record == {
        "event_time": "2026-03-04T05:06:07.891234Z",
        "processed_time": None,
        "event_properties": {"event_time": raw},
        "user_properties": {"processed_time": raw},
        "other": raw,
    }


def test_a_bad_field_is_named() -> None:
    record = {"event_time": "2026-03-04 05:06:07.891234", "client_event_time": "soon"}
    with pytest.raises(InvalidTimestampError, match=r"field 'client_event_time'.*'soon'"):
        normalize_fields(record, ("event_time", "client_event_time"))


VALUES = [
    "2026-03-04 05:06:07.891234",  # the raw form
    "2026-03-04 05:06:07.8912",
    "2026-03-04T05:06:07Z",
    "2026-03-04 05:06:07+00:00",
    "2026-03-04",
    "2026-03-04T07:06:07+02:00",
    "",
    None,
]


def test_normalize_records_equals_normalize_fields_record_by_record() -> None:
    """The block loop gives what the per-record function gives, for every form and absence."""
    rng = random.Random(15)
    fields = ("event_time", "client_event_time", "processed_time", "absent_time")
    records = []
    for index in range(400):
        record: dict[str, Any] = {"uuid": str(index), "nested": {"event_time": VALUES[0]}}
        for field in fields[:3]:
            if rng.random() < 0.9:
                record[field] = rng.choice(VALUES)
        records.append(record)
    expected = copy.deepcopy(records)
    for record in expected:
        normalize_fields(record, fields)
    normalize_records(records, fields)
    assert records == expected
    assert [list(r) for r in records] == [list(r) for r in expected]  # key order kept


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-04 05:06:07",  # the short forms, each length, rewritten inline
        "2026-03-04 05:06:07.8",
        "2026-03-04 05:06:07.89",
        "2026-03-04 05:06:07.891",
        "2026-03-04 05:06:07.8912",
        "2026-03-04 05:06:07.89123",
        "2026-03-04 05:06:07.891234",
        "2026-03-04 05:06:07.",  # near misses: what normalize_timestamp makes of them
        "2026-03-04 05:06:07.8912345",
        "2026-03-04 05:06:07,891",
        "2026-13-04 05:06:07.891",
        "2026-03-00 05:06:07",
        "2026-03-04 24:06:07.8",
        "2026-03-04 05:60:07.89",
        "2026-03-04 05:06:60.89123",
        "2026-03-04 05:06:07.89x",
        "\uff12026-03-04 05:06:07",  # a non-ASCII digit
        "2026-03-04 05:06:07.\uff18",
        "2026-03-04T05:06:07.891",
        "2026-03-04 05:06:07.891Z",
        " 2026-03-04 05:06:07",
        "2026-03-04 05:06",
        "",
        0,
    ],
)
def test_normalize_records_equals_normalize_timestamp_for_every_length(value: object) -> None:
    """The inline rewrite of the short forms gives normalize_timestamp's value or error."""
    record: dict[str, Any] = {"uuid": "u", "event_time": value}
    expected: object
    try:
        expected = normalize_timestamp(value)
    except InvalidTimestampError as exc:
        expected = exc
    if isinstance(expected, InvalidTimestampError):
        with pytest.raises(InvalidTimestampError) as info:
            normalize_records([record], ("event_time",))
        assert str(info.value) == f"field 'event_time': {expected}"
        assert info.value.record is record
        return
    normalize_records([record], ("event_time",))
    assert record == {"uuid": "u", "event_time": expected}


def test_normalize_records_names_the_field_and_the_record() -> None:
    good = {"uuid": "a", "event_time": VALUES[0]}
    bad = {"uuid": "b", "event_time": VALUES[0], "client_event_time": "soon"}
    with pytest.raises(InvalidTimestampError, match=r"field 'client_event_time'.*'soon'") as info:
        normalize_records([good, bad], ("event_time", "client_event_time"))
    assert info.value.record is bad
    with pytest.raises(InvalidTimestampError) as single:
        normalize_fields(dict(bad), ("event_time", "client_event_time"))
    assert str(info.value) == str(single.value)


# -- the SDK members the layer relies on -------------------------------------------------------


def test_the_private_sdk_members_overridden_still_have_the_signatures_checked() -> None:
    """An SDK upgrade that renames or reshapes a private member the fast path overrides would
    silently bypass it (or break it): fail here instead, and re-check the layer."""
    series = SDK_VERSION_CHECKED.rsplit(".", 1)[0] + "."
    assert version("singer-sdk").startswith(series), (
        f"fast_path was checked on singer-sdk {SDK_VERSION_CHECKED}: re-check each override "
        "against the new SDK, then update SDK_VERSION_CHECKED"
    )
    for name, parameters in SDK_PRIVATE_MEMBERS.items():
        if not parameters:  # an attribute the layer reads, set in Stream.__init__
            assert name in inspect.getsource(Stream.__init__), name
            continue
        member = getattr(Stream, name)
        assert tuple(inspect.signature(member).parameters) == parameters, name
        assert name in vars(FastRecordPath), f"{name} is listed but not overridden"


def test_the_private_state_members_the_events_stream_uses_keep_their_signatures() -> None:
    """Outside the performance layer, the events stream writes STATE per finished window:
    `_write_state_message` (called) and `_increment_stream_state` (overridden as a no-op)."""
    assert tuple(inspect.signature(Stream._write_state_message).parameters) == ("self",)
    assert tuple(inspect.signature(Stream._increment_stream_state).parameters) == (
        "self",
        "latest_record",
        "context",
    )
    assert "_increment_stream_state" in vars(EventsStream)


def test_the_public_sdk_hooks_the_tap_builds_on_keep_their_signatures() -> None:
    expected = {
        (RESTStream, "request_decorator"): ("self", "func"),
        (RESTStream, "backoff_wait_generator"): ("self",),
        (RESTStream, "backoff_max_tries"): ("self",),
        (RESTStream, "backoff_jitter"): ("self", "value"),
        (RESTStream, "backoff_handler"): ("self", "details"),
        (RESTStream, "validate_response"): ("self", "response"),
        (RESTStream, "get_http_request"): ("self", "page"),
        (RESTStream, "build_prepared_request"): ("self", "args", "kwargs"),
        (RESTStream, "get_http_request_counter"): ("self",),
        (RESTStream, "get_url_params"): ("self", "context", "next_page_token"),
        (RESTStream, "parse_response"): ("self", "response"),
        (BaseAPIPaginator, "has_more"): ("self", "response"),
        (BaseAPIPaginator, "get_next"): ("self", "response"),
        (BaseAPIPaginator, "continue_if_empty"): ("self", "response"),
        (MsgSpecWriter, "format_message"): ("self", "message"),
    }
    for (owner, name), parameters in expected.items():
        assert tuple(inspect.signature(getattr(owner, name)).parameters) == parameters, name
    assert {f.name for f in dataclasses.fields(metrics.Point)} >= {
        "metric_type",
        "metric",
        "value",
        "tags",
    }
    assert isinstance(RESTStream.timeout, property)


# -- gunzip and blocks ------------------------------------------------------------------------

WINDOW = Window(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, 2, tzinfo=UTC))


def _lines(count: int, start: int = 0) -> bytes:
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 97)) for i in range(start, count))


def test_gunzip_reads_several_members_and_zero_padding() -> None:
    first, second = _lines(200), _lines(300, 200)
    data = gzip.compress(first) + gzip.compress(second) + gzip.compress(b"") + b"\0\0\0"
    assert b"".join(gunzip(io.BytesIO(data))) == first + second


def test_gunzip_hands_out_bounded_pieces_of_a_large_member() -> None:
    text = _lines(120_000)  # about 8 MB, compressing very well
    assert len(text) > 4 * BLOCK_SIZE
    pieces = list(gunzip(io.BytesIO(gzip.compress(text))))
    assert max(len(piece) for piece in pieces) <= BLOCK_SIZE
    assert b"".join(pieces) == text
    blocks = list(line_blocks(pieces))
    assert all(block.endswith(b"\n") for block in blocks)
    assert b"".join(blocks) == text


def test_gunzip_refuses_a_truncated_member_and_a_bad_crc() -> None:
    data = gzip.compress(_lines(2000))
    with pytest.raises(EOFError):
        list(gunzip(io.BytesIO(data[: len(data) - 20])))
    bad_crc = bytearray(data)
    bad_crc[-8] ^= 0xFF  # the CRC-32 in the member's trailer
    with pytest.raises(gzip.BadGzipFile, match="CRC"):
        list(gunzip(io.BytesIO(bytes(bad_crc))))
    with pytest.raises(gzip.BadGzipFile):
        list(gunzip(io.BytesIO(b"this is not gzip at all")))


def test_line_blocks_join_lines_split_across_pieces() -> None:
    pieces = [b'{"a":', b"1}\n{", b'"b":2}\n{"c"', b":3}"]
    assert list(line_blocks(pieces)) == [b'{"a":1}\n', b'{"b":2}\n', b'{"c":3}']


def _archive_with(tmp_path: Path, payload: bytes) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:  # the zip CRC is right: gzip is what is wrong
        archive.writestr("187/187_2026-01-01_0#0.json.gz", payload)
    return path


def test_a_truncated_gzip_entry_is_corrupt_naming_the_entry(tmp_path: Path) -> None:
    payload = gzip.compress(_lines(3000))
    path = _archive_with(tmp_path, payload[: len(payload) // 2])
    with (
        ExportArchive(path, WINDOW) as archive,
        pytest.raises(CorruptExportError, match=r"187_2026-01-01_0#0\.json\.gz.*decompress"),
    ):
        list(archive.blocks())
    assert not path.exists()


def test_an_archive_yields_the_same_lines_as_gzip_module(tmp_path: Path) -> None:
    text = _lines(40_000)
    path = _archive_with(tmp_path, gzip.compress(text, compresslevel=1))
    with ExportArchive(path, WINDOW) as archive:
        blocks = list(archive.blocks())
    assert b"".join(blocks) == gzip.decompress(gzip.compress(text))
    assert all(len(block) <= 2 * BLOCK_SIZE for block in blocks)


# -- the decompressing worker process ---------------------------------------------------------


def _zip_of(tmp_path: Path, entries: dict[str, bytes | None]) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in entries.items():
            if payload is None:
                archive.writestr(name, b"")  # a directory entry
            else:
                archive.writestr(name, payload)
    return path


def _records_of(blocks: list[bytes]) -> list[Any]:
    """The records of the blocks, each block decoded on its own (as the events stream does)."""
    return [json.loads(line) for block in blocks for line in block.splitlines() if line.strip()]


def test_the_worker_gives_the_lines_the_process_itself_gives(tmp_path: Path) -> None:
    """Several members, zero padding, a directory, an empty entry, an entry without a final
    newline, non-ASCII text and an entry of several blocks: the same records, in order."""
    big = _lines(60_000)  # several BLOCK_SIZE blocks
    assert len(big) > 2 * BLOCK_SIZE
    entries: dict[str, bytes | None] = {
        "187/": None,
        "187/187_2026-01-01_0#0.json.gz": gzip.compress(_lines(300))
        + gzip.compress(_lines(500, 300))
        + b"\0\0",
        "187/187_2026-01-01_0#1.json.gz": gzip.compress(b""),
        "187/187_2026-01-01_1#0.json.gz": gzip.compress('{"n":"été ✓","t":"x"}'.encode()),
        "187/187_2026-01-01_1#1.json.gz": gzip.compress(big, compresslevel=1),
    }
    results = []
    for in_process in (True, False):
        path = _zip_of(tmp_path, entries)
        with ExportArchive(path, WINDOW) as archive:
            blocks = list(archive.blocks(in_process=in_process))
        assert all(len(block) <= 2 * BLOCK_SIZE for block in blocks)
        results.append(_records_of(blocks))
    in_process_records, worker_records = results
    assert worker_records == in_process_records
    assert len(worker_records) == 500 + 1 + 60_000
    assert worker_records[500] == {"n": "été ✓", "t": "x"}


@pytest.mark.parametrize("in_process", [True, False])
def test_a_bad_gzip_entry_is_corrupt_naming_the_entry_in_both_ways(
    tmp_path: Path, in_process: bool
) -> None:
    payload = gzip.compress(_lines(3000))
    bad_crc = bytearray(payload)
    bad_crc[-8] ^= 0xFF  # the CRC-32 in the member's trailer
    for name, broken in (("cut", payload[: len(payload) // 2]), ("crc", bytes(bad_crc))):
        entries = {"ok.json.gz": gzip.compress(b'{"n":1}\n'), f"{name}.json.gz": broken}
        path = _zip_of(tmp_path, entries)
        with (
            ExportArchive(path, WINDOW) as archive,
            pytest.raises(CorruptExportError, match=rf"'{name}\.json\.gz' cannot be decompressed"),
        ):
            list(archive.blocks(in_process=in_process))


def test_where_no_process_can_be_started_the_tap_decompresses_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_amplitude.fast_path import decompressor  # noqa: PLC0415

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError("process creation refused")

    monkeypatch.setattr(decompressor.subprocess, "Popen", refused)
    monkeypatch.setattr(decompressor, "_shared", None)  # no worker left by an earlier test
    path = _zip_of(tmp_path, {"a.json.gz": gzip.compress(_lines(2000))})
    with ExportArchive(path, WINDOW) as archive:
        records = _records_of(list(archive.blocks()))
    assert [r["n"] for r in records] == list(range(2000))


def _gunzip_workers() -> list[int]:
    """PIDs of this process's live gunzip worker children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"gunzip_worker.py" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the worker")
def test_closing_the_blocks_early_stops_the_worker(tmp_path: Path) -> None:
    path = _zip_of(tmp_path, {"a.json.gz": gzip.compress(_lines(200_000), compresslevel=1)})
    with ExportArchive(path, WINDOW) as archive:
        blocks = archive.blocks()
        assert json.loads(next(blocks).split(b"\n", 1)[0]) == {"n": 0, "pad": ""}
        assert len(_gunzip_workers()) == 1
        blocks.close()
        assert _gunzip_workers() == []
    assert not path.exists()


def test_the_worker_runs_on_the_standard_library_alone() -> None:
    """It runs as `python -I -S` (no site-packages): nothing but the standard library."""
    from tap_amplitude.fast_path import decompressor  # noqa: PLC0415

    tree = decompressor.WORKER.read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in tree.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imported <= set(sys.stdlib_module_names), imported


# -- RECORD lines -----------------------------------------------------------------------------

RECORD = {
    "uuid": "5f0c2f4e-1",
    "event_time": "2026-03-04T05:06:07.891234Z",
    "event_properties": {"price": 1.5, "tags": ["a", "é"], "nested": {"n": None}},
    "amount": 12345678901234,
    "quote": 'say "hi"\n',
}


@pytest.mark.parametrize("version", [None, 1767225600])
def test_a_direct_record_line_equals_the_sdks(version: int | None) -> None:
    extracted = dt.datetime(2026, 11, 23, 2, 45, 49, 528970, tzinfo=UTC)
    encoder = RecordLineEncoder("events", version=version, time_extracted=extracted)
    sdk = MsgSpecWriter().format_message(
        RecordMessage(stream="events", record=RECORD, version=version, time_extracted=extracted)
    )
    assert bytes(encoder.encode(RECORD)) == bytes(sdk)
    assert bytes(encoder.encode({"uuid": "2"})).startswith(b'{"type":"RECORD","stream":"events"')


def test_stamp_changes_time_extracted_of_the_following_lines() -> None:
    first = dt.datetime(2026, 1, 1, tzinfo=UTC)
    encoder = RecordLineEncoder("events", version=None, time_extracted=first)
    encoder.stamp(dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    line = json.loads(bytes(encoder.encode({"uuid": "1"})))
    assert line == {
        "type": "RECORD",
        "stream": "events",
        "record": {"uuid": "1"},
        "time_extracted": "2026-01-01T01:00:00Z",
    }
    with pytest.raises(ValueError, match="aware"):
        encoder.stamp(dt.datetime(2026, 1, 1))  # naive


# -- the writer's RECORD buffer -----------------------------------------------------------------


class _Stdout:
    """sys.stdout for the writer: its ``buffer`` is an unbuffered sink taking at most ``chunk``
    bytes per write (like a raw FileIO under PYTHONUNBUFFERED=1), logging writes and flushes."""

    def __init__(self, chunk: int) -> None:
        self.data = bytearray()
        self.calls: list[tuple[str, int]] = []  # ("write", size) and ("flush", bytes so far)
        self.chunk = chunk
        self.buffer = self

    def write(self, data: Any) -> int:
        taken = bytes(data[: self.chunk])
        self.data += taken
        self.calls.append(("write", len(taken)))
        return len(taken)

    def flush(self) -> None:
        self.calls.append(("flush", len(self.data)))


def _record_line(n: int, size: int = 100) -> bytes:
    return b'{"type":"RECORD","stream":"events","record":{"n":%d,"pad":"%s"}}\n' % (n, b"x" * size)


def test_record_lines_are_written_in_large_writes_and_before_each_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _Stdout(chunk=1 << 30)
    monkeypatch.setattr(sys, "stdout", out)
    writer = BufferedMsgSpecWriter()
    count = 10 + int(2.5 * RECORD_BUFFER_BYTES) // len(_record_line(99_999))
    lines = [_record_line(n) for n in range(count)]
    for line in lines[:10]:
        writer.write_line(line)
    assert out.calls == []  # buffered
    writer.write_message(StateMessage(value={"bookmarks": {"events": {"n": 10}}}))
    state = b'{"type":"STATE","value":{"bookmarks":{"events":{"n":10}}}}\n'
    assert bytes(out.data) == b"".join(lines[:10]) + state
    assert out.calls[-1] == ("flush", len(out.data))  # the STATE is flushed, after the records
    out.calls.clear()
    for line in lines[10:]:
        writer.write_line(line)
    writes = [size for kind, size in out.calls if kind == "write"]
    assert len(writes) == 2  # 2.5 buffers of lines: two full buffers written, the rest held
    assert all(RECORD_BUFFER_BYTES - 200 < size <= RECORD_BUFFER_BYTES for size in writes)
    writer.write_message(StateMessage(value={}))
    assert bytes(out.data) == b"".join(lines[:10]) + state + b"".join(lines[10:]) + (
        b'{"type":"STATE","value":{}}\n'
    )


def test_partial_writes_and_a_line_larger_than_the_buffer_keep_every_byte_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _Stdout(chunk=4096)  # a raw file may take part of a write
    monkeypatch.setattr(sys, "stdout", out)
    writer = BufferedMsgSpecWriter()
    huge = _record_line(1, size=RECORD_BUFFER_BYTES + 10)
    lines = [_record_line(0), huge, *(_record_line(n) for n in range(2, 20_000))]
    for line in lines:
        writer.write_line(line)
    writer.write_message(  # a RECORD message goes through the same buffer
        RecordMessage(stream="events", record={"n": "last"}, time_extracted=None)
    )
    writer.write_records()
    expected = b"".join(lines) + b'{"type":"RECORD","stream":"events","record":{"n":"last"}}\n'
    assert bytes(out.data) == expected


def test_record_lines_after_the_last_state_are_written_at_exit(tmp_path: Path) -> None:
    """A run failing mid-window still writes what it emitted (the target may use it)."""
    script = (
        "import sys\n"
        "from tap_amplitude.fast_path import BufferedMsgSpecWriter\n"
        "writer = BufferedMsgSpecWriter()\n"
        "writer.write_line(b'{\"n\":1}\\n')\n"
        "writer.write_line(b'{\"n\":2}\\n')\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == b'{"n":1}\n{"n":2}\n'
    assert done.stderr == b""


# -- GC tuning --------------------------------------------------------------------------------


def test_bulk_allocation_gc_restores_the_collector() -> None:
    before = gc.get_threshold()
    with bulk_allocation_gc():
        assert gc.get_threshold()[0] >= 50_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_command_line_freezes_every_object_at_exit() -> None:
    """At exit, the interpreter's own collections find nothing to walk (gc_tuning.py)."""
    script = """
import atexit, gc, sys
# Registered first, so it runs last: after the tap's exit handlers, before the interpreter's
# own collections.
atexit.register(lambda: print(gc.get_freeze_count(), len(gc.get_objects()), file=sys.stderr))
from tap_amplitude.tap import TapAmplitude
TapAmplitude.cli(["--about", "--format", "json"])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "tap-amplitude"  # the command itself unchanged
    frozen, tracked = map(int, done.stderr.split()[-2:])
    assert frozen > 10_000  # the SDK's objects and everything else alive
    assert tracked < 1_000  # left for the interpreter to walk: what the last handlers made


# -- a sync with one field deselected (the SDK's path) ---------------------------------------


# The module's emulator (the ``emu`` fixture of tests/tap/conftest.py): make_emulator's arguments.
EMULATOR = {"events": 300, "hours": 6}


def _events(tmp_path: Path, emu: Emulator, deselect: str | None) -> list[dict]:
    config = write_json(
        tmp_path / "config.json",
        base_config(emu, end_date="2026-01-01T06:00:00Z", request_time_range=6),
    )
    catalog = select_catalog(tmp_path, config, {"events"}, (deselect,) if deselect else ())
    done = subprocess.run(
        [TAP, "--config", str(config), "--catalog", str(catalog)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    messages = parse_messages(done.stdout)
    records = [m for m in messages if m["type"] == "RECORD"]
    assert all(set(m) == {"type", "stream", "record", "time_extracted"} for m in records)
    return [m["record"] for m in records]


def test_a_deselected_field_is_dropped_and_nothing_else_changes(
    tmp_path: Path, emu: Emulator
) -> None:
    direct = _events(tmp_path, emu, None)
    through_sdk = _events(tmp_path, emu, "ip_address")
    assert len(direct) == len(through_sdk) == 300
    assert any("ip_address" in record for record in direct)
    assert all("ip_address" not in record for record in through_sdk)
    for full, reduced in zip(direct, through_sdk, strict=True):
        assert {k: v for k, v in full.items() if k != "ip_address"} == reduced


def test_direct_lines_decode_as_the_emulators_events(tmp_path: Path, emu: Emulator) -> None:
    records = _events(tmp_path, emu, None)
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    held = {e["uuid"]: e for e in emu.project(base_config(emu)["api_key"]).export_events(
        start, start + dt.timedelta(hours=5)
    )}  # fmt: skip
    assert sorted(held) == sorted(r["uuid"] for r in records)
    for record in records:
        original = held[record["uuid"]]
        assert record["event_properties"] == original["event_properties"]
        assert record["event_time"] == _reference(original["event_time"].removesuffix("Z"))
        assert msgspec.json.encode(record)  # plain JSON types only
