"""kill -9 between Amplitude's acknowledgement and the ledger's write, then resume.

The emulator holds /batch requests received after the target's 3rd STATE, unanswered; the
target is killed while one is held; then the emulator answers (stores) it: Amplitude has rows
the ledger never recorded. The resumed run replays the whole input, as a FULL_TABLE source does:
what the ledger committed is not sent again, the rest is resent and deduplicated by insert_id.
Nothing lost, nothing stored twice, the ledger never names a row Amplitude does not have, and
it holds every row covered by a STATE the target emitted before the kill.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from tests.ledger.ledger_file import keys_by_stream
from tests.reliability.emulator_log import wait_for_requests
from tests.reliability.ledger import assert_each_exactly_once
from tests.reliability.processes import LiveTarget
from tests.target.helpers import (
    FAST_RETRIES,
    props,
    record,
    run_target,
    schema,
    state,
    write_config,
)

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

pytestmark = pytest.mark.reliability

TOTAL = 1200


def _lines() -> list[str]:
    lines = [schema("clicks", props("event_type", "device_id", "insert_id"), ["insert_id"])]
    for n in range(TOTAL):
        lines.append(
            record(
                "clicks",
                {
                    "event_type": "Click",
                    "device_id": f"device-{n % 30:05d}",
                    "insert_id": f"c-{n:05d}",
                },
            )
        )
        if n % 50 == 49:
            lines.append(state({"next": n + 1}))
    return lines


def _ledger_keys(path: Path) -> set[str]:
    return keys_by_stream(path).get("clicks", set())


def test_killed_after_the_acknowledgement_before_the_ledger_write(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    config = {
        "api_key": "key-std",
        "api_url": clean_emulator.base_url,
        "batch_size_rows": 100,
        "max_concurrent_requests": 2,
        **FAST_RETRIES,
    }
    live = LiveTarget(write_config(tmp_path, config), tmp_path / "stderr.log")
    live.send(_lines())
    emitted = [live.read_state() for _ in range(3)]
    assert None not in emitted
    hold = clean_emulator.faults.hold("/batch")
    hold.wait_held(1)
    code, unread = live.kill()
    assert code == -9, "the target finished before it could be killed"
    emitted += unread
    in_flight = hold.held
    hold.release()  # Amplitude answers what it received: acknowledged, never recorded
    answered = len(clean_emulator.requests_to("/batch"))
    wait_for_requests(clean_emulator, "/batch", at_least=answered + in_flight)
    clean_emulator.faults.clear()

    project = clean_emulator.project("key-std")
    stored_before = {e["insert_id"] for e in project.ingested}
    recorded = _ledger_keys(tmp_path / "ledger.sqlite")
    assert recorded, "the ledger committed nothing before the kill"
    assert recorded <= stored_before  # never invents
    # Durable before the STATE that covers it: every row the last emitted STATE covers is in
    # the ledger the killed run left.
    covered = emitted[-1]["next"]  # type: ignore[index]
    assert {f"c-{n:05d}" for n in range(covered)} <= recorded
    assert stored_before - recorded, "no acknowledged row was left unrecorded: no test"

    clean_emulator.reset_requests()
    resumed = run_target(tmp_path, config, _lines())  # a FULL_TABLE replay of everything
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.states[-1] == {"next": TOTAL}
    sent = {
        e["insert_id"]
        for r in clean_emulator.requests_to("/batch")
        for e in json.loads(r.body)["events"]
    }
    assert not sent & recorded  # what the ledger committed is not sent again
    assert (stored_before - recorded) <= sent  # acknowledged, unrecorded: resent, deduplicated
    stored = [e["insert_id"] for e in project.ingested]
    assert_each_exactly_once(stored, {f"c-{n:05d}" for n in range(TOTAL)})
    assert f"unchanged={len(recorded)}" in resumed.stderr
