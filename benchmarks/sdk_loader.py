"""The official ``amplitude-analytics`` SDK loading Singer event records, at its best settings.

Settings: the Batch API (``use_batch``) pointed at ``<api_url>/batch``, ``flush_queue_size`` 2000
(the most events one /batch request may carry), per-event logging off. The SDK sends from its own
pool of 16 threads; ``shutdown()`` flushes and waits for every request. Input lines are parsed with
the same fast JSON codec as the floor, and mapped with the same mapping, so what differs is the
SDK's own work (event objects, validation, serialisation, sending).

    python -m benchmarks.sdk_loader --config target-config.json < in.singer

The config file is target-amplitude's (api_key, api_url). The SDK's delivery callback counts what
Amplitude acknowledged and what the SDK gave up on; both are printed to stderr.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from amplitude import Amplitude, BaseEvent, Config, EventLogLevel

from benchmarks.replay_mapping import to_ingest_event
from benchmarks.tap_floor import json_codec

FLUSH_QUEUE_SIZE = 2000  # the Batch API's maximum events per request
EVENT_ARGUMENTS = frozenset(inspect.signature(BaseEvent.__init__).parameters) - {"self", "plan"}


class Outcomes:
    """Thread-safe tally of the SDK's per-event callbacks, by HTTP status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_code: Counter[int] = Counter()

    def __call__(self, _event: BaseEvent, code: int, _message: str | None = None) -> None:
        with self._lock:
            self.by_code[code] += 1


def run(config: dict[str, Any]) -> Outcomes:
    _, loads, _ = json_codec()
    outcomes = Outcomes()
    client = Amplitude(
        config["api_key"],
        Config(
            use_batch=True,
            server_url=f"{config['api_url'].rstrip('/')}/batch",
            flush_queue_size=FLUSH_QUEUE_SIZE,
            flush_interval_millis=1000,
            event_log_level=EventLogLevel.NONE,
            callback=outcomes,
        ),
    )
    for line in sys.stdin.buffer:
        message = loads(line)
        if message.get("type") != "RECORD":
            continue
        fields = to_ingest_event(message["record"])
        client.track(BaseEvent(**{k: v for k, v in fields.items() if k in EVENT_ARGUMENTS}))
    client.shutdown()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    logging.getLogger("amplitude").setLevel(logging.ERROR)
    outcomes = run(json.loads(args.config.read_text(encoding="utf-8")))
    delivered = outcomes.by_code.get(200, 0)
    failed = sum(n for code, n in outcomes.by_code.items() if code != 200)
    print(f"sdk_loader: {delivered} events acknowledged, {failed} given up", file=sys.stderr)


if __name__ == "__main__":
    main()
