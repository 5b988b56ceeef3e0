"""The tap's streams."""

from tap_amplitude.streams.cohort_members import CohortMembersStream
from tap_amplitude.streams.dashboard import ActiveUsersStream, AverageSessionLengthStream
from tap_amplitude.streams.events import EventsStream
from tap_amplitude.streams.merged_ids import MergedIdsStream
from tap_amplitude.streams.project import AnnotationsStream, CohortsStream, EventsListStream
from tap_amplitude.streams.taxonomy import (
    TaxonomyCategoriesStream,
    TaxonomyEventPropertiesStream,
    TaxonomyEventTypesStream,
    TaxonomyGroupPropertiesStream,
    TaxonomyUserPropertiesStream,
)

STREAM_TYPES = (
    EventsStream,
    MergedIdsStream,
    ActiveUsersStream,
    AverageSessionLengthStream,
    AnnotationsStream,
    CohortsStream,
    EventsListStream,
    CohortMembersStream,
    TaxonomyCategoriesStream,
    TaxonomyEventTypesStream,
    TaxonomyEventPropertiesStream,
    TaxonomyUserPropertiesStream,
    TaxonomyGroupPropertiesStream,
)

__all__ = [
    "STREAM_TYPES",
    "ActiveUsersStream",
    "AnnotationsStream",
    "AverageSessionLengthStream",
    "CohortMembersStream",
    "CohortsStream",
    "EventsListStream",
    "EventsStream",
    "MergedIdsStream",
    "TaxonomyCategoriesStream",
    "TaxonomyEventPropertiesStream",
    "TaxonomyEventTypesStream",
    "TaxonomyGroupPropertiesStream",
    "TaxonomyUserPropertiesStream",
]
