"""Amplitude's Amazon S3 / Google Cloud Storage export as a source (``export_source: storage``).

One module per responsibility:

- :mod:`.location`: the ``export_storage_url`` setting, parsed (pure);
- :mod:`.naming`: Amplitude's documented file names, recognised (pure);
- :mod:`.listing`: the objects under the prefix, grouped by hour (pure, from a listing);
- :mod:`.filesystem`: the cloud client (fsspec with s3fs or gcsfs, imported lazily from the
  ``s3`` / ``gcs`` extras), credentials, the listing call and its errors;
- :mod:`.spool`: one exported file downloaded to disk as the archive the Export API path reads,
  so both sources share the same decompression, parsing and record code.
"""

from tap_amplitude.storage.listing import HourFiles, StorageListing, build_listing
from tap_amplitude.storage.location import STORAGE_SCHEMES, StorageLocation, parse_storage_url
from tap_amplitude.storage.naming import ExportObject, FileKind, classify

__all__ = [
    "STORAGE_SCHEMES",
    "ExportObject",
    "FileKind",
    "HourFiles",
    "StorageListing",
    "StorageLocation",
    "build_listing",
    "classify",
    "parse_storage_url",
]
