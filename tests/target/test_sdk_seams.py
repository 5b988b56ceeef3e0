"""Guard: the singer-sdk members target-amplitude relies on still exist, with the same shape,
and are still called where we expect. A failure here after an SDK upgrade names the override to
revisit (target_amplitude/target.py's SDK_OVERRIDES lists them with the reason for each).

The per-record fast path (TargetAmplitude._process_record_message) is guarded by behaviour:
tests/target/test_fast_path.py runs the same input through it and through the SDK's own method
and asserts the same run. Here only the SDK steps it mirrors are checked to be still there."""

from __future__ import annotations

import functools
import inspect
import typing as t

import pytest
from singer_sdk import metrics
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper import SameRecordTransform, StreamMap
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.sinks import BatchSink, Sink
from singer_sdk.target_base import Target
from target_amplitude.reader import LineCountingReader
from target_amplitude.sinks import AmplitudeSink
from target_amplitude.target import TargetAmplitude

# (SDK class, member, its parameters after self, our class overriding it)
PRIVATE_OVERRIDES: list[tuple[type, str, list[str], type]] = [
    (Sink, "_validate_and_parse", ["record"], AmplitudeSink),
    (Sink, "_remove_sdc_metadata_from_record", ["record"], AmplitudeSink),
    (Target, "_process_state_message", ["message_dict"], TargetAmplitude),
    (Target, "_write_state_message", ["state"], TargetAmplitude),
    (Target, "_process_record_message", ["message_dict"], TargetAmplitude),
    (GenericSingerReader, "_process_unknown_message", ["message_dict"], LineCountingReader),
]

# Public hooks used, with their parameters after self.
PUBLIC_HOOKS: list[tuple[type, str, list[str]]] = [
    (Sink, "get_validator", []),
    (Sink, "get_sink_record_counter", []),
    (Sink, "get_batch_processing_timer", []),
    (Sink, "process_record", ["record", "context"]),
    (BatchSink, "process_batch", ["context"]),
    (Sink, "clean_up", []),
    (Target, "drain_all", ["is_endofpipe"]),
    (Target, "process_endofpipe", []),
]


def _params(cls: type, name: str) -> list[str]:
    return list(inspect.signature(getattr(cls, name)).parameters)[1:]


@pytest.mark.parametrize(
    ("sdk_cls", "name", "params", "ours"),
    PRIVATE_OVERRIDES,
    ids=[f"{c.__name__}.{n}" for c, n, _, _ in PRIVATE_OVERRIDES],
)
def test_private_members_we_override_keep_their_signature(
    sdk_cls: type, name: str, params: list[str], ours: type
) -> None:
    assert name in vars(sdk_cls), f"singer-sdk no longer defines {sdk_cls.__name__}.{name}"
    assert _params(sdk_cls, name) == params
    assert name in vars(ours), f"{ours.__name__} no longer overrides {name}: drop it here"
    assert _params(ours, name) == params


@pytest.mark.parametrize(
    ("caller", "callee"),
    [
        (Target._process_record_message, "_validate_and_parse"),
        (Target._process_record_message, "_remove_sdc_metadata_from_record"),
        (Target.drain_all, "_write_state_message"),
        (Target.drain_all, "clean_up"),
        (Target.drain_one, "batch_processing_timer"),
        (GenericSingerReader.process_lines, "_process_unknown_message"),
    ],
)
def test_the_sdk_still_calls_them(caller: t.Callable[..., t.Any], callee: str) -> None:
    assert callee in inspect.getsource(caller), f"{caller.__qualname__} no longer uses {callee}"


@pytest.mark.parametrize(
    ("cls", "name", "params"), PUBLIC_HOOKS, ids=[f"{c.__name__}.{n}" for c, n, _ in PUBLIC_HOOKS]
)
def test_public_hooks_keep_their_signature(cls: type, name: str, params: list[str]) -> None:
    assert _params(cls, name) == params


def test_validate_schema_and_metrics_api() -> None:
    assert isinstance(inspect.getattr_static(Sink, "validate_schema"), functools.cached_property)
    assert list(metrics.Point.__dataclass_fields__) == [
        "metric_type",
        "metric",
        "value",
        "tags",
    ]
    for name in ("RECORD_COUNT", "HTTP_REQUEST_COUNT", "HTTP_REQUEST_DURATION"):
        assert hasattr(metrics.Metric, name)
    assert hasattr(metrics.Metric, "BATCH_PROCESSING_TIME")
    assert _params(metrics.Counter, "__init__")[:2] == ["metric", "tags"]
    assert _params(metrics.Timer, "__init__") == ["metric", "tags"]
    assert PluginCapabilities.STRUCTURED_LOGGING in TargetAmplitude.capabilities


# What TargetAmplitude._process_record_message's fast path replicates: the SDK's per-record
# steps, in this order (a step added or moved fails here; whether the fast path still gives the
# SDK's result is test_fast_path.py's to tell).
RECORD_STEPS = [
    "copy.copy(",
    "stream_map.transform(",
    "self.get_sink(",
    "sink._get_context(",
    "sink.include_sdc_metadata_properties",
    "sink._remove_sdc_metadata_from_record(",
    "sink._validate_and_parse(",
    "sink.preprocess_record(",
    "sink._singer_validate_message(",
    "sink.tally_record_read()",
    "sink.process_record(",
    "sink.record_counter_metric.increment()",
    "sink._after_process_record(",
    "if sink.is_full:",
    "self.drain_one(sink)",
    "self._handle_max_record_age()",
]


def test_the_record_fast_path_replicates_the_sdks_steps() -> None:
    source = inspect.getsource(Target._process_record_message)
    positions = [source.find(step) for step in RECORD_STEPS]
    assert -1 not in positions, [s for s, p in zip(RECORD_STEPS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    # The members the fast path reads or calls besides those.
    assert _params(Sink, "_singer_validate_message") == ["record"]
    assert _params(Target, "_handle_max_record_age") == []
    assert _params(metrics.Counter, "increment") == ["value"]  # added up per batch
    assert isinstance(inspect.getattr_static(StreamMap, "flattening_enabled"), property)
    assert "return super().transform(record)" in inspect.getsource(SameRecordTransform.transform)
    assert "return record" in inspect.getsource(StreamMap.flatten_record)
    assert "return self._sinks_active[stream_name]" in inspect.getsource(Target.get_sink)
    assert "self.logger.debug(" in inspect.getsource(Sink._after_process_record)
    assert "return {}" in inspect.getsource(Sink._get_context)
    assert "return record" in inspect.getsource(Sink.preprocess_record)


def test_the_target_attributes_the_state_hold_reads() -> None:
    """TargetAmplitude._process_state_message and _endpoint_sinks read the SDK's sink registries
    and its latest STATE (no public accessor)."""
    init = inspect.getsource(Target.__init__)
    assert "self._sinks_active: dict[str, Sink] = {}" in init
    assert "self._sinks_to_clear: list[Sink] = []" in init
    assert "self._latest_state: dict[str, dict] | None = None" in init
    drain_all = inspect.getsource(Target.drain_all)
    assert "self._drain_all(self._sinks_to_clear, 1)" in drain_all
    assert "self._sinks_to_clear = []" in drain_all
    state = inspect.getsource(Target._process_state_message)
    assert "self._latest_state = state" in state
    # drain_one skips an empty sink (Checkpoint.hand_off_partial_batches calls it for every
    # sink that has not filled a batch since the last round).
    assert "if sink.current_size == 0:" in inspect.getsource(Target.drain_one)


# GenericSingerReader.process_lines' loop, which reader.LineCountingReader runs as its own (to hand
# RECORD lines to the mapping workers): its steps, in order, and nothing else per line.
LINE_STEPS = [
    "for line in filein:",
    "line_dict = self.deserialize_json(line)",
    'self.assert_line_requires(line_dict, requires={"type"})',
    'record_type: SingerMessageType = line_dict["type"]',
    "if callback := callbacks.get(record_type):",
    "callback(line_dict)",
    "self._process_unknown_message(line_dict)",
    "stats[record_type] += 1",
    "return Counter(**stats)",
]


def test_the_reader_loop_replicates_the_sdks_steps() -> None:
    source = inspect.getsource(GenericSingerReader.process_lines)
    positions = [source.find(step) for step in LINE_STEPS]
    assert -1 not in positions, [s for s, p in zip(LINE_STEPS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    body = source[positions[0] : positions[-1]]
    assert body.count("self.") == 4, body  # _current_message and the three calls above
    # The worker strips a record's _sdc metadata with the SDK's own method, outside a sink.
    assert "self" not in inspect.getsource(Sink._remove_sdc_metadata_from_record).split('"""')[-1]
