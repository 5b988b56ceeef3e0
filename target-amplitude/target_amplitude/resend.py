"""`target-amplitude-resend`: a rejected-records file back into Singer input for the target.

    target-amplitude-resend resend.jsonl | target-amplitude --config config.json

By default only the lines marked `retryable` (users or devices over Amplitude's daily quota) are
written; `--all` writes every line (after fixing a mapping or lowering min_id_length). Each
stream gets one SCHEMA (open: every field of its records, any type, with the stream's original
key_properties), then its RECORD lines in file order. The target maps them again to the same
insert_ids, so a resend never duplicates an event Amplitude already has. No STATE is written.
"""

from __future__ import annotations

import argparse
import sys
import typing as t

import msgspec

_ANY = {"type": ["string", "number", "integer", "boolean", "object", "array", "null"]}
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _lines(paths: t.Sequence[str]) -> t.Iterator[tuple[str, int, dict[str, t.Any]]]:
    decode = msgspec.json.Decoder().decode
    for path in paths:
        with sys.stdin.buffer if path == "-" else open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    line = decode(raw)
                except msgspec.DecodeError:
                    line = None
                if not isinstance(line, dict) or not isinstance(line.get("record"), dict):
                    msg = f"{path}:{number}: not a rejected-records line (JSON with a record)"
                    raise SystemExit(msg) from None
                yield path, number, line


def to_singer(
    lines: t.Iterable[dict[str, t.Any]], *, include_all: bool
) -> t.Iterator[dict[str, t.Any]]:
    """SCHEMA and RECORD messages for the chosen rejected lines (pure; lines are read twice)."""
    chosen = [line for line in lines if include_all or line.get("retryable") is True]
    fields: dict[str, dict[str, None]] = {}
    keys: dict[str, list[str]] = {}
    for line in chosen:
        stream = str(line.get("stream"))
        fields.setdefault(stream, {}).update(dict.fromkeys(line["record"]))
        keys.setdefault(stream, list(line.get("key_properties") or []))
    announced: set[str] = set()
    for line in chosen:
        stream = str(line.get("stream"))
        if stream not in announced:
            announced.add(stream)
            yield {
                "type": "SCHEMA",
                "stream": stream,
                "schema": {
                    "type": "object",
                    "properties": dict.fromkeys(fields[stream], _ANY),
                    "additionalProperties": True,
                },
                "key_properties": keys[stream],
            }
        yield {"type": "RECORD", "stream": stream, "record": line["record"]}


def main(argv: t.Sequence[str] | None = None) -> None:
    """The console script."""
    parser = argparse.ArgumentParser(
        prog="target-amplitude-resend",
        description="Turn target-amplitude's rejected-records file back into Singer input "
        "(stdout), to pipe into target-amplitude. Move the file aside first, so new rejects "
        "go to a fresh one.",
    )
    parser.add_argument("files", nargs="+", help="rejected-records file(s); - for stdin")
    parser.add_argument(
        "--all",
        action="store_true",
        help="resend every line, not only those marked retryable (after fixing the cause)",
    )
    args = parser.parse_args(argv)
    lines = [line for _, _, line in _lines(args.files)]
    out = sys.stdout.buffer
    written = 0
    for message in to_singer(lines, include_all=args.all):
        out.write(_ENCODER.encode(message) + b"\n")
        written += message["type"] == "RECORD"
    out.flush()
    which = "" if args.all else " retryable"
    print(  # noqa: T201
        f"target-amplitude-resend: {written}{which} of {len(lines)} rejected record(s) "
        "written as Singer input.",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
