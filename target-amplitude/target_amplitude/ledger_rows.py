"""The sync ledger as a sink sees it: which rows to send, and what to record once answered.

The seam between a sink (sinks.AmplitudeSink) and the ledger (ledger/): the sink offers each
mapped row (offer()), and every few hundred rows asks which to send (decide(): one read of the
ledger for them all); only those join its batch. It hands cut() the batch it delivers and, once
answered, tells it which rows Amplitude refused: every other row sent is recorded as
acknowledged. The target commits the ledger
before each STATE (TargetAmplitude._write_sdk_state).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from target_amplitude.ledger import Kind, Scope, ledger_key, property_names, wire_digest
from target_amplitude.ledger.keys import unset_payload
from target_amplitude.ledger.store import scope_props

if t.TYPE_CHECKING:
    from target_amplitude.settings import StreamMapping
    from target_amplitude.sinks import RunContext

# (ref, key, hash, props); hash None: a removal (mirror), forgotten once acknowledged.
Row = tuple[int, str, bytes | None, str | None]
# (key, hash, props) of a row offered, not decided yet.
Offered = tuple[str, bytes, str | None]


def offered_entry(
    obj: str, mirror: bool, payload: t.Mapping[str, t.Any], wires: t.Sequence[bytes]
) -> Offered | None:
    """What the ledger is offered of a mapped row (its payload, the bytes it would be sent as):
    its key, hash and (mirror) property names; None when the payload has no key. Pure: a
    mapping worker computes it beside the mapping (prepare.RecordPlan)."""
    key = ledger_key(obj, payload)
    if key is None:
        return None
    return (key, wire_digest(wires), scope_props(property_names(obj, payload)) if mirror else None)


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
        self._rows: list[Row] = []  # decided: sent, in the batch
        self._offered: list[Offered | None] = []  # not decided yet (None: no key, sent)
        self._seen: list[str] = []  # mirror: keys of the snapshot not marked seen yet
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

    def offer(self, entry: Offered | None) -> None:
        """A mapped row's entry (offered_entry); decide() says whether the row is sent. A row
        whose payload has no key (entry None: nothing to track) is sent, as before the ledger."""
        self._offered.append(entry)
        if entry is not None and self.mirror:
            self._seen.append(entry[0])
            self._rows_in_snapshot += 1

    def decide(self, first_ref: int) -> list[bool]:
        """Whether each row offered since the last call is sent, in their order.

        The rows sent join the batch in that order, as refs first_ref, first_ref + 1, ...
        The ledger is read once for them all (one query per LOOKUP_CHUNK keys: several times
        cheaper than a query per row), and the rows are decided in their order: a key sent
        earlier in this run and not answered yet is sent again (only answered rows may make
        a row unchanged).
        """
        self._flush_seen()
        offered, self._offered = self._offered, []
        if not offered:
            return []
        scope = self.scope
        previous = scope.previous_many({row[0] for row in offered if row is not None})
        kinds, rows = self._kinds, self._rows
        sends: list[bool] = []
        ref, new = first_ref, 0
        for row in offered:
            if row is None:  # untracked: sent
                sends.append(True)
                ref += 1
                continue
            key, digest, props = row
            last = previous.get(key)
            if last is None:  # a key never acknowledged: new, sent (decide's first rule)
                new += 1
            else:
                verdict = scope.decide(key, last, digest)
                kinds[verdict.kind] = kinds.get(verdict.kind, 0) + 1
                if not verdict.send:
                    sends.append(False)
                    continue
                if verdict.kind is Kind.UNCHANGED:
                    self._resent += 1  # full_resync, or its key is in flight: sent all the same
            scope.sent(key)
            rows.append((ref, key, digest, props))
            sends.append(True)
            ref += 1
        if new:
            kinds[Kind.NEW] = kinds.get(Kind.NEW, 0) + new
        return sends

    @property
    def undecided(self) -> int:
        """Rows offered and not decided yet."""
        return len(self._offered)

    def cut(self) -> LedgerRows.Batch:
        """The decided rows of the batch being handed off (decide() the offered rows first)."""
        if self._offered:
            msg = "LedgerRows.cut() with rows offered and not decided"
            raise RuntimeError(msg)
        batch = LedgerRows.Batch(self.scope, self._rows, self._kinds, self._removals)
        batch._resent = self._resent
        self._rows, self._kinds, self._resent, self._removals = [], {}, 0, 0
        return batch

    def _flush_seen(self) -> None:
        if self._seen:
            self.scope.seen(self._seen)
            self._seen = []

    # -- Mirror ----------------------------------------------------------------------------

    def snapshot_marker(self, version: int) -> list[tuple[str, dict[str, t.Any]]]:
        """ACTIVATE_VERSION: a snapshot starts, or ends (its vanished rows' unset payloads).

        A marker ends the snapshot when rows came since the last one, or it repeats the last
        version (an empty table); otherwise it opens a new snapshot.
        """
        if not self.mirror:
            return []
        if self._offered:
            msg = "LedgerRows.snapshot_marker() with rows offered and not decided"
            raise RuntimeError(msg)
        self._flush_seen()
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
