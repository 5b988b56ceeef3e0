"""The ledger's copy in an object store (ledger_url), through fsspec.

- s3:// (extra `s3`: s3fs), gs:// (extra `gcs`: gcsfs), az:// or abfs:// (extra `azure`:
  adlfs), file:// (fsspec alone). Credentials and endpoints come from each library's standard
  chain and environment: AWS_* and AWS_ENDPOINT_URL (botocore), GOOGLE_APPLICATION_CREDENTIALS
  and STORAGE_EMULATOR_HOST (gcsfs; anonymous with an emulator, as Google's clients are),
  AZURE_STORAGE_* (adlfs).
- Downloaded once when the run starts (replacing the local file at ledger_path).
- Uploaded after the local SQLite commit, before the STATE: a consistent snapshot (SQLite's
  backup API) is uploaded to a temporary object "<url>.upload-<run id>", its size checked
  against the local snapshot, then copied over "<url>" server-side (S3 CopyObject, GCS
  rewrite, Azure copy blob; a rename for file://) and removed. The object at <url> is
  replaced whole or not at all (each store's single-object write is atomic), so a failed or
  cut upload leaves the previous copy, which may forget, never invent.
- A lock object "<url>.lock" holds the run id, host and a heartbeat rewritten every
  LOCK_HEARTBEAT_SECONDS; a run finding a lock whose heartbeat is younger than
  LOCK_STALE_SECONDS fails before sending anything. The lock is written, then read back: a run
  that does not read back its own run id stops. (fsspec offers no portable conditional write,
  so two runs starting within the same second could both see no lock; the read-back narrows
  that to the store's read-after-write window.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import typing as t
from pathlib import Path

from target_amplitude.ledger.errors import LedgerError, LedgerLockedError

if t.TYPE_CHECKING:
    from fsspec import AbstractFileSystem

LOCK_HEARTBEAT_SECONDS = 60.0
LOCK_STALE_SECONDS = 600.0
# Scheme -> (the fsspec implementation's module, the extra that installs it).
SCHEMES: dict[str, tuple[str | None, str | None]] = {
    "s3": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "file": (None, None),
}


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        msg = (
            f"ledger_url {url!r}: the scheme must be one of "
            f"{', '.join(s + '://' for s in SCHEMES)}."
        )
        raise LedgerError(msg)
    module, extra = SCHEMES[scheme]
    try:
        import fsspec  # noqa: PLC0415 (only runs with a ledger_url import it)

        if module is not None:
            __import__(module)
    except ImportError:
        msg = (
            f"ledger_url {url!r} needs the `{extra}` extra: install "
            f"singer-target-amplitude[{extra}] (Meltano: pip_url: "
            f"singer-target-amplitude[{extra}], then `meltano install`)."
        )
        raise LedgerError(msg) from None
    if module == "gcsfs" and os.environ.get("STORAGE_EMULATOR_HOST"):
        # An emulator speaks the JSON API only and takes no credentials (Google's own clients
        # go anonymous there too): gcsfs's classic file system, without its gRPC bucket-type
        # probe (which waits a minute per bucket for an emulator that has no gRPC).
        from gcsfs.core import GCSFileSystem  # noqa: PLC0415

        return GCSFileSystem(token="anon"), url.split("://", 1)[1]  # noqa: S106
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RemoteCopy:
    """The object at ledger_url, its lock object, and the heartbeat that keeps the lock fresh."""

    def __init__(self, url: str, run_id: str) -> None:
        self.url = url
        self.run_id = run_id
        self.fs, self.path = _filesystem(url)
        self.lock_path = self.path + ".lock"
        self._local = scheme_of(url) == "file"
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._locked = False

    def _fail(self, action: str, exc: BaseException) -> t.NoReturn:
        msg = (
            f"ledger_url {self.url}: cannot {action} ({type(exc).__name__}: {exc}). Check that "
            "the bucket exists and that this runner's credentials may read, write and delete "
            "objects there (the standard chain: AWS_* / GOOGLE_APPLICATION_CREDENTIALS / "
            "AZURE_STORAGE_*). Nothing was sent."
        )
        raise LedgerError(msg) from None

    # -- Lock ------------------------------------------------------------------------------

    def _lock_body(self, started: str) -> bytes:
        return json.dumps(
            {
                "run_id": self.run_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": started,
                "heartbeat_at": _now().isoformat(timespec="seconds"),
            }
        ).encode()

    def _read_lock(self) -> dict[str, t.Any] | None:
        try:
            raw = self.fs.cat_file(self.lock_path)
        except FileNotFoundError:
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def acquire(self) -> None:
        """Write the lock object, or fail naming the run holding a fresh one."""
        try:
            held = self._read_lock()
        except Exception as exc:
            self._fail("read the lock object", exc)
        if held is not None and held.get("run_id") != self.run_id:
            beat = held.get("heartbeat_at")
            try:
                age = (_now() - dt.datetime.fromisoformat(str(beat))).total_seconds()
            except ValueError:
                age = 0.0  # unreadable: treated as fresh, the safe side
            if age < LOCK_STALE_SECONDS:
                msg = (
                    f"The sync ledger at {self.url} is in use by another run (run "
                    f"{held.get('run_id')} on {held.get('host')}, heartbeat {age:.0f} s ago; "
                    f"its lock object {self.url}.lock). Nothing was sent. Wait for that run to "
                    f"end; a lock whose heartbeat is over {LOCK_STALE_SECONDS:.0f} s old is taken "
                    "over, and one left by a run known to be dead may be deleted."
                )
                raise LedgerLockedError(msg)
        started = _now().isoformat(timespec="seconds")
        try:
            self.fs.pipe_file(self.lock_path, self._lock_body(started))
            back = self._read_lock()
        except Exception as exc:
            self._fail("write the lock object", exc)
        if not back or back.get("run_id") != self.run_id:
            msg = (
                f"The sync ledger at {self.url} was locked by another run starting at the same "
                f"time (run {back.get('run_id') if back else '?'}). Nothing was sent."
            )
            raise LedgerLockedError(msg)
        self._locked = True
        self._heartbeat = threading.Thread(
            target=self._beat, args=(started,), name="ledger-lock-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _beat(self, started: str) -> None:
        while not self._stop.wait(LOCK_HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):
                self.fs.pipe_file(self.lock_path, self._lock_body(started))

    def release(self) -> None:
        """Stop the heartbeat and delete the lock object (if it is still this run's)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        if self._locked:
            with contextlib.suppress(Exception):
                held = self._read_lock()
                if held is not None and held.get("run_id") == self.run_id:
                    self.fs.rm_file(self.lock_path)
            self._locked = False

    # -- The copy --------------------------------------------------------------------------

    def download(self, local: Path) -> bool:
        """Replace the local file with the stored copy; False when there is none yet."""
        try:
            if not self.fs.exists(self.path):
                return False
            local.parent.mkdir(parents=True, exist_ok=True)
            part = local.with_name(local.name + ".download")
            self.fs.get_file(self.path, str(part))
            os.replace(part, local)
        except Exception as exc:
            self._fail("download the ledger", exc)
        return True

    def upload(self, snapshot: Path) -> None:
        """Replace the stored copy with `snapshot`: temporary object, size check, move."""
        temp = f"{self.path}.upload-{self.run_id}"
        self.fs.put_file(str(snapshot), temp)
        size = self.fs.info(temp).get("size")
        if size != snapshot.stat().st_size:
            with contextlib.suppress(Exception):
                self.fs.rm_file(temp)
            expected = snapshot.stat().st_size
            msg = f"ledger_url {self.url}: the uploaded copy has {size} bytes, not {expected}"
            raise LedgerError(msg)
        if self._local:
            self.fs.mv(temp, self.path)  # a rename: atomic on one file system
        else:
            # A server-side copy (S3 CopyObject, GCS rewrite, Azure copy blob) replaces the
            # object whole; then the temporary object goes.
            self.fs.copy(temp, self.path)
            with contextlib.suppress(Exception):
                self.fs.rm_file(temp)
        self.fs.invalidate_cache()
