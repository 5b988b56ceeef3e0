"""A mapped payload's key in the ledger, and the properties a vanished row has to unset (pure)."""

from __future__ import annotations

import typing as t


def ledger_key(obj: str, payload: t.Mapping[str, t.Any]) -> str | None:
    """The row's identity in Amplitude (None: the row cannot be tracked, so it is sent).

    event: its insert_id. user/device: user_id and device_id. group: type and value.
    """
    if obj == "event":
        insert_id = payload.get("insert_id")
        return insert_id if isinstance(insert_id, str) else None
    if obj == "group":
        return f"{payload.get('group_type')}\x1f{payload.get('group_value')}"
    user_id, device_id = payload.get("user_id"), payload.get("device_id")
    if user_id is None and device_id is None:
        return None
    return f"{user_id or ''}\x1f{device_id or ''}"


def property_names(obj: str, payload: t.Mapping[str, t.Any]) -> list[str]:
    """The property names a user/device/group payload writes (mirror unsets them)."""
    props = payload.get("group_properties" if obj == "group" else "user_properties")
    if not isinstance(props, dict):
        return []
    names: set[str] = set()
    if props and all(str(k).startswith("$") for k in props):
        for op, values in props.items():
            if op != "$unset" and isinstance(values, dict):
                names.update(values)
    else:
        names.update(props)
    return sorted(names)


def unset_payload(obj: str, key: str, names: t.Sequence[str]) -> dict[str, t.Any] | None:
    """The identification that unsets a vanished row's properties (None: nothing to unset)."""
    if not names:
        return None
    first, _, second = key.partition("\x1f")
    unset = {"$unset": dict.fromkeys(names, "-")}
    if obj == "group":
        return {"group_type": first, "group_value": second, "group_properties": unset}
    payload: dict[str, t.Any] = {"user_properties": unset}
    if first:
        payload["user_id"] = first
    if second:
        payload["device_id"] = second
    return payload
