"""The per-record fast paths give exactly what the general code gives, on tricky inputs.

mapping, validation and schema_check each keep their general code (the code before the fast
paths) as the reference: _map_amplitude_shaped_loop, _time without its shortcuts for ints and
dates, _event_reason, _identify_reason, and fastjsonschema's validator of the whole schema.
Every fast path must give the same payload (byte for byte once encoded), the same rejection
with the same reason, or the same verdict; each test also checks that the fast path was taken,
so none passes by falling back.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import itertools
import json
import random
import typing as t
from collections import OrderedDict
from pathlib import Path

import fastjsonschema
import pytest
from target_amplitude import mapping, validation
from target_amplitude.mapping import (
    ENCODER,
    RecordRejectedError,
    map_amplitude_shaped,
    map_record,
)
from target_amplitude.schema_check import compile_record_check
from target_amplitude.settings import passthrough_mapping

# tap-amplitude's events stream: every column of Amplitude's export.
EXPORT_SCHEMA: dict[str, t.Any] = json.loads(
    (
        Path(__file__).parents[2] / "tap-amplitude" / "tap_amplitude" / "schemas" / "events.json"
    ).read_text()
)
EXPORT_COLUMNS = list(EXPORT_SCHEMA["properties"])


def _outcome(fn: t.Callable[[], t.Any]) -> tuple[str, t.Any]:
    """A result as comparable data: the value encoded, or the exception's type and message."""
    try:
        value = fn()
    except (RecordRejectedError, ValueError, TypeError, OverflowError, ArithmeticError) as exc:
        return ("raised", (type(exc).__name__, str(exc)))
    return ("value", ENCODER.encode(value))


# -- Timestamps ----------------------------------------------------------------------------

DATES = [
    "2026-01-02", "2024-02-29", "2000-02-29", "1970-01-01", "1969-12-31", "0001-01-01",
    "9999-12-31", "2023-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
    "0000-01-01", "2026-1-02", "\uff12\uff10\uff12\uff16-01-02", "2026-01-0\u0663",
    "+026-01-02", "2026/01/02",
]  # fmt: skip
SEPARATORS = ["T", " ", "t", "x"]
TIMES = [
    "03:04:05", "00:00:00", "23:59:59", "24:00:00", "00:60:00", "12:34:60", "12:34:5",
    "1:02:03", "12:3a:05", "12-34-56", "12:34", "12", "1_2:34:56",
]  # fmt: skip
FRACTIONS = [
    "", ".", ".1", ".12", ".123", ".1234", ".123456", ".999999", ".1234567", ".123456789",
    ".1234567891", ",123", ".12a", ". 1", ".+1",
]  # fmt: skip
ZONES = ["", "Z", "z", "+00:00", "-00:00", "+01:00", "+0000", "+00", "Z ", " ", "+00:00Z", "\n"]
TAP_SHAPES = [
    "2026-01-02T03:04:05.123456Z",
    "2026-01-02T03:04:05Z",
    "2026-01-02 03:04:05.123000",
    "2026-01-02T03:04:05.5+00:00",
    "1969-12-31T23:59:59.999999Z",
]


def _timestamps() -> list[str]:
    rng = random.Random(23)
    texts = [
        "".join(parts)
        for parts in itertools.product(DATES[:8], SEPARATORS[:2], TIMES[:4], FRACTIONS, ZONES)
    ]
    texts += [
        rng.choice(DATES) + rng.choice(SEPARATORS) + rng.choice(TIMES) + rng.choice(FRACTIONS)
        + rng.choice(ZONES)
        for _ in range(6000)
    ]  # fmt: skip
    texts += [" " + text for text in TAP_SHAPES] + [text + " " for text in TAP_SHAPES]
    texts += ["", "2026", "2026-01-02", "2026-01-02T", "2026-01-02T03:04:05.123456Z" + "0" * 40]
    return texts + TAP_SHAPES


TIMESTAMPS = _timestamps()


def _numeric_by_regex(value: t.Any) -> bool:
    """_is_numeric_time as it was: the regex on every string."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | decimal.Decimal):
        return True
    return isinstance(value, str) and mapping._NUMBER.fullmatch(value.strip()) is not None


class _Str(str):
    __slots__ = ()


NUMERIC_TIMES: list[t.Any] = [
    0, 1, -1, 978_307_199_999, 978_307_200_000, 1_700_000_000, 1_700_000_000_000,
    10**24 - 1, 10**24, -(10**24) + 1, 10**30 + 1, -(10**30), 1.7e12, 1_700_000_000.5,
    float("nan"), float("inf"), decimal.Decimal("1700000000000.9"), decimal.Decimal("NaN"),
    decimal.Decimal("1700000000"), "1700000000000", " 1700000000000 ", "1700000000.123",
    "\u0661\u0667" + "\u0660" * 11, "17e11", "", " ", "-1700000000000", True, False, {}, [], None,
    dt.datetime(2026, 1, 2, 3, 4, 5, 123456), dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    _Str("2026-01-02T03:04:05.123456Z"),
]  # fmt: skip


@pytest.mark.parametrize("unit", ["ms", "s"])
def test_time_column_outcomes_match_the_general_path(
    monkeypatch: pytest.MonkeyPatch, unit: str
) -> None:
    values = NUMERIC_TIMES + TIMESTAMPS[::3] + TAP_SHAPES

    def outcomes() -> list[tuple]:
        return [
            _outcome(lambda v=v: mapping._time({"t": v}, "t", unit=unit, hint="h")) for v in values
        ]

    fast = outcomes()
    with monkeypatch.context() as patched:
        patched.setattr(mapping, "_is_numeric_time", _numeric_by_regex)
        patched.setattr(mapping, "_date_time_ms", lambda _value: None)
        patched.setattr(mapping, "_int_time_ms", lambda _value, _unit: None)
        general = outcomes()
    for value, got, expected in zip(values, fast, general, strict=True):
        assert got == expected, value
    assert {outcome[0] for outcome in fast} == {"value", "raised"}


def test_a_string_with_a_dash_is_never_numeric() -> None:
    for value in TIMESTAMPS + NUMERIC_TIMES:
        assert mapping._is_numeric_time(value) == _numeric_by_regex(value), value


# -- map_amplitude_shaped ------------------------------------------------------------------

_ID_VALUES: list[t.Any] = [
    "user-000123", 123456, decimal.Decimal("123456"), decimal.Decimal("1.5"), 1.5, True, None,
    "null", "ab", ["x"],
]  # fmt: skip
_TIME_VALUES: list[t.Any] = [
    "2026-01-01T00:22:34.828104Z", "2026-01-01 00:22:34.828", "2026-01-01T00:22:34Z", None,
    "2026-02-30T00:00:00Z", "garbage", 1_767_225_600_000, "1767225600000", 1_767_225_600,
    "20260101", 1.5e12, "2026-01-01T01:22:34+01:00",
]  # fmt: skip
_POOLS: dict[str, list[t.Any]] = {
    "event_type": ["Page Viewed", "Page Viewed", "$identify", "$groupidentify", "", None, 7],
    "user_id": _ID_VALUES,
    "device_id": _ID_VALUES,
    "time": _TIME_VALUES,
    "event_time": _TIME_VALUES,
    "client_event_time": _TIME_VALUES,
    "$insert_id": ["ins-1", None, 5, decimal.Decimal("5"), 5.5],
    "insert_id": ["ins-2", None, 6],
    "event_properties": [{"a": 1, "plan": "x"}, None, [], "x", {}],
    "user_properties": [{"plan": "pro"}, {"$set": {"a": 1}}, None, {}],
    "group_properties": [{"company": {"c1": {"a": 1}}}, {}, None],
    "groups": [{"company": ["c1"]}, None, "c1"],
    "plan": [{"branch": "main"}, "pro", None, 5, {}],
    "data": [{"path": "/batch"}, None],
    "session_id": [1_767_279_140_552, -1, None, "12", True],
    "event_id": [626, None, 1.0],
    "location_lat": [40.3, None, decimal.Decimal("40.3")],
    "ip_address": ["10.0.0.1", None],
    "ip": ["10.0.0.2", None],
    "version_name": ["5.11.0", None],
    "app_version": ["5.12.0", None],
    "device_carrier": ["Vodafone", None],
    "carrier": ["O2", None],
    "_sdc_extracted_at": ["2026-01-02T00:00:00Z"],
    "_sdc_deleted_at": [None, "2026-01-02T00:00:00Z"],
    "custom_column": ["x", None, 3, {"nested": [1]}],
}
_OTHER_VALUES: list[t.Any] = ["value", None, 12, 1.5, True, {"k": "v"}, ["a"]]
_INGEST_ONLY = ["time", "insert_id", "ip", "app_version", "carrier", "custom_column"]


def _key_templates(rng: random.Random) -> list[tuple[str, ...]]:
    export = [*EXPORT_COLUMNS, "_sdc_extracted_at", "_sdc_deleted_at", "custom_column"]
    ingest = [c for c in EXPORT_COLUMNS if c not in ("$insert_id", "server_upload_time")]
    ingest += _INGEST_ONLY
    templates: list[tuple[str, ...]] = [tuple(EXPORT_COLUMNS), tuple(ingest)]
    for _ in range(40):
        columns = list(rng.choice([export, ingest, export + _INGEST_ONLY]))
        columns = rng.sample(columns, rng.randint(3, len(columns)))
        if rng.random() < 0.5:
            columns.sort(key=(export + _INGEST_ONLY).index)
        templates.append(tuple(columns))
    return templates


def _records(count: int) -> list[dict[str, t.Any]]:
    rng = random.Random(2323)
    templates = _key_templates(rng)
    records = []
    for _ in range(count):
        keys = rng.choice(templates)
        records.append({k: rng.choice(_POOLS.get(k, _OTHER_VALUES)) for k in keys})
    return records


RECORDS = _records(3000)


@pytest.mark.parametrize("skip", [False, True])
def test_map_amplitude_shaped_matches_the_general_loop(skip: bool) -> None:
    mapping._PLANS.clear()
    mapping._SEEN_KEYS.clear()
    differing = []
    for record in RECORDS:
        for key_properties in ((), ("uuid",)):
            expected = _outcome(
                lambda r=record, k=key_properties: mapping._map_amplitude_shaped_loop(
                    "events", r, k, skip_user_properties_sync=skip
                )
            )
            got = _outcome(
                lambda r=record, k=key_properties: map_amplitude_shaped(
                    "events", r, k, skip_user_properties_sync=skip
                )
            )
            if got != expected:
                differing.append((record, got, expected))
    assert differing == []
    # Most records went through a compiled plan, and both outcomes occurred.
    planned = sum(tuple(r) in mapping._PLANS for r in RECORDS)
    assert planned > len(RECORDS) * 0.9
    assert {_outcome_payload(r) is None for r in RECORDS} == {True, False}


def test_the_full_export_record_through_map_record() -> None:
    record: dict[str, t.Any] = dict.fromkeys(EXPORT_COLUMNS, "v")
    record.update(
        {
            "$insert_id": "ins-1",
            "event_type": "Page Viewed",
            "user_id": "user-000001",
            "event_time": "2026-01-01T00:22:34.828104Z",
            "plan": {"branch": "main"},
            "event_properties": {"page": "/"},
        }
    )
    shaped = passthrough_mapping("events")
    for _ in range(3):  # the first record takes the loop, the next ones the plan
        payload = map_record(shaped, record, (), skip_user_properties_sync=False)
        assert payload == mapping._map_amplitude_shaped_loop(
            "events", record, (), skip_user_properties_sync=False
        )
        assert list(payload) == list(
            mapping._map_amplitude_shaped_loop(
                "events", record, (), skip_user_properties_sync=False
            )
        )
    assert payload["time"] == 1_767_226_954_828
    assert payload["plan"] == {"branch": "main"}
    assert tuple(record) in mapping._PLANS


def test_same_keys_in_another_order_keep_their_order() -> None:
    first = {"$insert_id": "i", "server_upload_time": None, "event_type": "E", "user_id": "u-1234"}
    first |= {"platform": "iOS", "os_name": "ios"}
    second = dict(reversed(list(first.items())))
    for record in (first, second, first, second, first, second):
        payload = map_amplitude_shaped("s", record, (), skip_user_properties_sync=False)
        expected = mapping._map_amplitude_shaped_loop(
            "s", record, (), skip_user_properties_sync=False
        )
        assert ENCODER.encode(payload) == ENCODER.encode(expected)
    assert tuple(first) in mapping._PLANS
    assert tuple(second) in mapping._PLANS


# -- check_event / check_identify ----------------------------------------------------------


class _Int(enum.IntEnum):
    ONE = 1


class _Dict(dict[str, t.Any]):
    pass


_CHECK_VALUES: list[t.Any] = [
    None, "", " ", "abc", "valid-id-123", "null", " NULL ", "n/a", "\tundefined\n",
    "00000000-0000-0000-0000-000000000000", "lmy47d", "ab\u00a0", 5, 0, -1, True, 1.5,
    decimal.Decimal("5"), {}, {"a": 1}, [], _Int.ONE, _Str("valid-id-123"), _Dict(a=1),
    "[Amplitude] Revenue", "$identify", "$groupidentify", 2**70,
]  # fmt: skip
_CHECKED_KEYS = ["event_type", "user_id", "device_id", "time", "groups", *validation._TYPED_KEYS]


def _payloads() -> list[t.Any]:
    base = {
        "event_type": "Page Viewed",
        "user_id": "user-000123",
        "device_id": "device-000123",
        "time": 1_767_225_600_000,
        "insert_id": "ins-1",
        "session_id": 1,
        "event_properties": {"a": 1},
        "platform": "iOS",
    }
    payloads: list[t.Any] = [base, {}, OrderedDict(base), _Dict(base)]
    for key in _CHECKED_KEYS:
        for value in _CHECK_VALUES:
            payloads.append({**base, key: value})
            payloads.append({k: v for k, v in {**base, key: value}.items() if k != "user_id"})
    payloads += [p for p in (_outcome_payload(r) for r in RECORDS[:1500]) if p is not None]
    return payloads


def _outcome_payload(record: dict[str, t.Any]) -> dict[str, t.Any] | None:
    try:
        return mapping._map_amplitude_shaped_loop("e", record, (), skip_user_properties_sync=False)
    except RecordRejectedError:
        return None


PAYLOADS = _payloads()


@pytest.mark.parametrize("min_id_length", [None, 1, 5, 12])
def test_check_event_matches_the_rules_one_by_one(min_id_length: int | None) -> None:
    reasons = set()
    for payload in PAYLOADS:
        expected = validation._event_reason(payload, min_id_length)
        for _ in range(2):  # once before its key tuple has a plan, once after
            assert validation.check_event(payload, min_id_length) == expected, payload
        reasons.add(expected is None)
    assert reasons == {True, False}
    assert len(validation._EVENT_PLANS) > 20


@pytest.mark.parametrize("min_id_length", [None, 1, 5, 12])
def test_check_identify_matches_the_rules_one_by_one(min_id_length: int | None) -> None:
    for payload in PAYLOADS:
        for props in (None, {"a": 1}, {"$set": {"a": 1}}, [], _Dict(a=1), "x"):
            identification = {**payload, "user_properties": props}
            expected = validation._identify_reason(identification, min_id_length)
            assert validation.check_identify(identification, min_id_length) == expected


# -- The SCHEMA check --------------------------------------------------------------------


def _reference(validate: t.Callable[[t.Any], t.Any], record: dict[str, t.Any]) -> str | None:
    try:
        validate(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return str(exc)
    return None


_SCHEMA_VALUES: list[t.Any] = [
    None, "s", 1, 2.0, 1.5, True, decimal.Decimal("2.5"), {}, {"branch": "main"},
    {"branch": 7}, {"branch": None, "other": [1]}, [], ["a"], ["a", 1], _Str("s"), _Int.ONE,
    _Dict(a=1), ("a",),
]  # fmt: skip


def _schema_records(columns: list[str], rng: random.Random) -> list[dict[str, t.Any]]:
    templates = [tuple(columns)] + [
        tuple(rng.sample(columns, rng.randint(1, len(columns)))) for _ in range(12)
    ]
    templates.append(tuple(reversed(columns)))
    templates.append((*columns, "surprise"))
    records = []
    for _ in range(1500):
        keys = rng.choice(templates)
        # Mostly the types a valid record has, so that most of them pass and the plans decide.
        good = EXPORT_SCHEMA["properties"]
        records.append(
            {
                k: (
                    rng.choice(_SCHEMA_VALUES)
                    if rng.random() < 0.03 or k not in good
                    else _valid_value(good[k], rng)
                )
                for k in keys
            }
        )
    return records


def _valid_value(prop: dict[str, t.Any], rng: random.Random) -> t.Any:
    declared = prop["type"]
    name = rng.choice(declared if isinstance(declared, list) else [declared])
    return {
        "null": None,
        "string": "s",
        "integer": 3,
        "number": 1.5,
        "boolean": False,
        "object": {"branch": "main", "k": 1},
        "array": ["a", "b"],
    }[name]


@pytest.mark.parametrize("variant", ["open", "closed", "required"])
def test_schema_check_matches_the_full_validator_on_repeated_key_tuples(variant: str) -> None:
    schema = dict(EXPORT_SCHEMA)
    if variant == "closed":
        schema["additionalProperties"] = False
    if variant == "required":
        schema["required"] = ["uuid", "event_type", "plan"]
    check = compile_record_check(schema)
    assert check is not None
    records = _schema_records(EXPORT_COLUMNS, random.Random(variant))
    validate = fastjsonschema.compile(schema, use_default=False, use_formats=False)
    verdicts = set()
    for record in records:
        expected = _reference(validate, record)
        for _ in range(2):  # once before its key tuple has a plan, once after
            assert check(record) == expected, record
        verdicts.add(expected is None)
    assert verdicts == {True, False}
    plans = _closure(check, "plans")
    assert len(plans) >= 10


def _closure(fn: t.Callable[..., t.Any], name: str) -> t.Any:
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
    return cells[name].cell_contents


def test_wide_records_plans_and_the_loop_agree() -> None:
    mapping._PLANS.clear()
    for width in (mapping._MAX_PLAN_KEYS, mapping._MAX_PLAN_KEYS + 1):
        record: dict[str, t.Any] = {f"column_{i}": i for i in range(width - 4)}
        record |= {"event_type": "E", "user_id": "user-1", "time": 1_767_225_600_000, "plan": "x"}
        schema = {"type": "object", "properties": {k: {"type": "integer"} for k in record}}
        schema["properties"] |= {k: {"type": ["string", "integer"]} for k in list(record)[-4:]}
        check = compile_record_check(schema)
        assert check is not None
        for _ in range(3):
            assert check(record) is None
            assert check({**record, "column_0": "0"}) is not None
            payload = map_amplitude_shaped("s", record, (), skip_user_properties_sync=False)
            assert payload == mapping._map_amplitude_shaped_loop(
                "s", record, (), skip_user_properties_sync=False
            )
            assert validation.check_event(payload, None) is None
        assert (tuple(record) in mapping._PLANS) == (width <= mapping._MAX_PLAN_KEYS)
