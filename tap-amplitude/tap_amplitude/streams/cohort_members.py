"""The cohort_members stream: who is in each cohort, through the asynchronous cohort download.

Per cohort (Behavioral Cohorts API docs, "Get one cohort"): request a download job
(``/api/5/cohorts/request/:id``, 202 with a ``request_id``), poll its status
(``/api/5/cohorts/request-status/:request_id``: 202 ``JOB INPROGRESS`` until 200 ``JOB
COMPLETED``) with growing intervals for at most ``cohort_poll_timeout`` seconds, then fetch
``/api/5/cohorts/request/:request_id/file``: the body, or a 302 to a pre-signed S3 URL valid for
one minute; an expired or cut-off S3 download asks ``/file`` again for a new link (that link
stays valid for seven days). The file is streamed to disk and read row by row
(:mod:`tap_amplitude.cohort_file`).

Amplitude's limits are kept by waiting or by leaving cohorts for the next run, never by failing
(:mod:`tap_amplitude.cohort_limits`): Get-one-cohort requests are paced to 60 per 10 minutes and
4 at once; a cohort over 2,000,000 members is skipped with a warning (cohort sync serves those);
the month's usage is read from the Get usage endpoint first, and no download starts once the
500 requests of the month are spent (a warning names the cohorts left for the next run).

State (incremental): ``{"cohorts": {"<cohort id>": "<lastComputed, RFC 3339>"}}``, written after
each cohort; a run downloads only cohorts recomputed since (:mod:`tap_amplitude.cohort_plan`).
In FULL_TABLE mode every selected cohort is downloaded and no bookmark is kept.
"""

from __future__ import annotations

import time
import typing as t
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import msgspec
import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context, Record
from typing_extensions import override

from tap_amplitude.api import ApiPath
from tap_amplitude.cohort_file import CohortFileError, read_members, spool_members
from tap_amplitude.cohort_limits import (
    COHORT_REQUEST_WINDOW,
    COHORT_REQUESTS_PER_WINDOW,
    MAX_COHORT_MEMBERS,
    MONTHLY_COHORT_DOWNLOADS,
    CohortUsage,
    parse_usage,
)
from tap_amplitude.cohort_plan import Cohort, DownloadPlan, plan_downloads, poll_delay
from tap_amplitude.errors import (
    AmplitudeAPIError,
    CohortNotReadyError,
    InvalidRecordError,
    ItemGoneError,
    RetryableError,
)
from tap_amplitude.settings import parse_datetime_setting
from tap_amplitude.streams.base import TRANSPORT_ERRORS, AmplitudeStream
from tap_amplitude.timestamps import format_rfc3339

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import RequestFunc

CHUNK_SIZE = 1 << 20


class _PlanGated(Exception):  # noqa: N818 - control flow: the response was a tolerated plan gate
    pass


class CohortMembersStream(AmplitudeStream):
    """One record per member of a cohort, keyed on (cohort_id, amplitude_id)."""

    name = "cohort_members"
    path = ApiPath.COHORT_REQUEST.value
    decodes_json = False  # the file is CSV; the JSON answers are decoded here
    primary_keys = ("cohort_id", "amplitude_id")
    replication_key = "cohort_last_computed"
    is_sorted = False
    # Records are built here with the declared types: per-record conformance would cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    STATE_MSG_FREQUENCY = 2**62  # STATE after each cohort only

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._api_path = ApiPath.COHORT_REQUEST
        self._label = "GET /api/5/cohorts"

    # singer-sdk streams/core.py (private, as in the events stream): no public switch
    # turns off the per-record bookmark. Here it advances per finished cohort only.
    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """No per-record bookmark: the cohort's bookmark is written once it is delivered."""

    @property
    def api_path(self) -> ApiPath:
        """The endpoint of the request in flight (the response table keys on it)."""
        return self._api_path

    def request_label(self) -> str:
        """The request in flight, e.g. ``GET /api/5/cohorts/request-status/<id>``."""
        return self._label

    @property
    def _incremental(self) -> bool:
        return self.replication_method == "INCREMENTAL"

    # -- HTTP ---------------------------------------------------------------------------------

    def _get(
        self,
        api_path: ApiPath,
        url: str,
        params: dict[str, Any] | None = None,
        *,
        authenticated: bool = True,
        stream: bool = False,
        retried: bool = True,
    ) -> requests.Response:
        """One GET through the response table, retried by ``request_decorator`` (unless
        ``retried`` is False: the caller retries); a tolerated plan gate (warned by
        :meth:`act_on`) raises :class:`_PlanGated`."""
        self._api_path, self.path = api_path, api_path.value
        self._label = f"GET {url.split('?', maxsplit=1)[0] if authenticated else 'the S3 link'}"
        if authenticated:
            prepared = self.build_prepared_request(
                method="GET",
                url=self.url_base + url,
                params=params or {},
                headers=self.http_headers,
            )
        else:  # a pre-signed URL: no Basic header
            prepared = requests.Request(
                "GET", url, headers={"User-Agent": self.user_agent}
            ).prepare()

        paced = api_path is ApiPath.COHORT_REQUEST

        def send(request: requests.PreparedRequest) -> requests.Response:
            if paced:  # every attempt is a Get-one-cohort request
                with self._amplitude_tap.cohort_pacer.request() as waited:
                    if waited:
                        self.logger.info(
                            "cohort_members: waited %.0fs before the next cohort download "
                            "request, to stay within Amplitude's %d per %.0f minutes and 4 at "
                            "once",
                            waited,
                            COHORT_REQUESTS_PER_WINDOW,
                            COHORT_REQUEST_WINDOW / 60,
                        )
                    return attempt(request)
            return attempt(request)

        def attempt(request: requests.PreparedRequest) -> requests.Response:
            started = time.monotonic()
            try:
                response = self.requests_session.send(
                    request, timeout=self.timeout, allow_redirects=False, stream=stream
                )
            except TRANSPORT_ERRORS as exc:
                if authenticated:
                    raise
                # Never the URL: its query string is a (short-lived) credential.
                msg = f"the S3 download failed ({type(exc).__name__})"
                raise RetryableError(msg) from None
            self.log_request_duration(response, time.monotonic() - started)
            try:
                self.validate_response(response)
            except BaseException:
                response.close()
                raise
            return response

        call = (
            t.cast("Callable[[requests.PreparedRequest], requests.Response]", self._retried(send))
            if retried
            else send
        )
        response = call(prepared)
        if response.status_code >= 400:
            response.close()
            raise _PlanGated
        return response

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = None
        if not isinstance(body, dict):
            msg = (
                f"{self._api_path.value} answered without a JSON object; Amplitude changed its API?"
            )
            raise AmplitudeAPIError(msg)
        return body

    # -- records ------------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The members of every cohort the plan downloads, cohort after cohort."""
        try:
            listed = self._json(self._get(ApiPath.COHORTS, ApiPath.COHORTS.value))
        except _PlanGated:
            return
        items = listed.get("cohorts")
        if not isinstance(items, list):
            msg = "/api/3/cohorts answered without a 'cohorts' list; Amplitude changed its API?"
            raise AmplitudeAPIError(msg)
        cohorts = [Cohort.from_api(item) for item in items if isinstance(item, dict)]
        settings = self.settings
        plan = plan_downloads(
            cohorts,
            wanted_ids=settings.cohort_ids,
            bookmarks=self._bookmarks(),
            incremental=self._incremental,
            limit=settings.max_cohort_downloads_per_run,
        )
        self._log_plan(plan)
        if self._amplitude_tap.connection_test:
            # --test: listing the cohorts checks access; a download would cost one of the 500
            # allowed per month.
            self.logger.info("cohort_members: connection test: no cohort download requested")
            return
        not_ready: list[str] = []
        remaining = self._monthly_remaining() if plan.download else None
        pacer = self._amplitude_tap.cohort_pacer
        first_request = pacer.requested
        for index, cohort in enumerate(plan.download, start=1):
            if remaining is not None and pacer.requested - first_request >= remaining:
                self._warn_budget_spent(plan.download[index - 1 :])
                break
            self.logger.info(
                "cohort_members: downloading cohort %s (%d of %d)",
                cohort,
                index,
                len(plan.download),
            )
            try:
                count = yield from self._cohort(cohort)
            except _PlanGated:
                return
            except ItemGoneError as exc:
                self.logger.warning("cohort_members: cohort %s skipped: %s", cohort, exc)
                continue
            except CohortNotReadyError as exc:
                self.logger.error("cohort_members: %s", exc)
                not_ready.append(str(cohort))
                continue
            self.logger.info("cohort_members: cohort %s: %d members", cohort, count)
            self._finish_cohort(cohort)
        if not_ready:
            msg = (
                f"Amplitude did not prepare the member file of {len(not_ready)} cohort(s) within "
                f"cohort_poll_timeout={settings.cohort_poll_timeout:g}s: {', '.join(not_ready)}. "
                "Every other cohort was delivered and bookmarked; the next run asks for these "
                "again (raise the setting `cohort_poll_timeout` for very large cohorts)."
            )
            raise CohortNotReadyError(msg)

    def _monthly_remaining(self) -> int | None:
        """Get-one-cohort requests left this month (Get usage), None when unknown: the run then
        relies on max_cohort_downloads_per_run alone. Never fails the run."""
        usage, reason = self._read_usage()
        if usage is None:
            self.logger.warning(
                "cohort_members: could not read this month's cohort download usage from %s "
                "(%s); downloads are limited by max_cohort_downloads_per_run only (Amplitude "
                "allows %d per month).",
                ApiPath.COHORT_USAGE.value,
                reason,
                MONTHLY_COHORT_DOWNLOADS,
            )
            return None
        self.logger.info(
            "cohort_members: Amplitude reports %d of %d cohort download requests used this month%s",
            usage.used,
            usage.limit,
            f" (resets at {usage.resets_at})" if usage.resets_at else "",
        )
        return usage.remaining

    def _read_usage(self) -> tuple[CohortUsage | None, str]:
        """The Get usage answer, or why not (one request, not retried: it is a courtesy)."""
        prepared = self.build_prepared_request(
            method="GET", url=self.url_base + ApiPath.COHORT_USAGE.value, headers=self.http_headers
        )
        try:
            response = self.requests_session.send(prepared, timeout=self.timeout)
        except TRANSPORT_ERRORS as exc:
            return None, f"the request failed: {type(exc).__name__}"
        with response:
            if response.status_code != 200:
                return None, f"HTTP {response.status_code}"
            try:
                usage = parse_usage(msgspec.json.decode(response.content))
            except msgspec.DecodeError:
                usage = None
        return usage, "" if usage else "an answer of unknown shape"

    def _warn_budget_spent(self, left: list[Cohort]) -> None:
        self.logger.warning(
            "cohort_members: this month's %d cohort download requests are spent; %d cohort(s) "
            "left for the next run (after the monthly reset): %s.",
            MONTHLY_COHORT_DOWNLOADS,
            len(left),
            ", ".join(map(str, left)),
        )

    def _log_plan(self, plan: DownloadPlan) -> None:
        settings = self.settings
        for cohort in plan.too_large:
            self.logger.warning(
                "cohort_members: cohort %s has %s members, over the %s Amplitude's cohort "
                "download serves; it is skipped (a request would spend one of the %d allowed "
                "per month for nothing). Use Amplitude's cohort sync (Amazon Kinesis, a webhook "
                "or the Profile API) for this cohort instead.",
                cohort,
                f"{cohort.size:,}",
                f"{MAX_COHORT_MEMBERS:,}",
                MONTHLY_COHORT_DOWNLOADS,
            )
        if plan.unknown_ids:
            self.logger.warning(
                "cohort_members: cohort_ids lists %s, which Amplitude does not list for this "
                "project; check the setting `cohort_ids` (the id is in the cohort's URL).",
                ", ".join(plan.unknown_ids),
            )
        if plan.unchanged:
            self.logger.info(
                "cohort_members: %d cohort(s) not recomputed since their last download, not "
                "downloaded again: %s",
                len(plan.unchanged),
                ", ".join(map(str, plan.unchanged)),
            )
        if plan.never_computed:
            self.logger.info(
                "cohort_members: %d cohort(s) never computed yet, nothing to download: %s",
                len(plan.never_computed),
                ", ".join(map(str, plan.never_computed)),
            )
        if plan.over_limit:
            self.logger.warning(
                "cohort_members: skipped %d recomputed cohort(s) this run because "
                "max_cohort_downloads_per_run=%d (Amplitude allows 500 cohort downloads per "
                "month): %s. The next runs download them, longest-waiting first.",
                len(plan.over_limit),
                settings.max_cohort_downloads_per_run,
                ", ".join(map(str, plan.over_limit)),
            )

    def _cohort(self, cohort: Cohort) -> t.Generator[dict[str, Any], None, int]:
        """Download one cohort and yield its members; returns how many."""
        properties = self.settings.cohort_member_properties
        params: dict[str, Any] = {"props": 1, "propKeys": list(properties)} if properties else {}
        started = self._json(
            self._get(ApiPath.COHORT_REQUEST, f"/api/5/cohorts/request/{quote(cohort.id)}", params)
        )
        request_id = started.get("request_id")
        if not request_id:
            msg = f"the download request of cohort {cohort} answered without a request_id"
            raise AmplitudeAPIError(msg)
        self._wait_for(cohort, str(request_id))
        spool = self._file(str(request_id))
        assert cohort.last_computed is not None
        computed = format_rfc3339(cohort.last_computed)
        count = 0
        with spool:
            try:
                for amplitude_id, user_id, props in read_members(spool):
                    count += 1
                    yield {
                        "cohort_id": cohort.id,
                        "cohort_name": cohort.name,
                        "cohort_last_computed": computed,
                        "amplitude_id": _amplitude_id(amplitude_id, cohort, count),
                        "user_id": user_id or None,
                        "user_properties": props if properties else None,
                    }
            except CohortFileError as exc:
                msg = f"The member file of cohort {cohort} is not readable: {exc}"
                raise AmplitudeAPIError(msg) from None
        return count

    def _wait_for(self, cohort: Cohort, request_id: str) -> None:
        """Poll the job's status until it is completed, for at most cohort_poll_timeout."""
        settings = self.settings
        deadline = time.monotonic() + settings.cohort_poll_timeout
        policy = settings.retry_policy
        polls = 0
        while True:
            response = self._get(
                ApiPath.COHORT_STATUS, f"/api/5/cohorts/request-status/{quote(request_id)}"
            )
            status = str(self._json(response).get("async_status") or "")
            if response.status_code == 200 and "FAIL" not in status.upper():
                return
            if response.status_code == 200:
                msg = f"Amplitude reports the download of cohort {cohort} as {status!r}"
                raise AmplitudeAPIError(msg)
            wait = poll_delay(polls, policy.base, policy.cap)
            if time.monotonic() + wait > deadline:
                msg = (
                    f"cohort {cohort}: the member file was still being prepared "
                    f"({status or 'HTTP 202'}) after {polls + 1} status polls"
                )
                raise CohortNotReadyError(msg)
            time.sleep(wait)
            polls += 1

    def _file(self, request_id: str) -> t.BinaryIO:
        """The member file on disk: the body of /file, or the S3 file it redirects to (a new
        link from /file when the S3 download fails or its link has expired)."""
        url = f"/api/5/cohorts/request/{quote(request_id)}/file"

        def attempt(_: Any) -> t.BinaryIO:
            response = self._get(ApiPath.COHORT_FILE, url, stream=True)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                response = self._get(
                    ApiPath.COHORT_S3_FILE,
                    location,
                    authenticated=False,
                    stream=True,
                    retried=False,
                )
            try:
                return spool_members(response.iter_content(CHUNK_SIZE))
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                msg = f"the member file download was cut off ({type(exc).__name__})"
                raise RetryableError(msg, response) from None
            except CohortFileError as exc:
                raise RetryableError(f"the member file is corrupt: {exc}", response) from None
            finally:
                response.close()

        self._label = f"download of {url}"
        retried = t.cast("Callable[[Any], t.BinaryIO]", self._retried(attempt))
        return retried(None)

    def _retried(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` retried by the SDK's ``request_decorator`` seam (typed for a request
        function; any callable works: it only forwards the arguments)."""
        return t.cast("Callable[..., Any]", self.request_decorator(t.cast("RequestFunc", func)))

    # -- state --------------------------------------------------------------------------------

    def _bookmarks(self) -> dict[str, Any]:
        if not self._incremental:
            return {}
        saved = self.stream_state.get("cohorts") or {}
        if not isinstance(saved, dict):
            msg = "The saved state of cohort_members is not usable: `cohorts` is not an object."
            raise AmplitudeAPIError(msg)
        try:
            return {
                str(cohort_id): parse_datetime_setting(
                    f"state.bookmarks.cohort_members.cohorts.{cohort_id}", value
                )
                for cohort_id, value in saved.items()
            }
        except ValueError as exc:
            msg = f"The saved state is not usable: {exc}. Fix or clear the cohort_members bookmark."
            raise AmplitudeAPIError(msg) from None

    def _finish_cohort(self, cohort: Cohort) -> None:
        if not self._incremental or cohort.last_computed is None:
            return
        state = self.stream_state
        state.setdefault("cohorts", {})[cohort.id] = format_rfc3339(cohort.last_computed)
        self.state_manager.is_flushed = False
        # singer-sdk streams/core.py (private, as in the events stream): the only way
        # to emit STATE in the middle of a stream (after each cohort).
        self._write_state_message()


def _amplitude_id(value: str, cohort: Cohort, row: int) -> int:
    try:
        return int(value)
    except ValueError:
        msg = (
            f"Cohort {cohort}, member row {row}: amplitude_id {value[:40]!r} is not a number. "
            "Please report this to the tap's maintainers."
        )
        raise InvalidRecordError(msg) from None
