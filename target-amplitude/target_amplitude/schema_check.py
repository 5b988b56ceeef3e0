"""Checking records against their stream's SCHEMA, fast (pure; the hot path).

The reference is fastjsonschema's compiled validator of the whole schema (formats and defaults
off). Running it on every record is a large share of a target's CPU time for wide schemas (55
top-level fields with nested open objects for tap-amplitude's events), so most records take a
fast path that only ever accepts what the reference accepts:

- top-level properties whose schema is only a `type` (plus annotations such as `description`
  or `format`, which the reference ignores; an object type may say `additionalProperties: true`)
  are checked by the exact Python type of their value against a precomputed set;
- a property whose schema adds only `properties` (for an object) or `items` (for an array) of
  such schemas, recursively, is checked the same way inside its value ("sure" checks);
- every other declared property, and any value a sure check is not sure of, gets the property's
  own compiled validator, run on its value only (a null skips it when the property's type allows
  null and none of its keywords applies to null);
- `required` keys must be present; `additionalProperties: false` is a key-set check.

For a tuple of record keys met more than once (the records of a stream repeat theirs), all of
that is one function compiled for those keys ("key plan"): `required` and the closed key set
decided once for the tuple, the types and sure checks run on the values read by position, with
no dict lookup per key. A record its plan is not sure of takes the steps above one by one.

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


def _types_sure(
    types_of: dict[str, frozenset[type]],
) -> t.Callable[[dict[str, t.Any]], bool]:
    """True when every key of a dict with a type set in `types_of` holds a value of those types."""
    get = types_of.get

    def sure(value: dict[str, t.Any]) -> bool:
        for name, item in value.items():
            types = get(name)
            if types is not None and type(item) not in types:
                return False
        return True

    return sure


def _always(_record: dict[str, t.Any]) -> bool:
    return True


def _never(_record: dict[str, t.Any]) -> bool:
    return False


def _keys_check(
    keys: tuple[str, ...],
    simple: dict[str, frozenset[type]],
    nested: dict[str, tuple[Sure | None, bool]],
    required: tuple[str, ...],
    closed: frozenset[str] | None,
) -> tuple[t.Callable[[dict[str, t.Any]], bool], bool]:
    """The fast path's check of a record with exactly these keys, in this order, and whether it
    is complete (True: the record matches when it passes; False: the nested properties' own
    validators must still run, as one of them has no sure check).

    Required keys and a closed key set are decided here, once; the types of the simple
    properties, and the sure checks of the nested ones, are run by position in a function
    compiled for the tuple. Only positions enter its source (the type sets and checks are names
    of its namespace): record keys never do.
    """
    present = frozenset(keys)
    if any(name not in present for name in required) or (
        closed is not None and not present <= closed
    ):
        return _never, True
    namespace: dict[str, t.Any] = {}
    terms: list[str] = []
    complete = True
    for i, key in enumerate(keys):
        if key in simple:
            namespace[f"T{i}"] = simple[key]
            terms.append(f"type(v{i}) in T{i}")
        elif key in nested:
            sure, null_ok = nested[key]
            if sure is None:
                complete = False
                continue
            namespace[f"S{i}"] = sure
            terms.append(f"(v{i} is None or S{i}(v{i}))" if null_ok else f"S{i}(v{i})")
    if not terms:
        return _always, complete
    source = "\n".join(
        [
            "def sure(record):",
            f"    {', '.join(f'v{i}' for i in range(len(keys)))}, = record.values()",
            f"    return {' and '.join(terms)}",
        ]
    )
    exec(compile(source, "<schema_check key plan>", "exec"), namespace)  # noqa: S102
    return t.cast("t.Callable[[dict[str, t.Any]], bool]", namespace["sure"]), complete


# Per compiled schema: the most key tuples with a compiled check, the most columns one has, and
# how many distinct key tuples are remembered while waiting for their second record.
_MAX_PLANS = 64
_MAX_PLAN_KEYS = 500
_MAX_SEEN = 256


Sure = t.Callable[[t.Any], bool]


def _sure_check(prop: t.Any) -> Sure | None:
    """A check that is True only for values the property's schema accepts, or None.

    Understood: `type` (JSON types only), annotations, `additionalProperties: true`, and, when
    the type allows it, `properties` (for an object) and `items` (one schema, for an array) made
    of such schemas, recursively. False means "not sure": the property's validator decides.
    """
    if not isinstance(prop, dict):
        return None
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names or any(n not in _EXACT_TYPES for n in names):
        return None
    allowed = frozenset().union(*(_EXACT_TYPES[n] for n in names))
    object_sure: Sure | None = None
    array_sure: Sure | None = None
    for keyword, value in prop.items():
        if keyword in _ANNOTATIONS or keyword == "type":
            continue
        if keyword == "additionalProperties" and value is True and "object" in names:
            continue
        if keyword == "properties" and "object" in names and isinstance(value, dict):
            object_sure = _properties_sure(value)
            if object_sure is None:
                return None
            continue
        if keyword == "items" and "array" in names and isinstance(value, dict):
            item_sure = _sure_check(value)
            if item_sure is None:
                return None
            array_sure = _items_sure(item_sure)
            continue
        return None

    def sure(value: t.Any) -> bool:
        kind = type(value)
        if kind not in allowed:
            return False
        if kind is dict and object_sure is not None:
            return object_sure(value)
        if kind is list and array_sure is not None:
            return array_sure(value)
        return True

    return sure


def _properties_sure(properties: dict[str, t.Any]) -> Sure | None:
    """The sure check of an object's `properties` (each one present in the value), or None."""
    types_of: dict[str, frozenset[type]] = {}
    nested: list[tuple[str, Sure]] = []
    for name, sub in properties.items():
        types = _exact_types(sub)
        if types is not None:
            types_of[name] = types
            continue
        sub_sure = _sure_check(sub)
        if sub_sure is None:
            return None
        nested.append((name, sub_sure))
    simple_sure = _types_sure(types_of)
    if not nested:
        return simple_sure

    def sure(value: dict[str, t.Any]) -> bool:
        return simple_sure(value) and all(
            sub_sure(value[name]) for name, sub_sure in nested if name in value
        )

    return sure


def _items_sure(item_sure: Sure) -> Sure:
    def sure(value: list[t.Any]) -> bool:
        return all(map(item_sure, value))

    return sure


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
    nested: list[tuple[str, Sure | None, t.Callable[[t.Any], t.Any], bool]] = []
    for name, prop in properties.items():
        types = _exact_types(prop)
        if types is not None:
            simple[name] = types
            continue
        prop_validate = _compile(prop)
        if prop_validate is None:
            return reference
        nested.append((name, _sure_check(prop), prop_validate, _null_always_valid(prop)))
    required = tuple(schema.get("required") or ())
    closed = frozenset(properties) if extra is False else None
    simple_sure = _types_sure(simple)
    nested_sure = {name: (sure, null_ok) for name, sure, _, null_ok in nested}
    invalid = fastjsonschema.JsonSchemaValueException
    # Key tuple -> (its compiled check, complete), made at the tuple's second record.
    plans: dict[tuple[str, ...], tuple[t.Callable[[dict[str, t.Any]], bool], bool]] = {}
    seen: set[tuple[str, ...]] = set()

    def plan_for(
        keys: tuple[str, ...],
    ) -> tuple[t.Callable[[dict[str, t.Any]], bool], bool] | None:
        if len(plans) >= _MAX_PLANS or len(keys) > _MAX_PLAN_KEYS:
            return None
        if keys not in seen:
            if len(seen) >= _MAX_SEEN:
                seen.clear()
            seen.add(keys)
            return None
        plan = plans[keys] = _keys_check(keys, simple, nested_sure, required, closed)
        return plan

    def nested_check(record: dict[str, t.Any]) -> str | None:
        for name, sure, prop_validate, null_ok in nested:
            value = record.get(name, _ABSENT)
            if (
                value is _ABSENT
                or (value is None and null_ok)
                or (sure is not None and sure(value))
            ):
                continue
            try:
                prop_validate(value)
            except invalid:
                return reference(record)
        return None

    def general(record: dict[str, t.Any]) -> str | None:
        """The check of a record without a key plan, or one its plan is not sure of."""
        for name in required:
            if name not in record:
                return reference(record)
        if closed is not None and not record.keys() <= closed:
            return reference(record)
        if not simple_sure(record):
            return reference(record)
        return nested_check(record)

    def check(record: dict[str, t.Any]) -> str | None:
        if type(record) is not dict:
            return reference(record)
        keys = tuple(record)
        plan = plans.get(keys) or plan_for(keys)
        if plan is None or not plan[0](record):
            return general(record)
        return None if plan[1] else nested_check(record)

    return check
