"""One record made ready for its sink: checked against its SCHEMA, mapped, checked, encoded.

Pure (no I/O, no state between records): an AmplitudeSink runs it in the target's process, a
mapping worker (mapping_worker.py) in its own, on the same inputs, with the same outcome. What
is left for the sink (the ledger's verdict, the batch, the rejected file) happens in the
target's process, in input order.

An outcome is a tuple, so that it crosses between processes as it is (msgpack):
- ``(ROW, ordering_key, user_id, device_id, weight, wires, entry)``: a row to send. ``wires``
  are its encoded payloads in order; ``entry`` is what the sync ledger is offered (its key,
  hash and props), or None (no ledger, or a payload without a key);
- ``(REJECT, reason, payload)``: written to the rejected file (payload None when mapping
  failed);
- ``(SKIP,)``: a row the mapping skips (docs/mapping.md).
"""

from __future__ import annotations

import typing as t

from target_amplitude.client import quote_item
from target_amplitude.ledger_rows import offered_entry
from target_amplitude.mapping import (
    ENCODER,
    RecordRejectedError,
    RecordSkippedError,
    clear_all_identification,
    map_record,
)
from target_amplitude.schema_check import compile_record_check
from target_amplitude.validation import (
    check_event,
    check_group,
    check_identify,
    check_size,
    group_property_count,
)

if t.TYPE_CHECKING:
    from target_amplitude.endpoints import IngestEndpoint
    from target_amplitude.settings import StreamMapping

ROW, REJECT, SKIP = 0, 1, 2
Prepared = t.Sequence[t.Any]  # a tuple here; a list once it crossed from a worker
# A ROW outcome as the target decodes it from a mapping worker (typed: several times faster).
RowTuple = tuple[int, str, t.Any, t.Any, int, list[bytes], tuple[str, bytes | None, t.Any] | None]
# A form endpoint's payload before quoting, times this: about its size quoted (JSON's quotes,
# colons, braces and commas take 3 bytes each; letters and digits 1).
FORM_SIZE_ESTIMATE = 2
_SKIP: Prepared = (SKIP,)


def sent_size(endpoint: IngestEndpoint, wire: bytes) -> int:
    """The bytes a payload takes in a request. A form endpoint's payloads are URL-quoted once
    the batch's rows not to send are known (AmplitudeSink.process_batch: quoting costs ~10x
    the encoding); quoted, a byte takes at most 3, so only a large payload is quoted here."""
    if not endpoint.form:
        return len(wire)
    if len(wire) * 3 <= endpoint.max_item_bytes:
        return len(wire) * FORM_SIZE_ESTIMATE  # surely fits; lanes count this estimate
    return len(quote_item(wire))


def lane_key_and_weight(obj: str, payload: t.Mapping[str, t.Any]) -> tuple[str, int]:
    """A payload's ordering key (payloads with the same key go in one lane, in order) and its
    weight (a group's properties: Group Identify caps them per request)."""
    if obj == "event":
        return str(payload.get("device_id") or payload.get("user_id")), 0
    if obj == "group":
        return f"{payload['group_type']}\x1f{payload['group_value']}", group_property_count(payload)
    return str(payload.get("user_id") or payload.get("device_id")), 0


class RecordPlan:
    """How one stream's records are made ready: its mapping, checks and endpoint."""

    __slots__ = (
        "_args",
        "_check_schema",
        "_hashed",
        "_ledger_obj",
        "_min_id_length",
        "_mirror",
        "_skip_user_properties_sync",
        "endpoint",
        "key_properties",
        "mapping",
    )

    def __init__(
        self,
        mapping: StreamMapping,
        endpoint: IngestEndpoint,
        key_properties: t.Sequence[str],
        schema: dict[str, t.Any] | None,
        *,
        min_id_length: int | None,
        skip_user_properties_sync: bool,
        ledger: bool,
        hashed: bool,
        mirror: bool,
    ) -> None:
        """``schema``: the stream's SCHEMA records are checked against (None: not checked);
        ``ledger``: the sink consults the sync ledger (its rows need an entry); ``hashed``:
        its scope keeps each row's hash; ``mirror``: and its property names."""
        self.mapping = mapping
        self.endpoint = endpoint
        self.key_properties = tuple(key_properties)
        self._check_schema = compile_record_check(schema) if schema is not None else None
        self._min_id_length = min_id_length
        self._skip_user_properties_sync = skip_user_properties_sync
        self._ledger_obj = mapping.object if ledger else None
        self._hashed = hashed
        self._mirror = mirror
        # Pickled as the arguments it was made from (a mapping worker compiles it again).
        self._args = (
            (mapping, endpoint, self.key_properties, schema),
            {
                "min_id_length": min_id_length,
                "skip_user_properties_sync": skip_user_properties_sync,
                "ledger": ledger,
                "hashed": hashed,
                "mirror": mirror,
            },
        )

    def __reduce__(self) -> tuple[t.Any, ...]:
        """Pickled as its arguments (the compiled SCHEMA check is code)."""
        args, kwargs = self._args
        return (_plan, (args, kwargs))

    def prepare(self, record: dict[str, t.Any]) -> Prepared:
        """The record's outcome (see the module's docstring)."""
        if self._check_schema is not None:
            mismatch = self._check_schema(record)
            if mismatch is not None:
                return (REJECT, f"record does not match the stream's SCHEMA: {mismatch}", None)
        mapping = self.mapping
        try:
            payload = map_record(
                mapping,
                record,
                self.key_properties,
                skip_user_properties_sync=self._skip_user_properties_sync,
            )
        except RecordSkippedError:
            return _SKIP
        except RecordRejectedError as exc:
            return (REJECT, str(exc), None)
        obj = mapping.object
        reason = self._check_payload(obj, payload)
        if reason is not None:
            return (REJECT, reason, payload)
        endpoint = self.endpoint
        if mapping.clear_all and record.get("_sdc_deleted_at") is None:
            # $clearAll alone first, then the values: same key, so same lane, in order.
            wires = [ENCODER.encode(clear_all_identification(payload)), ENCODER.encode(payload)]
        else:
            wires = [ENCODER.encode(payload)]
        for wire in wires:
            reason = check_size(sent_size(endpoint, wire), endpoint.max_item_bytes, endpoint.path)
            if reason is not None:
                return (REJECT, reason, payload)
        ordering_key, weight = lane_key_and_weight(obj, payload)
        ledger_obj = self._ledger_obj
        entry = (
            offered_entry(ledger_obj, self._hashed, self._mirror, payload, wires)
            if ledger_obj
            else None
        )
        return (
            ROW,
            ordering_key,
            payload.get("user_id"),
            payload.get("device_id"),
            weight,
            wires,
            entry,
        )

    def _check_payload(self, obj: str, payload: dict[str, t.Any]) -> str | None:
        if obj == "event":
            return check_event(payload, self._min_id_length)
        if obj == "group":
            return check_group(payload, self.endpoint.max_properties)
        return check_identify(payload, self._min_id_length)


def _plan(args: tuple[t.Any, ...], kwargs: dict[str, t.Any]) -> RecordPlan:
    return RecordPlan(*args, **kwargs)
