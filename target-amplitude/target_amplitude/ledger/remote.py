"""The ledger's copy in an object store (ledger_url), through fsspec.

- s3:// (extra `s3`: s3fs), gs:// (extra `gcs`: gcsfs), az:// or abfs:// (extra `azure`:
  adlfs), file:// (fsspec alone). Credentials and endpoints come from each library's standard
  chain and environment: AWS_* and AWS_ENDPOINT_URL (botocore), GOOGLE_APPLICATION_CREDENTIALS
  and STORAGE_EMULATOR_HOST (gcsfs; anonymous with an emulator, as Google's clients are),
  AZURE_STORAGE_* (adlfs).
- Downloaded once when the run starts (replacing the local file at ledger_path), unless it is
  not an SQLite file (ledger_url naming another object): then an error naming the URL, the
  local file left as it was. (Damage inside an SQLite file shows when the store opens it.)
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
- Access is proven before anything is sent: reading the lock object, deleting this run's own
  temporary object name (absent: S3 answers 204, GCS and file:// "not found", all after the
  permission check), then writing the lock. A runner that may read and write but not delete
  would otherwise leave its lock object behind, and the next run would find it "in use".
  Each refusal is a LedgerError naming ledger_url, the URL, the permissions needed and how to
  run without the copy (never the credentials).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import threading
import typing as t
from pathlib import Path

from target_amplitude.ledger.errors import (
    LedgerCorruptError,
    LedgerError,
    LedgerLockedError,
    way_out,
)

if t.TYPE_CHECKING:
    from fsspec import AbstractFileSystem

LOGGER = logging.getLogger("target-amplitude")
LOCK_HEARTBEAT_SECONDS = 60.0
LOCK_STALE_SECONDS = 600.0
# The first 16 bytes of every SQLite database file (sqlite.org/fileformat.html, 1.3.1).
SQLITE_HEADER = b"SQLite format 3\x00"
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


# Scheme -> (where its credentials come from, the permissions the ledger needs).
ACCESS: dict[str, tuple[str, str]] = {
    "s3": (
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the runner's IAM role",
        "s3:GetObject, s3:PutObject, s3:DeleteObject on the objects and s3:ListBucket on the "
        "bucket",
    ),
    "gs": (
        "GOOGLE_APPLICATION_CREDENTIALS or the runner's service account",
        "storage.objects.get, create, delete and list on the bucket, e.g. the role "
        "roles/storage.objectUser",
    ),
    "az": (
        "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with a key or Azure AD",
        "read, write and delete blobs in the container, e.g. the role Storage Blob Data "
        "Contributor",
    ),
    "file": ("this process's user", "read, write and delete files in the folder"),
}
ACCESS["gcs"], ACCESS["abfs"] = ACCESS["gs"], ACCESS["az"]


def _detail(exc: BaseException) -> str:
    """The exception's type and first line, shortened (store messages can run to pages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def refused(exc: BaseException) -> bool:
    """The store refused the credentials or the permission (401/403), whatever the library.

    s3fs raises PermissionError (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, 403);
    gcsfs an OSError "Forbidden: ..." for 403 and an HttpError with code 401; adlfs/azure-core
    errors carry status_code.
    """
    if isinstance(exc, PermissionError):
        return True
    if isinstance(exc, OSError) and str(exc).startswith("Forbidden"):
        return True
    status = getattr(exc, "code", None) or getattr(exc, "status_code", None)
    return status in (401, 403)


def access_error(url: str, action: str, exc: BaseException) -> str:
    """The error for a store operation that failed before anything was sent."""
    if refused(exc):
        cause = f"access denied: this runner's credentials may not {action}"
    elif isinstance(exc, FileNotFoundError):
        cause = f"cannot {action}: not found (does the bucket or container exist?)"
    else:
        cause = f"cannot {action}"
    credentials, permissions = ACCESS.get(scheme_of(url), ACCESS["file"])
    return (
        f"ledger_url {url}: {cause} ({_detail(exc)}). Nothing was sent. The credentials this "
        f"runner uses ({credentials}) must be allowed to read, write and delete the ledger "
        f"object {url} and its lock object {url}.lock (and the temporary objects {url}.upload-*): "
        f"{permissions}. Fix the credentials or the bucket's policy, point ledger_url "
        "at a bucket this runner may use, or unset ledger_url to keep the ledger only on this "
        "runner's disk (ledger_path; a runner whose disk does not survive the run then resends "
        "every row each run)."
    )


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
        raise LedgerError(access_error(self.url, action, exc)) from None

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
        self._check_delete()
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

    def _check_delete(self) -> None:
        """Delete this run's temporary object name (absent): refused without delete rights."""
        try:
            self.fs.rm_file(f"{self.path}.upload-{self.run_id}")
        except FileNotFoundError:
            pass  # GCS and file:// report the absent object; S3 answers 204
        except Exception as exc:
            self._fail("delete objects", exc)

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
            try:
                held = self._read_lock()
                if held is not None and held.get("run_id") == self.run_id:
                    self.fs.rm_file(self.lock_path)
            except Exception as exc:
                LOGGER.warning(
                    "Sync ledger: could not delete the lock object %s.lock (%s); a run starting "
                    "within %.0f s will find the ledger in use. Delete that object if no run is "
                    "using the ledger.",
                    self.url,
                    _detail(exc),
                    LOCK_STALE_SECONDS,
                )
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
            with part.open("rb") as head:
                is_sqlite = head.read(len(SQLITE_HEADER)) == SQLITE_HEADER
            if not is_sqlite:
                part.unlink()
            else:
                os.replace(part, local)
        except Exception as exc:
            self._fail("download the ledger", exc)
        if not is_sqlite:
            msg = (
                f"The sync ledger downloaded from {self.url} is unreadable (not an SQLite "
                f"file: is ledger_url pointing at another object?). Nothing was sent; the local "
                f"copy was left as it was. {way_out(self.url)}"
            )
            raise LedgerCorruptError(msg)
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
