"""The ledger's errors: each names the file or object and the way out."""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger cannot be used; the run stops before anything is sent."""


class LedgerLockedError(LedgerError):
    """Another run holds the ledger."""


class LedgerCorruptError(LedgerError):
    """The ledger file is unreadable (not SQLite, damaged, or of a newer format)."""


def way_out(where: str) -> str:
    """How to start over, said the same in every error."""
    return (
        f"To start over, move {where} aside (or delete it): the next run then sends every row "
        "again; Amplitude drops a repeated insert_id only within 7 days, so events older than "
        "that may be stored twice, while profiles are simply set again. Better: restore the "
        "last good copy (for a ledger_url, the object store's previous version)."
    )
