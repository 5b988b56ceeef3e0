"""What the ledger decides for one row (pure): send it or count it unchanged.

`sync_mode` per stream mapping (names are a contract with users):

- create_only: an insert_id (events) or key Amplitude acknowledged once is never sent again.
- changed: a row is sent when its mapped payload's hash differs from the last one Amplitude
  acknowledged for its key (or the key is new).
- mirror: changed, plus rows that vanished from a full snapshot (ACTIVATE_VERSION) get their
  mapped properties unset, or leave the cohort. Refused for events (no HTTP API deletes one).
- all: every row is sent and the ledger is not consulted (the behaviour before the ledger).
"""

from __future__ import annotations

import enum
import typing as t
from dataclasses import dataclass

SyncMode = t.Literal["create_only", "changed", "mirror", "all"]
SYNC_MODES: tuple[SyncMode, ...] = ("create_only", "changed", "mirror", "all")

# The default per mapped object; cohorts are mirrored by nature (the stream's rows are the
# cohort): a full upload the first time, ADD/REMOVE deltas once the ledger knows its members.
DEFAULT_SYNC_MODE: dict[str, SyncMode] = {
    "event": "create_only",
    "user": "changed",
    "device": "changed",
    "group": "changed",
    "user_mapping": "changed",
    "cohort": "mirror",
    "deletion": "all",
}
# What each object accepts (deletions are requests, not state: always sent).
ALLOWED_SYNC_MODES: dict[str, tuple[SyncMode, ...]] = {
    "event": ("create_only", "changed", "all"),
    "user": SYNC_MODES,
    "device": SYNC_MODES,
    "group": SYNC_MODES,
    "user_mapping": ("create_only", "changed", "all"),
    "cohort": ("mirror", "all"),
    "deletion": ("all",),
}


class Kind(enum.Enum):
    """How a row compares with what the ledger says Amplitude accepted."""

    NEW = "new"  # its key was never acknowledged
    CHANGED = "changed"  # acknowledged with another payload
    UNCHANGED = "unchanged"  # acknowledged with this payload (create_only: acknowledged at all)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A row's kind, and whether it is sent."""

    kind: Kind
    send: bool


NEW = Verdict(Kind.NEW, send=True)
CHANGED = Verdict(Kind.CHANGED, send=True)
UNCHANGED = Verdict(Kind.UNCHANGED, send=False)
RESENT = Verdict(Kind.UNCHANGED, send=True)


def decide(
    mode: SyncMode,
    previous: bytes | None,
    digest: bytes,
    *,
    full_resync: bool = False,
    in_flight: bool = False,
) -> Verdict:
    """The verdict for a row whose payload hashes to `digest`.

    previous: the hash last acknowledged for the row's key (None: never; NO_HASH, empty:
    acknowledged under create_only, which keeps no payload, so under `changed` the row is
    sent once, as if the ledger had forgotten it). full_resync sends every row (and the
    ledger is refreshed from the answers). in_flight: the key was sent earlier in this run
    and is not answered yet: under `changed` and `mirror` the row is sent, as the one in
    flight may still be refused or carry another payload, and only answered rows may ever
    make a row unchanged; create_only needs no more than the answer it has.
    """
    if previous is None:
        return NEW
    if mode == "create_only":
        return RESENT if full_resync else UNCHANGED
    verdict = UNCHANGED if previous == digest else CHANGED
    if verdict is UNCHANGED and (full_resync or in_flight or mode == "all"):
        return RESENT
    return verdict
