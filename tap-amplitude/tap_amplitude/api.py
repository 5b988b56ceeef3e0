"""The API paths the tap reads (appended to the region's base URL or ``api_url``)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["COHORT_DOWNLOAD_PATHS", "TAXONOMY_PATHS", "ApiPath"]


class ApiPath(StrEnum):
    """One value per endpoint; the response table (:mod:`tap_amplitude.responses`) keys on it."""

    EXPORT = "/api/2/export"
    ACTIVE_USERS = "/api/2/users"
    SESSIONS_AVERAGE = "/api/2/sessions/average"
    EVENTS_LIST = "/api/2/events/list"
    ANNOTATIONS_V3 = "/api/3/annotations"
    ANNOTATIONS_V2 = "/api/2/annotations"
    COHORTS = "/api/3/cohorts"
    # "Get usage": this month's Get-one-cohort requests (read before downloads start).
    COHORT_USAGE = "/api/3/cohorts/usage"
    # The asynchronous cohort download; {…} parts are filled in per request.
    COHORT_REQUEST = "/api/5/cohorts/request/{cohort_id}"
    COHORT_STATUS = "/api/5/cohorts/request-status/{request_id}"
    COHORT_FILE = "/api/5/cohorts/request/{request_id}/file"
    COHORT_S3_FILE = "<pre-signed S3 URL>"  # where COHORT_FILE redirects large files
    TAXONOMY_CATEGORY = "/api/2/taxonomy/category"
    TAXONOMY_EVENT = "/api/2/taxonomy/event"
    TAXONOMY_EVENT_PROPERTY = "/api/2/taxonomy/event-property"
    TAXONOMY_USER_PROPERTY = "/api/2/taxonomy/user-property"
    TAXONOMY_GROUP_PROPERTY = "/api/2/taxonomy/group-property"
    # Declared dashboard queries (tap_amplitude.dashboard_query_kinds) and saved charts.
    EVENTS_SEGMENTATION = "/api/2/events/segmentation"
    FUNNELS = "/api/2/funnels"
    RETENTION = "/api/2/retention"
    SESSIONS_PER_USER = "/api/2/sessions/peruser"
    SESSIONS_LENGTH = "/api/2/sessions/length"
    COMPOSITION = "/api/2/composition"
    REVENUE_LTV = "/api/2/revenue/ltv"
    CHART_CSV = "/api/3/chart/{chart_id}/csv"
    # The User Privacy API's deletion jobs (GET lists them).
    DELETIONS = "/api/2/deletions/users"


COHORT_DOWNLOAD_PATHS = frozenset(
    {ApiPath.COHORT_REQUEST, ApiPath.COHORT_STATUS, ApiPath.COHORT_FILE}
)
TAXONOMY_PATHS = frozenset(
    {
        ApiPath.TAXONOMY_CATEGORY,
        ApiPath.TAXONOMY_EVENT,
        ApiPath.TAXONOMY_EVENT_PROPERTY,
        ApiPath.TAXONOMY_USER_PROPERTY,
        ApiPath.TAXONOMY_GROUP_PROPERTY,
    }
)
