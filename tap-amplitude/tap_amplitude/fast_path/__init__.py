"""The tap's performance layer, behind one seam: everything here exists for speed only.

- :mod:`.output`: the buffered msgspec writer (no flush per RECORD) and the direct RECORD-line
  encoder, a record at a time or a whole block in one msgspec call;
- :mod:`.record_path`: :class:`~.record_path.FastRecordPath`, the stream mixin holding every
  override of a private singer-sdk member made for speed (each one names the SDK version
  checked) and :meth:`~.record_path.FastRecordPath.write_block`, which writes a decoded block of
  records without the SDK's per-record loop when no SDK step would change them;
  tests/tap/test_fast_paths.py guards the SDK signatures they rely on, tests/tap/test_block_paths.py
  compares the lines with the SDK path's on every benchmark export shape;
- :mod:`.decompressor`: decompress exports in one worker process for the whole run
  (:mod:`.gunzip_worker`, standard library only) while the tap parses what is already out;
- :mod:`.gc_tuning`: cyclic GC tuned for the bulk allocation of an export, and skipped at exit.

Each piece falls back to the SDK's own path when a stream map, flattening, a deselected field
or another writer is in play, so output never depends on whether the fast path ran.
"""

from tap_amplitude.fast_path.gc_tuning import bulk_allocation_gc, freeze_at_exit
from tap_amplitude.fast_path.output import BufferedMsgSpecWriter, RecordLineEncoder
from tap_amplitude.fast_path.record_path import SDK_VERSION_CHECKED, FastRecordPath

__all__ = [
    "SDK_VERSION_CHECKED",
    "BufferedMsgSpecWriter",
    "FastRecordPath",
    "RecordLineEncoder",
    "bulk_allocation_gc",
    "freeze_at_exit",
]
