"""The cloud client: fsspec with s3fs (``s3`` extra) or gcsfs (``gcs`` extra), imported only
when ``export_source`` is ``storage``; the listing of the prefix and its errors.

Credentials: each cloud's standard chain unless the explicit settings are given.
- S3 (s3fs on botocore): environment (``AWS_ACCESS_KEY_ID``...), ``AWS_PROFILE`` and the shared
  files, web identity, ECS/EC2 instance roles; ``AWS_ENDPOINT_URL`` (botocore >= 1.31) for an
  S3-compatible server. Settings: ``aws_access_key_id``, ``aws_secret_access_key``,
  ``aws_session_token``.
- GCS (gcsfs on google-auth): ``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application default
  credentials, the metadata server; ``STORAGE_EMULATOR_HOST`` for an emulator (then anonymous
  unless a key is given). Setting: ``gcs_service_account_json``. gcsfs's JSON-API filesystem is
  used (``gcsfs.core.GCSFileSystem``): the package-level class of gcsfs >= 2025.10 first asks a
  gRPC control-plane API for the bucket's layout (zonal/hierarchical buckets), which an exported
  bucket does not need, an emulator does not serve (a minute's timeout per bucket) and a
  read-only role may not be granted.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tap_amplitude.errors import AmplitudeError
from tap_amplitude.storage.location import StorageLocation

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from tap_amplitude.settings import TapSettings

__all__ = ["StorageAccessError", "extra_missing", "list_objects", "open_filesystem"]

_MODULES = {"s3": ("s3fs",), "gs": ("gcsfs",), "file": ("fsspec",)}


class StorageAccessError(AmplitudeError):
    """The bucket cannot be listed or read: missing, denied, unreachable, or not an export."""


def extra_missing(location: StorageLocation) -> str | None:
    """Why ``location`` cannot be read with the installed packages (None: it can)."""
    for module in ("fsspec", *_MODULES[location.scheme]):
        if importlib.util.find_spec(module) is None:
            extra = location.extra or "s3"
            return (
                f"reading {location.scheme}:// needs the `{extra}` extra "
                f"({module} is not installed): pip install 'singer-tap-amplitude[{extra}]' "
                f"(Meltano: pip_url: singer-tap-amplitude[{extra}])"
            )
    return None


def open_filesystem(settings: TapSettings) -> AbstractFileSystem:
    """The filesystem of ``export_storage_url`` with the configured credentials."""
    location = settings.export_storage
    assert location is not None
    problem = extra_missing(location)
    if problem is not None:
        raise StorageAccessError(f"export_source is storage, but {problem}.")
    if location.scheme == "s3":
        from s3fs import S3FileSystem  # noqa: PLC0415 - the s3 extra, imported when used

        options: dict[str, Any] = {}
        if settings.storage.aws_access_key_id:
            options.update(
                key=settings.storage.aws_access_key_id,
                secret=settings.storage.aws_secret_access_key,
            )
            if settings.storage.aws_session_token:
                options["token"] = settings.storage.aws_session_token
        return S3FileSystem(skip_instance_cache=True, **options)
    if location.scheme == "gs":
        from gcsfs.core import GCSFileSystem  # noqa: PLC0415 - the gcs extra, imported when used

        token: Any = None  # google-auth's default chain
        if settings.storage.gcs_service_account_json:
            token = json.loads(settings.storage.gcs_service_account_json)
        elif os.environ.get("STORAGE_EMULATOR_HOST"):
            token = "anon"  # noqa: S105 - gcsfs's name for no credentials
        return GCSFileSystem(token=token, skip_instance_cache=True)
    from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415

    return LocalFileSystem()


def list_objects(fs: AbstractFileSystem, location: StorageLocation) -> Iterator[tuple[str, int]]:
    """Every object under the prefix as ``(path, size)``.

    Raises:
        StorageAccessError: the bucket (or directory) does not exist, access is denied, or the
            store cannot be reached; the message names ``export_storage_url``.
    """
    root = location.root
    try:
        if location.scheme == "file" and not fs.isdir(root):
            raise FileNotFoundError(root)
        found: dict[str, dict[str, Any]] = fs.find(root, detail=True)
    except FileNotFoundError:
        what = "directory" if location.scheme == "file" else f"bucket {location.bucket!r}"
        raise StorageAccessError(
            f"export_storage_url {location}: the {what} does not exist (or is not visible "
            "with these credentials). Check the setting against the bucket in Amplitude's "
            "export settings (Data > Destinations)."
        ) from None
    except PermissionError as exc:
        raise StorageAccessError(
            f"export_storage_url {location}: access denied ({_short(exc)}). The reader needs "
            "to list the bucket and read its objects (docs/storage-export.md: the policy)."
        ) from None
    except Exception as exc:  # botocore/google-auth errors are not OSErrors
        raise StorageAccessError(
            f"export_storage_url {location}: the bucket could not be listed ({_short(exc)})."
        ) from None
    for path, info in found.items():
        if info.get("type", "file") == "file":
            yield path, int(info.get("size") or 0)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
