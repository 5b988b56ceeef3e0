"""Full-table streams of project metadata: annotations, cohorts, events_list.

Declarative: path, primary key and the body's list key; the SDK's ``request_records`` does the
request, and the response table (:mod:`tap_amplitude.responses`) says what each status means.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_amplitude.api import ApiPath
from tap_amplitude.errors import EndpointNotServedError
from tap_amplitude.streams.base import AmplitudeStream
from tap_amplitude.timestamps import normalize_fields


class AnnotationsStream(AmplitudeStream):
    """Chart annotations: /api/3/annotations, or the legacy /api/2/annotations on 404."""

    name = "annotations"
    path = ApiPath.ANNOTATIONS_V3.value
    primary_keys = ("id",)
    replication_key = None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Annotations of either API version (the 404 comes before any record)."""
        self.path = ApiPath.ANNOTATIONS_V3.value
        try:
            yield from super().get_records(context)
        except EndpointNotServedError as exc:
            self.logger.info("%s", exc)
            self.path = ApiPath.ANNOTATIONS_V2.value
            yield from super().get_records(context)

    @override
    def post_process(
        self,
        row: dict[str, Any],
        context: Context | None = None,
    ) -> dict[str, Any] | None:
        """Timestamps normalised to RFC 3339 UTC."""
        normalize_fields(row, ("start", "end"))
        return row


class CohortsStream(AmplitudeStream):
    """Behavioral cohorts (/api/3/cohorts); skipped with a warning when not on the plan."""

    name = "cohorts"
    path = ApiPath.COHORTS.value
    records_key = "cohorts"
    primary_keys = ("id",)
    replication_key = None


class EventsListStream(AmplitudeStream):
    """Visible event types with this week's totals (/api/2/events/list)."""

    name = "events_list"
    path = ApiPath.EVENTS_LIST.value
    primary_keys = ("id",)
    replication_key = None
