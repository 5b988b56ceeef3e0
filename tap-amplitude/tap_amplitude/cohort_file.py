"""A cohort's member file: spooled to disk (gunzipped on the way) and read row by row.

Amplitude's docs do not describe the file. Its Postman collection shows quoted CSV with a header
row (``"amplitude_id","user_id"``); Pipedream's client finds it gzip-compressed (as HTTP
``Content-Encoding``, which ``requests`` undoes) and quoted fields holding line breaks. So: the
gzip magic bytes are sniffed rather than trusting headers, and rows are read by the ``csv``
module (RFC 4180, multi-line fields) from the file on disk: memory stays flat whatever the size.
"""

from __future__ import annotations

import csv
import io
import tempfile
import typing as t
import zlib
from collections.abc import Iterable, Iterator

__all__ = ["CohortFileError", "read_members", "spool_members"]

GZIP_MAGIC = b"\x1f\x8b"
csv.field_size_limit(1 << 24)  # a long property value is still one field


class CohortFileError(ValueError):
    """The file cannot be read (bad gzip, no header, no amplitude_id column)."""


def spool_members(chunks: Iterable[bytes]) -> t.BinaryIO:
    """Write the body to an anonymous temporary file, gunzipping it if it is gzip.

    Raises:
        CohortFileError: the gzip data is corrupt or ends early (a truncated download).
    """
    spool = tempfile.TemporaryFile(prefix="tap-amplitude-cohort-", suffix=".csv")  # noqa: SIM115
    try:
        inflater: t.Any = None
        first = True
        for chunk in chunks:
            if not chunk:
                continue
            if first:
                first = False
                if chunk[:2] == GZIP_MAGIC:
                    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            if inflater is None:
                spool.write(chunk)
                continue
            data = chunk
            while data:
                spool.write(inflater.decompress(data))
                if not inflater.eof:
                    break
                data = inflater.unused_data  # a further gzip member
                inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if data else inflater
        if inflater is not None and not inflater.eof:
            msg = "the gzip data ends early (a truncated download)"
            raise CohortFileError(msg)
        spool.seek(0)
    except zlib.error as exc:
        spool.close()
        msg = f"the gzip data is corrupt ({exc})"
        raise CohortFileError(msg) from None
    except BaseException:
        spool.close()
        raise
    return t.cast("t.BinaryIO", spool)


def read_members(spool: t.BinaryIO) -> Iterator[tuple[str, str, dict[str, str | None]]]:
    """``(amplitude_id, user_id, properties)`` per member row (empty values as "" / None).

    Raises:
        CohortFileError: no header row with an ``amplitude_id`` column.
    """
    text = io.TextIOWrapper(spool, encoding="utf-8", errors="replace", newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    if not header:
        return
    columns = [name.strip().lstrip("\ufeff") for name in header]
    if "amplitude_id" not in columns:
        msg = f"the header row has no amplitude_id column ({columns[:5]})"
        raise CohortFileError(msg)
    amplitude = columns.index("amplitude_id")
    user = columns.index("user_id") if "user_id" in columns else None
    extra = [(i, name) for i, name in enumerate(columns) if i not in (amplitude, user)]
    try:
        for row in reader:
            if not row or not any(row):
                continue
            props = {name: (row[i] if i < len(row) and row[i] != "" else None) for i, name in extra}
            user_id = row[user] if user is not None and user < len(row) else ""
            yield row[amplitude], user_id, props
    finally:
        text.detach()
