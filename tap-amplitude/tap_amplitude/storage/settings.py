"""The settings of the storage export source: their schema and their typed view.

``export_source: api`` (the default) reads events from the Export API as before and needs none
of them; ``storage`` reads Amplitude's Amazon S3 / Google Cloud Storage export at
``export_storage_url``. Credentials come from each cloud's standard chain unless given here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from singer_sdk import typing as th

from tap_amplitude.storage.filesystem import extra_missing
from tap_amplitude.storage.location import StorageLocation, parse_storage_url

__all__ = [
    "API_SOURCE",
    "EXPORT_SOURCES",
    "MAX_STORAGE_PREFETCH_FILES",
    "STORAGE_PROPERTIES",
    "STORAGE_SOURCE",
    "StorageSettings",
    "parse_storage_settings",
]

API_SOURCE, STORAGE_SOURCE = "api", "storage"
EXPORT_SOURCES = (API_SOURCE, STORAGE_SOURCE)
MAX_STORAGE_PREFETCH_FILES = 32
DEFAULT_STORAGE_PREFETCH_FILES = 4

STORAGE_PROPERTIES = (
    th.Property(
        "export_source",
        th.StringType,
        default=API_SOURCE,
        allowed_values=list(EXPORT_SOURCES),
        title="Export Source",
        description=(
            "Where the events stream reads raw events: 'api' (Amplitude's Export API) or "
            "'storage' (the files Amplitude's Amazon S3 or Google Cloud Storage export writes "
            "to export_storage_url: no 4 GB limit per hour, and the merged_ids stream). "
            "Storage needs the s3 or gcs extra: pip install 'singer-tap-amplitude[s3]'."
        ),
    ),
    th.Property(
        "export_storage_url",
        th.StringType(min_length=1),
        title="Export Storage URL",
        description=(
            "With export_source 'storage': the bucket and optional folder Amplitude exports "
            "to, s3://bucket/prefix or gs://bucket/prefix (file:///dir for a local copy). "
            "Files are found by Amplitude's file names anywhere under it."
        ),
    ),
    th.Property(
        "export_storage_project_id",
        th.StringType(pattern=r"^\s*\d+\s*$"),
        title="Export Storage Project ID",
        description=(
            "The Amplitude project id whose event files to read, when several projects "
            "export under export_storage_url. Default: the one project found there."
        ),
    ),
    th.Property(
        "export_storage_prefetch_files",
        th.IntegerType(minimum=0, maximum=MAX_STORAGE_PREFETCH_FILES),
        default=DEFAULT_STORAGE_PREFETCH_FILES,
        title="Export Storage Prefetch (files)",
        description=(
            "Export files downloaded in parallel ahead of the one being read (each spooled "
            "to a temporary file: at most this many plus one on disk). 0 reads one file at a "
            "time."
        ),
    ),
    th.Property(
        "aws_access_key_id",
        th.StringType(min_length=1),
        secret=True,
        title="AWS Access Key ID",
        description=(
            "For s3:// without a credential chain (environment, AWS_PROFILE, instance or "
            "task role): the reader's access key id, with aws_secret_access_key."
        ),
    ),
    th.Property(
        "aws_secret_access_key",
        th.StringType(min_length=1),
        secret=True,
        title="AWS Secret Access Key",
        description="The secret of aws_access_key_id.",
    ),
    th.Property(
        "aws_session_token",
        th.StringType(min_length=1),
        secret=True,
        title="AWS Session Token",
        description="Optional session token of temporary credentials (with the key above).",
    ),
    th.Property(
        "gcs_service_account_json",
        th.StringType(min_length=1),
        secret=True,
        title="GCS Service Account Key (JSON)",
        description=(
            "For gs:// without a credential chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud, "
            "the metadata server): the content of the reader's service account key file."
        ),
    ),
)


@dataclass(frozen=True)
class StorageSettings:
    """The storage source's settings, converted; secrets kept out of repr."""

    source: str
    location: StorageLocation | None
    project_id: str | None
    prefetch_files: int
    aws_access_key_id: str | None = field(repr=False)
    aws_secret_access_key: str | None = field(repr=False)
    aws_session_token: str | None = field(repr=False)
    gcs_service_account_json: str | None = field(repr=False)

    @property
    def from_storage(self) -> bool:
        """Whether events (and merged ids) are read from the storage export."""
        return self.source == STORAGE_SOURCE


def _text(config: Mapping[str, Any], name: str) -> str | None:
    value = config.get(name)
    return str(value).strip() or None if value is not None else None


def parse_storage_settings(config: Mapping[str, Any]) -> StorageSettings:
    """Convert and cross-check the storage settings.

    Raises:
        SettingsError: the first invalid setting, named (a secret's value is never shown).
    """
    from tap_amplitude.settings import SettingsError  # noqa: PLC0415 - settings imports us

    source = config.get("export_source") or API_SOURCE
    url = _text(config, "export_storage_url")
    location = None
    if source == STORAGE_SOURCE:
        if url is None:
            raise SettingsError(
                "export_storage_url",
                "export_source is 'storage': set it to the bucket Amplitude exports to "
                "(s3://bucket/prefix or gs://bucket/prefix)",
            )
        try:
            location = parse_storage_url(url)
        except ValueError as exc:
            raise SettingsError("export_storage_url", str(exc)) from None
        problem = extra_missing(location)
        if problem is not None:
            raise SettingsError("export_storage_url", problem)
    key_id = _text(config, "aws_access_key_id")
    secret = _text(config, "aws_secret_access_key")
    if (key_id is None) != (secret is None):
        missing = "aws_secret_access_key" if secret is None else "aws_access_key_id"
        raise SettingsError(missing, "aws_access_key_id and aws_secret_access_key go together")
    account = _text(config, "gcs_service_account_json")
    if account is not None:
        try:
            parsed = json.loads(account)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise SettingsError(
                "gcs_service_account_json",
                "expected the content of a service account key file (a JSON object); "
                "the value given is not one (not shown: it is a secret)",
            )
    prefetch = config.get("export_storage_prefetch_files")
    return StorageSettings(
        source=source,
        location=location,
        project_id=_text(config, "export_storage_project_id"),
        prefetch_files=DEFAULT_STORAGE_PREFETCH_FILES if prefetch is None else int(prefetch),
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=_text(config, "aws_session_token"),
        gcs_service_account_json=account,
    )
