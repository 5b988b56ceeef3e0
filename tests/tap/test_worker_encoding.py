"""The decompressing process encodes frames for the tap when it falls behind (issue 23).

What it sends must be exactly what the tap would have written itself: the same RECORD lines on
every export shape the benchmarks generate, and for a frame it cannot decode or normalise, the
frame as it is, so the tap reports the error it always reported. The worker is made to encode
every frame it can here (``ENCODE_AHEAD = 0``); in a run it does so only while the tap is behind.
"""

from __future__ import annotations

import gzip
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from tap_amplitude.export_reader import ExportArchive
from tap_amplitude.fast_path import decompressor
from tap_amplitude.fast_path.decompressor import EncodedLines
from tap_amplitude.timestamps import EXPORT_TIMESTAMP_FIELDS, normalize_records

from benchmarks import export_shapes
from tests.tap.helpers import ROOT, TAP, select_catalog, write_json
from tests.tap.test_fast_paths import WINDOW

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "send_fds"), reason="no worker process on this system"
)

EVENTS = 2400


@pytest.fixture
def eager_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A new shared worker that encodes every frame it can."""
    if decompressor._shared is not None:
        decompressor._shared.stop()
    monkeypatch.setattr(decompressor, "_shared", None)
    monkeypatch.setattr(decompressor, "ENCODE_AHEAD", 0)
    yield
    if decompressor._shared is not None:
        decompressor._shared.stop()


def _own_lines(blocks: list[bytes]) -> bytes:
    """What the tap itself makes of the blocks: decoded, normalised, encoded as JSON lines."""
    decoder, encoder = msgspec.json.Decoder(), msgspec.json.Encoder(decimal_format="number")
    out = b""
    for block in blocks:
        records = decoder.decode_lines(block)
        normalize_records(records, EXPORT_TIMESTAMP_FIELDS)
        out += encoder.encode_lines(records)
    return out


@pytest.mark.parametrize("shape", export_shapes.SHAPES)
def test_the_workers_encoded_frames_are_the_taps_own_lines_on_every_shape(
    tmp_path: Path, eager_worker: None, shape: str
) -> None:
    export = export_shapes.build(shape, EVENTS, cache=tmp_path / "exports")
    day = export.zip_for(export_shapes.hour_param(0), export_shapes.hour_param(23))
    copies = [shutil.copy(day, tmp_path / f"{name}.zip") for name in ("own", "worker")]
    with ExportArchive(Path(copies[0]), WINDOW) as archive:
        expected = _own_lines(list(archive.blocks(in_process=True)))
    with ExportArchive(Path(copies[1]), WINDOW) as archive:
        parts = list(archive.parts(encode=True))
    assert parts
    assert all(isinstance(part, EncodedLines) for part in parts)
    encoded = [part for part in parts if isinstance(part, EncodedLines)]
    assert sum(part.count for part in encoded) == EVENTS
    assert b"".join(part.lines for part in encoded) == expected
    assert b'"event_time":"2026-01-01T' in expected  # normalised


def test_without_encode_the_worker_sends_plain_frames(tmp_path: Path, eager_worker: None) -> None:
    lines = b"".join(b'{"n":%d,"event_time":"2026-01-01 00:00:00.000001"}\n' % n for n in range(9))
    path = _zip(tmp_path / "plain.zip", {"a.json.gz": lines})
    with ExportArchive(path, WINDOW) as archive:
        parts = [bytes(part) for part in archive.parts()]  # type: ignore[arg-type]
    assert b"".join(parts) == lines


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, gzip.compress(text))
    return path


GOOD = b'{"uuid":"u1","event_time":"2026-01-01 00:00:01.000002","p":{"x":[1.5,"\\u00e9"]}}\n'
BAD_TIME = b'{"uuid":"u2","event_time":"yesterday"}\n'
NOT_JSON = b'{"uuid":"u3",\n'


def test_a_frame_the_worker_cannot_decode_or_normalise_comes_as_it_is(
    tmp_path: Path, eager_worker: None
) -> None:
    # Each entry's text is a frame of its own.
    entries = {"1.json.gz": GOOD, "2.json.gz": BAD_TIME, "3.json.gz": NOT_JSON, "4.json.gz": GOOD}
    path = _zip(tmp_path / "mixed.zip", entries)
    with ExportArchive(path, WINDOW) as archive:
        parts = [
            part if isinstance(part, EncodedLines) else bytes(part)
            for part in archive.parts(encode=True)
        ]
    assert parts == [
        EncodedLines(1, bytearray(_own_lines([GOOD]))),
        BAD_TIME,
        NOT_JSON,
        EncodedLines(1, bytearray(_own_lines([GOOD]))),
    ]


# -- the tap, its worker encoding every frame it can -------------------------------------------

EAGER_TAP = """
from tap_amplitude.fast_path import decompressor
from tap_amplitude.tap import TapAmplitude

decompressor.ENCODE_AHEAD = 0
TapAmplitude.cli()
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Path]:
    """An export server over the folder it yields (zips named ``<start>-<end>.zip``)."""
    folder = tmp_path / "served"
    folder.mkdir()
    url_file = tmp_path / "url.txt"
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.export_server", "--folder", str(folder),
         "--url-file", str(url_file)],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (url_file.exists() and url_file.read_text().strip()):
            assert server.poll() is None, "the export server exited"
            assert time.monotonic() < deadline, "the export server published no URL"
            time.sleep(0.05)
        (folder / ".url").write_text(url_file.read_text().strip())
        yield folder
    finally:
        server.terminate()
        server.wait()


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, check=False, timeout=300, cwd=ROOT)


def _records(stdout: bytes) -> list[bytes]:
    return [
        re.sub(rb',"time_extracted":"[^"]*"}$', b"}", line)
        for line in stdout.splitlines()
        if line.startswith(b'{"type":"RECORD"')
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (BAD_TIME, r"Event uuid='u2' in the export of .*not a timestamp: 'yesterday'"),
        (NOT_JSON, r"a line is not JSON"),
    ],
)
def test_the_tap_with_an_eager_worker_writes_and_fails_as_the_tap_alone(
    tmp_path: Path, serve: Path, bad: bytes, message: str
) -> None:
    good = b"".join(GOOD.replace(b"u1", b"g%d" % n) for n in range(50))
    _zip(serve / "20260101T00-20260101T00.zip", {"1.json.gz": good, "2.json.gz": bad})
    config = write_json(
        tmp_path / "config.json",
        {"api_key": "k", "secret_key": "s", "api_url": (serve / ".url").read_text(),
         "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-01-01T01:00:00Z",
         "request_time_range": 1},
    )  # fmt: skip
    catalog = select_catalog(tmp_path, config, {"events"})
    args = ["--config", str(config), "--catalog", str(catalog)]
    alone = _run([TAP, *args])
    eager = _run([sys.executable, "-c", EAGER_TAP, *args])
    for run in (alone, eager):
        assert run.returncode != 0
        assert re.search(message, run.stderr.decode()), run.stderr.decode()[-2000:]
    assert _records(eager.stdout) == _records(alone.stdout)
    assert len(_records(alone.stdout)) == 50


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc to see its libraries")
def test_the_worker_inflates_with_isal_where_it_is_installed(
    tmp_path: Path, eager_worker: None
) -> None:
    pytest.importorskip("isal.isal_zlib")
    path = _zip(tmp_path / "one.zip", {"a.json.gz": GOOD})
    with ExportArchive(path, WINDOW) as archive:
        assert [bytes(part) for part in archive.blocks()] == [GOOD]  # the worker has started
    worker = decompressor._shared
    assert worker is not None
    maps = Path(f"/proc/{worker._process.pid}/maps").read_text()
    assert "isal_zlib" in maps  # its extension module
