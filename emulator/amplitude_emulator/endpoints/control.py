"""The control and inspection API under /_emulator/ (state, requests, faults, reset, clock)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler


def handle(handler: EmulatorHandler, method: str, path: str) -> None:
    emulator = handler.server.emulator
    try:
        payload = json.loads(handler.body) if handler.body else {}
    except ValueError:
        handler.send_json(400, {"error": "the body must be JSON"})
        return
    if method == "GET" and path == "/_emulator/state":
        include = handler.query.get("events", "1") not in ("0", "false")
        handler.send_json(200, emulator.state(include_events=include))
    elif method == "GET" and path == "/_emulator/requests":
        handler.send_json(200, {"requests": [record.summary() for record in emulator.requests]})
    elif method == "POST" and path == "/_emulator/faults":
        try:
            emulator.faults.apply(payload)
        except (TypeError, ValueError) as error:
            handler.send_json(400, {"error": str(error)})
            return
        handler.send_json(200, {"ok": True})
    elif method == "POST" and path == "/_emulator/reset":
        emulator.reset(data=bool(payload.get("data")))
        handler.send_json(200, {"ok": True})
    elif method == "POST" and path == "/_emulator/clock":
        try:
            emulator.clock = _parse_clock(payload.get("now"))
        except ValueError as error:
            handler.send_json(400, {"error": str(error)})
            return
        handler.send_json(200, {"clock": emulator.clock.isoformat()})
    else:
        handler.send_json(404, {"error": f"unknown control endpoint {method} {path}"})


def _parse_clock(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("now must be an ISO-8601 string or null")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
