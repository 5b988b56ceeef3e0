"""What a sync ledger file holds, read as SQL (not through the store under test): each stream's
keys, from entries and from key_runs' blocks."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from target_amplitude.ledger import key_runs


def keys_by_stream(path: Path) -> dict[str, set[str]]:
    """Every key the file holds, by the stream of its part of the ledger. Opened for writing:
    a file whose run was killed during a commit has a hot journal, which SQLite rolls back
    first, as the next run's open does (read-only, it refuses: "attempt to write a readonly
    database"); nothing else is written."""
    held: dict[str, set[str]] = {}
    uri = f"{path.resolve().as_uri()}?mode=rw"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        streams = dict(db.execute("SELECT id, stream FROM scopes"))
        for scope, key in db.execute("SELECT scope, key FROM entries"):
            held.setdefault(streams[scope], set()).add(key)
        for scope, blob in db.execute("SELECT scope, keys FROM key_blocks"):
            held.setdefault(streams[scope], set()).update(key_runs.decode(blob))
    return held
