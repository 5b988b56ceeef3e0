"""LedgerRows, the seam of a sink: rows offered, decided a chunk at a time, recorded once answered.

Every run here is in-process on a real ledger file; a "batch" is what a sink hands off (cut()),
and answered() is what it calls once Amplitude answered, with the refs it refused.
"""

from __future__ import annotations

import threading
import typing as t
from pathlib import Path

import pytest
from target_amplitude.ledger import Kind, Ledger, LedgerConfig, LedgerCorruptError, payload_digest
from target_amplitude.ledger import store as store_module
from target_amplitude.ledger.decide import decide
from target_amplitude.ledger.store import NO_HASH, ROWS_PER_INSERT, LedgerStore
from target_amplitude.ledger_rows import LedgerRows, offered_entry

if t.TYPE_CHECKING:
    from target_amplitude.ledger import SyncMode

A, B = payload_digest({"plan": "free"}), payload_digest({"plan": "pro"})


def _ledger(tmp_path: Path, **extra: t.Any) -> Ledger:
    return Ledger(
        LedgerConfig(
            path=tmp_path / "ledger.sqlite", url=None, api_key="k", region="standard", **extra
        )
    )


def _rows(ledger: Ledger, mode: SyncMode = "create_only", obj: str = "event") -> LedgerRows:
    scope = ledger.scope("orders", obj, mode)
    assert scope is not None
    return LedgerRows(scope, obj)


def _event(insert_id: str | None, value: int = 1) -> tuple[dict[str, t.Any], list[bytes]]:
    payload: dict[str, t.Any] = {"event_type": "E", "user_id": "u", "value": value}
    if insert_id is not None:
        payload["insert_id"] = insert_id
    return payload, [f'{{"insert_id":"{insert_id}","value":{value}}}'.encode()]


def _offer(rows: LedgerRows, *insert_ids: str | None, value: int = 1) -> None:
    for insert_id in insert_ids:
        rows.offer(offered_entry(rows.obj, rows.hashed, rows.mirror, *_event(insert_id, value)))


def _stored(tmp_path: Path) -> dict[str, bytes]:
    store = LedgerStore(tmp_path / "ledger.sqlite", read_only=True)
    try:
        return {key: digest for key, digest, _ in store.entries(1)}
    finally:
        store.close()


def test_create_only_a_key_acknowledged_earlier_in_the_run_is_not_sent_again(
    tmp_path: Path,
) -> None:
    """A fresh ledger: what this run had acknowledged is in it, and decides later rows."""
    ledger = _ledger(tmp_path)
    rows = _rows(ledger)
    _offer(rows, "e1", "e2", "e2")  # e2 twice before any answer: both sent
    assert rows.decide(0) == [True, True, True]
    first = rows.cut()
    assert first.preview()["new"] == 3
    _offer(rows, "e3")
    assert rows.decide(0) == [True]  # e3 in flight, not answered yet
    in_flight = rows.cut()
    first.answered(())
    _offer(rows, "e1", "e3", "e4", "e2")
    assert rows.decide(0) == [False, True, True, False]
    third = rows.cut()
    assert third.unchanged == 2
    assert third.preview() == {"new": 2, "changed": 0, "unchanged": 2, "removed": 0}
    in_flight.answered(())
    third.answered(())
    ledger.close()
    assert sorted(_stored(tmp_path)) == ["e1", "e2", "e3", "e4"]


def test_create_only_a_refused_row_is_not_recorded_and_sent_again(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    rows = _rows(ledger)
    _offer(rows, "e1", "e2", "e3")
    rows.decide(0)
    rows.cut().answered({1: "invalid"})  # e2 refused
    _offer(rows, "e1", "e2", "e3")
    assert rows.decide(0) == [False, True, False]
    ledger.close()
    assert sorted(_stored(tmp_path)) == ["e1", "e3"]


def test_rows_the_ledger_was_not_told_about_keep_every_ref_in_place(tmp_path: Path) -> None:
    """Refs count every row of the sink's batch: untracked rows (no insert_id) and rows added
    before the ledger's first (a gap) must not shift which key a refused ref names."""
    ledger = _ledger(tmp_path)
    rows = _rows(ledger)
    _offer(rows, "e1", None, "e2", "e3")
    assert rows.decide(2) == [True, True, True, True]  # refs 2..5; 0 and 1 are not the ledger's
    rows.cut().answered({4: "invalid"})  # ref 4: e2
    ledger.close()
    assert sorted(_stored(tmp_path)) == ["e1", "e3"]


def test_create_only_keeps_no_hash_so_a_switch_to_changed_sends_each_row_once(
    tmp_path: Path,
) -> None:
    """create_only never compares a payload, so it keeps none (NO_HASH). Under `changed` such
    an entry is sent once, as if forgotten (never skipped on a guess), then compared."""
    ledger = _ledger(tmp_path)
    rows = _rows(ledger)
    _offer(rows, "e1")
    rows.decide(0)
    rows.cut().answered(())
    ledger.close()
    assert _stored(tmp_path) == {"e1": NO_HASH}

    for sent, kind in ((True, "changed"), (False, "unchanged")):
        ledger = _ledger(tmp_path)
        rows = _rows(ledger, "changed")
        _offer(rows, "e1")
        assert rows.decide(0) == [sent]
        batch = rows.cut()
        assert batch.preview()[kind] == 1
        batch.answered(())
        ledger.close()
    assert len(_stored(tmp_path)["e1"]) == 16  # the hash of the bytes sent


def test_create_only_under_full_resync_sends_known_keys_and_counts_them_resent(
    tmp_path: Path,
) -> None:
    ledger = _ledger(tmp_path)
    rows = _rows(ledger)
    _offer(rows, "e1")
    rows.decide(0)
    rows.cut().answered(())
    ledger.close()
    ledger = _ledger(tmp_path, full_resync=True)
    rows = _rows(ledger)
    _offer(rows, "e1", "e2")
    assert rows.decide(0) == [True, True]
    batch = rows.cut()
    assert batch.preview() == {"new": 1, "changed": 0, "unchanged": 1, "removed": 0}
    assert batch.unchanged == 0  # sent all the same
    batch.answered(())
    ledger.close()


def test_changed_a_key_in_flight_is_sent_again_until_answered(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    rows = _rows(ledger, "changed")
    _offer(rows, "e1", value=1)
    rows.decide(0)
    rows.cut().answered(())
    _offer(rows, "e1", value=2)  # changed: in flight
    assert rows.decide(0) == [True]
    in_flight = rows.cut()
    _offer(rows, "e1", value=1)  # as acknowledged, but the change in flight may land after it
    assert rows.decide(0) == [True]
    again = rows.cut()
    in_flight.answered(())
    again.answered(())
    _offer(rows, "e1", value=1)
    assert rows.decide(0) == [False]  # both answered: value 1 was acknowledged last
    ledger.close()


def test_an_acknowledged_key_is_never_sent_again_under_create_only_even_if_in_flight() -> None:
    """create_only: one acknowledgement is all it takes; another copy in flight changes nothing
    (under changed it would: that copy may carry another payload)."""
    assert not decide("create_only", NO_HASH, A, in_flight=True).send
    assert decide("changed", A, A, in_flight=True).send
    assert decide("changed", NO_HASH, A).kind is Kind.CHANGED


def test_a_key_acknowledged_twice_in_one_answer_keeps_the_later_hash(tmp_path: Path) -> None:
    """Entries are written in key order; of one key's two rows, the later one's hash wins."""
    later, earlier = sorted([A, B])  # the later row's hash sorts first
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "user")
    assert scope is not None
    store.record(scope, [("u2", A, None), ("u1", earlier, None), ("u1", later, None)])
    assert store.lookup(scope, "u1") == later  # waiting to be written
    store.write_waiting()
    assert store.lookup(scope, "u1") == later
    assert store.lookup_many(scope, ["u1", "u2"]) == {"u1": later, "u2": A}
    store.record_keys(scope, ["u3", "u2"])
    assert store.lookup_many(scope, ["u2", "u3"]) == {"u2": NO_HASH, "u3": NO_HASH}
    assert store.known(scope, ["u1", "u3", "u4"]) == {"u1", "u3"}
    store.close()


def test_many_rows_are_recorded_whole_statements_and_the_rest(tmp_path: Path) -> None:
    """Rows go ROWS_PER_INSERT a statement, then the rest one by one: none lost, none
    doubled, and of a key acknowledged twice the later hash wins across statements."""
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "user")
    assert scope is not None
    n = ROWS_PER_INSERT * 2 + 7
    entries = [(f"u{i:04}", A, None) for i in range(n)]
    entries.insert(0, ("u0150", B, None))  # earlier than its second row, in another statement
    store.record(scope, entries)
    store.write_waiting()
    found = store.lookup_many(scope, [key for key, _, _ in entries])
    assert found == {key: A for key, _, _ in entries}
    store.record_keys(scope, [f"e{i:04}" for i in range(n)])
    assert store.count(scope) == 2 * n  # count writes what waits first
    assert store.known(scope, [f"e{i:04}" for i in range(n + 5)]) == {f"e{i:04}" for i in range(n)}
    store.close()


def test_rows_waiting_to_be_written_answer_reads_and_are_all_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledged rows are written in sorted runs of FLUSH_ROWS and at every commit; until
    then every read answers from them, a forgotten key leaves them, and the latest hash of a
    key acknowledged again wins, whether it was written already or not."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 4)
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "user")
    assert scope is not None
    assert store.is_empty(scope)
    store.record(scope, [("u3", A, None), ("u1", A, '["plan"]'), ("u2", A, None)])  # waiting
    assert not store.is_empty(scope)
    store.forget(scope, ["u2"])
    assert store.lookup_many(scope, ["u1", "u2", "u3", "u9"]) == {"u1": A, "u3": A}
    assert store.known(scope, ["u2", "u3"]) == {"u3"}
    store.record(scope, [("u4", B, None), ("u5", A, None), ("u6", A, None)])  # 5 rows: written
    store.record(scope, [("u1", B, '["plan","seats"]')])  # waiting, over a written row
    assert store.lookup(scope, "u1") == B
    assert store.lookup_many(scope, ["u1", "u4"]) == {"u1": B, "u4": B}
    store.forget(scope, ["u5"])  # written already: deleted from the file
    store.commit()
    store.close()
    assert _stored(tmp_path) == {"u1": B, "u3": A, "u4": B, "u6": A}
    reopened = LedgerStore(tmp_path / "ledger.sqlite", read_only=True)
    assert [(k, p) for k, _, p in reopened.entries(1)][:1] == [("u1", '["plan","seats"]')]
    reopened.close()


def test_keys_waiting_to_be_written_are_known_and_written_at_close(tmp_path: Path) -> None:
    """create_only's keys: known while they wait, written by close without a commit first."""
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "event")
    assert scope is not None
    store.record_keys(scope, ["e2", "e1", "e2"])
    assert store.known(scope, ["e1", "e2", "e3"]) == {"e1", "e2"}
    assert store.lookup_many(scope, ["e1"]) == {"e1": NO_HASH}
    store.close()
    assert _stored(tmp_path) == {"e1": NO_HASH, "e2": NO_HASH}


@pytest.mark.parametrize("mode", ["create_only", "changed"])
def test_a_run_longer_than_one_written_run_decides_from_written_and_waiting_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: SyncMode
) -> None:
    """Batches answered across several written runs (FLUSH_ROWS) and a commit: rows seen again
    in the same run are unchanged whether their first row was written or still waits, and the
    next run on the same ledger sends only what is new."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 5)
    ledger = _ledger(tmp_path)
    rows = _rows(ledger, mode, "event" if mode == "create_only" else "user")

    def entry(insert_id: str) -> t.Any:
        payload, wires = _event(insert_id)
        if rows.obj == "user":
            payload = {"user_id": insert_id, "user_properties": {"v": 1}}
        return offered_entry(rows.obj, rows.hashed, rows.mirror, payload, wires)

    def batch(*ids: str) -> list[bool]:
        for insert_id in ids:
            rows.offer(entry(insert_id))
        sends = rows.decide(0)
        rows.cut().answered(())
        return sends

    ids = [f"k{i:02d}" for i in range(12)]
    assert batch(*ids[:4]) == [True] * 4  # 4 waiting
    assert batch(*ids[4:8]) == [True] * 4  # 8 >= 5: written
    assert batch(*ids[8:11]) == [True] * 3  # 3 waiting
    assert batch("k01", "k09", "k11") == [False, False, True]  # written, waiting, new
    ledger.checkpoint()
    assert batch("k11", "k05") == [False, False]
    ledger.close()
    assert sorted(_stored(tmp_path)) == sorted(entry(i)[0] for i in ids)
    again = _ledger(tmp_path)
    rows = _rows(again, mode, rows.obj)
    assert batch("k00", "k11", "k12") == [False, False, True]
    again.close()


def test_a_run_of_rows_being_written_answers_reads_until_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full run of waiting rows is written by the store's writer thread: while it is, reads
    answer from those rows (a later row of a key waiting wins), and a commit waits for them."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 3)
    release = threading.Event()
    started = threading.Event()
    write = LedgerStore._write

    def held(self: LedgerStore, rows: t.Any) -> None:
        started.set()
        assert release.wait(30)
        write(self, rows)

    monkeypatch.setattr(LedgerStore, "_write", held)
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "user")
    assert scope is not None
    store.record(scope, [("u1", A, None), ("u2", A, None), ("u3", A, None)])  # to the writer
    try:
        assert started.wait(30)
        store.record(scope, [("u2", B, None)])  # waiting, over a row being written
        assert store.lookup_many(scope, ["u1", "u2", "u9"]) == {"u1": A, "u2": B}
        assert store.known(scope, ["u3", "u9"]) == {"u3"}
        assert store.lookup(scope, "u3") == A
        assert not store.is_empty(scope)
    finally:
        release.set()
    store.commit()
    assert store.count(scope) == 3
    assert store.lookup_many(scope, ["u1", "u2", "u3"]) == {"u1": A, "u2": B, "u3": A}
    store.close()


def test_a_failed_write_by_the_writer_thread_fails_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit before a STATE raises the writer's error: no STATE covers rows not written."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 2)

    def failing(self: LedgerStore, rows: t.Any) -> None:
        if rows:
            raise LedgerCorruptError("disk I/O error")

    monkeypatch.setattr(LedgerStore, "_write", failing)
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "user")
    assert scope is not None
    store.record_keys(scope, ["e1", "e2"])
    with pytest.raises(LedgerCorruptError, match="disk I/O error"):
        store.commit()
    store.close()
    reader = LedgerStore(tmp_path / "ledger.sqlite", read_only=True)
    assert reader.count(scope) == 0  # nothing written, nothing claimed
    reader.close()


def test_reads_between_writes_of_the_writer_thread_see_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads on the target's thread while runs of rows are written on the writer's."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 500)
    store = LedgerStore(tmp_path / "ledger.sqlite")
    store.lock("run")
    scope = store.scope_id("p", "standard", "s", "event")
    assert scope is not None
    recorded: list[str] = []
    for batch in range(40):
        keys = [f"e{batch:02}-{i:03}" for i in range(100)]
        assert store.known(scope, keys + recorded[-300:]) == set(recorded[-300:])
        store.record_keys(scope, keys, asked=True)
        recorded += keys
    store.commit()
    assert store.count(scope) == 4000
    store.close()
