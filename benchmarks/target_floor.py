"""The target floor: the least work that loads Singer event records into Amplitude's /batch.

Parse each Singer line, map RECORDs of export-shaped events to ingest events, post batches of
2000 over ``--connections`` keep-alive connections (1: one request at a time; 4: four batches in
flight at once, like target-amplitude's default ``max_concurrent_requests``). No validation, no
retries, no state, no ordering, no rejected-record handling: a lower bound on time. Any non-200
answer stops it loudly.

    python -m benchmarks.target_floor --config target-config.json [--connections 4] < in.singer

The config file is target-amplitude's (api_key, api_url).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from benchmarks.replay_mapping import to_ingest_event
from benchmarks.tap_floor import json_codec

BATCH_SIZE = 2000


def run(config: dict[str, Any], connections: int = 1) -> int:
    _, loads, dumps = json_codec()
    url = f"{config['api_url'].rstrip('/')}/batch"
    api_key = config["api_key"]
    sessions = threading.local()  # one keep-alive connection per sending thread
    headers = {"Content-Type": "application/json"}

    def post(body: bytes) -> int:
        session = getattr(sessions, "session", None)
        if session is None:
            session = sessions.session = requests.Session()
        response = session.post(url, data=body, headers=headers, timeout=300)
        if response.status_code != 200:
            raise SystemExit(f"target_floor: /batch answered {response.status_code}")
        return int(response.json().get("events_ingested", 0))

    def encode(events: list[dict[str, Any]]) -> bytes:
        body = dumps({"api_key": api_key, "events": events})
        return body if isinstance(body, bytes) else body.encode()

    in_flight: list[Future[int]] = []
    ingested = 0
    with ThreadPoolExecutor(max_workers=connections) as pool:

        def send(body: bytes) -> Future[int]:
            return pool.submit(post, body)

        def flush(events: list[dict[str, Any]]) -> None:
            nonlocal ingested
            in_flight.append(send(encode(events)))
            while len(in_flight) >= connections:  # at most `connections` batches pending
                ingested += in_flight.pop(0).result()

        batch: list[dict[str, Any]] = []
        for line in sys.stdin.buffer:
            message = loads(line)
            if message.get("type") != "RECORD":
                continue
            batch.append(to_ingest_event(message["record"]))
            if len(batch) == BATCH_SIZE:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        for future in in_flight:
            ingested += future.result()
    return ingested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=1, help="batches in flight at once")
    args = parser.parse_args()
    ingested = run(json.loads(args.config.read_text(encoding="utf-8")), args.connections)
    print(f"target_floor: {ingested} events ingested", file=sys.stderr)


if __name__ == "__main__":
    main()
