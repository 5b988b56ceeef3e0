"""The Taxonomy API's read side (GET /api/2/taxonomy/...), from
amplitude.com/docs/apis/analytics/taxonomy: bodies ``{"success": true, "data": [...]}``; errors
``{"success": false, "errors": [{"message": ...}]}``; hidden event types and user properties are
never returned; deleted ones only with ``showDeleted=true`` (event types, user properties);
event properties per ``event_type`` or, without it, the shared ones; group properties per
``group_type`` or all shared ones. Limits per project: 4 cost at the same time, 7,200 cost per
hour, a GET costs 1; over either: 429. ``event_type`` and ``group_type`` are read from a
form-encoded body of the GET, as the docs send them ("Get event properties", "Get group
properties": ``--header 'Content-Type: application/x-www-form-urlencoded' --data-urlencode
'event_type=EVENT_NAME'``, "Body parameters"), and from the query string (third-party clients).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["TAXONOMY_PATHS", "Taxonomy", "TaxonomyLimits", "body_or_query", "error_body"]

TAXONOMY_PATHS = (
    "/api/2/taxonomy/category",
    "/api/2/taxonomy/event",
    "/api/2/taxonomy/event-property",
    "/api/2/taxonomy/user-property",
    "/api/2/taxonomy/group-property",
)
CONCURRENT_COST = 4
HOURLY_COST = 7200


def body_or_query(
    body: bytes,
    content_type: str,
    query: dict[str, str],
    name: str,
    reads: frozenset[str] = frozenset({"body", "query"}),
) -> str | None:
    """``name`` from a form body (the documented way: the body wins), else from the query;
    ``reads`` names the places read ("body", "query")."""
    if (
        "body" in reads
        and body
        and content_type.lower().startswith("application/x-www-form-urlencoded")
    ):
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            fields = {}
        if fields.get(name):
            return fields[name][-1]
    return query.get(name) if "query" in reads else None


def error_body(message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"message": message}]}


def _event_type(name: str, category: str | None, **flags: Any) -> dict[str, Any]:
    return {
        "event_type": name,
        "category": {"name": category} if category else None,
        "description": f"{name} (generated)",
        "display_name": name,
        "is_active": True,
        "is_hidden_from_dropdowns": False,
        "is_hidden_from_persona_results": False,
        "is_hidden_from_pathfinder": False,
        "is_hidden_from_timeline": False,
        "tags": ["generated"],
        "owner": "owner0@example.com",
        "_deleted": flags.get("deleted", False),
        "_hidden": flags.get("hidden", False),
    }


def _property(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        kind: name,
        "description": f"{name} (generated)",
        "type": extra.pop("type", "string"),
        "regex": None,
        "enum_values": None,
        "is_array_type": False,
        "is_hidden": False,
        "classifications": [],
        **extra,
    }


@dataclass
class Taxonomy:
    """A project's tracking plan; tests may edit the lists (internal flags start with ``_``)."""

    categories: list[dict[str, Any]]
    event_types: list[dict[str, Any]]
    event_properties: dict[str, list[dict[str, Any]]]  # "" = the shared ones
    user_properties: list[dict[str, Any]]
    group_properties: list[dict[str, Any]]

    @classmethod
    def generated(cls, event_types: list[str]) -> Taxonomy:
        names = ("Commerce", "Engagement")
        categories: list[dict[str, Any]] = [{"id": i + 1, "name": n} for i, n in enumerate(names)]
        events = [
            _event_type(name, names[i % 2] if i % 3 != 2 else None)
            for i, name in enumerate(event_types)
        ]
        events.append(_event_type("Legacy Signup", "Engagement", deleted=True))
        events.append(_event_type("Internal Debug", None, hidden=True))
        props: dict[str, list[dict[str, Any]]] = {
            "": [_property("event_property", "source", event_type=None)]
        }
        for event in events:
            name = event["event_type"]
            props[name] = [
                _property("event_property", "item_id", event_type=name, is_required=True),
                _property("event_property", "price", event_type=name, type="number"),
            ]
        users = [
            _property("user_property", "gp:plan", enum_values="free,pro,enterprise", deleted=False),
            _property("user_property", "gp:company", deleted=False),
            _property("user_property", "gp:old_flag", deleted=True),
            _property("user_property", "gp:internal_score", deleted=False, _hidden=True),
        ]
        groups = [
            _property("group_property", "grp:industry", group_type="company"),
            _property("group_property", "grp:seats", group_type="company", type="number"),
        ]
        return cls(categories, events, props, users, groups)

    def events_body(self, show_deleted: bool) -> list[dict[str, Any]]:
        return [
            _public(e)
            for e in self.event_types
            if not e.get("_hidden") and (show_deleted or not e.get("_deleted"))
        ]

    def event_properties_body(self, event_type: str | None) -> list[dict[str, Any]] | None:
        """None: the event type is unknown (400 "Not found")."""
        if not event_type:
            return [_public(p) for p in self.event_properties.get("", [])]
        known = {e["event_type"] for e in self.event_types if not e.get("_hidden")}
        if event_type not in known:
            return None
        return [_public(p) for p in self.event_properties.get(event_type, [])]

    def user_properties_body(self, show_deleted: bool) -> list[dict[str, Any]]:
        return [
            _public(p)
            for p in self.user_properties
            if not p.get("_hidden") and (show_deleted or not p.get("deleted"))
        ]

    def group_properties_body(self, group_type: str | None) -> list[dict[str, Any]]:
        return [
            _public(p)
            for p in self.group_properties
            if not group_type or p.get("group_type") == group_type
        ]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


@dataclass
class TaxonomyLimits:
    """The cost limits of one project: at most ``concurrent`` in flight, ``hourly`` per hour."""

    concurrent: int = CONCURRENT_COST
    hourly: int = HOURLY_COST
    in_flight: int = 0
    spent: deque[float] = field(default_factory=deque)
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> str | None:
        """Take one cost unit; a message (the request is refused with 429) when over a limit."""
        now = time.monotonic()
        with self._lock:
            while self.spent and now - self.spent[0] >= 3600:
                self.spent.popleft()
            if self.in_flight >= self.concurrent:
                self.refused += 1
                return "Too many concurrent requests: the limit is 4 cost at the same time"
            if len(self.spent) >= self.hourly:
                self.refused += 1
                return "Too many requests: the limit is 7200 cost per hour"
            self.in_flight += 1
            self.spent.append(now)
            return None

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
