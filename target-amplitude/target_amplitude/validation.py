"""What Amplitude would refuse, checked before sending (pure). Each check returns a reason."""

from __future__ import annotations

import operator
import typing as t

# Ids Amplitude refuses (case-insensitive), reference section 6.
REFUSED_IDS = frozenset(
    {
        "anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", "", "0", "-1",
        "00000000-0000-0000-0000-000000000000", "{}", "lmy47d",
    }
)  # fmt: skip
# Event types a client may not send. `$identify` and `$groupidentify` are not among them: they
# are predefined, and how every official SDK sends identify and group identify.
RESERVED_EVENT_TYPES = frozenset(
    {
        "[Amplitude] Start Session", "[Amplitude] End Session",
        "[Amplitude] Revenue", "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)", "[Amplitude] Merged User",
    }
)  # fmt: skip
DEFAULT_MIN_ID_LENGTH = 5
_OBJECT_KEYS = ("event_properties", "user_properties", "groups", "plan")
_INTEGER_KEYS = ("session_id", "event_id")
_STRING_KEYS = ("insert_id", "app_version", "platform", "os_name", "country", "ip", "language")
# The fast accept (see check_event): these keys, each absent, null or of exactly these types.
_TYPED_KEYS = _OBJECT_KEYS + _INTEGER_KEYS + _STRING_KEYS
_SURE_TYPES = (
    (frozenset({type(None), dict}),) * len(_OBJECT_KEYS)
    + (frozenset({type(None), int}),) * len(_INTEGER_KEYS)
    + (frozenset({type(None), str}),) * len(_STRING_KEYS)
)
_contains = operator.contains


def check_id(value: t.Any, key: str, min_id_length: int | None) -> str | None:
    """Why Amplitude would refuse this user_id/device_id, or None."""
    if not isinstance(value, str):
        return f"{key} must be a string, got {type(value).__name__}"
    if value.strip().lower() in REFUSED_IDS:
        return f"{key} {value!r} is a placeholder Amplitude refuses"
    minimum = min_id_length or DEFAULT_MIN_ID_LENGTH
    if len(value) < minimum:
        return (
            f"{key} {value!r} is shorter than min_id_length ({minimum}); "
            "set the min_id_length setting lower if such ids are valid for you"
        )
    return None


def _check_ids(payload: t.Mapping[str, t.Any], min_id_length: int | None) -> str | None:
    """Why the ids would be refused, or None.

    Every present id must be valid, even when the other one is: Amplitude would drop a too-short
    user_id and keep the event under the device_id alone, attributing it to an anonymous device.
    The target rejects such a record instead (the reason names min_id_length), so no event
    silently loses its user; lower min_id_length and resend the rejected file if such ids are
    valid for you.
    """
    present = [k for k in ("user_id", "device_id") if payload.get(k) is not None]
    if not present:
        return "missing user_id and device_id (one is required)"
    for key in present:
        reason = check_id(payload[key], key, min_id_length)
        if reason:
            other = "device_id" if key == "user_id" else "user_id"
            if other in present and "shorter than min_id_length" in reason:
                reason += (
                    f" (Amplitude would drop the {key} and keep the event under its {other} "
                    "alone; the target rejects it rather than lose who did it)"
                )
            return reason
    return None


def _id_sure(value: t.Any, minimum: int) -> bool:
    """True when check_id finds nothing against this id (False: not sure, ask check_id)."""
    return type(value) is str and len(value) >= minimum and value.strip().lower() not in REFUSED_IDS


def _ids_sure(payload: dict[str, t.Any], min_id_length: int | None) -> bool:
    """True when _check_ids finds nothing against this payload's ids."""
    minimum = min_id_length or DEFAULT_MIN_ID_LENGTH
    user_id = payload.get("user_id")
    device_id = payload.get("device_id")
    if user_id is None:
        return device_id is not None and _id_sure(device_id, minimum)
    return _id_sure(user_id, minimum) and (device_id is None or _id_sure(device_id, minimum))


def _event_sure(payload: dict[str, t.Any], min_id_length: int | None) -> bool:
    """True only when _event_reason finds nothing: a few exact-type tests on the common event.

    Whatever it is unsure of (a $groupidentify, a bool or subclass where an int or str goes,
    any failing value) goes to _event_reason, which gives the same verdict and the reason.
    """
    get = payload.get
    event_type = get("event_type")
    time = get("time")
    return (
        type(event_type) is str
        and event_type not in RESERVED_EVENT_TYPES
        and event_type != "$groupidentify"
        and bool(event_type.strip())
        and (time is None or (type(time) is int and time >= 0))
        and _ids_sure(payload, min_id_length)
        and all(map(_contains, _SURE_TYPES, map(type, map(get, _TYPED_KEYS))))
    )


# The fast accept's exact type per typed key (a subclass, a bool for an int: ask the rules).
_EXACT_TYPE: dict[str, type] = {
    **dict.fromkeys(_OBJECT_KEYS, dict),
    **dict.fromkeys(_INTEGER_KEYS, int),
    **dict.fromkeys(_STRING_KEYS, str),
}


def _never(_payload: dict[str, t.Any], _minimum: int) -> bool:
    return False


def _event_keys_sure(keys: tuple[str, ...]) -> t.Callable[[dict[str, t.Any], int], bool]:
    """_event_sure for payloads with exactly these keys, in this order, compiled once.

    The values are read by position; only positions enter the generated source (the rules'
    constants are names of its namespace), never a key.
    """
    position = {key: i for i, key in enumerate(keys)}
    if "event_type" not in position or not position.keys() & {"user_id", "device_id"}:
        return _never
    kind = f"v{position['event_type']}"
    terms = [
        f"type({kind}) is str",
        f"{kind} not in RESERVED",
        f"{kind} != '$groupidentify'",
        f"{kind}.strip()",
    ]
    ids = [f"v{position[key]}" for key in ("user_id", "device_id") if key in position]
    terms.append("(" + " or ".join(f"{v} is not None" for v in ids) + ")")
    terms += [
        f"({v} is None or (type({v}) is str and len({v}) >= minimum "
        f"and {v}.strip().lower() not in REFUSED))"
        for v in ids
    ]
    if "time" in position:
        v = f"v{position['time']}"
        terms.append(f"({v} is None or (type({v}) is int and {v} >= 0))")
    terms += [
        f"(v{position[key]} is None or type(v{position[key]}) is {exact.__name__})"
        for key, exact in _EXACT_TYPE.items()
        if key in position
    ]
    source = "\n".join(
        [
            "def sure(payload, minimum):",
            f"    {', '.join(f'v{i}' for i in range(len(keys)))}, = payload.values()",
            f"    return bool({' and '.join(terms)})",
        ]
    )
    namespace: dict[str, t.Any] = {"RESERVED": RESERVED_EVENT_TYPES, "REFUSED": REFUSED_IDS}
    exec(compile(source, "<check_event key plan>", "exec"), namespace)  # noqa: S102
    return t.cast("t.Callable[[dict[str, t.Any], int], bool]", namespace["sure"])


# Payload key tuple -> its compiled check, made at the tuple's second payload: the payloads of a
# stream repeat a few key tuples (which columns were null). At most _MAX_PLANS of them.
_EVENT_PLANS: dict[tuple[str, ...], t.Callable[[dict[str, t.Any], int], bool]] = {}
_SEEN_KEYS: set[tuple[str, ...]] = set()
_MAX_PLANS = 128
_MAX_PLAN_KEYS = 500
_MAX_SEEN = 1_024


def _event_plan(keys: tuple[str, ...]) -> t.Callable[[dict[str, t.Any], int], bool] | None:
    if len(_EVENT_PLANS) >= _MAX_PLANS or len(keys) > _MAX_PLAN_KEYS:
        return None
    if keys not in _SEEN_KEYS:
        if len(_SEEN_KEYS) >= _MAX_SEEN:
            _SEEN_KEYS.clear()
        _SEEN_KEYS.add(keys)
        return None
    plan = _EVENT_PLANS[keys] = _event_keys_sure(keys)
    return plan


def check_event(payload: t.Mapping[str, t.Any], min_id_length: int | None) -> str | None:
    """Why Amplitude would refuse this ingest event, or None."""
    if type(payload) is dict:
        keys = tuple(payload)
        plan = _EVENT_PLANS.get(keys) or _event_plan(keys)
        if plan is not None:
            if plan(payload, min_id_length or DEFAULT_MIN_ID_LENGTH):
                return None
        elif _event_sure(payload, min_id_length):
            return None
    return _event_reason(payload, min_id_length)


def _event_reason(payload: t.Mapping[str, t.Any], min_id_length: int | None) -> str | None:
    """check_event's rules one by one, in order: the first that fails is the reason."""
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        return f"event_type must be a non-empty string, got {event_type!r}"
    if event_type in RESERVED_EVENT_TYPES:
        return f"event_type {event_type!r} is reserved by Amplitude"
    if event_type == "$groupidentify" and not payload.get("groups"):
        return "a $groupidentify event needs groups (the group it updates)"
    reason = _check_ids(payload, min_id_length)
    if reason:
        return reason
    time = payload.get("time")
    if time is not None and (isinstance(time, bool) or not isinstance(time, int) or time < 0):
        return f"time must be epoch milliseconds (a non-negative integer), got {time!r}"
    for key in _OBJECT_KEYS:
        value = payload.get(key)
        if value is not None and not isinstance(value, dict):
            return f"{key} must be an object, got {type(value).__name__}"
    for key in _INTEGER_KEYS:
        value = payload.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{key} must be an integer, got {value!r}"
    for key in _STRING_KEYS:
        value = payload.get(key)
        if value is not None and not isinstance(value, str):
            return f"{key} must be a string, got {value!r}"
    return None


def check_identify(payload: t.Mapping[str, t.Any], min_id_length: int | None) -> str | None:
    """Why Amplitude would refuse this /identify identification, or None."""
    if (
        type(payload) is dict
        and type(payload.get("user_properties")) is dict
        and _ids_sure(payload, min_id_length)
    ):
        return None
    return _identify_reason(payload, min_id_length)


def _identify_reason(payload: t.Mapping[str, t.Any], min_id_length: int | None) -> str | None:
    """check_identify's rules in order: the first that fails is the reason."""
    reason = _check_ids(payload, min_id_length)
    if reason:
        return reason
    props = payload.get("user_properties")
    if not isinstance(props, dict):
        return f"user_properties must be an object, got {type(props).__name__}"
    return None


def group_property_count(payload: t.Mapping[str, t.Any]) -> int:
    """Group properties one /groupidentify identification updates (over all operations)."""
    props = payload.get("group_properties")
    if not isinstance(props, dict):
        return 0
    if props and all(k.startswith("$") for k in props):
        return sum(len(v) if isinstance(v, dict) else 1 for v in props.values())
    return len(props)


def check_group(payload: t.Mapping[str, t.Any], max_properties: int | None = None) -> str | None:
    """Why Amplitude would refuse this /groupidentify identification, or None."""
    for key in ("group_type", "group_value"):
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            return f"{key} must be a non-empty string, got {value!r}"
    count = group_property_count(payload)
    if max_properties is not None and count > max_properties:
        return (
            f"{count} group properties in one identification, over Group Identify's limit of "
            f"{max_properties} per request: list fewer group_properties in the mapping"
        )
    return None


def check_size(size: int, limit: int, endpoint: str) -> str | None:
    """Why one serialized payload can never fit in a request to this endpoint, or None."""
    if size > limit:
        return f"payload is {size} bytes, over the {limit}-byte request limit of {endpoint}"
    return None
