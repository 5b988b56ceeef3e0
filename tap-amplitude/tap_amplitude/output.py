"""Singer output: msgspec encoding into a buffered stdout, flushed at every STATE message."""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import Message
from singer_sdk.singerlib.messages import SingerMessageType

__all__ = ["BufferedMsgSpecWriter"]


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
