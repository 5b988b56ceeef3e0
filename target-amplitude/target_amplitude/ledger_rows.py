"""The sync ledger as a sink sees it: which rows to send, and what to record once answered.

The seam between a sink (sinks.AmplitudeSink) and the ledger (ledger/): the sink offers each
mapped row (offer()), and every few hundred to DECIDE_ROWS rows asks which to send (decide():
one read of the ledger for them all); only those join its batch. It hands cut() the batch it
delivers and, once answered, tells it which rows Amplitude refused: every other row sent is
recorded as acknowledged. The target commits the ledger before each STATE
(TargetAmplitude._write_sdk_state).
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

# (key, hash, props) of a row offered: hash None where the scope keeps none (create_only).
Offered = tuple[str, bytes | None, str | None]


def offered_entry(
    obj: str,
    hashed: bool,
    mirror: bool,
    payload: t.Mapping[str, t.Any],
    wires: t.Sequence[bytes],
) -> Offered | None:
    """What the ledger is offered of a mapped row (its payload, the bytes it would be sent as):
    its key, its hash (None for a scope that keeps none: create_only) and (mirror) its property
    names; None when the payload has no key. Pure: a mapping worker computes it beside the
    mapping (prepare.RecordPlan)."""
    if obj == "event":  # ledger_key's first case, inline: this runs for every event
        key = payload.get("insert_id")
        if not isinstance(key, str):
            return None
    else:
        key = ledger_key(obj, payload)
        if key is None:
            return None
    return (
        key,
        wire_digest(wires) if hashed else None,
        scope_props(property_names(obj, payload)) if mirror else None,
    )


class LedgerRows:
    """One sink's rows in the ledger.

    Kept per ref (a row's index in the sink's batch), in lists rather than a tuple a row: a
    key (None: a row with no key, not tracked), and for scopes that keep a hash (all but
    create_only) the hash sent (None: a removal) and, for mirror, the property names.
    """

    @dataclass(slots=True)
    class Batch:
        """The ledger rows of one delivered batch, by ref."""

        scope: Scope
        keys: list[str | None]
        hashes: list[bytes | None]  # empty: the scope keeps no hash (create_only)
        props: list[str | None]  # empty: not mirror
        kinds: dict[Kind, int] = field(default_factory=dict)
        removals: int = 0
        _resent: int = 0

        @property
        def unchanged(self) -> int:
            """Rows not sent: Amplitude has them."""
            return self.kinds.get(Kind.UNCHANGED, 0) - self._resent

        def preview(self) -> dict[str, int]:
            """Dry run: new, changed, unchanged, removed."""
            return {
                "new": self.kinds.get(Kind.NEW, 0),
                "changed": self.kinds.get(Kind.CHANGED, 0),
                "unchanged": self.kinds.get(Kind.UNCHANGED, 0),
                "removed": self.removals,
            }

        def answered(self, refused: t.Collection[int]) -> None:
            """Record the rows Amplitude acknowledged (every row whose ref was not refused).
            Every key was asked about first (decide): asked=True."""
            keys, scope = self.keys, self.scope
            if not scope.keeps_hash:
                scope.acknowledged(
                    [k for ref, k in enumerate(keys) if k is not None and ref not in refused]
                    if refused
                    else [k for k in keys if k is not None],
                    asked=True,
                )
                return
            records, gone = [], []
            hashes, props = self.hashes, self.props
            for ref, key in enumerate(keys):
                if key is None or ref in refused:
                    continue
                digest = hashes[ref]
                if digest is None:
                    gone.append(key)
                else:
                    records.append((key, digest, props[ref] if props else None))
            scope.answered(records, [k for k in keys if k is not None], asked=True)
            scope.forget(gone)

        def removed(self, refused: t.Collection[int]) -> int:
            """Removals acknowledged."""
            if not self.removals:
                return 0
            hashes, keys = self.hashes, self.keys
            return sum(
                1
                for ref, key in enumerate(keys)
                if key is not None and hashes[ref] is None and ref not in refused
            )

    def __init__(self, scope: Scope, obj: str) -> None:
        self.scope = scope
        self.obj = obj
        self.mirror = scope.mode == "mirror"
        self._event = obj == "event"
        self._hashed = scope.keeps_hash
        # Offered, not decided yet: keys, and (hashing scopes) hashes and props, by position.
        self._offered: list[str | None] = []
        self._offered_hashes: list[bytes | None] = []
        self._offered_props: list[str | None] = []
        self._untracked = 0  # offered rows without a key
        # Decided and sent, by ref: what the batch being filled hands to cut().
        self._keys: list[str | None] = []
        self._hashes: list[bytes | None] = []
        self._props: list[str | None] = []
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

    @property
    def hashed(self) -> bool:
        """Whether the scope keeps a payload hash per row (all sync modes but create_only)."""
        return self._hashed

    def offer(self, entry: Offered | None) -> None:
        """A mapped row's entry (offered_entry: its key, hash and props); decide() says whether
        it is sent. A row whose payload has no key (entry None: nothing to track) is sent, as
        before the ledger."""
        key = None if entry is None else entry[0]
        self._offered.append(key)
        if key is None:
            self._untracked += 1
        if not self._hashed:
            return
        if entry is None:
            self._offered_hashes.append(None)
            if self.mirror:
                self._offered_props.append(None)
            return
        self._offered_hashes.append(entry[1])
        if self.mirror:
            self._offered_props.append(entry[2])
            self._seen.append(entry[0])
            self._rows_in_snapshot += 1

    def offer_many(self, entries: t.Sequence[Offered | None]) -> None:
        """offer() each entry, in their order."""
        if self._hashed:
            for entry in entries:
                self.offer(entry)
            return
        keys = [None if entry is None else entry[0] for entry in entries]
        self._offered += keys
        self._untracked += keys.count(None)

    def decide(self, first_ref: int) -> list[bool]:
        """Whether each row offered since the last call is sent, in their order.

        The rows sent join the batch in that order, as refs first_ref, first_ref + 1, ...
        (refs below first_ref the ledger was not told about are untracked rows). The ledger
        is read once for them all (one query per LOOKUP_CHUNK keys: several times cheaper
        than a query per row), and the rows are decided in their order: a key sent earlier
        in this run and not answered yet is sent again (only answered rows may make a row
        unchanged).
        """
        self._flush_seen()
        offered = self._offered
        if not offered:
            return []
        keys = self._keys
        if len(keys) > first_ref:
            msg = f"LedgerRows.decide({first_ref}) after {len(keys)} rows of the batch"
            raise RuntimeError(msg)
        if len(keys) < first_ref:
            self._pad(first_ref)
        self._offered, untracked, self._untracked = [], self._untracked, 0
        wanted = set(offered)
        wanted.discard(None)
        if self._hashed:
            return self._decide_hashed(offered, t.cast("set[str]", wanted))
        # create_only: decide()'s rule for it, over a whole chunk: a key the ledger has is
        # unchanged (sent all the same under full_resync), any other is new.
        scope = self.scope
        known = scope.known(t.cast("set[str]", wanted))
        new = len(offered) - untracked
        if not known:
            keys.extend(offered)
            sends = [True] * len(offered)
        elif scope.full_resync:
            keys.extend(offered)
            sends = [True] * len(offered)
            again = sum(1 for key in offered if key in known)
            new -= again
            self._resent += again
            self._count(Kind.UNCHANGED, again)
        else:
            sends = []
            for key in offered:
                if key is not None and key in known:
                    sends.append(False)
                    new -= 1
                else:
                    sends.append(True)
                    keys.append(key)
            self._count(Kind.UNCHANGED, len(sends) - sum(sends))
        self._count(Kind.NEW, new)
        return sends

    def _decide_hashed(self, offered: list[str | None], wanted: set[str]) -> list[bool]:
        """changed and mirror: each row against the hash last acknowledged for its key."""
        digests, self._offered_hashes = self._offered_hashes, []
        props, self._offered_props = self._offered_props, []
        scope = self.scope
        previous = scope.previous_many(wanted)
        keys, hashes, kept_props = self._keys, self._hashes, self._props
        kinds = self._kinds
        sends: list[bool] = []
        new = 0
        for at, key in enumerate(offered):
            if key is None:  # untracked: sent
                sends.append(True)
                keys.append(None)
                hashes.append(None)
                if self.mirror:
                    kept_props.append(None)
                continue
            digest = digests[at]
            assert digest is not None
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
            keys.append(key)
            hashes.append(digest)
            if self.mirror:
                kept_props.append(props[at])
            sends.append(True)
        self._count(Kind.NEW, new)
        return sends

    def _count(self, kind: Kind, n: int) -> None:
        if n:
            self._kinds[kind] = self._kinds.get(kind, 0) + n

    def _pad(self, ref: int) -> None:
        """Rows of the batch up to ref that the ledger was not told about: untracked."""
        gap = ref - len(self._keys)
        self._keys.extend([None] * gap)
        if self._hashed:
            self._hashes.extend([None] * gap)
            if self.mirror:
                self._props.extend([None] * gap)

    @property
    def undecided(self) -> int:
        """Rows offered and not decided yet."""
        return len(self._offered)

    def cut(self) -> LedgerRows.Batch:
        """The decided rows of the batch being handed off (decide() the offered rows first)."""
        if self._offered:
            msg = "LedgerRows.cut() with rows offered and not decided"
            raise RuntimeError(msg)
        batch = LedgerRows.Batch(
            self.scope, self._keys, self._hashes, self._props, self._kinds, self._removals
        )
        batch._resent = self._resent
        self._keys, self._hashes, self._props = [], [], []
        self._kinds, self._resent, self._removals = {}, 0, 0
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
        """A vanished row's unset payload is being sent (as the batch's row `ref`)."""
        if len(self._keys) > ref:
            msg = f"LedgerRows.take_removal({ref}) after {len(self._keys)} rows of the batch"
            raise RuntimeError(msg)
        self._pad(ref)
        self.scope.sent(key)
        self._removals += 1
        self._keys.append(key)
        self._hashes.append(None)
        self._props.append(None)
