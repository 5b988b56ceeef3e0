"""The ledger on disk: one SQLite file, what Amplitude acknowledged per project and stream.

Schema (format 3; a new file has PAGE_BYTES pages, one made before keeps its own):

    meta(name PRIMARY KEY, value)          format_version, created_at, checked_at (when the
                                           file last passed a check read whole: CHECK_EVERY)
    scopes(id, project, region, stream, object, target)
        one per destination project (API key fingerprint, never the key) and region, and stream
        mapping (the stream and the object it maps to); target: a cohort's id once uploaded
    entries(scope, key, hash, props)  PRIMARY KEY (scope, key), WITHOUT ROWID
        key: an event's insert_id, a user's "u:<user_id>|d:<device_id>", a group's
        "<group_type>\\x1f<group_value>", a mapping's user_id, a cohort member's id;
        hash: BLAKE2b-128 of what was last acknowledged: the bytes sent for the row
        (hashing.wire_digest) or, for a user mapping, its canonical payload (payload_digest);
        empty (NO_HASH) for a key recorded under create_only before format 3 read it (format
        3 keeps such keys in key_runs);
        props: mirror only, the JSON list of property names to unset should the row vanish
    key_runs(scope, run, n)  PRIMARY KEY (scope, run)                    (format 3)
    key_blocks(scope, run, last, keys)  PRIMARY KEY (scope, run, last)   (format 3)
        keys recorded under create_only (record_keys), which never compares payloads, as
        sorted runs (key_runs.py) of n keys each, merged as they grow (key_runs.merge_from): a
        block of keys a row (key_runs.keys_per_block, .encode), `last` its greatest.
        A key that has an entries row too was recorded with a hash after it was last recorded
        here: the entries row is the later (recording a key here deletes its entries row)
    key_filters(scope PRIMARY KEY, bits)   (format 2)
        a scope's key filter (key_filter.py) as the run that wrote it closed: every key of the
        scope has its bit set. A run deletes its scopes' rows when it opens them (committed
        with its first entries) and writes them again at its last commit, so a run that
        ended without one leaves none, and the next makes it anew from the keys. Format 1
        files are upgraded when opened for writing (their filters made from their keys).
    run_lock(id = 1, run_id, host, pid, started_at)
        the run holding the ledger; it is also held with an OS lock on "<file>.lock" (flock),
        which the OS releases if the process dies, so a crashed run never blocks the next

The one rule: entries are written only for rows Amplitude acknowledged (record()), and
committed (commit(), synchronous=FULL) before the STATE covering them is emitted.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import functools
import heapq
import itertools
import json
import operator
import os
import socket
import sqlite3
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from target_amplitude.ledger import key_runs
from target_amplitude.ledger.errors import (
    LedgerCorruptError,
    LedgerError,
    LedgerLockedError,
    way_out,
)
from target_amplitude.ledger.key_filter import KeyFilter

try:  # POSIX; elsewhere the run_lock row alone guards the ledger
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# 2: key_filters. 3: key_runs, create_only's keys moved there from entries. A file of an older
# format is upgraded when a run takes it (lock); a target-amplitude that knows only an older
# format refuses a newer file (format 1 would add keys without their bits, format 2 would not
# see the keys in key_runs and send their events again).
FORMAT_VERSION = 3
# A new ledger file's page size (SQLite's default is 4 KiB; a file keeps the size it was made
# with). Random keys (UUID insert_ids) land all over the B-tree, and each sorted run of rows
# rewrites most of its pages: four times fewer, larger pages to rewrite cost less. 1,000,000
# UUID events into a new ledger through the sink's whole ledger path (decide, answered, write):
# 3.3-3.9 s of CPU with 4 KiB pages, 2.4-2.8 s with 16 KiB (32 KiB: no better); reading
# 400,000 keys of a 1,000,000-key ledger: 3-8% more (a longer search in each page).
PAGE_BYTES = 16_384
# SQLite's page cache (KiB), which grows only as pages are read and written. Keys in runs
# (create_only, events' default) are written in order and read a block at a time, so they need
# little: RUNS_CACHE_KIB. Rows of the entries B-tree (changed, mirror) land all over it, and a
# larger cache keeps its pages: the cache may grow to CACHE_KIB once the run reads or writes
# entries rows (_use_entries). 1,000,000 random keys recorded into entries in 25 commits: 64 MB
# took 6 to 15% less CPU than 16 MB (fewer pages spilled and read again). 1,000,000 new events
# (`full`) on a ledger holding 1,000,000 keys in runs (2026-12-08): peak RSS 153-154 MB with
# 16 MB, 201-202 MB with 64 MB, in the same time (25.7-25.8 s against 25.1-25.6 s).
RUNS_CACHE_KIB = 16_384
CACHE_KIB = 65_536
# No memory map (SQLite's mmap_size 0; some builds default to more): the mapped file's pages
# count in the process's RSS beside the page cache. Reads through a 1 GiB map took a run of
# 1,000,000 new events on a ledger holding 1,000,000 keys to 248 MB peak RSS (the page cache
# alone: 161 MB), for no CPU saved (re-reading 1,000,000 keys: the same within noise).
# Blocks of a run read at a time (_run_keys: by a merge, entries(), a filter made from the keys):
# about 6,400 UUIDs, 0.6 MB a run in hand. Merging 1,000,000 keys' runs in a run of 1,000,000
# new events took 0.6 s of the writer thread block by block.
RUN_PIECE = 64
# Keys per lookup query (SQLite allows 32,766 parameters; beyond a few hundred nothing is won).
LOOKUP_CHUNK = 500
# Rows per INSERT statement: a statement of many rows costs about half as much a row as one a
# row (sqlite3's executemany binds, steps and resets each); 100 rows of up to 3 values stay
# under the oldest SQLite's limit of 999 values a statement.
ROWS_PER_INSERT = 100
# Acknowledged rows wait in memory and are written in runs of up to this many, sorted by key
# (and before every commit, so before every STATE): random keys (UUID insert_ids, as most
# Amplitude SDKs make them) spread over the whole B-tree, and the more rows a sorted run holds,
# the more of them share each page it touches. 1,000,000 UUIDs into one ledger took 4.9 s of
# CPU in runs of 2,000 (a batch), 2.2 s in runs of 20,000, 1.5 s in runs of 100,000 (4 KiB
# pages). With 16 KiB pages runs of 25,000 cost what runs of 50,000 do (1,000,000 UUIDs through
# known and record_keys, the writer thread included: 2.51-2.67 s against 2.36-2.69 s of CPU),
# and while one run is written the next waits: at most twice this many rows, about 10 MB.
FLUSH_ROWS = 25_000
# The file is read whole (SQLite's quick_check) when opened, before anything is sent, unless the
# last run closed it (no run_lock row left) and it passed a check within this long: a check
# reads every page (0.04-0.14 s a 16 MB ledger of 300,000 keys, 0.15-0.35 s 48 MB, 1,000,000;
# a ledger of years of events is gigabytes), where a run on a ledger that is not damaged
# needs only the pages of the keys it reads and writes. A ledger a run left open (a crash, a
# copy taken during a run, every ledger_url download: uploads are taken while the run holds
# the ledger) is always checked; damage that appears between checks stops the run when a
# damaged page is read (LedgerCorruptError), before the STATE covering the rows not recorded.
CHECK_EVERY = dt.timedelta(days=7)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scopes (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    region TEXT NOT NULL,
    stream TEXT NOT NULL,
    object TEXT NOT NULL,
    target TEXT,
    UNIQUE (project, region, stream, object)
);
CREATE TABLE IF NOT EXISTS entries (
    scope INTEGER NOT NULL,
    key TEXT NOT NULL,
    hash BLOB NOT NULL,
    props TEXT,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_runs (
    scope INTEGER NOT NULL,
    run INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (scope, run)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_blocks (
    scope INTEGER NOT NULL,
    run INTEGER NOT NULL,
    last TEXT NOT NULL,
    keys BLOB NOT NULL,
    PRIMARY KEY (scope, run, last)
);
CREATE TABLE IF NOT EXISTS key_filters (
    scope INTEGER PRIMARY KEY,
    bits BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS run_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL
);
"""

Entry = tuple[str, bytes, str | None]  # key, hash, props
# The hash of an entry recorded under create_only: the payload was not kept (never compared).
NO_HASH = b""
# What waits to be written for a key: its hash and props.
_KEY_ONLY: tuple[bytes, str | None] = (NO_HASH, None)


@dataclasses.dataclass(slots=True)
class _Runs:
    """What the store holds in memory of a scope's key_runs, and whether it has entries rows."""

    runs: list[tuple[int, int]]  # (run, keys) of its runs, oldest first (the newest: the last id)
    has_entries: bool  # False: every key of the scope is in key_runs or waiting
    # Of each run read so far: its blocks' last keys, in order, and their rowids (a key is in
    # the block of the first last key not less than it): one read of the run's index.
    blocks: dict[int, tuple[list[str], list[int]]] = dataclasses.field(default_factory=dict)
    # The runs this store wrote of keys recorded since it opened the scope alone (no run of
    # the file as it was then merged in): a key the run never added or asked about is not
    # in them (_in_runs).
    fresh: frozenset[int] = frozenset()

    @property
    def next_run(self) -> int:
        """The id of the scope's next run."""
        return self.runs[-1][0] + 1 if self.runs else 1


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class LedgerStore:
    """One open ledger file, used from the target's thread (full runs of rows are written by a
    thread of its own, _waited)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock_file: t.IO[str] | None = None
        self._run_id: str | None = None
        self._checked_at: str | None = None  # when _connect read the file whole (CHECK_EVERY)
        self._format = FORMAT_VERSION  # the file's, as _connect read it (lock: upgraded)
        self._conn = self._connect()
        # Acknowledged rows not written yet, by scope and key (FLUSH_ROWS): every read
        # answers from them first, and anything that reads the table whole writes them first.
        self._waiting: dict[int, dict[str, tuple[bytes, str | None]]] = {}
        # A full run of waiting rows is written by a thread of its own (SQLite inserts without
        # Python's lock, beside the target's thread): the rows being written, answered from
        # here until they are; any other use of the table waits for them first (_settle).
        self._writing: dict[int, dict[str, tuple[bytes, str | None]]] = {}
        self._written: Future[None] | None = None
        self._writer: ThreadPoolExecutor | None = None
        # The key filter of each scope opened (scope_id): every key of the scope, in the file
        # or waiting, has its bit set. None: read-only without one kept (every key is read).
        self._filters: dict[int, KeyFilter | None] = {}
        self._filters_kept = False  # written to the file since the last entry recorded
        # Each scope's runs of create_only keys (key_runs), read once a run; runs merged into
        # a new one are deleted by this thread (_drop_merged): until then a read that started
        # with the runs before the merge still finds every key of theirs.
        self._scopes: dict[int, _Runs] = {}
        self._merged: list[tuple[int, int]] = []  # (scope, run) merged into a newer run
        self._page_bytes: int | None = None  # the file's page size, once a run is written
        self._entries_cache = False  # the page cache grown for entries rows (_use_entries)
        self._closed = False

    # -- Opening ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        try:
            if self.read_only:
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                # The writer thread shares the connection (SQLite's serialized mode).
                conn = sqlite3.connect(
                    path, timeout=30, isolation_level=None, check_same_thread=False
                )
            if not self.read_only:  # takes effect only while the file has no table
                conn.execute(f"PRAGMA page_size={PAGE_BYTES}")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size={-RUNS_CACHE_KIB}")
            conn.execute("PRAGMA mmap_size=0")
            if not self.read_only:
                conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
            # Damage anywhere in the file shows here, before anything is sent, rather than in
            # the middle of the run (CHECK_EVERY: when). A file cut short fails on the first
            # read above, checked or not.
            if _check_due(conn):
                check = conn.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    answer = check[0] if check else "no answer"
                    raise sqlite3.DatabaseError(f"quick_check: {answer}")
                self._checked_at = _now()
            if row is None and not self.read_only:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('format_version', ?), ('created_at', ?)",
                    (str(FORMAT_VERSION), _now()),
                )
                conn.execute("COMMIT")
                row = (str(FORMAT_VERSION),)
        except sqlite3.DatabaseError as exc:
            msg = f"The sync ledger {path} is unreadable ({exc}). {way_out(str(path))}"
            raise LedgerCorruptError(msg) from None
        except OSError as exc:
            msg = f"The sync ledger {path} cannot be opened ({exc}); check ledger_path."
            raise LedgerError(msg) from None
        version = int(row[0]) if row is not None and str(row[0]).isdigit() else None
        if version is None or version > FORMAT_VERSION:
            what = (
                "has no format version"
                if version is None
                else f"is of format {version}, newer than this target-amplitude's "
                f"{FORMAT_VERSION} (upgrade target-amplitude)"
            )
            msg = f"The sync ledger {path} {what}. {way_out(str(path))}"
            raise LedgerCorruptError(msg)
        self._format = version
        return conn

    def lock(self, run_id: str) -> None:
        """Hold the ledger for this run, or fail naming the run that holds it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = lock_path.open("a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                holder = self._holder()
                msg = (
                    f"The sync ledger {self.path} is in use by another run{holder}: two runs on "
                    "one ledger would each send what the other is sending. Nothing was sent. "
                    "Wait for that run to end, or give this one its own ledger_path."
                )
                raise LedgerLockedError(msg) from None
        self._lock_file = handle
        self._run_id = run_id
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT OR REPLACE INTO run_lock VALUES (1, ?, ?, ?, ?)",
            (run_id, socket.gethostname(), os.getpid(), _now()),
        )
        if self._checked_at is not None:
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('checked_at', ?)", (self._checked_at,)
            )
        if self._format < FORMAT_VERSION:
            try:
                self._guard(self._upgrade)
            except BaseException:
                conn.execute("ROLLBACK")  # all of the upgrade or none: older builds read it
                raise
        conn.execute("COMMIT")
        conn.execute("BEGIN")  # entries accumulate in one transaction between commits

    def _upgrade(self) -> None:
        """A file of an older format, brought to FORMAT_VERSION in lock's transaction (a run
        holds it). Format 1 had no key_filters (its tables are made by _SCHEMA, empty: each
        scope's filter is made from its keys when opened). Format 2 kept create_only's keys in
        entries: moved to key_runs, a run a scope, read and written once (a 1,000,000-key
        scope: about 1 s)."""
        conn = self._conn
        scopes = [s for (s,) in conn.execute("SELECT DISTINCT scope FROM entries WHERE hash = x''")]
        for scope in scopes:
            pages = self._legacy_keys(scope)
            first = next(pages)
            size = self._keys_per_block(first[:1000])
            blocks = key_runs.merged([itertools.chain((first,), pages)], size)  # re-cut
            self._insert_blocks(scope, self._runs(scope).next_run, blocks)
            conn.execute("DELETE FROM entries WHERE scope = ? AND hash = x''", (scope,))
        conn.execute(
            "UPDATE meta SET value = ? WHERE name = 'format_version'", (str(FORMAT_VERSION),)
        )
        self._format = FORMAT_VERSION
        self._scopes.clear()  # read again as upgraded

    def _legacy_keys(self, scope: int) -> t.Iterator[list[str]]:
        """A format 2 scope's create_only keys (those in entries without a hash), sorted, a
        few thousand at a time."""
        query = "SELECT key FROM entries WHERE scope = ? AND hash = x'' AND key {} ? ORDER BY key"
        for rows in self._pages(query, (scope,), 4096):
            yield [key for (key,) in rows]

    def _pages(self, query: str, args: tuple[t.Any, ...], size: int) -> t.Iterator[list[t.Any]]:
        """The rows of `query` (its WHERE clause ends "<first column> {} ?", it is ordered by
        that column), `size` rows a statement: each one read whole, so the same connection may
        write between them."""
        query += f" LIMIT {int(size)}"
        after, bound = ">=", ""  # from the first row (even of an empty key)
        while rows := self._conn.execute(query.format(after), (*args, bound)).fetchall():
            yield rows
            after, bound = ">", rows[-1][0]

    def _holder(self) -> str:
        with contextlib.suppress(sqlite3.DatabaseError):
            row = self._conn.execute(
                "SELECT run_id, host, pid, started_at FROM run_lock WHERE id = 1"
            ).fetchone()
            if row is not None:
                return f" (run {row[0]} on {row[1]}, pid {row[2]}, since {row[3]})"
        return ""

    # -- Reading ---------------------------------------------------------------------------

    def scope_id(self, project: str, region: str, stream: str, obj: str) -> int | None:
        """The scope's id (created unless read-only; None when read-only and absent)."""
        select = "SELECT id FROM scopes WHERE project=? AND region=? AND stream=? AND object=?"
        args = (project, region, stream, obj)
        row = self._guard(lambda: self._conn.execute(select, args).fetchone())
        if row is not None:
            scope = int(row[0])
            if scope not in self._filters:
                self._filters[scope] = self._guard(functools.partial(self._open_filter, scope))
            return scope
        if self.read_only:
            return None
        self._guard(
            lambda: self._conn.execute(
                "INSERT INTO scopes (project, region, stream, object) VALUES (?, ?, ?, ?)", args
            )
        )
        return self.scope_id(project, region, stream, obj)

    def _open_filter(self, scope: int) -> KeyFilter | None:
        """The scope's key filter: the one kept in the file, or (none kept) one made from its
        keys. Writing, the kept row is deleted: it is stale once this run records a key, and
        comes back at the last commit (keep_filters)."""
        conn = self._conn
        try:
            row = conn.execute("SELECT bits FROM key_filters WHERE scope=?", (scope,)).fetchone()
        except sqlite3.OperationalError:  # read-only, format 1: no key_filters
            row = None
        kept = None
        if row is not None:
            with contextlib.suppress(ValueError):  # not a filter's size: made anew
                kept = KeyFilter.from_blob(bytes(row[0]))
                # What the scope held as the run opened it: the kept bits, at their kept size.
                kept.track_added(KeyFilter(len(row[0]) * 8, row[0]))
        if self.read_only:
            # A dry run reads only the rows it is asked about: making a filter would read all.
            return kept
        if row is not None:
            conn.execute("DELETE FROM key_filters WHERE scope=?", (scope,))
        if kept is None:
            kept = self._made_filter(scope)
            kept.track_added(None if self.is_empty(scope) else kept.copy())
        return kept

    def _made_filter(self, scope: int) -> KeyFilter:
        """A filter made from the scope's keys (in the file and waiting): one read of them all,
        once after a run that ended without its last commit, or when a filter grew too full."""
        self._settle()
        waiting = self._waiting.get(scope, {})
        runs = self._runs(scope).runs
        count = self._conn.execute(
            "SELECT count(*) FROM entries WHERE scope=?", (scope,)
        ).fetchone()[0]
        made = KeyFilter.of(waiting, int(count) + sum(n for _, n in runs) + len(waiting))
        made.add(
            key for (key,) in self._conn.execute("SELECT key FROM entries WHERE scope=?", (scope,))
        )
        for run, _ in runs:
            for block in self._run_keys(scope, run):
                made.add(block)
        return made

    def keep_filters(self) -> None:
        """Write each open scope's key filter into the file (with the next commit): the last
        commit of a run, after every entry it records (recording one deletes them again)."""
        if self.read_only or self._filters_kept:
            return
        self.write_waiting()
        self._guard(self._write_filters)
        self._filters_kept = True

    def _write_filters(self) -> None:
        for scope, kept in self._filters.items():
            if kept is None:
                continue
            blob = kept.to_blob()
            if blob is None:  # too full to answer well: one at the size its keys need
                made = self._made_filter(scope)
                self._filters[scope] = made
                blob = made.to_blob()
                assert blob is not None
            self._conn.execute("INSERT OR REPLACE INTO key_filters VALUES (?, ?)", (scope, blob))

    def _runs(self, scope: int) -> _Runs:
        """The scope's runs of create_only keys (read from the file the first time)."""
        held = self._scopes.get(scope)
        if held is None:
            held = self._guard(functools.partial(self._read_runs, scope))
            self._scopes[scope] = held
        return held

    def _read_runs(self, scope: int) -> _Runs:
        conn = self._conn
        try:
            runs = conn.execute(
                "SELECT run, n FROM key_runs WHERE scope=? ORDER BY run", (scope,)
            ).fetchall()
        except sqlite3.OperationalError:  # read-only, of format 2 or older: no key_runs
            runs = []
        has_entries = (
            conn.execute("SELECT 1 FROM entries WHERE scope=? LIMIT 1", (scope,)).fetchone()
            is not None
        )
        return _Runs(runs, has_entries)

    def _run_keys(self, scope: int, run: int) -> t.Iterator[list[str]]:
        """A run's keys, sorted, RUN_PIECE blocks at a time (a merge's steps then take
        thousands of keys each, where its Python steps cost most a key with single blocks)."""
        query = (
            "SELECT last, keys FROM key_blocks WHERE scope=? AND run=? AND last {} ? ORDER BY last"
        )
        pages = self._pages(query, (scope, run), RUN_PIECE)
        while rows := self._guard(lambda: next(pages, None)):
            keys: list[str] = []
            for _, blob in rows:
                keys += key_runs.decode(blob)
            yield keys

    def _in_runs(
        self, scope: int, keys: list[str], before: t.Collection[str] = frozenset()
    ) -> set[str]:
        """Those of the keys (sorted) the scope's runs hold: of each run, the block each key
        would be in (its index, in memory: _run_index), read by rowid, LOOKUP_CHUNK blocks a
        query, and the key looked for in it (key_runs.holds). Keys in `before` (neither added
        nor asked about since the run opened the scope: KeyFilter.may_hold) are not looked for
        in the runs written since of its keys alone (fresh)."""
        found: set[str] = set()
        held = self._runs(scope)
        # The runs, then which are fresh (the writer thread marks a run fresh before it lists
        # it). Most keys read on a kept ledger are those its kept filter's bit makes "maybe".
        runs, fresh = held.runs, held.fresh
        # The keys a fresh run may hold: those added or asked about since.
        maybe_added = [key for key in keys if key not in before] if fresh and before else keys
        patterns: dict[str, bytes] = {}
        for run, _ in reversed(runs):  # the newest, smallest, first
            looked = maybe_added if run in fresh else keys
            if not looked:
                continue
            index = held.blocks.get(run)
            if index is None:
                index = held.blocks[run] = self._run_index(scope, run)
            lasts, rowids = index
            last = len(lasts)
            wanted: dict[int, list[str]] = {}  # rowid -> the keys looked for in its block
            for key in looked:
                at = bisect.bisect_left(lasts, key)
                if at < last and key not in found:
                    wanted.setdefault(rowids[at], []).append(key)
            blocks = list(wanted)
            for start in range(0, len(blocks), LOOKUP_CHUNK):
                chunk = _padded(blocks[start : start + LOOKUP_CHUNK])
                marks = ",".join("?" * len(chunk))
                query = f"SELECT rowid, keys FROM key_blocks WHERE rowid IN ({marks})"  # noqa: S608 (only "?" marks)
                for rowid, block in self._conn.execute(query, chunk):
                    for key in wanted[rowid]:
                        # As key_runs.holds, each key's pattern made once for every run.
                        pattern = patterns.get(key)
                        if pattern is None:
                            pattern = patterns[key] = key_runs.pattern(key)
                        if pattern in block:
                            found.add(key)
        return found

    def _run_index(self, scope: int, run: int) -> tuple[list[str], list[int]]:
        """A run's blocks' last keys, in order, and their rowids (the index of key_blocks holds
        both: its pages alone are read)."""
        rows = self._conn.execute(
            "SELECT last, rowid FROM key_blocks WHERE scope=? AND run=? ORDER BY last",
            (scope, run),
        ).fetchall()
        return [last for last, _ in rows], [rowid for _, rowid in rows]

    def _maybe_held(
        self, scope: int, keys: t.Iterable[str], before: list[str] | None = None
    ) -> t.Iterable[str]:
        """Those of the keys the scope may hold (its key filter's answer; `before` as
        KeyFilter.may_hold)."""
        kept = self._filters.get(scope)
        return keys if kept is None else kept.may_hold(keys, before)

    def lookup(self, scope: int, key: str) -> bytes | None:
        """The hash last acknowledged for the key, or None."""
        return self.lookup_many(scope, (key,)).get(key)

    def lookup_many(self, scope: int, keys: t.Iterable[str]) -> dict[str, bytes]:
        """The hashes last acknowledged for those of the keys the ledger has (NO_HASH: in
        key_runs).

        One query per LOOKUP_CHUNK keys: a batch's keys cost a few queries, not one each; only
        for the keys whose bit is set in the scope's key filter (a waiting key's bit is set).
        """
        before: list[str] = []  # held by the file as the run opened it, if at all
        waiting, keys = self._split_waiting(scope, self._maybe_held(scope, keys, before))
        found = {key: row[0] for key, row in waiting.items()}
        wanted = sorted(keys)  # neighbouring keys: neighbouring B-tree pages
        held = self._runs(scope)
        if held.runs and wanted:
            in_runs = self._guard(
                functools.partial(self._in_runs, scope, wanted, set(before) if before else ())
            )
            found.update(dict.fromkeys(in_runs, NO_HASH))
        if not held.has_entries:
            return found
        self._use_entries()

        def read(chunk: list[str]) -> list[tuple[str, bytes]]:
            chunk = _padded(chunk)
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, hash FROM entries WHERE scope=? AND key IN ({marks})"  # noqa: S608 (only "?" marks)
            return self._conn.execute(query, (scope, *chunk)).fetchall()

        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            rows: list[tuple[str, bytes]] = self._guard(functools.partial(read, chunk))
            for key, digest in rows:
                found[key] = bytes(digest)
        return found

    def known(self, scope: int, keys: t.Iterable[str]) -> set[str]:
        """Those of the keys the ledger has (create_only: whether, not what, was acknowledged)."""
        return set(self.lookup_many(scope, keys))

    def _split_waiting(
        self, scope: int, keys: t.Iterable[str]
    ) -> tuple[dict[str, tuple[bytes, str | None]], t.Iterable[str]]:
        """Those of the keys whose rows wait to be written or are being written (with their
        rows: the later one of a key in both), and the rest, which only the file can answer
        for."""
        waiting = self._waiting.get(scope) or {}
        writing = self._writing.get(scope) or {}
        if not waiting and not writing:
            return {}, keys
        found, rest = {}, []
        for key in keys:
            row = waiting.get(key) or writing.get(key)  # a row is a non-empty tuple
            if row is None:
                rest.append(key)
            else:
                found[key] = row
        return found, rest

    def entries(self, scope: int) -> t.Iterator[Entry]:
        """Every entry of a scope, in key order (a key in key_runs with NO_HASH, unless it has
        an entries row: the later); memory stays bounded (a cursor, a few blocks)."""
        self.write_waiting()
        cursor = self._conn.execute(
            "SELECT key, hash, props FROM entries WHERE scope=? ORDER BY key", (scope,)
        )
        rows = ((key, bytes(digest), props) for key, digest, props in cursor)
        runs = [self._run_keys(scope, run) for run, _ in self._runs(scope).runs]
        in_runs = ((key, NO_HASH, None) for block in key_runs.merged(runs, 4096) for key in block)
        previous = None
        # Of a key in both, the entries row comes first (heapq.merge keeps the iterables' order).
        for entry in heapq.merge(rows, in_runs, key=operator.itemgetter(0)):
            if entry[0] != previous:
                previous = entry[0]
                yield entry

    def is_empty(self, scope: int) -> bool:
        """Whether a scope has no entry (one B-tree probe, unlike count)."""
        if self._waiting.get(scope) or self._writing.get(scope) or self._runs(scope).runs:
            return False
        row = self._guard(
            lambda: self._conn.execute(
                "SELECT 1 FROM entries WHERE scope=? LIMIT 1", (scope,)
            ).fetchone()
        )
        return row is None

    def count(self, scope: int) -> int:
        """Entries of a scope (with key_runs: each read, a key in both counted once)."""
        self.write_waiting()
        if self._runs(scope).runs:
            return sum(1 for _ in self.entries(scope))
        row = self._conn.execute("SELECT count(*) FROM entries WHERE scope=?", (scope,)).fetchone()
        return int(row[0])

    def target(self, scope: int) -> str | None:
        """A scope's target (a cohort's id), once recorded."""
        row = self._conn.execute("SELECT target FROM scopes WHERE id=?", (scope,)).fetchone()
        return None if row is None else row[0]

    # -- A snapshot's rows (mirror): kept in a temporary table, never in the file ------------

    def mark_seen(self, scope: int, keys: t.Iterable[str]) -> None:
        """Rows of the current full snapshot."""
        self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS seen (scope INTEGER, key TEXT, "
            "PRIMARY KEY (scope, key)) WITHOUT ROWID"
        )
        self._conn.executemany(
            "INSERT OR IGNORE INTO temp.seen VALUES (?, ?)", ((scope, key) for key in keys)
        )

    def clear_seen(self, scope: int) -> None:
        """A new snapshot starts."""
        with contextlib.suppress(sqlite3.OperationalError):  # no row seen yet
            self._conn.execute("DELETE FROM temp.seen WHERE scope = ?", (scope,))

    def vanished(self, scope: int) -> list[Entry]:
        """Entries of the scope not in the current snapshot (entries rows: mirror records
        every key with a hash, never in key_runs)."""
        self.write_waiting()
        self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS seen (scope INTEGER, key TEXT, "
            "PRIMARY KEY (scope, key)) WITHOUT ROWID"
        )
        rows = self._conn.execute(
            "SELECT key, hash, props FROM entries e WHERE scope = ? AND NOT EXISTS "
            "(SELECT 1 FROM temp.seen s WHERE s.scope = e.scope AND s.key = e.key)",
            (scope,),
        ).fetchall()
        return [(k, bytes(h), p) for k, h, p in rows]

    # -- Writing (only what Amplitude acknowledged) ------------------------------------------

    def record(self, scope: int, entries: t.Iterable[Entry], *, asked: bool = False) -> None:
        """Acknowledged rows: their key's hash (and props) replace what was there (of a key
        acknowledged twice, the later hash wins). Written with the next run (FLUSH_ROWS).
        ``asked``: every key was asked about (lookup, lookup_many, known) in this run."""
        self._recorded(scope, {key: (digest, props) for key, digest, props in entries}, asked=asked)

    def record_keys(self, scope: int, keys: t.Iterable[str], *, asked: bool = False) -> None:
        """Acknowledged keys without a payload hash (create_only never compares one): the hash
        column holds NO_HASH (and nothing to hash, bind or store for it). ``asked`` as for
        record."""
        self._recorded(scope, dict.fromkeys(keys, _KEY_ONLY), asked=asked)

    def _recorded(
        self, scope: int, rows: dict[str, tuple[bytes, str | None]], *, asked: bool
    ) -> None:
        """Acknowledged rows join those waiting (a full run goes to the writer: _waited). Their
        keys get their bits first (asked: every key was asked about, so has its bit:
        KeyFilter.may_hold), and filters written to the file since are deleted again."""
        if self._filters_kept:
            self._filters_kept = False
            self._guard(lambda: self._conn.execute("DELETE FROM key_filters"))
        kept = self._filters.get(scope)
        if kept is not None and not asked:
            kept.add(rows)
        self._runs(scope)  # read in this thread, before the writer thread uses it
        self._waiting.setdefault(scope, {}).update(rows)
        self._waited()

    def _waited(self) -> None:
        """A full run of waiting rows goes to the writer thread (once the previous one is
        written: one run written at a time, in the order recorded)."""
        if sum(map(len, self._waiting.values())) < FLUSH_ROWS:
            return
        self._settle()
        waiting, self._waiting = self._waiting, {}
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self._writing = waiting
        self._written = self._writer.submit(self._write, waiting)

    def _settle(self) -> None:
        """Wait until the rows handed to the writer thread are written (its error, raised)."""
        written, self._written = self._written, None
        if written is None:
            return
        try:
            written.result()
        finally:
            self._writing = {}
        self._drop_merged()

    def _drop_merged(self) -> None:
        """Delete the runs merged into newer ones (in this thread: no read of them is under
        way)."""
        merged, self._merged = self._merged, []
        for scope, run in merged:
            self._runs(scope).blocks.pop(run, None)
            for table in ("key_blocks", "key_runs"):
                self._guard(
                    functools.partial(
                        self._conn.execute,
                        f"DELETE FROM {table} WHERE scope=? AND run=?",  # noqa: S608 (a name of ours)
                        (scope, run),
                    )
                )

    def write_waiting(self) -> None:
        """Write every acknowledged row not written yet (those handed to the writer thread
        first), in this thread."""
        self._settle()
        waiting, self._waiting = self._waiting, {}
        self._write(waiting)
        self._drop_merged()

    def _write(self, waiting: dict[int, dict[str, tuple[bytes, str | None]]]) -> None:
        """Write rows in key order: those with a hash into entries (neighbouring keys:
        neighbouring B-tree pages), the others (create_only) as a run of key_runs."""
        for scope, rows in waiting.items():
            ordered = sorted(rows)  # the keys alone: a third of the time of sorting the items
            # A scope's rows are all of one kind (but an admin sink's may not be): counted in C
            # (0.01 s a 1,000,000 rows), not each looked up in key order (0.3 s).
            key_only = list(rows.values()).count(_KEY_ONLY)
            if key_only == len(ordered):
                keys = ordered
            elif key_only:
                keys = [key for key in ordered if rows[key] is _KEY_ONLY]
            else:
                keys = []
            if keys:
                self._add_run(scope, keys)
            if len(keys) < len(ordered):
                # Each hash bound as a bytearray, which sqlite3 binds as it is (a bytes value
                # goes through its adapter lookup first: about 1 us a row).
                flat = [
                    v
                    for key in ordered
                    if (row := rows[key]) is not _KEY_ONLY
                    for v in (key, bytearray(row[0]), row[1])
                ]
                self._insert(scope, "?, ?, ?", flat)
                self._runs(scope).has_entries = True

    def _add_run(self, scope: int, keys: list[str]) -> None:
        """Keys (sorted) recorded without a hash: a new run of the scope, merged with the
        newest runs where key_runs.merge_from says (those merged: deleted by _drop_merged)."""
        held = self._runs(scope)
        conn = self._conn
        if held.has_entries:  # the run is later than their entries rows
            self._guard(
                lambda: conn.executemany(
                    "DELETE FROM entries WHERE scope=? AND key=?", ((scope, k) for k in keys)
                )
            )
        start = key_runs.merge_from([n for _, n in held.runs], len(keys))
        older = held.runs[start:]
        run = held.next_run
        size = self._keys_per_block(keys[:1000])
        source = key_runs.blocks(keys, size)
        if older:
            runs = [*(self._run_keys(scope, r) for r, _ in older), source]
            source = key_runs.merged(runs, size)
        n = self._insert_blocks(scope, run, source)
        if all(r in held.fresh for r, _ in older):  # before runs: a run not fresh yet is read
            held.fresh = held.fresh | {run}
        held.runs = [*held.runs[:start], (run, n)]  # a new list: a read under way keeps its own
        self._merged += [(scope, r) for r, _ in older]

    def _keys_per_block(self, sample: list[str]) -> int:
        if self._page_bytes is None:
            self._page_bytes = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        return key_runs.keys_per_block(sample, self._page_bytes)

    def _insert_blocks(self, scope: int, run: int, blocks: t.Iterator[list[str]]) -> int:
        """A run's blocks (sorted), written; its keys."""
        conn = self._conn
        n = 0
        rows = []
        insert = "INSERT INTO key_blocks VALUES (?, ?, ?, ?)"
        for block in blocks:
            rows.append((scope, run, block[-1], key_runs.encode(block)))
            n += len(block)
            if len(rows) == 64:
                self._guard(functools.partial(conn.executemany, insert, rows))
                rows = []
        if rows:
            self._guard(functools.partial(conn.executemany, insert, rows))
        if n:
            self._guard(
                functools.partial(
                    conn.execute, "INSERT INTO key_runs VALUES (?, ?, ?)", (scope, run, n)
                )
            )
        return n

    def _insert(self, scope: int, values: str, flat: list[t.Any]) -> None:
        """INSERT OR REPLACE rows whose bound values (as many as `values` has marks) follow
        one another in `flat`, in key order (neighbouring keys: neighbouring B-tree pages),
        ROWS_PER_INSERT rows a statement."""
        self._use_entries()
        width = values.count("?")
        row = f"({int(scope)}, {values})"  # the scope's id: an int, no quoting
        head = "INSERT OR REPLACE INTO entries (scope, key, hash, props) VALUES "
        step = ROWS_PER_INSERT * width
        full = len(flat) // step * step
        conn = self._conn

        def insert() -> None:
            if full:
                many = head + ",".join([row] * ROWS_PER_INSERT)
                conn.executemany(many, (flat[i : i + step] for i in range(0, full, step)))
            if full < len(flat):
                rest = flat[full:]
                conn.executemany(
                    head + row, (rest[i : i + width] for i in range(0, len(rest), width))
                )

        self._guard(insert)

    def _use_entries(self) -> None:
        """Rows of entries are read or written: the page cache may grow to CACHE_KIB."""
        if not self._entries_cache:
            self._entries_cache = True
            self._guard(lambda: self._conn.execute(f"PRAGMA cache_size={-CACHE_KIB}"))

    def forget(self, scope: int, keys: t.Iterable[str]) -> None:
        """Keys Amplitude acknowledged as gone (unset, removed from a cohort)."""
        keys = list(keys)
        self._settle()  # deleted after any row of theirs being written
        waiting = self._waiting.get(scope)
        if waiting:
            for key in keys:
                waiting.pop(key, None)
        self._guard(
            lambda: self._conn.executemany(
                "DELETE FROM entries WHERE scope=? AND key=?", ((scope, k) for k in keys)
            )
        )

    def set_target(self, scope: int, target: str | None) -> None:
        """Record a scope's target (a cohort's id)."""
        self._guard(
            lambda: self._conn.execute("UPDATE scopes SET target=? WHERE id=?", (target, scope))
        )

    def commit(self, *, last: bool = False) -> None:
        """Make every entry recorded so far durable (fsync'd), then go on recording. ``last``:
        the run's last commit, which keeps the key filters too (keep_filters)."""
        if self.read_only:
            return
        if last:
            self.keep_filters()
        self.write_waiting()
        conn = self._conn
        if conn.in_transaction:
            self._guard(lambda: conn.execute("COMMIT"))
        conn.execute("BEGIN")

    def snapshot(self, dest: Path) -> None:
        """A consistent copy of the committed ledger (SQLite's online backup) at dest."""
        self.write_waiting()
        out = sqlite3.connect(dest)
        try:
            self._conn.backup(out)
        finally:
            out.close()

    def close(self) -> None:
        """Write what waits and the key filters, commit, release the run lock, close
        (idempotent; the file and its lock are released even when writing fails)."""
        if self._closed:
            return
        conn = self._conn
        try:
            if not self.read_only:
                self.keep_filters()  # what waits first
        finally:
            self._closed = True
            self._close(conn)

    def _close(self, conn: sqlite3.Connection) -> None:
        if self._writer is not None:  # idle: settled by write_waiting, or its error raised
            self._writer.shutdown(wait=True)
            self._writer = None
        with contextlib.suppress(sqlite3.ProgrammingError):
            if not self.read_only:
                if conn.in_transaction:
                    conn.execute("COMMIT")
                if self._run_id is not None:
                    conn.execute("DELETE FROM run_lock WHERE run_id = ?", (self._run_id,))
            conn.close()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    def _guard(self, action: t.Callable[[], t.Any]) -> t.Any:
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            msg = f"The sync ledger {self.path} failed: {exc}. {way_out(str(self.path))}"
            raise LedgerCorruptError(msg) from None


def _check_due(conn: sqlite3.Connection) -> bool:
    """Whether the file is read whole before the run (CHECK_EVERY): a run left it open (its
    run_lock row is still there), or it has not passed a check within CHECK_EVERY."""
    try:
        if conn.execute("SELECT 1 FROM run_lock LIMIT 1").fetchone() is not None:
            return True
        row = conn.execute("SELECT value FROM meta WHERE name = 'checked_at'").fetchone()
    except sqlite3.OperationalError:  # read-only, without those tables
        return True
    try:
        checked = dt.datetime.fromisoformat(str(row[0])) if row is not None else None
    except ValueError:
        return True
    now = dt.datetime.now(dt.UTC)
    return checked is None or checked.tzinfo is None or not now - CHECK_EVERY <= checked <= now


_Item = t.TypeVar("_Item", str, int)


def _padded(chunk: list[_Item]) -> list[_Item]:
    """A lookup's keys (or rowids) padded with its last one (which changes no answer) to a
    power of two, at most LOOKUP_CHUNK: the sinks ask for any number of keys, and a statement
    of each length would be compiled anew (sqlite3 caches 128), which costs more than the read
    itself."""
    size = 1
    while size < len(chunk):
        size *= 2
    size = min(size, max(LOOKUP_CHUNK, len(chunk)))
    return chunk + [chunk[-1]] * (size - len(chunk)) if chunk else chunk


def scope_props(names: t.Iterable[str]) -> str:
    """The props column's value: the sorted property names, as JSON."""
    return json.dumps(sorted(set(names)), separators=(",", ":"))
