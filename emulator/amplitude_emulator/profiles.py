"""User and group property operations, with Amplitude's semantics (pure functions).

A ``user_properties`` object is either a plain dict (meaning ``$set``) or a dict whose keys are
all operations; mixing the two is an error. Operations are applied in the fixed order of
``USER_OPERATIONS`` ($clearAll first, so ``{"$clearAll": "-", "$set": {...}}`` rebuilds a
profile).
"""

from __future__ import annotations

from typing import Any

USER_OPERATIONS = (
    "$clearAll",
    "$unset",
    "$setOnce",
    "$set",
    "$add",
    "$append",
    "$prepend",
    "$preInsert",
    "$postInsert",
    "$remove",
)
GROUP_OPERATIONS = ("$unset", "$setOnce", "$set", "$add", "$append", "$prepend")


class PropertyOperationError(ValueError):
    """user_properties / group_properties that Amplitude would refuse."""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _current_list(props: dict[str, Any], key: str) -> list[Any]:
    if key not in props or props[key] is None:
        return []
    return _as_list(props[key])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def normalise_operations(
    properties: Any, allowed: tuple[str, ...] = USER_OPERATIONS
) -> dict[str, Any]:
    """Plain dict -> ``{"$set": dict}``; validate an operations dict. Raises on mixing."""
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise PropertyOperationError("properties must be a JSON object")
    operation_keys = [key for key in properties if key.startswith("$")]
    if not operation_keys:
        return {"$set": dict(properties)} if properties else {}
    if len(operation_keys) != len(properties):
        raise PropertyOperationError(
            "properties mix plain keys and operations ($set, $add, ...): use one or the other"
        )
    unknown = [key for key in operation_keys if key not in allowed]
    if unknown:
        raise PropertyOperationError(f"unsupported property operation {unknown[0]}")
    for key, value in properties.items():
        if key != "$clearAll" and not isinstance(value, dict):
            raise PropertyOperationError(f"{key} takes an object of properties")
    return dict(properties)


def apply_operations(current: dict[str, Any], operations: dict[str, Any]) -> dict[str, Any]:
    """The profile after applying normalised operations (``current`` is not modified)."""
    props = dict(current)
    for operation in USER_OPERATIONS:
        if operation not in operations:
            continue
        arguments = operations[operation]
        if operation == "$clearAll":
            props.clear()
            continue
        for key, value in arguments.items():
            if operation == "$unset":
                props.pop(key, None)
            elif operation == "$setOnce":
                props.setdefault(key, value)
            elif operation == "$set":
                props[key] = value
            elif operation == "$add":
                existing = props.get(key, 0)
                if _number(value) and (existing is None or _number(existing)):
                    props[key] = (existing or 0) + value
            elif operation == "$append":
                props[key] = _current_list(props, key) + _as_list(value)
            elif operation == "$prepend":
                props[key] = _as_list(value) + _current_list(props, key)
            elif operation == "$preInsert":
                existing_list = _current_list(props, key)
                new = [item for item in _as_list(value) if item not in existing_list]
                props[key] = new + existing_list
            elif operation == "$postInsert":
                existing_list = _current_list(props, key)
                new = [item for item in _as_list(value) if item not in existing_list]
                props[key] = existing_list + new
            elif operation == "$remove":
                removed = _as_list(value)
                if key in props:
                    props[key] = [item for item in _current_list(props, key) if item not in removed]
    return props
