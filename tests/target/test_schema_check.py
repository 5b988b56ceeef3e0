"""The fast SCHEMA check accepts exactly what fastjsonschema accepts, and names the field."""

from __future__ import annotations

import decimal
import typing as t

import fastjsonschema
import pytest
from target_amplitude.schema_check import compile_record_check

SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "properties": {
        "uuid": {"type": "string", "description": "id"},
        "n": {"type": ["null", "integer"]},
        "x": {"type": ["null", "number"]},
        "flag": {"type": ["null", "boolean"]},
        "when": {"type": ["null", "string"], "format": "date-time"},
        "props": {"type": ["null", "object"], "additionalProperties": True},
        "tags": {"type": ["null", "string", "array"], "items": {"type": "string"}},
        "plan": {
            "type": ["null", "object"],
            "properties": {"branch": {"type": ["null", "string"]}},
            "additionalProperties": True,
        },
        "level": {"type": ["null", "string"], "enum": ["low", "high", None]},
    },
    "required": ["uuid"],
}
CLOSED = {**SCHEMA, "additionalProperties": False}
OK = {"uuid": "u-1", "n": 1, "x": 1.5, "flag": True, "when": "not checked", "props": {"a": [1]}}

CASES: list[dict[str, t.Any]] = [
    OK,
    {"uuid": "u-1"},
    {**OK, "n": None, "x": None, "props": None, "tags": None, "plan": None, "level": None},
    {**OK, "x": 3},
    {**OK, "x": decimal.Decimal("2.5")},
    {**OK, "n": 2.0},  # JSON Schema: an integer-valued number is an integer
    {**OK, "tags": "one"},
    {**OK, "tags": ["a", "b"]},
    {**OK, "plan": {"branch": "main", "other": 1}},
    {**OK, "level": "high"},
    {**OK, "unknown": [1]},
    {"n": 1},  # required uuid missing
    {**OK, "uuid": None},
    {**OK, "n": "1"},
    {**OK, "n": True},
    {**OK, "x": "1.5"},
    {**OK, "flag": 1},
    {**OK, "props": []},
    {**OK, "tags": [1]},
    {**OK, "tags": 3},
    {**OK, "plan": {"branch": 7}},
    {**OK, "plan": "pro"},
    {**OK, "level": "medium"},
]


def _reference(schema: dict[str, t.Any], record: dict[str, t.Any]) -> str | None:
    try:
        fastjsonschema.compile(schema, use_default=False, use_formats=False)(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("schema", [SCHEMA, CLOSED], ids=["open", "closed"])
@pytest.mark.parametrize("record", CASES)
def test_same_verdict_and_reason_as_the_full_validator(
    schema: dict[str, t.Any], record: dict[str, t.Any]
) -> None:
    check = compile_record_check(schema)
    assert check is not None
    assert check(record) == _reference(schema, record)


def test_reasons_name_the_field() -> None:
    check = compile_record_check(SCHEMA)
    assert check is not None
    assert "data.n must be" in (check({**OK, "n": "1"}) or "")
    assert "data.plan.branch must be" in (check({**OK, "plan": {"branch": 7}}) or "")
    assert "uuid" in (check({"n": 1}) or "")
    closed = compile_record_check(CLOSED)
    assert closed is not None
    assert "surprise" in (closed({**OK, "surprise": 1}) or "")


def test_schemas_the_fast_path_does_not_take_are_checked_by_the_full_validator() -> None:
    schema = {
        "type": "object",
        "definitions": {"id": {"type": "string", "minLength": 3}},
        "properties": {"id": {"$ref": "#/definitions/id"}},
        "anyOf": [{"required": ["id"]}],
    }
    check = compile_record_check(schema)
    assert check is not None
    assert check({"id": "abc"}) is None
    assert "must be longer than or equal to 3" in (check({"id": "ab"}) or "")
    assert check({}) is not None


def test_an_uncompilable_schema_is_not_checked() -> None:
    assert compile_record_check({"type": "object", "properties": {"a": {"type": "nope"}}}) is None
