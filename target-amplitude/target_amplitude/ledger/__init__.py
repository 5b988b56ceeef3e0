"""The sync ledger: what Amplitude acknowledged, so each event is created once ever and
profiles are sent only when they change (docs/ledger.md).

- decide.py: sync_mode and the pure decision per row
- hashing.py: the payload hash and the API key fingerprint
- store.py: the SQLite file (schema, run lock)
- key_filter.py: which keys a scope may hold (absent keys answered without a read)
- key_runs.py: create_only's keys as sorted runs of blocks (the file's key_blocks)
- remote.py: the copy at ledger_url (fsspec), its lock object
- session.py: one run's use of it (what the target calls)
- keys.py: a mapped payload's ledger key (and properties to unset)
"""

from target_amplitude.ledger.decide import (
    ALLOWED_SYNC_MODES,
    DEFAULT_SYNC_MODE,
    SYNC_MODES,
    Kind,
    SyncMode,
    Verdict,
    decide,
)
from target_amplitude.ledger.errors import LedgerCorruptError, LedgerError, LedgerLockedError
from target_amplitude.ledger.hashing import key_fingerprint, payload_digest, wire_digest
from target_amplitude.ledger.keys import ledger_key, property_names
from target_amplitude.ledger.session import Ledger, LedgerConfig, Scope

__all__ = [
    "ALLOWED_SYNC_MODES",
    "DEFAULT_SYNC_MODE",
    "SYNC_MODES",
    "Kind",
    "Ledger",
    "LedgerConfig",
    "LedgerCorruptError",
    "LedgerError",
    "LedgerLockedError",
    "Scope",
    "SyncMode",
    "Verdict",
    "decide",
    "key_fingerprint",
    "ledger_key",
    "payload_digest",
    "property_names",
    "wire_digest",
]
