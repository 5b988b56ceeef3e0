"""Singer output: msgspec encoding into a buffered stdout, flushed at every STATE message.

Two ways in: :class:`BufferedMsgSpecWriter` writes the SDK's message objects; a stream whose
records need no SDK transformation (no stream map, no flattening, every field selected) can
instead encode each record straight into a RECORD line with :class:`RecordLineEncoder` and hand
the bytes to :meth:`BufferedMsgSpecWriter.write_line`. Both produce the same line, key for key:
``{"type":"RECORD","stream":...,"record":{...}[,"version":N],"time_extracted":"..."}``.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook
from singer_sdk.singerlib.encoding.simple import Message
from singer_sdk.singerlib.messages import SingerMessageType

__all__ = ["BufferedMsgSpecWriter", "RecordLineEncoder"]


class BufferedMsgSpecWriter(MsgSpecWriter):
    """Like the SDK's MsgSpecWriter, without a flush per RECORD.

    STATE (and SCHEMA, ACTIVATE_VERSION) messages flush, so everything a STATE vouches for is
    on stdout before the STATE itself; the rest is flushed by the interpreter at exit.
    """

    def write_message(self, message: Message) -> None:
        """Write one message; flush unless it is a RECORD."""
        out = sys.stdout.buffer
        out.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            out.flush()

    def write_line(self, line: bytes | bytearray) -> None:
        """Write one pre-encoded RECORD line (no flush, like :meth:`write_message`)."""
        sys.stdout.buffer.write(line)


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

    def encode(self, record: dict[str, Any]) -> bytearray:
        """The RECORD line of ``record``, newline included.

        The returned buffer is reused by the next call: write it before encoding another record.
        """
        line = self._line
        self._encoder.encode_into(record, line, self._offset)
        line += self._suffix
        return line
