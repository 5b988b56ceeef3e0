"""Declared dashboard queries (setting ``dashboard_queries``): one stream per query, named by
the user, incremental by day in ``project_timezone``.

Each run reads from ``dashboard_lookback_days`` before the bookmarked day to the project's today
(as active_users does), in requests of at most 90 days and at most 1,000 cost (sessions length
and composition: one day per request, their answers have no dates). Weekly and monthly queries
(``i`` 7 or 30) start at the first day of a period so that no period is read in part. Every
request pays its documented cost from the run's budgets first, per hour and per five minutes
(:mod:`tap_amplitude.query_pacing`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec
import requests
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_amplitude.api import ApiPath
from tap_amplitude.query_pacing import pay
from tap_amplitude.streams.dashboard import DayRange, DayRangePaginator, _DashboardStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import RequestFunc

    from tap_amplitude.dashboard_query_kinds import DashboardQuery
    from tap_amplitude.tap import TapAmplitude


def _request_days(url: str) -> tuple[dt.date, dt.date]:
    query = parse_qs(urlsplit(url).query)
    first = dt.datetime.strptime(query["start"][0], "%Y%m%d").date()
    last = dt.datetime.strptime(query["end"][0], "%Y%m%d").date()
    return first, last


def period_start(day: dt.date, interval: int) -> dt.date:
    """The first day of the week (Monday) or month holding ``day``; ``day`` for daily."""
    if interval == 7:
        return day - dt.timedelta(days=day.weekday())
    if interval == 30:
        return day.replace(day=1)
    return day


class DashboardQueryStream(_DashboardStream):
    """One declared query: ``{date, segment, ...}`` rows of its kind."""

    def __init__(self, tap: TapAmplitude, query: DashboardQuery) -> None:
        self.name = query.name
        self.query = query
        self.path = query.kind.path.value
        super().__init__(tap, schema=query.kind.schema)
        self.primary_keys = query.kind.primary_keys  # type: ignore[assignment]

    @property
    def api_path(self) -> ApiPath:
        """The query kind's endpoint."""
        return self.query.kind.path

    def _date_range(self, context: Context | None) -> tuple[dt.date, dt.date] | None:
        days = super()._date_range(context)
        if days is None:
            return None
        return period_start(days[0], self.query.interval), days[1]

    @override
    def get_new_paginator(self) -> DayRangePaginator:
        """Ranges of as many days as one request may cost."""
        assert self._days is not None
        budget = self._amplitude_tap.settings.dashboard_cost_per_hour
        return DayRangePaginator(*self._days, days=self.query.days_per_request(budget))

    @override
    def get_url_params(  # type: ignore[override]
        self, context: Context | None, next_page_token: DayRange | None
    ) -> str:
        """start, end and the query's own parameters, repeated ones (funnel steps) kept."""
        days = super().get_url_params(context, next_page_token)
        return urlencode([*days.items(), *self.query.params])

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Each attempt pays the request's cost from the run's cost budgets first."""
        budgets = self._amplitude_tap.dashboard_budgets

        def paced(prepared: requests.PreparedRequest, context: Context | None) -> Any:
            first, last = _request_days(prepared.url or "")
            cost = self.query.cost((last - first).days + 1)
            what = f"{self.name} ({self.query.kind.name}, {first} to {last})"
            pay(budgets, cost, self.logger, what)
            return func(prepared, context)

        return super().request_decorator(paced)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The rows of the answer for the days it was asked for."""
        first, last = _request_days(response.request.url or "")
        return self.query.rows(msgspec.json.decode(response.content), first, last)
