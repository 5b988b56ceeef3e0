"""The tap's streams."""

from tap_amplitude.streams.charts import ChartStream
from tap_amplitude.streams.cohort_members import CohortMembersStream
from tap_amplitude.streams.dashboard import ActiveUsersStream, AverageSessionLengthStream
from tap_amplitude.streams.dashboard_queries import DashboardQueryStream
from tap_amplitude.streams.deletion_jobs import DeletionJobsStream
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
    DeletionJobsStream,
)

__all__ = [
    "STREAM_TYPES",
    "ActiveUsersStream",
    "AnnotationsStream",
    "AverageSessionLengthStream",
    "ChartStream",
    "CohortMembersStream",
    "CohortsStream",
    "DashboardQueryStream",
    "DeletionJobsStream",
    "EventsListStream",
    "EventsStream",
    "MergedIdsStream",
    "TaxonomyCategoriesStream",
    "TaxonomyEventPropertiesStream",
    "TaxonomyEventTypesStream",
    "TaxonomyGroupPropertiesStream",
    "TaxonomyUserPropertiesStream",
]
