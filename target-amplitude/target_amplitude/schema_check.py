"""Checking records against their stream's SCHEMA, fast (pure; the hot path).

The reference is fastjsonschema's compiled validator of the whole schema (formats and defaults
off). Running it on every record is a large share of a target's CPU time for wide schemas (55
top-level fields with nested open objects for tap-amplitude's events), so most records take a
fast path that only ever accepts what the reference accepts:

- top-level properties whose schema is only a `type` (plus annotations such as `description`
  or `format`, which the reference ignores; an object type may say `additionalProperties: true`)
  are checked by the exact Python type of their value against a precomputed set;
- every other declared property gets its own compiled validator, run on its value only (a null
  skips it when the property's type allows null and none of its keywords applies to null);
- `required` keys must be present; `additionalProperties: false` is a key-set check.

Whatever the fast path is unsure about (a value of another type, a nested mismatch, a schema it
does not understand) goes to the reference validator, which accepts it (e.g. `1.0` for an
integer) or gives the reason naming the field. A schema fastjsonschema cannot compile is not
checked at all, as before.
"""

from __future__ import annotations

import decimal
import typing as t

import fastjsonschema

RecordCheck = t.Callable[[dict[str, t.Any]], "str | None"]

# Exact types the JSON decoder (or a Decimal-producing reader) gives for each JSON Schema type;
# bool is not an int here, exactly as in JSON Schema.
_EXACT_TYPES: dict[str, frozenset[type]] = {
    "null": frozenset({type(None)}),
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float, decimal.Decimal}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}
# Keywords that never constrain a value (annotations; `format` is ignored by the reference).
_ANNOTATIONS = frozenset(
    {
        "description", "title", "format", "examples", "default", "$comment", "readOnly",
        "writeOnly", "deprecated", "contentMediaType", "contentEncoding",
    }
)  # fmt: skip
# Keywords that only constrain values of other types than null: a null passes them all.
_NOT_FOR_NULL = frozenset(
    {
        "properties", "additionalProperties", "patternProperties", "propertyNames", "required",
        "minProperties", "maxProperties", "items", "additionalItems", "contains", "minItems",
        "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    }
)  # fmt: skip
_ABSENT = object()
# Top-level keywords the fast path handles itself.
_TOP_LEVEL = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties", "$schema"}


def _compile(schema: t.Any) -> t.Callable[[t.Any], t.Any] | None:
    try:
        return fastjsonschema.compile(schema, use_default=False, use_formats=False)
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError, KeyError):
        return None


def _exact_types(prop: t.Any) -> frozenset[type] | None:
    """The value types a property accepts when its schema is a plain type, else None."""
    if not isinstance(prop, dict):
        return None
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names or any(n not in _EXACT_TYPES for n in names):
        return None
    for keyword, value in prop.items():
        if keyword in _ANNOTATIONS or keyword == "type":
            continue
        if keyword == "additionalProperties" and value is True and "object" in names:
            continue
        return None
    return frozenset().union(*(_EXACT_TYPES[n] for n in names))


def _null_always_valid(prop: dict[str, t.Any]) -> bool:
    """True when the property's schema accepts null whatever else it says about other types."""
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else declared
    return (
        isinstance(names, list)
        and "null" in names
        and set(prop) <= _ANNOTATIONS | _NOT_FOR_NULL | {"type"}
    )


def _reference_check(validate: t.Callable[[t.Any], t.Any]) -> RecordCheck:
    def check(record: dict[str, t.Any]) -> str | None:
        try:
            validate(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            return str(exc)
        return None

    return check


def compile_record_check(schema: dict[str, t.Any]) -> RecordCheck | None:
    """A check for records of this schema: None when a record matches, else the reason.

    None (no check) when fastjsonschema cannot compile the schema.
    """
    validate = _compile(schema)
    if validate is None:
        return None
    reference = _reference_check(validate)
    properties = schema.get("properties")
    extra = schema.get("additionalProperties", True)
    if (
        not isinstance(properties, dict)
        or not set(schema) <= _TOP_LEVEL
        or schema.get("type", "object") not in ("object", ["object"])
        or extra not in (True, False)
        or "$ref" in repr(properties)  # references resolve against the whole schema only
    ):
        return reference

    simple: dict[str, frozenset[type]] = {}
    nested: list[tuple[str, t.Callable[[t.Any], t.Any], bool]] = []
    for name, prop in properties.items():
        types = _exact_types(prop)
        if types is not None:
            simple[name] = types
            continue
        prop_validate = _compile(prop)
        if prop_validate is None:
            return reference
        nested.append((name, prop_validate, _null_always_valid(prop)))
    required = tuple(schema.get("required") or ())
    closed = frozenset(properties) if extra is False else None
    invalid = fastjsonschema.JsonSchemaValueException

    def check(record: dict[str, t.Any]) -> str | None:
        if type(record) is not dict:
            return reference(record)
        for name in required:
            if name not in record:
                return reference(record)
        if closed is not None and not record.keys() <= closed:
            return reference(record)
        get = simple.get
        for name, value in record.items():
            types = get(name)
            if types is not None and type(value) not in types:
                return reference(record)
        for name, prop_validate, null_ok in nested:
            value = record.get(name, _ABSENT)
            if value is _ABSENT or (value is None and null_ok):
                continue
            try:
                prop_validate(value)
            except invalid:
                return reference(record)
        return None

    return check
