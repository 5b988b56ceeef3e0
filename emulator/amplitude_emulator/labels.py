"""The group-bys of /api/2/users: which properties, and each user's label for them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The group-bys (`g`) the Dashboard REST docs list for active and new user counts, spelled as
# there; a request may use any case.
GROUP_BY_PROPERTIES = (
    "country",
    "city",
    "region",
    "DMA",
    "language",
    "platform",
    "os",
    "device",
    "version",
    "start_version",
    "paying",
)
_BY_LOWER = {name.lower(): name for name in GROUP_BY_PROPERTIES}
NO_VALUE = "(none)"


def group_by_property(value: str) -> str | None:
    """The documented group-by that ``value`` names (any case), or None when it is not one."""
    return _BY_LOWER.get(value.lower())


def label_of(value: Any) -> str:
    """A group label as the dashboard shows it: the value as text, ``(none)`` when unset."""
    if value is None or value == "":
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def group_labels(record: Mapping[str, Any]) -> dict[str, str]:
    """The group-by labels of an export-shaped record (the user's and event's fields)."""
    os_name, os_version = record.get("os_name"), record.get("os_version")
    values = {
        "country": record.get("country"),
        "city": record.get("city"),
        "region": record.get("region"),
        "DMA": record.get("dma"),
        "language": record.get("language"),
        "platform": record.get("platform"),
        "os": f"{os_name} {os_version}" if os_name and os_version else os_name,
        "device": record.get("device_family") or record.get("device_model"),
        "version": record.get("version_name"),
        "start_version": record.get("start_version"),
        "paying": record.get("paying"),
    }
    return {name: label_of(value) for name, value in values.items()}
