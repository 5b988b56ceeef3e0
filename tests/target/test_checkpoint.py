"""Which STATE the target emits, and when (target_amplitude/checkpoint.py), on its own: a STATE
waits for the batches handed off before it and for the records each stream had read, the latest
ready one is emitted once, none under dry_run or while a cohort upload is pending, and batches
complete in hand-off order."""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from target_amplitude.checkpoint import Checkpoint, StreamRecords
from target_amplitude.delivery import BatchResult, Item, LaneFill, Outcome
from target_amplitude.endpoints import BATCH
from target_amplitude.rejects import RejectsWriter

LOGGER = logging.getLogger("test-checkpoint")


@dataclass
class Stream:
    """A sink as the checkpoint sees it: records read, of which `current_size` not handed off."""

    records: StreamRecords = field(default_factory=StreamRecords)
    current_size: int = 0

    @property
    def records_read(self) -> int:
        return self.records.handed_off + self.current_size

    def read(self, count: int) -> None:
        self.current_size += count


class Ticket:
    def __init__(self) -> None:
        self.answered = False

    def done(self) -> bool:
        return self.answered

    def result(self) -> tuple[Outcome, float]:
        assert self.answered, "completed before its answer"
        return Outcome(accepted=1), 0.0


class Engine:
    """Hands out tickets the test answers."""

    def __init__(self) -> None:
        self.tickets: list[Ticket] = []

    def start(self, *_args: t.Any, **_kwargs: t.Any) -> Ticket:
        self.tickets.append(Ticket())
        return self.tickets[-1]

    def close(self) -> None:
        pass


def _checkpoint(
    tmp_path: Path, *, engine: Engine | None = None, dry_run: bool = False
) -> tuple[Checkpoint, list[dict]]:
    emitted: list[dict] = []
    checkpoint = Checkpoint(
        engine,  # type: ignore[arg-type]
        RejectsWriter(tmp_path / "rejected.jsonl"),
        emitted.append,
        dry_run=dry_run,
        logger=LOGGER,
    )
    return checkpoint, emitted


def _hand_off(checkpoint: Checkpoint, stream: Stream, done: list[str]) -> None:
    """The sink's process_batch: its current batch handed off to the engine."""
    count, early = stream.current_size, checkpoint.early
    stream.current_size = 0
    checkpoint.records_handed_off(stream.records, count)

    def answered(_result: BatchResult) -> None:
        checkpoint.batch_answered(stream.records, count, early=early)
        done.append(f"{count} answered")

    checkpoint.hand_off("s", BATCH, [Item(0, "k", b"{}")], answered)


def test_a_state_waits_for_the_records_read_before_it(tmp_path: Path) -> None:
    engine = Engine()
    checkpoint, emitted = _checkpoint(tmp_path, engine=engine)
    stream, done = Stream(), []
    stream.read(3)
    checkpoint.hold({"n": 1}, [stream])
    stream.read(2)  # read after the STATE: does not hold it back
    assert emitted == []
    _hand_off(checkpoint, stream, done)
    checkpoint.complete_answered()
    assert emitted == []  # handed off, not answered
    engine.tickets[0].answered = True
    checkpoint.complete_answered()
    assert done == ["5 answered"]
    assert emitted == [{"n": 1}]
    assert checkpoint.partial_batches_due  # a full batch was completed


def test_the_latest_ready_state_is_emitted_once(tmp_path: Path) -> None:
    engine = Engine()
    checkpoint, emitted = _checkpoint(tmp_path, engine=engine)
    stream, done = Stream(), []
    stream.read(1)
    _hand_off(checkpoint, stream, done)
    checkpoint.hold({"n": 1}, [stream])
    checkpoint.hold({"n": 2}, [stream])  # the same wait: replaces n=1
    stream.read(1)
    _hand_off(checkpoint, stream, done)
    checkpoint.hold({"n": 3}, [stream])
    engine.tickets[0].answered = engine.tickets[1].answered = True
    checkpoint.complete_all()
    assert emitted == [{"n": 2}, {"n": 3}]
    checkpoint.hold({"n": 3}, [stream])  # nothing new in between: not emitted again
    assert emitted == [{"n": 2}, {"n": 3}]


def test_batches_complete_in_hand_off_order(tmp_path: Path) -> None:
    engine = Engine()
    checkpoint, emitted = _checkpoint(tmp_path, engine=engine)
    first, second, done = Stream(), Stream(), []
    first.read(1)
    _hand_off(checkpoint, first, done)
    checkpoint.hold({"n": 1}, [first])
    second.read(2)
    _hand_off(checkpoint, second, done)
    checkpoint.hold({"n": 2}, [first, second])
    engine.tickets[1].answered = True  # the second batch is answered first
    checkpoint.complete_answered()
    assert (done, emitted) == ([], [])
    engine.tickets[0].answered = True
    checkpoint.complete_answered()
    assert done == ["1 answered", "2 answered"]
    assert emitted == [{"n": 1}, {"n": 2}]  # each as soon as its batches are completed


def test_batches_handed_off_early_do_not_call_for_another_round(tmp_path: Path) -> None:
    engine = Engine()
    checkpoint, _ = _checkpoint(tmp_path, engine=engine)
    busy, slow, done = Stream(), Stream(), []
    busy.read(1)
    _hand_off(checkpoint, busy, done)  # a full batch
    slow.read(1)
    handed: list[Stream] = []
    checkpoint.hand_off_partial_batches([busy, slow], handed.append)
    assert handed == [slow]  # the busy stream fills its batches anyway
    assert not busy.records.filled_batch
    with checkpoint.handing_off_early():
        _hand_off(checkpoint, slow, done)
    for ticket in engine.tickets:
        ticket.answered = True
    checkpoint.complete_all()
    assert checkpoint.partial_batches_due  # the busy stream's full batch
    checkpoint.hand_off_round_done({"n": 1}, [busy, slow])
    assert not checkpoint.partial_batches_due
    slow.read(1)
    with checkpoint.handing_off_early():
        _hand_off(checkpoint, slow, done)
    engine.tickets[-1].answered = True
    checkpoint.complete_all()
    assert not checkpoint.partial_batches_due


@pytest.mark.parametrize("why", ["dry_run", "upload pending"])
def test_no_state_under_dry_run_or_while_an_upload_is_pending(tmp_path: Path, why: str) -> None:
    checkpoint, emitted = _checkpoint(tmp_path, dry_run=why == "dry_run")
    stream = Stream()
    if why == "upload pending":
        checkpoint.uploads_pending.add("members")
    stream.read(4)
    checkpoint.records_kept(stream.records, 4)
    stream.current_size = 0
    checkpoint.hold({"n": 1}, [stream])
    assert emitted == []
    if why == "upload pending":
        checkpoint.uploads_pending.discard("members")
        checkpoint.hold({"n": 2}, [stream])
        assert emitted == [{"n": 2}]


def test_lane_fill_is_full_once_one_lane_holds_a_full_request() -> None:
    fill = LaneFill(4, BATCH)
    for _ in range(BATCH.max_count - 1):
        fill.add("same-device", 10)
    assert not fill.full
    fill.add("same-device", 10)
    assert fill.full
    fill.clear()
    assert not fill.full
    fill.add("big", BATCH.max_item_bytes)
    assert fill.full  # by bytes
