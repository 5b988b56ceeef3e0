"""touch_event: one event per profile Amplitude accepted, so the update shows (pure).

A user property set through Identify shows on the user's *next* event, never on past ones
(Identify API docs, amplitude/amplitude-docs content/collections/api/en/identify.md: "updates
affect only future events"; ../shared/amplitude-api.md §7). A mapping of a user, device or group
may name a ``touch_event``: after its profile updates are accepted, the target sends one event of
that name per updated id, so the new values are visible at once. Each touch is an event: it
counts toward the project's event volume (and a group's touch, which needs an id of its own, as
one device in the user counts).
"""

from __future__ import annotations

import hashlib
import typing as t

from target_amplitude.mapping import ENCODER

if t.TYPE_CHECKING:
    from target_amplitude.delivery import Item
    from target_amplitude.settings import StreamMapping

__all__ = ["GROUP_DEVICE_PREFIX", "touch_events"]

# A group's touch event needs a device_id (Amplitude refuses an event without an id).
GROUP_DEVICE_PREFIX = "touch-group:"


def _insert_id(stream: str, name: str, target: str, wire: bytes) -> str:
    """Deterministic: a re-run of the same update within Amplitude's 7 days sends no second
    touch; a new update (other wire bytes) gets a touch of its own."""
    digest = hashlib.sha256(b"\x1f".join((stream.encode(), name.encode(), target.encode(), wire)))
    return f"touch:{digest.hexdigest()[:40]}"


def touch_events(
    mapping: StreamMapping, accepted: t.Iterable[Item], stream: str
) -> list[dict[str, t.Any]]:
    """One event per distinct id (or group) among the ``accepted`` profile updates, in order."""
    name = mapping.touch_event
    if name is None:
        return []
    events: dict[str, dict[str, t.Any]] = {}
    for item in accepted:
        if mapping.object == "group":
            group_type, _, group_value = item.key.partition("\x1f")
            event: dict[str, t.Any] = {
                "event_type": name,
                "device_id": f"{GROUP_DEVICE_PREFIX}{group_type}:{group_value}",
                "groups": {group_type: group_value},
            }
        else:
            event = {"event_type": name}
            if item.user_id is not None:
                event["user_id"] = item.user_id
            if item.device_id is not None:
                event["device_id"] = item.device_id
        target = item.key
        event["insert_id"] = _insert_id(stream, name, target, item.wire)
        events[target] = event  # the last update of an id in the batch names its touch
    return list(events.values())


def encode(event: dict[str, t.Any]) -> bytes:
    """The event as the events endpoint's item bytes."""
    return ENCODER.encode(event)
