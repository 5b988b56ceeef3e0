"""A mapping worker: a process that prepares records while the target takes the ones before.

Forked from the target by mapping_pipeline.py where it can (:func:`serve_forked`: Linux, the
target still single-threaded; ready at once, with every module the target imported), else run
as ``python -m target_amplitude.mapping_worker`` (:func:`main`: it imports them itself, about
half a second). Either way the target writes frames to its standard input and reads frames
from its standard output. A frame is a 4-byte big-endian length, then a msgpack array:
- to the worker: ``[PLAN, plan_id, pickled prepare.RecordPlan, stream]`` (a stream's plan, as
  the target's sink has it) and ``[LINES, plan_id, count, size]`` followed by ``size`` bytes:
  ``count`` input lines as they were read (RECORDs of that stream, each ending in a newline
  but perhaps the last), copied once;
- from the worker: ``[READY]`` once, when it can work, then one ``[rows, others]`` per LINES
  frame, in order: ``rows`` the ROW outcomes in their order (prepare.py), ``others`` every
  other outcome with its line's index in the chunk (a rejected payload as its JSON, or
  ``[SLOW]``). Rows apart decode as typed tuples, several times faster than generic arrays.

A line is decoded, stripped of the SDK's ``_sdc`` metadata and prepared as the target's fast
path would (TargetAmplitude._process_record_message). Whatever that path would not take as it
is (not a RECORD of the stream, a record that is not an object, a key property missing, any
error) comes back SLOW: the target then takes that line itself, on its own path, with the same
outcome, error or message as without a worker. The worker holds no secret (a plan has no API
key) and writes nothing but frames.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import struct
import sys
import typing as t

import msgspec
from singer_sdk.sinks.core import Sink

from target_amplitude.gc_tuning import bulk_allocation_gc, freeze_at_exit
from target_amplitude.mapping import ENCODER
from target_amplitude.prepare import REJECT, ROW, Prepared, RecordPlan, RowTuple
from target_amplitude.reader import line_decoder

PLAN, LINES = 0, 1
READY = 9
SLOW = 3  # an outcome: the target takes this line itself
HEADER = struct.Struct(">I")
_SLOW: Prepared = (SLOW,)

FRAME_ENCODER = msgspec.msgpack.Encoder()
FRAME_DECODER = msgspec.msgpack.Decoder()
OUTCOMES_DECODER = msgspec.msgpack.Decoder(tuple[list[RowTuple], list[tuple[int, list[t.Any]]]])


def frame(message: t.Any) -> bytes:
    """One frame: length, then the msgpack of ``message``."""
    body = FRAME_ENCODER.encode(message)
    return HEADER.pack(len(body)) + body


class WorkerStream:
    """One stream's plan in the worker."""

    __slots__ = ("keys", "plan", "stream")

    def __init__(self, plan: RecordPlan, stream: str) -> None:
        self.plan = plan
        self.stream = stream
        self.keys = plan.key_properties


# Sink._remove_sdc_metadata_from_record uses no state of its sink (it pops the SDK's _sdc
# fields from the record): run as the SDK has it, outside a sink. AmplitudeSink keeps
# _sdc_deleted_at (see its override). tests/target/test_sdk_seams.py checks it uses no state;
# tests/target/test_mapping_worker.py that the rejected records agree.
_remove_sdc_metadata = Sink._remove_sdc_metadata_from_record


def prepare_line(
    stream: WorkerStream | None, line: bytes, decode: t.Callable[[bytes], t.Any]
) -> Prepared:
    """One line's outcome, or SLOW."""
    if stream is None:
        return _SLOW
    try:
        message = decode(line)
        if (
            type(message) is not dict
            or message.get("type") != "RECORD"
            or message.get("stream") != stream.stream
        ):
            return _SLOW
        record = message.get("record")
        if type(record) is not dict:
            return _SLOW
        deleted_at = record.get("_sdc_deleted_at")
        _remove_sdc_metadata(t.cast("Sink", None), record)
        if deleted_at is not None:
            record["_sdc_deleted_at"] = deleted_at
        for key in stream.keys:
            if key not in record:
                return _SLOW  # the SDK's MissingKeyPropertiesError, raised by the target
        outcome = stream.plan.prepare(record)
        if outcome[0] == REJECT and outcome[2] is not None:
            # The payload as JSON (as the rejected file has it): msgpack would change its
            # numbers' and times' types on the way.
            return (REJECT, outcome[1], ENCODER.encode(outcome[2]))
        return outcome
    except Exception:  # the target's own path gives the right error
        return _SLOW


def encode_outcomes(outcomes: list[Prepared]) -> bytes:
    """The frame of a chunk's outcomes: rows, then the others with their index. If msgpack
    cannot carry one, the target takes the whole chunk itself (SLOW)."""
    rows = [o for o in outcomes if o[0] == ROW]
    others = (
        [(i, o) for i, o in enumerate(outcomes) if o[0] != ROW] if len(rows) < len(outcomes) else []
    )
    try:
        return frame((rows, others))
    except (TypeError, ValueError, OverflowError):
        return frame(([], [(i, _SLOW) for i in range(len(outcomes))]))


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve(read_fd: int, write_fd: int) -> None:
    """Answer frames until the target closes the pipe."""
    streams: dict[int, WorkerStream | None] = {}
    decode = line_decoder().decode
    _write_all(write_fd, frame([READY]))
    while True:
        header = _read_exactly(read_fd, HEADER.size)
        if header is None:
            return
        body = _read_exactly(read_fd, HEADER.unpack(header)[0])
        if body is None:
            return
        message = FRAME_DECODER.decode(body)
        if message[0] == PLAN:
            try:
                streams[message[1]] = WorkerStream(pickle.loads(message[2]), message[3])  # noqa: S301 - from the target that started us
            except Exception:  # every line of it comes back SLOW
                streams[message[1]] = None
            continue
        raw = _read_exactly(read_fd, message[3])
        if raw is None:
            return
        stream = streams.get(message[1])
        lines = raw.split(b"\n", message[2] - 1)  # the last keeps its newline, if it had one
        outcomes = [prepare_line(stream, line, decode) for line in lines]
        _write_all(write_fd, encode_outcomes(outcomes))


def serve_forked(read_fd: int, write_fd: int) -> t.NoReturn:
    """A forked worker's whole life: the child of ``os.fork()`` in the target calls this and
    never returns (``os._exit``: no code of the target's runs in it after the fork).

    It takes what a worker started as its own program has, and nothing else of the target's:
    its two pipes as standard input and output, every other descriptor closed (the target's
    input and output, its connections, the sync ledger's file, other workers' pipes), the
    default action for SIGTERM (the target's handler would drain the target's sinks) and
    SIGINT ignored (Ctrl-C reaches the whole process group: the target stops it by closing
    its input). It writes nothing but frames, and at exit flushes nothing and runs no
    finalizer, so nothing the target had buffered or opened is written or closed twice.
    """
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.dup2(read_fd, 0)
        os.dup2(write_fd, 1)
        _close_descriptors_from(3)
        # What the target made lives as long as this process: never walked by a collection
        # (and its pages, shared with the target until written, stay shared).
        gc.freeze()
        with bulk_allocation_gc():
            serve(0, 1)
        code = 0
    finally:
        os._exit(code)


def _close_descriptors_from(lowest: int) -> None:
    """Close this process's descriptors from ``lowest`` on (Linux: /proc lists them)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= lowest:
            with contextlib.suppress(OSError):  # the listing's own descriptor, already closed
                os.close(fd)


def main() -> None:
    """The worker's entry point as its own program."""
    freeze_at_exit()
    with bulk_allocation_gc():
        serve(sys.stdin.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
