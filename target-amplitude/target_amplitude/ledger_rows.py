"""The sync ledger as a sink sees it: which rows to send, and what to record once answered.

The seam between a sink (sinks.AmplitudeSink) and the ledger (ledger/): the sink asks take()
for each mapped payload, hands cut() the batch it delivers, and tells the batch which rows
Amplitude refused once it is answered; every other row of the batch is recorded as
acknowledged. The target commits the ledger before each STATE (TargetAmplitude._write_sdk_state).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from target_amplitude.ledger import Kind, Scope, ledger_key, payload_digest, property_names
from target_amplitude.ledger.keys import unset_payload
from target_amplitude.ledger.store import scope_props

if t.TYPE_CHECKING:
    from target_amplitude.settings import StreamMapping
    from target_amplitude.sinks import RunContext

# (ref, key, hash, props); hash None: a removal (mirror), forgotten once acknowledged.
Row = tuple[int, str, bytes | None, str | None]


class LedgerRows:
    """One sink's rows in the ledger."""

    @dataclass(slots=True)
    class Batch:
        """The ledger rows of one delivered batch."""

        scope: Scope
        rows: list[Row]
        kinds: dict[Kind, int] = field(default_factory=dict)
        removals: int = 0

        @property
        def unchanged(self) -> int:
            """Rows not sent: Amplitude has them."""
            return self.kinds.get(Kind.UNCHANGED, 0) - self._resent

        _resent: int = 0

        def preview(self) -> dict[str, int]:
            """Dry run: new, changed, unchanged, removed."""
            return {
                "new": self.kinds.get(Kind.NEW, 0),
                "changed": self.kinds.get(Kind.CHANGED, 0),
                "unchanged": self.kinds.get(Kind.UNCHANGED, 0),
                "removed": self.removals,
            }

        def answered(self, refused: t.Container[int]) -> None:
            """Record the rows Amplitude acknowledged (every row whose ref was not refused)."""
            records, gone = [], []
            for ref, key, digest, props in self.rows:
                if ref in refused:
                    continue
                if digest is None:
                    gone.append(key)
                else:
                    records.append((key, digest, props))
            self.scope.answered(records, [key for _, key, _, _ in self.rows])
            self.scope.forget(gone)

        def removed(self, refused: t.Container[int]) -> int:
            """Removals acknowledged."""
            return sum(1 for ref, _, h, _ in self.rows if h is None and ref not in refused)

    def __init__(self, scope: Scope, obj: str) -> None:
        self.scope = scope
        self.obj = obj
        self.mirror = scope.mode == "mirror"
        self._rows: list[Row] = []
        self._kinds: dict[Kind, int] = {}
        self._resent = 0
        self._removals = 0
        # Mirror: the ACTIVATE_VERSION that opened the current snapshot, and rows since.
        self._version: int | None = None
        self._rows_in_snapshot = 0

    @classmethod
    def for_sink(cls, run: RunContext, stream: str, mapping: StreamMapping) -> LedgerRows | None:
        """The sink's rows, or None when the ledger is not consulted (sync_mode all)."""
        ledger = run.ledger
        if ledger is None:
            return None
        scope = ledger.scope(stream, mapping.object, mapping.effective_sync_mode)
        return None if scope is None else cls(scope, mapping.object)

    def take(self, ref: int, obj: str, payload: t.Mapping[str, t.Any]) -> bool:
        """False: the row is unchanged (counted, not sent); True: send it (tracked)."""
        key = ledger_key(obj, payload)
        if key is None:
            return True  # no identity to track: sent, as before the ledger
        digest = payload_digest(payload)
        verdict = self.scope.classify(key, digest)
        self._kinds[verdict.kind] = self._kinds.get(verdict.kind, 0) + 1
        if self.mirror:
            self.scope.seen(key)
            self._rows_in_snapshot += 1
        if not verdict.send:
            return False
        if verdict.kind is Kind.UNCHANGED:
            self._resent += 1  # full_resync, or its key is in flight: sent all the same
        self.scope.sent(key)
        props = scope_props(property_names(obj, payload)) if self.mirror else None
        self._rows.append((ref, key, digest, props))
        return True

    def drop(self, ref: int) -> None:
        """The row taken as `ref` is not sent after all (rejected before delivery)."""
        if self._rows and self._rows[-1][0] == ref:
            _, key, _, _ = self._rows.pop()
            self.scope.answered((), [key])

    def cut(self) -> LedgerRows.Batch:
        """The rows of the batch being handed off."""
        batch = LedgerRows.Batch(self.scope, self._rows, self._kinds, self._removals)
        batch._resent = self._resent
        self._rows, self._kinds, self._resent, self._removals = [], {}, 0, 0
        return batch

    # -- Mirror ----------------------------------------------------------------------------

    def snapshot_marker(self, version: int) -> list[tuple[str, dict[str, t.Any]]]:
        """ACTIVATE_VERSION: a snapshot starts, or ends (its vanished rows' unset payloads).

        A marker ends the snapshot when rows came since the last one, or it repeats the last
        version (an empty table); otherwise it opens a new snapshot.
        """
        if not self.mirror:
            return []
        ends = self._rows_in_snapshot > 0 or version == self._version
        self._version = version
        self._rows_in_snapshot = 0
        if not ends:
            self.scope.new_snapshot()
            return []
        out = []
        for key, _digest, props in self.scope.vanished():
            names = t.cast("list[str]", json.loads(props)) if props else []
            payload = unset_payload(self.obj, key, names)
            if payload is not None:
                out.append((key, payload))
        self.scope.new_snapshot()
        return out

    def take_removal(self, ref: int, key: str) -> None:
        """A vanished row's unset payload is being sent."""
        self.scope.sent(key)
        self._removals += 1
        self._rows.append((ref, key, None, None))
