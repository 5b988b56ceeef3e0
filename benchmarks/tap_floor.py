"""The tap floor: the least work that turns an Amplitude export into Singer RECORD lines.

For each window of ``request_time_range`` hours (as the tap plans them): download the export
(streamed to a temporary file), open the zip, gunzip each entry with :mod:`zlib` in 1 MB pieces,
parse each line and write it as a Singer RECORD of stream ``events`` with the fastest JSON
library available. No schema conformance, no timestamp normalisation, no state, no retries, no
overlap of download and parsing: a lower bound on the work, not on the wall time.

    python -m benchmarks.tap_floor --config tap-config.json > out.singer

The config file is tap-amplitude's (api_key, secret_key, api_url, start_date, end_date).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

import requests

Loads = Callable[[bytes], Any]
Dumps = Callable[[Any], bytes]
PIECE = 1 << 20  # compressed bytes read, decompressed bytes handed out, at a time


def json_codec() -> tuple[str, Loads, Dumps]:
    """orjson if installed, else msgspec (installed with singer-sdk[msgspec])."""
    try:
        import orjson  # noqa: PLC0415

        return "orjson", orjson.loads, orjson.dumps
    except ImportError:
        import msgspec  # noqa: PLC0415

        return "msgspec", msgspec.json.decode, msgspec.json.encode


def windows(start_date: str, end_date: str, hours: int) -> list[dict[str, str]]:
    """start_date inclusive, end_date exclusive (RFC 3339) -> the export's inclusive hours, in
    windows of ``hours``."""
    start = datetime.fromisoformat(start_date)
    end = datetime.fromisoformat(end_date)
    params = []
    while start < end:
        stop = min(start + timedelta(hours=hours), end)
        last = stop - timedelta(hours=1)
        params.append({"start": start.strftime("%Y%m%dT%H"), "end": last.strftime("%Y%m%dT%H")})
        start = stop
    return params


def gunzip_lines(raw: IO[bytes]) -> Iterator[bytes]:
    """The lines of a gzip stream (several members allowed), inflated 1 MB at a time."""
    inflater = zlib.decompressobj(31)
    pending = b""
    while chunk := raw.read(PIECE):
        data = chunk
        while data:
            piece = inflater.decompress(data, PIECE)
            if piece:
                lines = (pending + piece).split(b"\n")
                pending = lines.pop()
                yield from lines
            if inflater.eof:
                data = inflater.unused_data.lstrip(b"\0")
                inflater = zlib.decompressobj(31)
            else:
                data = inflater.unconsumed_tail
    if pending:
        yield pending


def run(config: dict[str, Any], out: BinaryIO) -> int:
    _, loads, dumps = json_codec()
    base = config.get("api_url", "https://amplitude.com").rstrip("/")
    hours = int(config.get("request_time_range", 24))
    out.write(dumps({"type": "SCHEMA", "stream": "events", "schema": {}, "key_properties": []}))
    out.write(b"\n")
    records = 0
    with requests.Session() as session:
        for params in windows(config["start_date"], config["end_date"], hours):
            with tempfile.TemporaryFile() as body:
                with session.get(
                    f"{base}/api/2/export",
                    params=params,
                    auth=(config["api_key"], config["secret_key"]),
                    stream=True,
                    timeout=(10, 600),
                ) as response:
                    if response.status_code == 404:
                        continue
                    response.raise_for_status()
                    for chunk in response.iter_content(chunk_size=PIECE):
                        body.write(chunk)
                body.seek(0)
                with zipfile.ZipFile(body) as archive:
                    for entry in archive.infolist():
                        if entry.is_dir():
                            continue
                        with archive.open(entry) as raw:
                            for line in gunzip_lines(raw):
                                if not line.strip():
                                    continue
                                out.write(
                                    dumps({"type": "RECORD", "stream": "events",
                                           "record": loads(line)})
                                )  # fmt: skip
                                out.write(b"\n")
                                records += 1
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    config = json.loads(args.config.read_text(encoding="utf-8"))
    out = io.BufferedWriter(io.FileIO(sys.stdout.fileno(), "wb", closefd=False), 1 << 20)
    records = run(config, out)
    out.flush()
    print(f"tap_floor: {records} records", file=sys.stderr)


if __name__ == "__main__":
    main()
