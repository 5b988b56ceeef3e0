"""Unit tests of tap_amplitude.export_reader: the export zip read entry by entry; corrupt archives
named."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from tap_amplitude.errors import CorruptExportError
from tap_amplitude.export_reader import ExportArchive
from tap_amplitude.windows import Window

from tests.tap.units import hour

WINDOW = Window(hour("2026-01-01T00:00"), hour("2026-01-01T02:00"))


def _zip(tmp_path: Path, entries: dict[str, bytes | None], *, deflate: bool = False) -> Path:
    path = tmp_path / "export.zip"
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, lines in entries.items():
            if lines is None:
                archive.writestr(zipfile.ZipInfo(name), b"")  # a directory entry
            else:
                archive.writestr(name, gzip.compress(lines))
    return path


def test_archive_yields_every_line_of_every_entry_and_deletes_its_file(tmp_path: Path) -> None:
    lines = b"".join(b'{"n":%d}\n' % i for i in range(5000))
    path = _zip(
        tmp_path,
        {
            "187/": None,
            "187/187_2026-01-01_0#0.json.gz": lines,
            "187/187_2026-01-01_1#0.json.gz": b'{"n":"last"}',
        },
        deflate=True,
    )
    with ExportArchive(path, WINDOW) as archive:
        lines = b"".join(archive.blocks()).splitlines()
    assert len(lines) == 5001
    assert lines[-2:] == [b'{"n":4999}', b'{"n":"last"}']
    assert not path.exists()


@pytest.mark.parametrize("body", [b"", b"<html>Internal error</html>", b"PK\x03\x04truncated"])
def test_a_body_that_is_not_a_zip_is_corrupt_naming_the_window(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(body)
    with pytest.raises(CorruptExportError, match="2026-01-01T00:00Z to 2026-01-01T01:59Z"):
        ExportArchive(path, WINDOW)
    assert not path.exists()


def test_a_truncated_zip_is_corrupt(tmp_path: Path) -> None:
    good = _zip(tmp_path, {"a.json.gz": b'{"n":1}\n' * 1000}).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptExportError):
        ExportArchive(path, WINDOW)


def test_an_entry_failing_its_crc_is_corrupt(tmp_path: Path) -> None:
    payload = gzip.compress(b'{"n":1}\n' * 1000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json.gz", payload)
    data = bytearray(buffer.getvalue())
    data[100] ^= 0xFF  # flip a byte inside the stored entry
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptExportError, match=r"CRC|corrupt|decompress"):
        ExportArchive(path, WINDOW)
