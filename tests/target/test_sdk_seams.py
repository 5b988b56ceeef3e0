"""Guard: the singer-sdk members target-amplitude relies on still exist, with the same shape,
and are still called where we expect. A failure here after an SDK upgrade names the override to
revisit (see the "Private SDK overrides" blocks in sinks.py, target.py and reader.py)."""

from __future__ import annotations

import functools
import inspect
import typing as t

import pytest
from singer_sdk import metrics
from singer_sdk.helpers.capabilities import PluginCapabilities
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
