"""The write side: /batch, /2/httpapi, /identify, /groupidentify (ingest_validation.py parses
and checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amplitude_emulator import responses
from amplitude_emulator.ingest_validation import (
    check_events,
    parse_event_batch,
    parse_group_identify,
    parse_identify,
    payload_too_large,
)

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler


WRITE_LIMITS = {
    "/batch": 20 * 1024 * 1024,
    "/2/httpapi": 1024 * 1024,
    "/identify": 1024 * 1024,
    "/groupidentify": 1024 * 1024,
    "/usermap": 1024 * 1024,
}
EPS_THRESHOLDS = {"/batch": 1000, "/2/httpapi": 30}


def check_size(handler: EmulatorHandler) -> None:
    path = handler.route_path
    limit = handler.server.emulator.faults.payload_limit_for(path) or WRITE_LIMITS[path]
    if len(handler.body) > limit:
        raise payload_too_large()


def batch(handler: EmulatorHandler) -> None:
    path = handler.route_path
    check_size(handler)
    batch = parse_event_batch(handler.body)
    project = handler.write_project(batch.api_key)
    if handler.status_fault(path, read_side=False, events=batch.events):
        return
    kept = check_events(batch.events, batch.min_id_length)
    decision = handler.server.emulator.faults.throttle_events(path, batch.events)
    if decision is not None:
        body = responses.throttle_body(
            EPS_THRESHOLDS[path],
            decision.events,
            decision.devices,
            decision.users,
            decision.quota_devices,
            decision.quota_users,
        )
        handler.send_json(429, body)
        return
    project.ingest(kept, path)
    handler.send_json(
        200,
        {
            "code": 200,
            "events_ingested": len(batch.events),
            "payload_size_bytes": len(handler.body),
            "server_upload_time": handler.server.emulator.clock_ms(),
        },
    )


def identify(handler: EmulatorHandler) -> None:
    check_size(handler)
    request = parse_identify(handler.form())
    project = handler.write_project(request.api_key)
    if handler.status_fault(handler.route_path, read_side=False):
        return
    project.identify(request.identifications)
    handler.send(200, b"success", "text/plain; charset=utf-8")


def group_identify(handler: EmulatorHandler) -> None:
    check_size(handler)
    request = parse_group_identify(handler.form())
    project = handler.write_project(request.api_key)
    if handler.status_fault(handler.route_path, read_side=False):
        return
    project.group_identify(request.identifications)
    handler.send(200, b"success", "text/plain; charset=utf-8")
