"""Dashboard REST streams, incremental on ``date``: active_users and average_session_length.

Days are days in the project's time zone (``project_timezone``), as the Dashboard REST API
counts them: "today" is the project's today, never a UTC date that has not begun there. Each run
re-reads from ``dashboard_lookback_days`` before the bookmarked date, so the day read while still
in progress, and recent days whose figures late events changed, are corrected by the next run
(same primary key: downstream upserts converge).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import requests
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_amplitude import clock
from tap_amplitude.api import ApiPath
from tap_amplitude.errors import AmplitudeAPIError
from tap_amplitude.streams.base import AmplitudeStream

CHUNK_DAYS = 90  # days per Dashboard REST request


def _series_body(body: Any, endpoint: ApiPath) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("xValues"), list):
        msg = f"{endpoint.value} answered without data.xValues; Amplitude changed its API?"
        raise AmplitudeAPIError(msg)
    return data


def _label(value: Any) -> str:
    """A group label: seriesLabels items are strings, numbers or [index, label] pairs."""
    if isinstance(value, list) and value:
        return _label(value[-1])
    if isinstance(value, dict):
        return str(value.get("label", value.get("segmentIndex", value)))
    return str(value)


def active_users_records(body: Any) -> Iterator[dict[str, Any]]:
    """``{"date", "statistics": {label: count}}`` per day of a /api/2/users body."""
    data = _series_body(body, ApiPath.ACTIVE_USERS)
    series = data.get("series") or []
    labels = data.get("seriesLabels") or data.get("seriesMeta") or []
    names = [_label(labels[k]) if k < len(labels) else str(k) for k in range(len(series))]
    for j, day in enumerate(data["xValues"]):
        statistics = {names[k]: row[j] for k, row in enumerate(series) if j < len(row)}
        yield {"date": day, "statistics": statistics}


def session_length_records(body: Any) -> Iterator[dict[str, Any]]:
    """``{"date", "length"}`` per day of a /api/2/sessions/average body."""
    data = _series_body(body, ApiPath.SESSIONS_AVERAGE)
    series = data.get("series") or [[]]
    first = series[0] if series else []
    for j, day in enumerate(data["xValues"]):
        yield {"date": day, "length": first[j] if j < len(first) else None}


@dataclass(frozen=True, slots=True)
class DayRange:
    """Days ``first`` to ``last``, both inclusive."""

    first: dt.date
    last: dt.date


class DayRangePaginator(BaseAPIPaginator[DayRange]):
    """Pages of at most ``days`` days from ``first`` to ``last`` (a whole history in one query
    is slow, costly and may be refused)."""

    def __init__(self, first: dt.date, last: dt.date, days: int = CHUNK_DAYS) -> None:
        self._last, self._days = last, days
        super().__init__(self._chunk(first))

    def _chunk(self, first: dt.date) -> DayRange:
        return DayRange(first, min(self._last, first + dt.timedelta(days=self._days - 1)))

    @override
    def has_more(self, response: requests.Response) -> bool:
        """Whether days remain after the current range."""
        return self.current_value.last < self._last

    @override
    def get_next(self, response: requests.Response) -> DayRange | None:
        """The range after the current one."""
        return self._chunk(self.current_value.last + dt.timedelta(days=1))

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A range without data does not end the stream."""
        return self.has_more(response)


class _DashboardStream(AmplitudeStream):
    primary_keys = ("date",)
    replication_key = "date"
    # Days are in order, but each run starts dashboard_lookback_days before the bookmark: the
    # SDK's sorted-stream check would refuse those days. The bookmark is the newest day read.
    is_sorted = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._days: tuple[dt.date, dt.date] | None = None

    def _date_range(self, context: Context | None) -> tuple[dt.date, dt.date] | None:
        settings = self.settings
        zone = settings.zone
        start = settings.start_date.astimezone(zone).date()
        bookmark = self.get_starting_replication_key_value(context)
        if bookmark:
            # The bookmarked day may have been partial, and late events change recent days.
            again = dt.date.fromisoformat(str(bookmark)[:10])
            start = max(start, again - dt.timedelta(days=settings.dashboard_lookback_days))
        end = clock.utc_now().astimezone(zone).date()  # the project's today
        if settings.end_date is not None:
            last_instant = settings.end_date - dt.timedelta(microseconds=1)
            end = min(end, last_instant.astimezone(zone).date())
        if start > end:
            self.logger.warning(
                "%s: start %s is after the last day to read (%s, in %s); nothing to read",
                self.name,
                start,
                end,
                settings.project_timezone,
            )
            return None
        return start, end

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One record per day from the bookmark (inclusive) to today."""
        self._days = self._date_range(context)
        if self._days is None:
            return
        yield from super().get_records(context)

    @override
    def get_new_paginator(self) -> DayRangePaginator:
        """Ranges of ``CHUNK_DAYS`` days (``get_new_paginator`` takes no context, hence the
        range kept by :meth:`get_records`)."""
        assert self._days is not None
        return DayRangePaginator(*self._days)

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: DayRange | None,
    ) -> dict[str, Any]:
        """The day range (YYYYMMDD, both inclusive)."""
        assert next_page_token is not None
        return {"start": f"{next_page_token.first:%Y%m%d}", "end": f"{next_page_token.last:%Y%m%d}"}

    def parse(self, body: Any) -> Iterator[dict[str, Any]]:
        """Records of one response body."""
        raise NotImplementedError

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records of one response."""
        return self.parse(msgspec.json.decode(response.content))


class ActiveUsersStream(_DashboardStream):
    """Daily active users (/api/2/users?m=active&i=1), grouped by country unless disabled."""

    name = "active_users"
    path = ApiPath.ACTIVE_USERS.value

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: DayRange | None
    ) -> dict[str, Any]:
        """Daily active users, grouped by country when active_users_group_by_country."""
        params = {**super().get_url_params(context, next_page_token), "m": "active", "i": "1"}
        if self.settings.active_users_group_by_country:
            params["g"] = "country"
        return params

    def parse(self, body: Any) -> Iterator[dict[str, Any]]:
        """``{date, statistics}`` records."""
        return active_users_records(body)


class AverageSessionLengthStream(_DashboardStream):
    """Daily average session length in seconds (/api/2/sessions/average)."""

    name = "average_session_length"
    path = ApiPath.SESSIONS_AVERAGE.value

    def parse(self, body: Any) -> Iterator[dict[str, Any]]:
        """``{date, length}`` records."""
        return session_length_records(body)
