"""The tap floor: the least work that turns an Amplitude export into Singer RECORD lines.

Download the export (streamed to a temporary file), open the zip, gunzip each entry, parse each
line and write it as a Singer RECORD of stream ``events`` with the fastest JSON library available.
No schema conformance, no timestamp normalisation, no state, no retries: a lower bound on time.

    python -m benchmarks.tap_floor --config tap-config.json > out.singer

The config file is tap-amplitude's (api_key, secret_key, api_url, start_date, end_date).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import requests

Loads = Callable[[bytes], Any]
Dumps = Callable[[Any], bytes]


def json_codec() -> tuple[str, Loads, Dumps]:
    """orjson if installed, else msgspec (installed with singer-sdk[msgspec])."""
    try:
        import orjson  # noqa: PLC0415

        return "orjson", orjson.loads, orjson.dumps
    except ImportError:
        import msgspec  # noqa: PLC0415

        return "msgspec", msgspec.json.decode, msgspec.json.encode


def export_params(start_date: str, end_date: str) -> dict[str, str]:
    """start_date inclusive, end_date exclusive (RFC 3339) -> the export's inclusive hours."""
    start = datetime.fromisoformat(start_date)
    last = datetime.fromisoformat(end_date) - timedelta(hours=1)
    return {"start": start.strftime("%Y%m%dT%H"), "end": last.strftime("%Y%m%dT%H")}


def run(config: dict[str, Any], out: BinaryIO) -> int:
    _, loads, dumps = json_codec()
    base = config.get("api_url", "https://amplitude.com").rstrip("/")
    params = export_params(config["start_date"], config["end_date"])
    out.write(dumps({"type": "SCHEMA", "stream": "events", "schema": {}, "key_properties": []}))
    out.write(b"\n")
    records = 0
    with tempfile.TemporaryFile() as body:
        with requests.get(
            f"{base}/api/2/export",
            params=params,
            auth=(config["api_key"], config["secret_key"]),
            stream=True,
            timeout=(10, 600),
        ) as response:
            if response.status_code == 404:
                return 0
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=1 << 20):
                body.write(chunk)
        body.seek(0)
        with zipfile.ZipFile(body) as archive:
            for entry in archive.infolist():
                if entry.is_dir():
                    continue
                with archive.open(entry) as raw, gzip.GzipFile(fileobj=raw) as lines:
                    for line in io.BufferedReader(lines, buffer_size=1 << 20):
                        if not line.strip():
                            continue
                        out.write(
                            dumps({"type": "RECORD", "stream": "events", "record": loads(line)})
                        )
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
