"""Reading Singer messages: msgspec decoding, and the input line number when a line is bad."""

from __future__ import annotations

import sys
import typing as t
from collections import Counter, defaultdict

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from target_amplitude.gc_tuning import bulk_allocation_gc
from target_amplitude.waking_input import CompletionSignal, InputHooks, waking_stdin

if t.TYPE_CHECKING:
    from target_amplitude.mapping_pipeline import MappingPipeline, Route

_MAX_QUOTED = 200


class InputLineError(Exception):
    """A line of the input is not a Singer message the target can take."""


# The Singer SDK's own exception types stay catchable (its standard target tests expect them).
class RecordBeforeSchemaLineError(InputLineError, RecordsWithoutSchemaException):
    """A RECORD arrived before its stream's SCHEMA."""


class MissingKeyPropertiesLineError(InputLineError, MissingKeyPropertiesError):
    """A RECORD lacks a key property its SCHEMA declares."""


_LINE_ERRORS: dict[type[Exception], type[InputLineError]] = {
    RecordsWithoutSchemaException: RecordBeforeSchemaLineError,
    MissingKeyPropertiesError: MissingKeyPropertiesLineError,
    InvalidInputLine: InputLineError,
}


def line_decoder() -> msgspec.json.Decoder:
    """How an input line is decoded (here and in a mapping worker: the same values)."""
    return msgspec.json.Decoder()


class LineCountingReader(MsgSpecReader):
    """Counts input lines; a bad line fails the run with its number and no traceback.

    Before failing, `before_failing` runs (the target delivers everything read so far and emits
    the last STATE), so a bad line costs no work done before it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        # The line being processed (bytes from standard input): a sink keeps it, rather than
        # re-encoding the record, for the rejected file (see AmplitudeSink.take).
        self.line: str | bytes = b""
        self.before_failing: t.Callable[[], None] | None = None
        self._callbacks: dict[str, t.Callable[[dict], None]] = {}
        # What runs while standard input is quiet (see waking_input): the target emits the
        # STATEs that answered batches free, and hands off its batches after a pause.
        self.wake: tuple[CompletionSignal, InputHooks] | None = None
        # Where RECORD lines of the streams it routes go to be prepared by mapping workers
        # (set by the target; None: every line is processed here).
        self.pipeline: MappingPipeline | None = None
        self._decode = line_decoder().decode

    @override
    def deserialize_json(self, line: str | bytes) -> dict:
        """Decode one line (without logging it with a traceback, as the SDK's reader does)."""
        try:
            return self._decode(line)
        except msgspec.DecodeError as exc:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            quoted = text[:_MAX_QUOTED] + ("..." if len(text) > _MAX_QUOTED else "")
            msg = f"not valid JSON ({exc}): {quoted.rstrip()}"
            raise InvalidInputLine(msg) from None

    # -- Private SDK override (target.py's SDK_OVERRIDES; tests/target/test_sdk_seams.py) --
    # GenericSingerReader._process_unknown_message (singerlib/encoding/base.py) raises a bare
    # ValueError; catching ValueError around process_lines would be too broad. This names the line.
    @override
    def _process_unknown_message(self, message_dict: dict) -> None:
        msg = f"unknown Singer message type {message_dict.get('type')!r}"
        raise InvalidInputLine(msg)

    @override
    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        """Process every line; a bad one raises InputLineError naming it."""
        if file_input is None:
            # Standard input as bytes: msgspec decodes UTF-8 itself, no text layer in between.
            wake = self.wake
            if wake is not None and self.pipeline is not None:
                wake = (wake[0], _FlushingHooks(self.pipeline, wake[1]))
            waking = waking_stdin(sys.stdin, *wake) if wake is not None else None
            file_input = t.cast("t.IO[str]", waking or getattr(sys.stdin, "buffer", sys.stdin))
        self._callbacks = callbacks
        try:
            with bulk_allocation_gc():
                return self._process_all(file_input)
        except tuple(_LINE_ERRORS) as exc:
            line = self.line_number
            if self.before_failing is not None:
                self.before_failing()
            error = next(e for base, e in _LINE_ERRORS.items() if isinstance(exc, base))
            reason = " ".join(str(exc).split()).rstrip(".") + "."
            msg = (
                f"input line {line} is not a Singer message the target can take: {reason} "
                f"Everything before line {line} was delivered and its last STATE emitted; "
                "nothing after it was read. Fix the tap's output (or the file) and re-run "
                "from that STATE."
            )
            raise error(msg) from None

    def _process_all(self, file_input: t.Iterable[str | bytes]) -> t.Counter[str]:
        """GenericSingerReader.process_lines' loop, with RECORD lines of routed streams handed
        to the mapping pipeline (taken in their order: it is flushed before any other line)."""
        counts: dict[str, int] = defaultdict(int)
        pipeline = self.pipeline
        number = 0
        if pipeline is None:
            for line in file_input:
                number += 1
                counts[self.take_line(line, number)] += 1
            return Counter(counts)
        add, route_of = pipeline.add, pipeline.route_of
        records = 0
        # The last route a line took, and how its lines start: the next line most often
        # starts the same (one test, no lookup).
        last: Route | None = None
        last_prefix = b""
        for line in file_input:
            number += 1
            if type(line) is bytes:
                if last is not None and last.open and line.startswith(last_prefix):
                    add(last, line, number)
                    records += 1
                    continue
                found = route_of(line)
                if found is not None:
                    last, last_prefix = found
                    add(last, line, number)
                    records += 1
                    continue
                if pipeline.busy:
                    pipeline.flush()
            counts[self.take_line(line, number)] += 1
        pipeline.flush()
        if records:
            counts["RECORD"] += records
        return Counter(counts)

    def take_line(self, line: str | bytes, number: int) -> str:
        """Process one line here (the SDK's steps); its message type."""
        self.line_number = number
        self.line = line
        message = self.deserialize_json(line)
        self.assert_line_requires(message, requires={"type"})
        kind: str = message["type"]
        callback = self._callbacks.get(kind)
        if callback is None:
            self._process_unknown_message(message)
        else:
            callback(message)
        if kind == "SCHEMA" and self.pipeline is not None:
            self.pipeline.schema_changed()  # a stream's sink may have been replaced
        return kind


class _FlushingHooks:
    """The target's hooks while standard input is quiet, the records held for the mapping
    workers taken first (so that on_idle hands them off too)."""

    def __init__(self, pipeline: MappingPipeline, hooks: InputHooks) -> None:
        self._pipeline = pipeline
        self._hooks = hooks

    def on_wake(self) -> None:
        self._hooks.on_wake()

    def on_idle(self) -> None:
        self._pipeline.flush()
        self._hooks.on_idle()
