"""Validation of write-side requests, as Amplitude answers them (pure functions).

Each function returns the parsed request or raises :class:`Rejection` carrying the HTTP status
and the JSON body Amplitude sends. Nothing is stored for a rejected request.
"""

from __future__ import annotations

import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs

from amplitude_emulator.profiles import (
    GROUP_OPERATIONS,
    USER_OPERATIONS,
    PropertyOperationError,
    normalise_operations,
)

_decode_json: Callable[[bytes], Any] = json.loads
try:  # the emulator is stdlib-only; a faster decoder, when installed, keeps it off the hot path
    import msgspec

    _decode_json = msgspec.json.decode
except ImportError:  # pragma: no cover - depends on the environment
    pass

MAX_EVENTS_PER_REQUEST = 2000
MAX_IDENTIFICATIONS = 2000
MAX_GROUP_IDENTIFICATIONS = 1024
MAX_GROUP_PROPERTIES = 1024  # group properties per /groupidentify request, all items together
DEFAULT_MIN_ID_LENGTH = 5

REFUSED_IDS = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "",
        "0",
        "-1",
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
    }
)
# Refused when a client sends them. ``$identify`` and ``$groupidentify`` are *predefined*, not
# reserved: every official SDK sends identify, group identify and set_group as those events.
RESERVED_EVENT_TYPES = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)
IDENTIFY_EVENT = "$identify"
GROUP_IDENTIFY_EVENT = "$groupidentify"
_OBJECT_FIELDS = ("event_properties", "user_properties", "groups", "group_properties", "plan")
_STRING_FIELDS = ("insert_id", "app_version", "platform", "os_name", "country", "ip", "language")
_INTEGER_FIELDS = ("time", "session_id", "event_id")


class Rejection(Exception):  # noqa: N818 - it is a response, not a bug
    """A request Amplitude refuses: ``status`` and JSON ``body`` to send, or a legacy
    ``text`` body (the form endpoints /identify and /groupidentify answer text/plain)."""

    def __init__(self, status: int, body: dict[str, Any], text: bytes | None = None) -> None:
        super().__init__(body.get("error", status))
        self.status = status
        self.body = body
        self.text = text


def legacy_text(status: int, text: str) -> Rejection:
    """A text/plain answer of a form endpoint: ``invalid_api_key``, ``missing_event``."""
    return Rejection(status, {"code": status, "error": text}, text.encode())


def missing_field(field: str) -> Rejection:
    return Rejection(
        400, {"code": 400, "error": "Request missing required field", "missing_field": field}
    )


def invalid_api_key(api_key: str) -> Rejection:
    return Rejection(400, {"code": 400, "error": f"Invalid API key: {api_key}"})


def payload_too_large() -> Rejection:
    return Rejection(413, {"code": 413, "error": "Payload too large"})


@dataclass(frozen=True)
class EventBatch:
    api_key: str
    events: list[dict[str, Any]]
    min_id_length: int


@dataclass(frozen=True)
class IdentifyRequest:
    api_key: str
    identifications: list[dict[str, Any]]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_event_batch(body: bytes) -> EventBatch:
    """A /batch or /2/httpapi body -> EventBatch, or the 400/413 Amplitude answers."""
    try:
        payload = _decode_json(body)
    except (UnicodeDecodeError, ValueError):  # msgspec.DecodeError is a ValueError
        raise Rejection(400, {"code": 400, "error": "Invalid JSON request body"}) from None
    if not isinstance(payload, dict):
        raise Rejection(400, {"code": 400, "error": "Invalid JSON request body"})
    api_key = payload.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        raise missing_field("api_key")
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        raise missing_field("events")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise payload_too_large()
    options = payload.get("options") or {}
    min_id_length: Any = None
    if isinstance(options, dict):
        min_id_length = options.get("min_id_length", DEFAULT_MIN_ID_LENGTH)
    if not _is_int(min_id_length) or min_id_length < 1:
        raise Rejection(
            400,
            {"code": 400, "error": "Invalid options: min_id_length must be a positive integer"},
        )
    return EventBatch(api_key, events, min_id_length)


def _id_problem(value: Any, min_length: int) -> str | None:
    """None when fine, else "invalid" or "length"."""
    if not isinstance(value, str):
        return "invalid"
    if value.strip().lower() in REFUSED_IDS:
        return "invalid"
    if len(value) < min_length:
        return "length"
    return None


def check_events(events: list[Any], min_id_length: int) -> list[dict[str, Any]]:
    """Per-event validation: the events as Amplitude keeps them, or the 400 with index lists.

    An id shorter than ``min_id_length`` is removed from its event (a copy); the event is
    refused with ``events_with_invalid_id_lengths`` only when no id is left. A
    ``$groupidentify`` needs no id: it names its group in ``groups``.
    """
    invalid: dict[str, list[int]] = {}
    missing: dict[str, list[int]] = {}
    lengths: dict[str, list[int]] = {}
    kept: list[dict[str, Any]] = []

    def add(target: dict[str, list[int]], field: str, index: int) -> None:
        target.setdefault(field, []).append(index)

    for index, event in enumerate(events):
        if not isinstance(event, dict):
            add(invalid, "event", index)
            continue
        event_type = event.get("event_type")
        if event_type is None or event_type == "":
            add(missing, "event_type", index)
        elif not isinstance(event_type, str) or event_type in RESERVED_EVENT_TYPES:
            add(invalid, "event_type", index)
        group_identify = event_type == GROUP_IDENTIFY_EVENT
        user_id, device_id = event.get("user_id"), event.get("device_id")
        if user_id is None and device_id is None and not group_identify:
            add(missing, "user_id_or_device_id", index)
        short: list[str] = []
        valid_ids = 0
        for field, value in (("user_id", user_id), ("device_id", device_id)):
            if value is None:
                continue
            problem = _id_problem(value, min_id_length)
            if problem == "invalid":
                add(invalid, field, index)
            elif problem == "length":
                short.append(field)
            else:
                valid_ids += 1
        if short and not valid_ids and not group_identify:
            for field in short:
                add(lengths, field, index)
        for field in _INTEGER_FIELDS:
            if field in event and event[field] is not None and not _is_int(event[field]):
                add(invalid, field, index)
        for field in _STRING_FIELDS:
            if field in event and event[field] is not None and not isinstance(event[field], str):
                add(invalid, field, index)
        for field in _OBJECT_FIELDS:
            if field in event and event[field] is not None and not isinstance(event[field], dict):
                add(invalid, field, index)
        if isinstance(event.get("user_properties"), dict):
            try:
                normalise_operations(event["user_properties"], USER_OPERATIONS)
            except PropertyOperationError:
                add(invalid, "user_properties", index)
        if group_identify:
            _check_group_identify_event(event, index, add, invalid, missing)
        kept.append({k: v for k, v in event.items() if k not in short} if short else event)
    if invalid or missing or lengths:
        body: dict[str, Any] = {
            "code": 400,
            "error": "Invalid field values on some events",
            "events_with_invalid_fields": invalid,
            "events_with_missing_fields": missing,
        }
        if lengths:
            body["events_with_invalid_id_lengths"] = lengths
        raise Rejection(400, body)
    return kept


def _check_group_identify_event(
    event: dict[str, Any],
    index: int,
    add: Callable[[dict[str, list[int]], str, int], None],
    invalid: dict[str, list[int]],
    missing: dict[str, list[int]],
) -> None:
    """A ``$groupidentify`` names its group(s) in ``groups``; ``group_properties`` holds the
    operations applied to them (the SDK builds them with its Identify, all operations)."""
    groups = event.get("groups")
    if not groups:
        add(missing, "groups", index)
    elif isinstance(groups, dict) and not all(
        isinstance(value, str | list) for value in groups.values()
    ):
        add(invalid, "groups", index)
    if isinstance(event.get("group_properties"), dict):
        try:
            normalise_operations(event["group_properties"], USER_OPERATIONS)
        except PropertyOperationError:
            add(invalid, "group_properties", index)


def form_fields(body: bytes, content_type: str, query: dict[str, str]) -> dict[str, str]:
    """The fields of a form endpoint request, in every form the Identify docs show: a GET
    query string, an ``application/x-www-form-urlencoded`` or a ``multipart/form-data`` body.
    Body fields win over query fields."""
    fields = dict(query)
    if content_type.lower().startswith("multipart/form-data"):
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            raise legacy_text(400, "missing_event")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                if not isinstance(payload, bytes):
                    continue
                try:
                    fields[name] = payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise legacy_text(400, "missing_event") from None
        return fields
    if body:
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise legacy_text(400, "missing_event") from None
        fields.update({key: values[-1] for key, values in parsed.items()})
    return fields


def _identifications(form: dict[str, str], limit: int) -> IdentifyRequest:
    api_key = form.get("api_key", "")
    if not api_key:
        raise legacy_text(400, "invalid_api_key")
    raw = form.get("identification")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    items = [parsed] if isinstance(parsed, dict) else parsed
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise legacy_text(400, "missing_event")
    if len(items) > limit:
        raise payload_too_large()
    return IdentifyRequest(api_key, items)


def _bad_identification(index: int, reason: str) -> Rejection:
    return Rejection(
        400, {"code": 400, "error": f"Invalid identification at index {index}: {reason}"}
    )


def parse_identify(form: dict[str, str]) -> IdentifyRequest:
    """The fields of an /identify request, validated as a whole (nothing applied on error)."""
    request = _identifications(form, MAX_IDENTIFICATIONS)
    for index, item in enumerate(request.identifications):
        user_id, device_id = item.get("user_id"), item.get("device_id")
        if user_id is None and device_id is None:
            raise _bad_identification(index, "user_id or device_id is required")
        for field, value in (("user_id", user_id), ("device_id", device_id)):
            if value is not None and _id_problem(value, DEFAULT_MIN_ID_LENGTH):
                raise _bad_identification(index, f"invalid {field} {value!r}")
        try:
            normalise_operations(item.get("user_properties"), USER_OPERATIONS)
        except PropertyOperationError as error:
            raise _bad_identification(index, f"user_properties: {error}") from None
        groups = item.get("groups")
        if groups is not None and not (
            isinstance(groups, dict) and all(isinstance(v, str | list) for v in groups.values())
        ):
            raise _bad_identification(index, "groups must map a group type to a value or list")
    return request


def _property_count(properties: Any) -> int:
    """How many properties an identification updates (plain keys, or keys per operation)."""
    if not isinstance(properties, dict):
        return 0
    if any(key.startswith("$") for key in properties):
        return sum(len(v) if isinstance(v, dict) else 1 for v in properties.values())
    return len(properties)


def parse_group_identify(form: dict[str, str]) -> IdentifyRequest:
    """The fields of a /groupidentify request, validated as a whole. Over 1024 group
    identifications or 1024 group properties in total -> 413 (the Group Identify limits)."""
    request = _identifications(form, MAX_GROUP_IDENTIFICATIONS)
    total = sum(_property_count(item.get("group_properties")) for item in request.identifications)
    if total > MAX_GROUP_PROPERTIES:
        raise payload_too_large()
    for index, item in enumerate(request.identifications):
        for field in ("group_type", "group_value"):
            if not isinstance(item.get(field), str) or not item[field]:
                raise _bad_identification(index, f"{field} is required")
        try:
            normalise_operations(item.get("group_properties"), GROUP_OPERATIONS)
        except PropertyOperationError as error:
            raise _bad_identification(index, f"group_properties: {error}") from None
    return request
