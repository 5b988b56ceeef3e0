"""The record path of a bulk stream without the SDK's per-record steps that change nothing.

Every method here overrides a private member of ``singer_sdk.Stream``: no public seam exists for
them (checked on the singer-sdk version SDK_VERSION_CHECKED names). Each falls back to the SDK's
own implementation whenever its step would change the output. tests/tap/test_fast_paths.py
checks the signatures of the members named in :data:`SDK_PRIVATE_MEMBERS`, so an SDK upgrade
that moves them fails a test instead of silently bypassing this layer.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, metrics
from singer_sdk import singerlib as singer
from singer_sdk.helpers.types import Context, Record
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from tap_amplitude import clock
from tap_amplitude.fast_path.output import BufferedMsgSpecWriter, RecordLineEncoder

if TYPE_CHECKING:
    from singer_sdk import Tap

__all__ = ["SDK_PRIVATE_MEMBERS", "SDK_VERSION_CHECKED", "FastRecordPath"]

SDK_VERSION_CHECKED = "0.54.9"
# Private members of singer_sdk.Stream this layer overrides or reads, with the parameters it
# relies on (tests/tap/test_fast_paths.py compares them with the installed SDK).
SDK_PRIVATE_MEMBERS: dict[str, tuple[str, ...]] = {
    "_process_record": ("self", "record", "child_context", "partition_context"),
    "_write_record_message": ("self", "record"),
    "_generate_record_messages": ("self", "record"),
    "_stream_version": (),  # read: RECORD "version"; no public getter (core.py:137)
}


class FastRecordPath(Stream):
    """Mixin for a stream emitting many records with no child streams and no partitions."""

    def __init__(self, tap: Tap, *args: Any, **kwargs: Any) -> None:
        super().__init__(tap, *args, **kwargs)
        self._fast_tap = tap  # public: Tap.message_writer
        self._everything_selected: bool | None = None
        # Decided at the first record (the catalog and stream maps are applied by then).
        self._direct_output: tuple[RecordLineEncoder, BufferedMsgSpecWriter] | None = None
        self._direct_output_decided = False
        self._record_counter: metrics.Counter | None = None

    # Public seam (the SDK's Stream.get_record_counter, "can be overridden"): the SDK's sync
    # loop makes its record counter here; kept so that :meth:`write_block` counts what it writes.
    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        counter = super().get_record_counter(endpoint=endpoint, log_interval=log_interval)
        self._record_counter = counter
        return counter

    def _direct_writer(
        self,
    ) -> tuple[RecordLineEncoder, BufferedMsgSpecWriter, metrics.Counter] | None:
        """The encoder, writer and record counter of direct RECORD lines, when no SDK step
        would change the records (see :meth:`write_block`); None otherwise."""
        if not self._direct_output_decided:
            self._direct_output = self._direct_output_if_identity()
            self._direct_output_decided = True
        counter = self._record_counter
        if (
            self._direct_output is None
            or counter is None
            or self.ABORT_AT_RECORD_COUNT is not None
            or self.child_streams
            or type(self).post_process is not Stream.post_process
            or not self.selected
        ):
            return None
        encoder, writer = self._direct_output
        return encoder, writer, counter

    def can_write_directly(self) -> bool:
        """Whether :meth:`write_block` writes blocks itself: then :meth:`write_encoded` may be
        used instead for records already encoded."""
        return self._direct_writer() is not None

    def write_encoded(self, lines: bytes | bytearray, count: int) -> None:
        """Write ``count`` records already encoded as JSON lines (each ending with a newline;
        the bytes :meth:`write_block` would encode them to) as RECORD lines, in one piece.

        Raises:
            RuntimeError: :meth:`can_write_directly` is False.
        """
        direct = self._direct_writer()
        if direct is None:
            msg = "records can only be written pre-encoded when no SDK step would change them"
            raise RuntimeError(msg)
        encoder, writer, counter = direct
        if count:
            writer.write_chunks(encoder.wrap_lines(lines))
        counter.increment(count)
        self.state_manager.is_flushed = False

    def write_block(self, records: list[Record]) -> bool:
        """Write ``records`` as RECORD lines in one piece when no SDK step would change them;
        whether they were written.

        When True, the caller must not yield these records: each step the SDK's per-record loop
        would take for them is done here for the whole block (the RECORD lines, the record
        counter, the state's flushed flag) or does nothing for this stream (no post_process, no
        partition or child stream, no per-record bookmark). When False (a stream map, a
        deselected field, another writer, a record limit as in ``--test``), the caller yields
        them to the SDK's loop as usual. Both write the same lines.
        """
        direct = self._direct_writer()
        if direct is None:
            return False
        encoder, writer, counter = direct
        if records:
            writer.write_chunks(encoder.block_chunks(records))
        counter.increment(len(records))
        self.state_manager.is_flushed = False
        return True

    # singer-sdk streams/core.py (private). The SDK's
    # step adds partition keys and syncs child streams: a stream with neither would only copy
    # each record, so the step runs only when a subclass adds them.
    @override
    def _process_record(
        self,
        record: Record,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        if partition_context or self.child_streams:
            super()._process_record(record, child_context, partition_context)

    # singer-sdk streams/core.py (private). Writes the
    # RECORD line straight from the record when no SDK step would change it (every field
    # selected, no stream map or flattening, this tap's writer); otherwise the SDK's path. Both
    # produce the same line.
    @override
    def _write_record_message(self, record: Record) -> None:
        if not self._direct_output_decided:
            self._direct_output = self._direct_output_if_identity()
            self._direct_output_decided = True
        if self._direct_output is None:
            super()._write_record_message(record)
            return
        encoder, writer = self._direct_output
        writer.write_line(encoder.encode(record))
        self.state_manager.is_flushed = False

    def _direct_output_if_identity(self) -> tuple[RecordLineEncoder, BufferedMsgSpecWriter] | None:
        writer = self._fast_tap.message_writer
        maps = self.stream_maps
        if not (
            isinstance(writer, BufferedMsgSpecWriter)
            and all(self.mask.values())
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == self.name
        ):
            return None
        # singer-sdk streams/core.py: `_stream_version` (private) is the RECORD
        # version; no public getter exists.
        encoder = RecordLineEncoder(
            self.name, version=self._stream_version, time_extracted=clock.utc_now()
        )
        return encoder, writer

    def stamp_time_extracted(self) -> None:
        """time_extracted of direct RECORD lines: call once per block of records, not per
        record (the SDK path stamps each record itself)."""
        if self._direct_output is not None:
            self._direct_output[0].stamp(clock.utc_now())

    # singer-sdk streams/core.py (private). The SDK's
    # record messages, minus its per-record deselection walk when every field is selected (that
    # walk recurses into the open property objects: a third of the tap's time). With type
    # conformance NONE, the remaining SDK steps are the stream maps.
    @override
    def _generate_record_messages(
        self, record: Record
    ) -> Generator[singer.RecordMessage, None, None]:
        if self._everything_selected is None:
            self._everything_selected = all(self.mask.values())
        if not self._everything_selected:
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=clock.utc_now(),
                )
