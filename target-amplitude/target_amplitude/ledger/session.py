"""One run's use of the ledger: open (download, lock), per-stream scopes, checkpoints, close.

What the target needs, and all it needs:

    ledger = Ledger(LedgerConfig(...))        # no I/O yet
    scope = ledger.scope(stream, object, mode)  # opens the ledger the first time (fails fast:
                                              # locked, corrupt, bucket without access)
    verdict = scope.classify(key, digest)     # send it, or count it unchanged (previous_many
                                              # and decide: a whole batch's keys at once)
    scope.sent(key)                           # handed to delivery
    scope.answered(accepted_entries, keys)    # Amplitude answered: acknowledged rows recorded
    scope.acknowledged(keys)                  # (create_only: keys alone, no payload hash)
    ledger.checkpoint()                       # before each STATE: commit (and upload when due)
    ledger.close()                            # last commit and upload, lock released

Under dry_run the ledger is only read (a ledger_url's copy to a temporary file), never written,
and no lock is taken.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from target_amplitude.ledger.decide import SyncMode, Verdict, decide
from target_amplitude.ledger.errors import LedgerCorruptError, way_out
from target_amplitude.ledger.hashing import key_fingerprint
from target_amplitude.ledger.remote import RemoteCopy
from target_amplitude.ledger.store import Entry, LedgerStore

LOGGER = logging.getLogger("target-amplitude")

# The object-store copy is uploaded before a STATE at most this often, and always at the end.
UPLOAD_EVERY_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """The settings the ledger reads."""

    path: Path
    url: str | None
    api_key: str = field(repr=False)
    region: str
    full_resync: bool = False
    dry_run: bool = False


class Scope:
    """One stream mapping's part of the ledger (for one destination project and region)."""

    def __init__(
        self, ledger: Ledger, scope_id: int | None, mode: SyncMode, *, full_resync: bool
    ) -> None:
        self._ledger = ledger
        self.id = scope_id
        self.mode = mode
        self.full_resync = full_resync
        # create_only keeps no payload hash: whether a key was acknowledged is all it asks.
        self.keeps_hash = mode != "create_only"
        # Keys sent in this run and not answered yet -> how many times. Only `changed` and
        # `mirror` ask (decide's in_flight): create_only sends a key until one answer
        # acknowledges it, whatever is in flight, and full_resync sends every row.
        self._pending: dict[str, int] = {}
        self._tracks_in_flight = mode in ("changed", "mirror") and not full_resync

    @property
    def store(self) -> LedgerStore | None:
        """The open store (None under dry_run without a ledger file)."""
        return self._ledger.store

    def previous(self, key: str) -> bytes | None:
        """The hash last acknowledged for key."""
        store = self.store
        if store is None or self.id is None:
            return None
        return store.lookup(self.id, key)

    def previous_many(self, keys: t.Collection[str]) -> dict[str, bytes]:
        """The hashes last acknowledged for those of the keys the ledger has (one read, of
        the keys its key filter may hold)."""
        store = self.store
        if store is None or self.id is None or not keys:
            return {}
        return store.lookup_many(self.id, keys)

    def known(self, keys: t.Collection[str]) -> set[str]:
        """Those of the keys the ledger has (one read, as previous_many)."""
        store = self.store
        if store is None or self.id is None or not keys:
            return set()
        return store.known(self.id, keys)

    def classify(self, key: str, digest: bytes) -> Verdict:
        """The row's verdict (pure decision over what the ledger and this run know)."""
        return self.decide(key, self.previous(key), digest)

    def decide(self, key: str, previous: bytes | None, digest: bytes) -> Verdict:
        """The verdict for a row whose key's last acknowledged hash is `previous`."""
        return decide(
            self.mode,
            previous,
            digest,
            full_resync=self.full_resync,
            in_flight=key in self._pending,
        )

    def sent(self, key: str) -> None:
        """The row was handed to delivery."""
        if self._tracks_in_flight:
            self._pending[key] = self._pending.get(key, 0) + 1

    def answered(
        self, accepted: t.Sequence[Entry], keys: t.Iterable[str], *, asked: bool = False
    ) -> None:
        """Amplitude answered rows with these keys; `accepted` are those it acknowledged.
        ``asked``: every key was asked about (previous_many, known) before it was sent."""
        if self._tracks_in_flight:
            pending = self._pending
            for key in keys:
                left = pending.get(key, 0) - 1
                if left > 0:
                    pending[key] = left
                else:
                    pending.pop(key, None)
        if not self.keeps_hash:
            self.acknowledged([key for key, _, _ in accepted], asked=asked)
        elif accepted and self.id is not None and not self._ledger.config.dry_run:
            store = self.store
            assert store is not None
            store.record(self.id, accepted, asked=asked)
            self._ledger.dirty = True

    def acknowledged(self, keys: t.Collection[str], *, asked: bool = False) -> None:
        """create_only: Amplitude acknowledged rows with these keys (recorded without a hash;
        no in-flight bookkeeping to settle, see sent). ``asked`` as for answered."""
        if keys and self.id is not None and not self._ledger.config.dry_run:
            store = self.store
            assert store is not None
            store.record_keys(self.id, keys, asked=asked)
            self._ledger.dirty = True

    def forget(self, keys: t.Sequence[str]) -> None:
        """Keys acknowledged as gone (unset, left the cohort)."""
        if keys and self.id is not None and not self._ledger.config.dry_run:
            store = self.store
            assert store is not None
            store.forget(self.id, keys)
            self._ledger.dirty = True

    def seen(self, keys: t.Sequence[str]) -> None:
        """Mirror: the keys are in the current full snapshot."""
        if self.store is not None and self.id is not None:
            self.store.mark_seen(self.id, keys)

    def new_snapshot(self) -> None:
        """Mirror: a full snapshot starts (ACTIVATE_VERSION)."""
        if self.store is not None and self.id is not None:
            self.store.clear_seen(self.id)

    def vanished(self) -> list[Entry]:
        """Mirror: acknowledged entries not in the snapshot that just ended."""
        if self.store is None or self.id is None:
            return []
        return self.store.vanished(self.id)

    def entries(self) -> t.Iterator[Entry]:
        """Every acknowledged entry of this scope."""
        store = self.store
        if store is None or self.id is None:
            return iter(())
        return store.entries(self.id)

    def target(self) -> str | None:
        """The recorded target (a cohort's id)."""
        store = self.store
        return None if store is None or self.id is None else store.target(self.id)

    def set_target(self, target: str | None) -> None:
        """Record the target once Amplitude acknowledged it."""
        if self.id is not None and not self._ledger.config.dry_run and self.store is not None:
            self.store.set_target(self.id, target)
            self._ledger.dirty = True


class Ledger:
    """The run's ledger: opened on first use, committed before each STATE, closed at the end."""

    def __init__(self, config: LedgerConfig, run_id: str | None = None) -> None:
        self.config = config
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.store: LedgerStore | None = None
        self.remote: RemoteCopy | None = None
        self.dirty = False  # entries recorded since the last upload
        self.finishing = False  # the run's end: the next checkpoint uploads
        self._opened = False
        self._last_upload = time.monotonic()
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._project = key_fingerprint(config.api_key)
        self._scopes: dict[tuple[str, str], Scope] = {}

    def open(self) -> None:
        """Download the object-store copy, take the locks, open the file (once)."""
        if self._opened:
            return
        self._opened = True
        config = self.config
        path = config.path
        if config.url:
            self.remote = RemoteCopy(config.url, self.run_id)
            if config.dry_run:
                self._temp = tempfile.TemporaryDirectory(prefix="target-amplitude-ledger-")
                path = Path(self._temp.name) / "ledger.sqlite"
            else:
                self.remote.acquire()
            try:
                found = self.remote.download(path)
            except BaseException:
                self.remote.release()
                raise
            LOGGER.info(
                "Sync ledger: %s %s.",
                "downloaded from" if found else "no copy yet at",
                config.url,
            )
        if config.dry_run:
            if path.exists():
                try:
                    self.store = LedgerStore(path, read_only=True)
                except LedgerCorruptError as exc:
                    raise self._name_the_copy(exc, path) from None
            return
        try:
            self.store = LedgerStore(path)
            self.store.lock(self.run_id)
        except LedgerCorruptError as exc:
            if self.store is not None:
                self.store.close()
                self.store = None
            if self.remote is not None:
                self.remote.release()
            raise self._name_the_copy(exc, path) from None
        except BaseException:
            if self.store is not None:
                self.store.close()
                self.store = None
            if self.remote is not None:
                self.remote.release()
            raise
        LOGGER.info("Sync ledger: %s (run %s).", path, self.run_id)

    def _name_the_copy(self, exc: LedgerCorruptError, path: Path) -> LedgerCorruptError:
        """With a ledger_url, the local file is the downloaded copy: moving it aside would not
        help (the next run downloads the same object), so the error names the object."""
        url = self.config.url
        if url is None:
            return exc
        reason = str(exc).replace(way_out(str(path)), "").strip()
        msg = f"The sync ledger copy at ledger_url {url} is unreadable. {reason} {way_out(url)}"
        return LedgerCorruptError(msg)

    def scope(self, stream: str, obj: str, mode: SyncMode) -> Scope | None:
        """The ledger's part for a stream mapping; None for sync_mode all (not consulted)."""
        if mode == "all":
            return None
        existing = self._scopes.get((stream, obj))
        if existing is not None:
            return existing
        self.open()
        scope_id = None
        if self.store is not None:
            scope_id = self.store.scope_id(self._project, self.config.region, stream, obj)
        scope = Scope(self, scope_id, mode, full_resync=self.config.full_resync)
        self._scopes[(stream, obj)] = scope
        return scope

    def checkpoint(self) -> None:
        """Before a STATE: commit what was acknowledged; upload the copy when due."""
        store = self.store
        if store is None or self.config.dry_run:
            return
        store.commit(last=self.finishing)
        due = time.monotonic() - self._last_upload >= UPLOAD_EVERY_SECONDS
        if self.remote is not None and self.dirty and (due or self.finishing):
            self._upload(store)

    def _upload(self, store: LedgerStore) -> None:
        remote = self.remote
        assert remote is not None
        with tempfile.TemporaryDirectory(prefix="target-amplitude-ledger-") as tmp:
            snapshot = Path(tmp) / "ledger.sqlite"
            store.snapshot(snapshot)
            try:
                remote.upload(snapshot)
            except Exception as exc:
                LOGGER.warning(
                    "Sync ledger: uploading to %s failed (%s: %s); the stored copy stays as it "
                    "was, so a run from a fresh disk may resend rows (never lose any).",
                    remote.url,
                    type(exc).__name__,
                    exc,
                )
                return
        self.dirty = False
        self._last_upload = time.monotonic()

    def close(self) -> None:
        """The last commit and upload, then release the locks (idempotent)."""
        try:
            if self.store is not None and not self.config.dry_run:
                self.finishing = True
                self.checkpoint()
        finally:
            if self.store is not None:
                self.store.close()
                self.store = None
            if self.remote is not None:
                self.remote.release()
                self.remote = None
            if self._temp is not None:
                with contextlib.suppress(OSError):
                    self._temp.cleanup()
                self._temp = None
