"""Singer output: msgspec encoding into a buffered stdout, flushed at every STATE message.

RECORD lines are gathered in the writer's own buffer and written to stdout about a megabyte at a
time: stdout itself may be unbuffered (``PYTHONUNBUFFERED=1`` is common in containers), where a
write per RECORD is a system call per record (a sixth of the tap's time).

Two ways in: :class:`BufferedMsgSpecWriter` writes the SDK's message objects; a stream whose
records need no SDK transformation (no stream map, no flattening, every field selected) can
instead encode each record straight into a RECORD line with :class:`RecordLineEncoder` and hand
the bytes to :meth:`BufferedMsgSpecWriter.write_line`, or a whole block of records at once
(:meth:`RecordLineEncoder.block_chunks`, :meth:`BufferedMsgSpecWriter.write_chunks`: the encoded
block is written as it is, with its neighbours, in one ``writev`` a megabyte at a time, never
copied again). All produce the same line, key for key:
``{"type":"RECORD","stream":...,"record":{...}[,"version":N],"time_extracted":"..."}``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import io
import os
import sys
import weakref
from collections.abc import Sequence
from typing import Any, BinaryIO

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook
from singer_sdk.singerlib.encoding.simple import Message
from singer_sdk.singerlib.messages import SingerMessageType
from typing_extensions import override

__all__ = ["RECORD_BUFFER_BYTES", "BufferedMsgSpecWriter", "RecordLineEncoder"]

RECORD_BUFFER_BYTES = 1 << 20  # RECORD lines gathered before one write to stdout


class BufferedMsgSpecWriter(MsgSpecWriter):
    """Like the SDK's MsgSpecWriter, without a write and a flush per RECORD.

    RECORD lines are gathered in a buffer written out when it holds ``RECORD_BUFFER_BYTES``.
    Every other message (STATE, SCHEMA, ACTIVATE_VERSION) first writes the buffer, then itself,
    then flushes stdout: everything a STATE vouches for is on stdout before the STATE itself.
    RECORD lines after the last STATE (a run that fails mid-window) are written at exit.
    """

    def __init__(self) -> None:
        super().__init__()
        # A fixed buffer (made at the first RECORD) filled up to `_end`: appending to a bytearray
        # emptied after each write would grow it again from nothing, copying it many times over.
        self._records: bytearray | None = None
        self._end = 0
        # Encoded blocks waiting to be written (write_chunks), before the lines in `_records`.
        self._chunks: list[bytes | memoryview] = []
        self._chunk_bytes = 0
        _LIVE_WRITERS.add(self)

    @override
    def write_message(self, message: Message) -> None:
        """Write one message; a RECORD is buffered, any other message flushes."""
        line = self.format_message(message)
        if message.type == SingerMessageType.RECORD:
            self.write_line(line)
            return
        self.write_records()
        out = sys.stdout.buffer
        _write_all(out, line)
        out.flush()

    def write_line(self, line: bytes | bytearray) -> None:
        """Write one pre-encoded RECORD line (buffered, like a RECORD of :meth:`write_message`)."""
        records = self._records
        if records is None:
            records = self._records = bytearray(RECORD_BUFFER_BYTES)
        start = self._end
        end = start + len(line)
        if end > RECORD_BUFFER_BYTES:
            self.write_records()
            start, end = 0, len(line)
            if end > RECORD_BUFFER_BYTES:
                _write_all(sys.stdout.buffer, line)
                return
        records[start:end] = line
        self._end = end

    def write_chunks(self, chunks: Sequence[bytes | memoryview]) -> None:
        """Write pre-encoded RECORD lines given in pieces (buffered like :meth:`write_line`;
        the pieces are kept, not copied: they must not change until written)."""
        if self._end and self._records is not None:  # lines of write_line come first
            self._chunks.append(bytes(self._records[: self._end]))
            self._end = 0
        self._chunks.extend(chunks)
        self._chunk_bytes += sum(map(len, chunks))
        if self._chunk_bytes >= RECORD_BUFFER_BYTES:
            self.write_records()

    def write_records(self) -> None:
        """Write the buffered RECORD lines to stdout (without flushing it)."""
        if self._chunks:
            chunks = self._chunks
            self._chunks, self._chunk_bytes = [], 0
            _write_chunks(sys.stdout.buffer, chunks)
        if self._end and self._records is not None:
            with memoryview(self._records) as view:
                _write_all(sys.stdout.buffer, view[: self._end])
            self._end = 0


# Writers alive at exit write their buffered RECORD lines then (weak: a discarded writer, e.g. of
# a tap built in a test, frees its buffer).
_LIVE_WRITERS: weakref.WeakSet[BufferedMsgSpecWriter] = weakref.WeakSet()


@atexit.register
def _write_records_at_exit() -> None:
    for writer in list(_LIVE_WRITERS):
        # The reader of stdout may be gone (the tap already reported it): nothing to write to.
        with contextlib.suppress(BrokenPipeError):
            writer.write_records()
            sys.stdout.flush()


def _write_all(out: BinaryIO, data: bytes | bytearray | memoryview) -> None:
    """``out.write(data)`` until every byte is written: an unbuffered stdout (a raw FileIO) may
    write part of a large buffer."""
    with memoryview(data) as view:
        done = out.write(view)
        while done < len(view):
            done += out.write(view[done:])


_IOV_MAX = 1024  # pieces per writev (Linux and the BSDs: IOV_MAX is 1024)


def _write_chunks(out: BinaryIO, chunks: list[bytes | memoryview]) -> None:
    """Write ``chunks`` in order: one ``os.writev`` per 1024 of them where stdout is a file
    (its own buffer flushed first), otherwise one write each."""
    fd = _writev_target(out)
    if fd is None:
        for chunk in chunks:
            _write_all(out, chunk)
        return
    out.flush()
    for start in range(0, len(chunks), _IOV_MAX):
        batch = chunks[start : start + _IOV_MAX]
        first = 0  # the first chunk not written in full
        while first < len(batch):
            done = os.writev(fd, batch[first:] if first else batch)
            # A write may stop short (a signal, a pipe): go on from the first byte not written.
            while first < len(batch) and done >= len(batch[first]):
                done -= len(batch[first])
                first += 1
            if done:
                batch[first] = memoryview(batch[first])[done:]


def _writev_target(out: BinaryIO) -> int | None:
    """stdout's descriptor when it is an ordinary binary stream on one (not a test's capture)."""
    if not hasattr(os, "writev") or not isinstance(out, io.BufferedWriter | io.FileIO):
        return None
    try:
        return out.fileno()
    except (OSError, ValueError):
        return None


class RecordLineEncoder:
    """Encodes records of one stream into complete Singer RECORD lines.

    The envelope around the record is encoded once (and again on :meth:`stamp`), so a record
    costs one msgspec encode into a reused buffer. The encoder settings are the SDK's
    (``singer_sdk.contrib.msgspec``), so values are encoded exactly as the SDK path would.
    """

    def __init__(self, stream: str, *, version: int | None, time_extracted: dt.datetime) -> None:
        self._encoder = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
        prefix = b'{"type":"RECORD","stream":' + self._encoder.encode(stream) + b',"record":'
        self._version = b"" if version is None else b',"version":' + self._encoder.encode(version)
        self._offset = len(prefix)
        self._line = bytearray(prefix)
        self._suffix = b""
        self.stamp(time_extracted)

    def stamp(self, time_extracted: dt.datetime) -> None:
        """Set the ``time_extracted`` of the following records (an aware datetime)."""
        if time_extracted.tzinfo is None:
            msg = "time_extracted must be an aware datetime"
            raise ValueError(msg)
        stamp = self._encoder.encode(time_extracted.astimezone(dt.UTC))
        self._suffix = self._version + b',"time_extracted":' + stamp + b"}\n"

    def encode_block(self, records: list[dict[str, Any]]) -> bytes:
        """The RECORD lines of every record of ``records``, one after the other, in one piece.

        One msgspec call encodes the records as JSON lines (the same bytes :meth:`encode` puts
        between the envelope's ends: a JSON string holds no raw newline, so each newline ends a
        record), then every newline becomes the end of one envelope and the start of the next.
        """
        if not records:
            return b""
        prefix = self._line[: self._offset]
        body = self._encoder.encode_lines(records)
        return bytes(prefix) + body[:-1].replace(b"\n", self._suffix + prefix) + self._suffix

    def block_chunks(self, records: list[dict[str, Any]]) -> tuple[bytes, memoryview]:
        """:meth:`encode_block` in two pieces to write one after the other, without joining
        them: the first envelope's start, then the lines (each newline of msgspec's JSON lines
        replaced by an envelope's end and the next one's start; the start after the last is
        cut off by the view)."""
        return self.wrap_lines(self._encoder.encode_lines(records))

    def wrap_lines(self, lines: bytes | bytearray) -> tuple[bytes, memoryview]:
        """:meth:`block_chunks` of records already encoded as JSON lines by this encoder's
        settings (each ending with a newline; e.g. by the decompressing process)."""
        prefix = bytes(self._line[: self._offset])
        wrapped = lines.replace(b"\n", self._suffix + prefix)
        return prefix, memoryview(wrapped)[: len(wrapped) - len(prefix)]

    def encode(self, record: dict[str, Any]) -> bytearray:
        """The RECORD line of ``record``, newline included.

        The returned buffer is reused by the next call: write it before encoding another record.
        """
        line = self._line
        self._encoder.encode_into(record, line, self._offset)
        line += self._suffix
        return line
