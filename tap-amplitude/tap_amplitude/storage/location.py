"""``export_storage_url``: where Amplitude writes its export (pure; no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EXTRAS", "STORAGE_SCHEMES", "StorageLocation", "parse_storage_url"]

# The schemes read, and the extra of singer-tap-amplitude each one needs (file:// needs none: a
# local copy of the bucket, e.g. made with `aws s3 sync`, or a test directory).
EXTRAS = {"s3": "s3", "gs": "gcs", "file": None}
STORAGE_SCHEMES = tuple(EXTRAS)
# S3 and GCS bucket names: 3-63 (GCS: up to 222 with dots) lowercase letters, digits, dots,
# hyphens, underscores (GCS).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")


@dataclass(frozen=True)
class StorageLocation:
    """``scheme://bucket/prefix``; ``prefix`` has no leading or trailing slash ('' = the root).

    For ``file://`` the bucket is empty and ``prefix`` is the absolute directory.
    """

    scheme: str
    bucket: str
    prefix: str

    @property
    def root(self) -> str:
        """The path the filesystem lists: ``bucket/prefix`` (``/dir`` for file://)."""
        if self.scheme == "file":
            return "/" + self.prefix
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    @property
    def extra(self) -> str | None:
        """The extra of singer-tap-amplitude this scheme needs."""
        return EXTRAS[self.scheme]

    def url_of(self, path: str) -> str:
        """The URL of an object given by its filesystem path (for messages)."""
        return f"{self.scheme}://{path.lstrip('/') if self.scheme != 'file' else path}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.root.lstrip('/') if self.scheme != 'file' else self.root}"


def parse_storage_url(value: str) -> StorageLocation:
    """Parse ``s3://bucket[/prefix]``, ``gs://bucket[/prefix]`` or ``file:///directory``.

    Raises:
        ValueError: the URL is not one of those (the message says what is expected).
    """
    expected = (
        "expected s3://bucket/prefix or gs://bucket/prefix (the bucket and folder you gave "
        f"Amplitude's export; the prefix is optional), got {value!r}"
    )
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in EXTRAS or "?" in rest or "#" in rest:
        raise ValueError(expected)
    scheme = scheme.lower()
    if scheme == "file":
        if not rest.startswith("/"):
            raise ValueError(f"file:// needs an absolute directory (file:///path), got {value!r}")
        return StorageLocation("file", "", rest.strip("/"))
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"{expected}: {bucket!r} is not a bucket name")
    return StorageLocation(scheme, bucket, prefix.strip("/"))
