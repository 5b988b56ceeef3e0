"""Issue 23 (second round): the tap's block-wide steps give exactly what their record-by-record
or value-by-value forms give.

- the raw-form timestamp check over a whole column (byte operations) accepts exactly the values
  the per-value pattern accepts, and a block rewritten at once equals each record normalised
  on its own (errors included);
- the RECORD lines of a block written in pieces with ``writev`` are the lines of one piece, in
  order with the lines and messages around them, even when a write is cut short;
- the worker's gunzip (zlib's gzip mode) gives what :mod:`gzip` gives, members, padding and
  failures included, however the compressed bytes arrive.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import io
import itertools
import os
import random
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.singerlib import StateMessage
from tap_amplitude.fast_path import BufferedMsgSpecWriter, RecordLineEncoder, gunzip_worker
from tap_amplitude.timestamps import (
    InvalidTimestampError,
    _all_raw_form,
    _is_raw_form,
    normalize_fields,
    normalize_records,
)

FIELDS = (
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_received_time",
    "server_upload_time",
    "processed_time",
    "user_creation_time",
)
BASES = ("2026-01-01 00:22:34.828104", "1999-12-31 23:59:59.999999", "2024-10-20 20:30:40.123")


def _column(values: list[str]) -> bytes:
    return ("\n".join(values) + "\n").encode()


@pytest.mark.parametrize("base", [b for b in BASES if len(b) == 26])
def test_the_column_check_accepts_exactly_what_the_pattern_accepts(base: str) -> None:
    """Every ASCII character at every position of a value, alone and among valid values, and
    every two-digit month, day, hour, minute and second."""
    other = "2026-10-09 19:09:09.000001"
    for position, char in itertools.product(range(26), map(chr, range(128))):
        value = base[:position] + char + base[position + 1 :]
        expected = _is_raw_form(value) is not None and "\n" not in value
        for column in ([value], [other, value, other]):
            assert _all_raw_form(_column(column), len(column)) == expected, column
    for position in (5, 8, 11, 14, 17):
        for digits in map("".join, itertools.product("0123456789", repeat=2)):
            value = base[:position] + digits + base[position + 2 :]
            expected = _is_raw_form(value) is not None
            assert _all_raw_form(_column([other, value]), 2) == expected, value


def _raw_value(rng: random.Random) -> str:
    return (
        f"{rng.randint(0, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}."
        f"{rng.randint(0, 999_999):06d}"
    )


def _block(rng: random.Random, count: int) -> list[dict[str, Any]]:
    records = []
    for index in range(count):
        record: dict[str, Any] = {"uuid": str(index)}
        for field in FIELDS:
            record[field] = _raw_value(rng)
            # The same names inside a property object are not timestamps of the event.
        record["event_properties"] = {"event_time": _raw_value(rng), "n": index}
        records.append(record)
    return records


def _record_by_record(records: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """What normalize_fields makes of each record, or the error normalize_records must raise."""
    expected = copy.deepcopy(records)
    for record in expected:
        try:
            normalize_fields(record, FIELDS)
        except InvalidTimestampError as exc:
            return f"{record['uuid']}: {exc}"
    return expected


@pytest.mark.parametrize("seed", range(6))
def test_a_block_of_raw_forms_is_rewritten_as_each_record_alone(seed: int) -> None:
    rng = random.Random(seed)
    records = _block(rng, 150)
    expected = _record_by_record(records)
    normalize_records(records, FIELDS)
    assert records == expected
    assert [list(r) for r in records] == [list(r) for r in expected]  # key order kept
    assert records[0]["event_properties"]["event_time"][10] == " "  # nested: left alone


@pytest.mark.parametrize(
    "bad",
    [
        "2026-00-01 00:00:00.000000",
        "2026-13-01 00:00:00.000000",
        "2026-01-00 00:00:00.000000",
        "2026-01-32 00:00:00.000000",
        "2026-01-01 24:00:00.000000",
        "2026-01-01 00:60:00.000000",
        "2026-01-01 00:00:60.000000",
        "2026-01-01T00:00:00.000000",  # not the raw form: normalised one by one
        "2026-01-01 00:00:00.0000",
        "2026-01-01 00:00:00",
        None,
        17,
    ],
)
def test_one_value_off_the_raw_form_gives_what_each_record_alone_gives(bad: object) -> None:
    rng = random.Random(23)
    records = _block(rng, 40)
    records[17]["server_upload_time"] = bad
    expected = _record_by_record(records)
    if isinstance(expected, str):
        with pytest.raises(InvalidTimestampError) as info:
            normalize_records(records, FIELDS)
        assert info.value.record is records[17]
        assert f"{records[17]['uuid']}: {info.value}" == expected
        return
    normalize_records(records, FIELDS)
    assert records == expected


def test_fields_absent_from_the_first_record_are_still_normalised() -> None:
    rng = random.Random(7)
    records = _block(rng, 30)
    del records[0]["processed_time"]
    del records[0]["user_creation_time"]
    records[5]["user_creation_time"] = "2026-01-02 03:04:05"  # a short form, elsewhere
    expected = _record_by_record(records)
    normalize_records(records, FIELDS)
    assert records == expected


# -- RECORD lines in pieces -------------------------------------------------------------------


def test_block_pieces_are_the_block_in_one_piece() -> None:
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    for version in (None, 1767225600000):
        encoder = RecordLineEncoder("events", version=version, time_extracted=stamp)
        records = _block(random.Random(3), 25)
        assert b"".join(encoder.block_chunks(records)) == encoder.encode_block(records)
        assert b"".join(encoder.block_chunks(records[:1])) == encoder.encode(records[0])


@pytest.mark.parametrize(("largest_write", "count"), [(None, 3000), (4096, 3000), (7, 300)])
def test_pieces_lines_and_messages_reach_stdout_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, largest_write: int | None, count: int
) -> None:
    """writev to the stdout file, with writes cut short after ``largest_write`` bytes; 3000
    records are more than RECORD_BUFFER_BYTES."""
    if largest_write is not None:
        writev = os.writev

        def short_writev(fd: int, buffers: list[Any]) -> int:
            data = b"".join(bytes(b) for b in buffers)[:largest_write]
            return writev(fd, [data])

        monkeypatch.setattr(os, "writev", short_writev)
    path = tmp_path / "stdout"
    with path.open("wb", buffering=0) as raw:
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(raw)))
        writer = BufferedMsgSpecWriter()
        stamp = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
        encoder = RecordLineEncoder("events", version=None, time_extracted=stamp)
        records = _block(random.Random(5), count)
        expected = b""
        for start in range(0, count, 100):
            block = records[start : start + 100]
            writer.write_chunks(encoder.block_chunks(block))
            expected += encoder.encode_block(block)
            line = encoder.encode(records[start])
            expected += bytes(line)
            writer.write_line(line)
            if start % 1000 in (0, 200):
                state = StateMessage(value={"at": start})
                writer.write_message(state)
                expected += writer.format_message(state)
        writer.write_records()
        sys.stdout.flush()
    assert path.read_bytes() == expected


# -- the worker's gunzip ----------------------------------------------------------------------


class _Trickle(io.BytesIO):
    """Hands out at most ``size`` bytes a read."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(data)
        self._size = size

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self._size if size is None or size < 0 else min(size, self._size))


def _lines(count: int, start: int = 0) -> bytes:
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"y" * (i % 89)) for i in range(start, count))


@pytest.fixture(params=["zlib", "isal"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    """The worker's inflater, zlib's or ISA-L's (what it uses where `isal` is installed); the
    error it raises for bad data."""
    if request.param == "zlib":
        return zlib.error
    isal_zlib = pytest.importorskip("isal.isal_zlib")
    monkeypatch.setattr(gunzip_worker, "_decompressobj", isal_zlib.decompressobj)
    return isal_zlib.error


@pytest.mark.parametrize("size", [1, 3, 1000, 1 << 20])
def test_the_worker_gunzips_what_the_gzip_module_gunzips(
    size: int, inflater: type[Exception]
) -> None:
    """Several members, zero padding between them, an empty member, a run far larger than a
    piece coming out of a few compressed bytes; compressed bytes in reads of ``size``."""
    data = (
        gzip.compress(_lines(300))
        + b"\0" * 5
        + gzip.compress(b"")
        + gzip.compress(b"x\n" * 400_000)  # 800 KB from about 1 KB
        + b"\0"
        + gzip.compress(_lines(900, 300), compresslevel=1)
    )
    if size == 1:
        data = gzip.compress(_lines(40)) + b"\0\0" + gzip.compress(b"z\n" * 100_000)
    pieces = list(gunzip_worker.gunzip(_Trickle(data, size)))
    assert max(map(len, pieces)) <= gunzip_worker.PIECE
    assert b"".join(pieces) == gzip.decompress(data)


def test_the_worker_refuses_what_the_gzip_module_refuses(inflater: type[Exception]) -> None:
    data = gzip.compress(_lines(2000))
    bad_crc = bytearray(data)
    bad_crc[-8] ^= 0xFF
    bad_length = bytearray(data)
    bad_length[-1] ^= 0xFF
    for broken, error in (
        (data[:-20], EOFError),
        (data[: len(data) // 2], EOFError),
        (bytes(bad_crc), inflater),
        (bytes(bad_length), inflater),
        (b"\0\0" + data, inflater),  # padding before the first member: gzip refuses it too
        (data + b"trailing garbage", inflater),
        (b"this is not gzip at all", inflater),
    ):
        with pytest.raises((OSError, EOFError)):
            gzip.decompress(broken)
        with pytest.raises(error):
            list(gunzip_worker.gunzip(io.BytesIO(broken)))
    assert list(gunzip_worker.gunzip(io.BytesIO(b""))) == []


def test_the_worker_frames_end_at_newlines() -> None:
    text = _lines(20_000) + b'{"last":"no newline"}'
    frames: list[bytes | memoryview] = []
    gunzip_worker.write_lines(iter([text[i : i + 5000] for i in range(0, len(text), 5000)]),
                              frames.append)  # fmt: skip
    stream = io.BytesIO(b"".join(bytes(f) for f in frames))
    out = b""
    while header := stream.read(4):
        size = int.from_bytes(header, "big")
        body = stream.read(size)
        assert body.endswith(b"\n")
        out += body
    assert out == text + b"\n"
