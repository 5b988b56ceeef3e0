"""Export-shaped event record -> HTTP V2 / Batch ingest event, for the floor and the SDK loader.

Section 8 of the API reference, kept deliberately plain: the contenders that are not ours share it
so they do the same mapping work, and target-amplitude does its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Export name -> ingest name, for the fields ingestion accepts (everything else is dropped:
# uuid, amplitude_id, server_*, processed_time, data, $schema, ...).
INGEST_FIELDS: dict[str, str] = {
    "event_type": "event_type",
    "user_id": "user_id",
    "device_id": "device_id",
    "$insert_id": "insert_id",
    "event_id": "event_id",
    "session_id": "session_id",
    "event_properties": "event_properties",
    "user_properties": "user_properties",
    "groups": "groups",
    "version_name": "app_version",
    "platform": "platform",
    "os_name": "os_name",
    "os_version": "os_version",
    "device_brand": "device_brand",
    "device_manufacturer": "device_manufacturer",
    "device_model": "device_model",
    "device_carrier": "carrier",
    "country": "country",
    "region": "region",
    "city": "city",
    "dma": "dma",
    "language": "language",
    "location_lat": "location_lat",
    "location_lng": "location_lng",
    "ip_address": "ip",
    "idfa": "idfa",
    "adid": "adid",
    "partner_id": "partner_id",
}


def epoch_ms(timestamp: str) -> int:
    """RFC 3339 (``...Z``) or Amplitude's raw ``2026-01-01 10:00:00.123000`` (UTC) -> epoch ms."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def to_ingest_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """Map one export-shaped record; null fields are left out."""
    event = {
        ingest: record[export]
        for export, ingest in INGEST_FIELDS.items()
        if record.get(export) is not None
    }
    moment = record.get("event_time") or record.get("client_event_time")
    if moment:
        event["time"] = epoch_ms(moment)
    return event
