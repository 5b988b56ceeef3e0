"""The tap's six streams."""

from tap_amplitude.streams.dashboard import ActiveUsersStream, AverageSessionLengthStream
from tap_amplitude.streams.events import EventsStream
from tap_amplitude.streams.project import AnnotationsStream, CohortsStream, EventsListStream

STREAM_TYPES = (
    EventsStream,
    ActiveUsersStream,
    AverageSessionLengthStream,
    AnnotationsStream,
    CohortsStream,
    EventsListStream,
)

__all__ = [
    "STREAM_TYPES",
    "ActiveUsersStream",
    "AnnotationsStream",
    "AverageSessionLengthStream",
    "CohortsStream",
    "EventsListStream",
    "EventsStream",
]
