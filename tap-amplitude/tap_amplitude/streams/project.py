"""Full-table streams of project metadata: annotations, cohorts, events_list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from singer_sdk.helpers.types import Context

from tap_amplitude.client import Endpoint
from tap_amplitude.errors import AmplitudeAPIError, CohortsUnavailableError
from tap_amplitude.streams.base import AmplitudeStream
from tap_amplitude.timestamps import normalize_fields


def _data_list(body: Any, endpoint: Endpoint, key: str = "data") -> list[dict[str, Any]]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        msg = f"{endpoint.value} answered without a {key!r} list; Amplitude changed its API?"
        raise AmplitudeAPIError(msg)
    return [item for item in items if isinstance(item, dict)]


class AnnotationsStream(AmplitudeStream):
    """Chart annotations: /api/3/annotations, or the legacy /api/2/annotations on 404."""

    name = "annotations"
    primary_keys = ("id",)
    replication_key = None

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """Annotations of either API version, timestamps normalised."""
        try:
            body = self.client.get_json(Endpoint.ANNOTATIONS_V3)
            endpoint = Endpoint.ANNOTATIONS_V3
        except AmplitudeAPIError as exc:
            if exc.status != 404:
                raise
            self.logger.info(
                "%s is not served here (404); reading the legacy %s",
                Endpoint.ANNOTATIONS_V3.value,
                Endpoint.ANNOTATIONS_V2.value,
            )
            body = self.client.get_json(Endpoint.ANNOTATIONS_V2)
            endpoint = Endpoint.ANNOTATIONS_V2
        for item in _data_list(body, endpoint):
            normalize_fields(item, ("start", "end"))
            yield item


class CohortsStream(AmplitudeStream):
    """Behavioral cohorts (/api/3/cohorts); skipped with a warning when not on the plan."""

    name = "cohorts"
    primary_keys = ("id",)
    replication_key = None

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """Every cohort of the project."""
        try:
            body = self.client.get_json(Endpoint.COHORTS)
        except CohortsUnavailableError as exc:
            self.logger.warning("Skipping the cohorts stream: %s", exc)
            return
        yield from _data_list(body, Endpoint.COHORTS, key="cohorts")


class EventsListStream(AmplitudeStream):
    """Visible event types with this week's totals (/api/2/events/list)."""

    name = "events_list"
    primary_keys = ("id",)
    replication_key = None

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """Every event type."""
        yield from _data_list(self.client.get_json(Endpoint.EVENTS_LIST), Endpoint.EVENTS_LIST)
