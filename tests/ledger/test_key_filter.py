"""The key filter: absent keys answered without a read, and never a key the ledger has.

A key the filter wrongly called absent would be sent again (and stored again by Amplitude
past its 7 days), so every test here asks about keys the ledger holds, after the ways a filter
could miss one: a run killed after a commit, keys recorded after the filters were written, a
format 1 file, a filter grown too full.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import typing as t
import uuid
from pathlib import Path

import pytest
from target_amplitude.ledger import key_filter as key_filter_module
from target_amplitude.ledger import store as store_module
from target_amplitude.ledger.key_filter import MIN_BITS, RUN_BITS, KeyFilter
from target_amplitude.ledger.store import FORMAT_VERSION, LedgerStore

UUIDS = [str(uuid.UUID(int=n * 7919 + 13, version=4)) for n in range(100_000)]
ORDERS = [f"orders:{n}" for n in range(100_000)]


@pytest.mark.parametrize("keys", [UUIDS, ORDERS], ids=["uuid", "sequential"])
def test_no_key_added_is_reported_absent_and_few_absent_keys_are_read(keys: list[str]) -> None:
    held, absent = keys[:50_000], keys[50_000:]
    kept = KeyFilter.of(held, len(held))
    assert kept.may_hold(held) == held
    maybe = KeyFilter.of(held, len(held)).may_hold(absent)
    assert len(maybe) < 0.05 * len(absent)  # 50,000 keys in 2**24 bits: about 0.3%


def test_may_hold_sets_the_bit_of_each_key_it_calls_absent() -> None:
    kept = KeyFilter()
    assert kept.may_hold(["a", "b"]) == []
    assert kept.may_hold(["b", "a", "c"]) == ["b", "a"]


def test_doubled_and_halved_it_still_holds_every_key() -> None:
    kept = KeyFilter(1 << 12)
    kept.add(ORDERS[:300])
    kept.double()
    kept.double()
    kept.add(ORDERS[300:600])
    for _ in range(4):
        kept.halve()
    assert kept.size == 1 << 10
    assert kept.may_hold(ORDERS[:600]) == ORDERS[:600]


def test_kept_halved_while_sparse_and_not_kept_when_too_full() -> None:
    sparse = KeyFilter.of(UUIDS[:1000], 1000)
    blob = sparse.to_blob()
    assert blob is not None
    assert len(blob) * 8 == MIN_BITS
    assert sparse.size == RUN_BITS  # the filter in use is not changed
    loaded = KeyFilter.from_blob(blob)
    assert loaded.size == RUN_BITS  # room for the run's new keys
    assert loaded.may_hold(UUIDS[:1000]) == UUIDS[:1000]
    full = KeyFilter(1 << 16)
    full.add(UUIDS[:20_000])
    assert full.fill() > key_filter_module.FULL_FILL
    assert full.to_blob() is None


def test_keys_added_in_a_run_are_told_apart_from_keys_that_share_their_bit() -> None:
    """A run's own keys set most of the bits an absent key finds set (on a new ledger, all):
    with track_added, only a key added since, or one the filter may have held then, is read."""
    small = KeyFilter(1 << 12)  # 2,000 keys set about 40% of its bits
    assert len(small.may_hold(UUIDS[:2000])) > 300  # without it: hundreds read
    tracked = KeyFilter(1 << 12)
    tracked.track_added(None)  # a new ledger: nothing held before
    assert len(tracked.may_hold(UUIDS[:2000])) <= 2  # both bits taken: about 1 in 20
    assert tracked.may_hold(UUIDS[:2000]) == UUIDS[:2000]  # asked: all held from now on
    tracked.add(ORDERS[:100])  # recorded without being asked
    assert tracked.may_hold(ORDERS[:100]) == ORDERS[:100]
    assert len(tracked.may_hold(UUIDS[50_000:52_000])) <= 2


def test_keys_held_before_the_run_are_still_reported() -> None:
    opened = KeyFilter(1 << 10)
    opened.add(ORDERS[:300])
    kept = opened.copy()
    kept.double()  # as from_blob makes room for the run's keys
    kept.track_added(opened)
    assert kept.may_hold(ORDERS[:300]) == ORDERS[:300]
    maybe = kept.may_hold(ORDERS[1000:3000])  # those whose bit the 300 keys set: about a quarter
    assert 0 < len(maybe) < 1000


# -- In the file ----------------------------------------------------------------------------


def _open(path: Path, run: str) -> tuple[LedgerStore, int]:
    store = LedgerStore(path)
    store.lock(run)
    scope = store.scope_id("p", "standard", "events", "event")
    assert scope is not None
    return store, scope


def _recorded(path: Path, keys: list[str]) -> int:
    """A run that records the keys and closes (keeping its filter); the scope's id."""
    store, scope = _open(path, "first")
    store.record_keys(scope, keys)
    store.close()
    return scope


def _sql(path: Path, statement: str) -> list[tuple[t.Any, ...]]:
    """One statement on the ledger file from outside the store, committed; its rows."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(statement).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _kept_filters(path: Path) -> int:
    return int(_sql(path, "SELECT count(*) FROM key_filters")[0][0])


def _killed_after_commit(path: Path, keys: list[str], *, last: bool) -> None:
    """A run in its own process: records keys, commits (its last commit: last), then is killed
    (no close)."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from target_amplitude.ledger.store import LedgerStore
        store = LedgerStore(Path({str(path)!r}))
        store.lock("killed")
        scope = store.scope_id("p", "standard", "events", "event")
        store.record_keys(scope, {keys[:1]!r})
        store.commit(last={last!r})
        store.record_keys(scope, {keys[1:]!r})
        store.commit()
        os._exit(9)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()


@pytest.mark.parametrize("last", [False, True], ids=["commit", "keys-after-the-last-commit"])
def test_a_run_killed_after_a_commit_leaves_no_filter_and_the_next_finds_its_keys(
    tmp_path: Path, last: bool
) -> None:
    path = tmp_path / "ledger.sqlite"
    _recorded(path, UUIDS[:1000])
    assert _kept_filters(path) == 1
    _killed_after_commit(path, UUIDS[1000:1500], last=last)
    assert _kept_filters(path) == 0  # the first run's filter, which lacks them, is gone
    store, scope = _open(path, "next")
    assert store.known(scope, UUIDS[:2000]) == set(UUIDS[:1500])
    store.close()
    assert _kept_filters(path) == 1
    reader = LedgerStore(path, read_only=True)  # a dry run reads the kept filter
    assert reader.scope_id("p", "standard", "events", "event") == scope
    assert reader.known(scope, UUIDS[:2000]) == set(UUIDS[:1500])
    reader.close()


def _keys_looked_for(store: LedgerStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the store looks for in the file from now on (its runs' blocks)."""
    asked: list[str] = []
    read = store._in_runs

    def spy(scope: int, keys: list[str], *before: t.Collection[str]) -> set[str]:
        asked.extend(keys)
        return read(scope, keys, *before)

    monkeypatch.setattr(store, "_in_runs", spy)
    return asked


def test_absent_keys_are_answered_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    _recorded(path, UUIDS[:20_000])
    store, scope = _open(path, "second")
    asked = _keys_looked_for(store, monkeypatch)
    assert store.known(scope, UUIDS[20_000:30_000]) == set()
    assert len(asked) < 10_000 * 0.05  # a few absent ones
    assert store.known(scope, UUIDS[:500]) == set(UUIDS[:500])
    assert 500 <= len(asked) < 500 + 10_000 * 0.05  # and the held keys
    store.close()


def test_a_new_ledger_reads_no_absent_key_whose_bit_the_runs_own_keys_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_filter_module, "RUN_BITS", 1 << 12)  # 3,000 keys set half its bits
    store, scope = _open(tmp_path / "ledger.sqlite", "first")
    for start in range(0, 3000, 500):  # as the sink asks, then records what was acknowledged
        assert store.known(scope, UUIDS[start : start + 500]) == set()
        store.record_keys(scope, UUIDS[start : start + 500], asked=True)
    store.write_waiting()
    asked = _keys_looked_for(store, monkeypatch)
    assert store.known(scope, UUIDS[3000:6000]) == set()
    assert len(asked) <= 3  # the first bit alone: about 1,500
    assert store.known(scope, UUIDS[:3000]) == set(UUIDS[:3000])
    store.close()


def test_keys_the_file_held_are_not_looked_for_in_the_runs_written_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    _recorded(path, UUIDS[:20_000])  # one run, and its filter kept (about 2% of bits set)
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 1000)
    monkeypatch.setattr(key_filter_module, "ADDED_BITS", 1 << 27)  # second bits: 16 MiB
    store, scope = _open(path, "second")
    indexed: list[int] = []  # the runs whose blocks are looked in, as first read
    index = store._run_index

    def spy(scope: int, run: int) -> tuple[list[str], list[int]]:
        indexed.append(run)
        return index(scope, run)

    monkeypatch.setattr(store, "_run_index", spy)
    asked = _keys_looked_for(store, monkeypatch)
    for start in range(20_000, 26_000, 500):  # as the sink asks, then records what was acknowledged
        assert store.known(scope, UUIDS[start : start + 500]) == set()
        store.record_keys(scope, UUIDS[start : start + 500], asked=True)
    store.write_waiting()
    assert asked, "no new key's bit was set by a kept key: no test"
    assert len(store._runs(scope).runs) > 2  # runs written since
    # The kept run alone, though the runs written since were there (all of them are read for a
    # key whose second bit another key set, if any: Python's hash, about 1 key in 20,000 here).
    assert indexed[0] == 1
    assert len(indexed) <= 3  # without telling those keys apart: 5 (runs 1 to 5)
    # Every key recorded since is found, those the kept filter first made "maybe" too.
    assert store.known(scope, UUIDS[19_000:27_000]) == set(UUIDS[19_000:26_000])
    assert len(set(indexed)) > 1  # now the runs written since are read too
    store.close()
    store, scope = _open(path, "third")  # a run that opens the file: every run read
    assert store.known(scope, UUIDS[19_000:27_000]) == set(UUIDS[19_000:26_000])
    store.close()


def test_a_format_1_ledger_is_upgraded_and_keeps_every_key(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    scope = _recorded(path, ORDERS[:3000])
    _sql(path, "DROP TABLE key_filters")
    _sql(path, "UPDATE meta SET value = '1' WHERE name = 'format_version'")
    reader = LedgerStore(path, read_only=True)  # a dry run reads it as it is
    assert reader.known(scope, ORDERS[2990:3010]) == set(ORDERS[2990:3000])
    reader.close()
    store, scope = _open(path, "new")
    assert store.known(scope, ORDERS[:4000]) == set(ORDERS[:3000])
    store.close()
    version = _sql(path, "SELECT value FROM meta WHERE name = 'format_version'")
    assert version == [(str(FORMAT_VERSION),)]
    assert _kept_filters(path) == 1


def test_a_filter_grown_too_full_is_made_anew_from_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_filter_module, "RUN_BITS", 1 << 14)
    monkeypatch.setattr(key_filter_module, "MIN_BITS", 1 << 10)
    path = tmp_path / "ledger.sqlite"
    _recorded(path, ORDERS[:5000])  # 5,000 keys in 16,384 bits: too full to keep
    ((blob,),) = _sql(path, "SELECT bits FROM key_filters")
    assert len(blob) * 8 >= 5000 * key_filter_module.BITS_PER_KEY
    store, scope = _open(path, "second")
    assert store.known(scope, ORDERS[:6000]) == set(ORDERS[:5000])
    store.close()


def test_a_kept_filter_of_no_filter_size_is_made_anew(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _recorded(path, ORDERS[:100])
    _sql(path, "UPDATE key_filters SET bits = x'000000'")
    store, scope = _open(path, "second")
    assert store.known(scope, ORDERS[:200]) == set(ORDERS[:100])
    store.close()
