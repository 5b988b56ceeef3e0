"""One decompressing process serves every export of a run (issue 23: a process per window cost
24 hourly windows an interpreter start each)."""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from pathlib import Path

import pytest
from tap_amplitude.errors import CorruptExportError
from tap_amplitude.export_reader import ExportArchive
from tap_amplitude.fast_path import decompressor
from tap_amplitude.windows import Window

from tests.tap.test_fast_paths import WINDOW, _gunzip_workers

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads /proc to find the worker"
)


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
    return path


def _lines(first: int, count: int) -> bytes:
    return b"".join(json.dumps({"n": n}).encode() + b"\n" for n in range(first, first + count))


def _numbers(path: Path, window: Window = WINDOW) -> list[int]:
    with ExportArchive(path, window) as archive:
        return [json.loads(line)["n"] for block in archive.blocks() for line in block.splitlines()]


@pytest.fixture(autouse=True)
def no_worker_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker left by an earlier test of this process."""
    if decompressor._shared is not None:
        decompressor._shared.stop()
    monkeypatch.setattr(decompressor, "_shared", None)


def test_one_worker_reads_every_export_of_a_run_even_after_a_corrupt_one(tmp_path: Path) -> None:
    first = _zip(tmp_path / "1.zip", {"a.json.gz": gzip.compress(_lines(0, 5000))})
    assert _numbers(first) == list(range(5000))
    workers = _gunzip_workers()
    assert len(workers) == 1
    payload = gzip.compress(_lines(0, 3000))
    bad = _zip(tmp_path / "2.zip", {"ok.json.gz": payload, "cut.json.gz": payload[:-900]})
    with pytest.raises(CorruptExportError, match=r"'cut\.json\.gz' cannot be decompressed"):
        _numbers(bad)
    third = _zip(
        tmp_path / "3.zip",
        {"b.json.gz": gzip.compress(_lines(7, 3)), "c.json.gz": gzip.compress(b'{"n":99}')},
    )
    assert _numbers(third) == [7, 8, 9, 99]  # an entry without a final newline ends its line
    assert _gunzip_workers() == workers  # the same process all along
    shared = decompressor._shared
    assert shared is not None
    shared.stop()
    assert _gunzip_workers() == []


def test_a_worker_stopped_mid_export_is_replaced_for_the_next(tmp_path: Path) -> None:
    big = _zip(tmp_path / "big.zip", {"a.json.gz": gzip.compress(_lines(0, 300_000), 1)})
    with ExportArchive(big, WINDOW) as archive:
        blocks = archive.blocks()
        next(blocks)
        (before,) = _gunzip_workers()
        blocks.close()
    assert _gunzip_workers() == []
    small = _zip(tmp_path / "small.zip", {"a.json.gz": gzip.compress(_lines(0, 10))})
    assert _numbers(small) == list(range(10))
    (after,) = _gunzip_workers()
    assert after != before
    assert os.getpid() not in (before, after)
    shared = decompressor._shared
    assert shared is not None
    shared.stop()


def test_a_worker_started_ahead_serves_the_first_export(tmp_path: Path) -> None:
    """The events stream starts the worker before the first download: the first export uses
    that process, not a second one, and starting it again changes nothing."""
    decompressor.start_shared_worker()
    (early,) = _gunzip_workers()
    decompressor.start_shared_worker()
    assert _gunzip_workers() == [early]
    export = _zip(tmp_path / "1.zip", {"a.json.gz": gzip.compress(_lines(0, 2000))})
    assert _numbers(export) == list(range(2000))
    assert _gunzip_workers() == [early]
    shared = decompressor._shared
    assert shared is not None
    shared.stop()
    assert _gunzip_workers() == []
