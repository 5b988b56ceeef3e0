"""bench_target's ledger-kept contender runs the target on a ledger holding other days' keys
(benchmarks/kept_ledger.py): the target must open the kept part, and every row stay new."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from benchmarks import kept_ledger
from tests.ledger.ledger_file import keys_by_stream
from tests.ledger.test_runs import ORDERS
from tests.ledger.test_runs import _orders as orders
from tests.target.helpers import FAST_RETRIES, run_target

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator


def _setup(
    emulator: Emulator, tmp_path: Path, kept_streams: list[str]
) -> tuple[dict[str, t.Any], Path, kept_ledger.KeptLedger]:
    run_ledger = tmp_path / "run-ledger.sqlite"
    config = {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "stream_mappings": ORDERS,
        "ledger_path": str(run_ledger),
        **FAST_RETRIES,
    }
    config_path = tmp_path / "bench-config.json"
    config_path.write_text(json.dumps(config))
    kept = kept_ledger.make_kept_ledger(config_path, tmp_path / "kept.sqlite", kept_streams, 100)
    kept.copy_to(run_ledger)
    return config, run_ledger, kept


def test_the_target_records_into_the_kept_part_and_sends_every_row(
    clean_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept_ledger, "CHUNK", 40)  # the kept keys recorded in three runs
    config, run_ledger, kept = _setup(clean_emulator, tmp_path, ["orders"])
    run = run_target(tmp_path, config, orders(range(30)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(clean_emulator.project("key-std").ingested) == 30  # every row new to it
    # one part: the 100 kept keys and the 30 the run recorded
    assert {s: len(k) for s, k in keys_by_stream(run_ledger).items()} == {"orders": 130}
    kept.check_used(run_ledger)
    assert not run_ledger.exists()  # the copy is removed


def test_a_run_that_opens_a_part_of_its_own_is_refused_not_measured(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    """A kept ledger the run does not use (here: another stream's part) would measure a fresh
    ledger under the kept ledger's name."""
    config, run_ledger, kept = _setup(clean_emulator, tmp_path, ["shipments"])
    run = run_target(tmp_path, config, orders(range(5)))
    assert run.returncode == 0, run.stderr[-3000:]
    with pytest.raises(RuntimeError, match=r"opened 2 part\(s\) .* other than shipments"):
        kept.check_used(run_ledger)


def test_a_kept_ledger_is_made_anew_not_added_to(clean_emulator: Emulator, tmp_path: Path) -> None:
    """Each benchmark case makes its kept ledger at the same path: the keys of the case before
    must not stay in it."""
    _setup(clean_emulator, tmp_path, ["earlier"])
    *_, kept = _setup(clean_emulator, tmp_path, ["orders"])
    assert {s: len(k) for s, k in keys_by_stream(kept.path).items()} == {"orders": 100}
