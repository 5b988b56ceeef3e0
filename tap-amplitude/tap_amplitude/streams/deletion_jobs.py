"""deletion_jobs: the User Privacy API's deletion jobs and their status, one record per job day
and Amplitude id (``GET /api/2/deletions/users?start_day=&end_day=``).

User Privacy API docs (amplitude/amplitude-docs ``content/collections/api/en/user-privacy.md``):
jobs are listed by the day they are scheduled to begin, "The largest permitted time range is six
months", each with ``status`` "Staging ... Submitted ... Done" and ``amplitude_ids`` entries
``{amplitude_id, requester, requested_on_day}`` (``user_id`` too when mapped), ``app`` when the
request spanned projects, and ``active_scrub_done_date``. Amplitude processes a request "within
30 days after receiving the request", and "The time range should include the date you made the
request on plus 30 days".

Each run reads from ``RECHECK_DAYS`` before the earlier of the bookmark and today (jobs
scheduled there may still move from staging to submitted to done; older ones are done) up to
``AHEAD_DAYS`` after today (where new requests are scheduled), in ranges of at most six months.
The records of re-read jobs replace earlier ones downstream (same key), so a status moves
forward in the warehouse as it moves in Amplitude.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import requests
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_amplitude import clock
from tap_amplitude.api import ApiPath
from tap_amplitude.errors import AmplitudeAPIError
from tap_amplitude.streams.base import AmplitudeStream
from tap_amplitude.streams.dashboard import DayRange, DayRangePaginator

RANGE_DAYS = 180  # "The largest permitted time range is six months."
RECHECK_DAYS = 45  # 30 days to run, then "the system waits 5 days for any backups", + margin
AHEAD_DAYS = 35  # new requests are scheduled "within 30 days"


def deletion_job_rows(body: Any) -> Iterator[dict[str, Any]]:
    """One row per job and Amplitude id (pure). The answer is a list of jobs (one job object
    was also seen: both are read)."""
    jobs = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
    if jobs is None:
        msg = f"{ApiPath.DELETIONS.value} answered neither a list of jobs nor a job"
        raise AmplitudeAPIError(msg)
    for job in jobs:
        if not isinstance(job, dict):
            continue
        for entry in job.get("amplitude_ids") or []:
            if not isinstance(entry, dict):
                continue
            yield {
                "day": str(job.get("day") or "")[:10],
                "amplitude_id": entry.get("amplitude_id"),
                "status": str(job.get("status") or "").lower() or None,
                "user_id": entry.get("user_id"),
                "requester": entry.get("requester"),
                "requested_on_day": entry.get("requested_on_day"),
                "app": job.get("app"),
                "active_scrub_done_date": job.get("active_scrub_done_date"),
            }


class DeletionJobsStream(AmplitudeStream):
    """Deletion jobs by day and Amplitude id, with their status."""

    name = "deletion_jobs"
    path = ApiPath.DELETIONS.value
    primary_keys = ("day", "amplitude_id")
    replication_key = "day"
    # Each run re-reads jobs before the bookmark (their status changes): not sorted.
    is_sorted = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._days: tuple[dt.date, dt.date] | None = None

    def _day_range(self, context: Context | None) -> tuple[dt.date, dt.date]:
        today = clock.utc_now().date()
        start = self.settings.start_date.date()
        bookmark = self.get_starting_replication_key_value(context)
        if bookmark:
            again = min(dt.date.fromisoformat(str(bookmark)[:10]), today)
            start = max(start, again - dt.timedelta(days=RECHECK_DAYS))
        return start, today + dt.timedelta(days=AHEAD_DAYS)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The jobs of every day in range."""
        self._days = self._day_range(context)
        yield from super().get_records(context)

    @override
    def get_new_paginator(self) -> DayRangePaginator:
        """Ranges of at most six months."""
        assert self._days is not None
        return DayRangePaginator(*self._days, days=RANGE_DAYS)

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: DayRange | None,
    ) -> dict[str, Any]:
        """start_day and end_day (YYYY-MM-DD, both inclusive)."""
        assert next_page_token is not None
        return {
            "start_day": next_page_token.first.isoformat(),
            "end_day": next_page_token.last.isoformat(),
        }

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """One record per job and id (nothing for a tolerated error)."""
        if response.status_code >= 400:
            return iter(())
        return deletion_job_rows(msgspec.json.decode(response.content))
