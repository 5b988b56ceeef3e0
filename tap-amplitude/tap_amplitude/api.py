"""The API paths the tap reads (appended to the region's base URL or ``api_url``)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ApiPath"]


class ApiPath(StrEnum):
    """One value per endpoint; the response table (:mod:`tap_amplitude.responses`) keys on it."""

    EXPORT = "/api/2/export"
    ACTIVE_USERS = "/api/2/users"
    SESSIONS_AVERAGE = "/api/2/sessions/average"
    EVENTS_LIST = "/api/2/events/list"
    ANNOTATIONS_V3 = "/api/3/annotations"
    ANNOTATIONS_V2 = "/api/2/annotations"
    COHORTS = "/api/3/cohorts"
