"""The target floor: the least work that loads Singer event records into Amplitude's /batch.

Parse each Singer line, map RECORDs of export-shaped events to ingest events, post batches of
2000 over one keep-alive connection, one request at a time. No validation, no retries, no state,
no rejected-record handling: a lower bound on time. Any non-200 answer stops it loudly.

    python -m benchmarks.target_floor --config target-config.json < in.singer

The config file is target-amplitude's (api_key, api_url).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import requests

from benchmarks.replay_mapping import to_ingest_event
from benchmarks.tap_floor import json_codec

BATCH_SIZE = 2000


def run(config: dict[str, Any]) -> int:
    _, loads, dumps = json_codec()
    url = f"{config['api_url'].rstrip('/')}/batch"
    api_key = config["api_key"]
    session = requests.Session()
    headers = {"Content-Type": "application/json"}
    ingested = 0

    def post(events: list[dict[str, Any]]) -> int:
        response = session.post(
            url, data=dumps({"api_key": api_key, "events": events}), headers=headers, timeout=300
        )
        if response.status_code != 200:
            raise SystemExit(f"target_floor: /batch answered {response.status_code}")
        return int(response.json().get("events_ingested", len(events)))

    batch: list[dict[str, Any]] = []
    for line in sys.stdin.buffer:
        message = loads(line)
        if message.get("type") != "RECORD":
            continue
        batch.append(to_ingest_event(message["record"]))
        if len(batch) == BATCH_SIZE:
            ingested += post(batch)
            batch = []
    if batch:
        ingested += post(batch)
    return ingested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    ingested = run(json.loads(args.config.read_text(encoding="utf-8")))
    print(f"target_floor: {ingested} events ingested", file=sys.stderr)


if __name__ == "__main__":
    main()
