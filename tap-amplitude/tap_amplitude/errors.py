"""The tap's error taxonomy. Messages say what failed and what to do; they never hold secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if TYPE_CHECKING:
    import requests

    from tap_amplitude.windows import Window

__all__ = [
    "AmplitudeAPIError",
    "AmplitudeError",
    "AuthenticationError",
    "CohortNotReadyError",
    "CorruptExportError",
    "EndpointNotServedError",
    "ExportGatewayTimeoutError",
    "ExportTimeoutError",
    "ExportTooLargeError",
    "GroupByCountryError",
    "InvalidRecordError",
    "ItemGoneError",
    "RetriesExhaustedError",
    "RetryableError",
]

S3_EXPORT_HINT = (
    "Amplitude cannot export more than 4 GB per request; for this volume use Amplitude's "
    "Amazon S3 export (or Snowflake/BigQuery data sharing) instead of the Export API"
)


class AmplitudeError(Exception):
    """Base of every error this tap raises on purpose (the CLI prints it without traceback)."""


class RetryableError(AmplitudeError, RetriableAPIError):
    """A transient failure: the SDK's backoff decorator retries the request.

    Attributes:
        retry_after: seconds the server asked us to wait (Retry-After), if any.
        max_attempts: a lower attempt limit for this kind of failure (export 504s).
    """

    def __init__(
        self,
        message: str,
        response: requests.Response | None = None,
        *,
        retry_after: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        RetriableAPIError.__init__(self, message, response)
        self.retry_after = retry_after
        self.max_attempts = max_attempts

    def exhausted(self, attempts: int, elapsed: float, what: str) -> AmplitudeError:
        """The error to raise once every attempt failed like this one."""
        return RetriesExhaustedError(
            f"Gave up on {what} after {attempts} attempts over {elapsed:.0f}s: {self}. "
            "Amplitude may be degraded; the state still points at the unfinished data, "
            "so rerun later (or raise the settings `max_attempts` / `max_retry_time`)."
        )


class RetriesExhaustedError(AmplitudeError, FatalAPIError):
    """A transient failure kept happening after every attempt."""


class AmplitudeAPIError(AmplitudeError, FatalAPIError):
    """A request Amplitude refused for a reason retrying cannot fix."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(AmplitudeAPIError):
    """401/403 on the read side: wrong key, wrong secret, or the key of the other region."""

    def __init__(self, status: int, path: str, data_region: str, base_url: str) -> None:
        super().__init__(
            f"Amplitude rejected the credentials (HTTP {status} on {path}). Check the settings "
            f"`api_key` and `secret_key` (Amplitude > Settings > Projects > the project), and "
            f"`data_region`: keys only work in their own region, and this run used "
            f"data_region={data_region!r} ({base_url}).",
            status=status,
        )


class GroupByCountryError(AmplitudeAPIError):
    """400 on /api/2/users with g=country."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Amplitude refused to group active users by country ({detail}). Set the setting "
            "`active_users_group_by_country` to false to read the stream without grouping."
        )


class EndpointNotServedError(AmplitudeAPIError):
    """404 on /api/3/annotations: this deployment serves only the legacy /api/2/annotations."""


class ItemGoneError(AmplitudeAPIError):
    """One item of a stream (a cohort, an event type) is gone: it is skipped, the stream goes on."""


class CohortNotReadyError(AmplitudeAPIError):
    """A cohort's member file was not ready within ``cohort_poll_timeout``."""


class ExportTooLargeError(AmplitudeAPIError):
    """400 on /api/2/export: the window holds more than 4 GB; it is halved."""

    def __init__(self, window: Window) -> None:
        self.window = window
        super().__init__(
            f"The export of {window} is over Amplitude's 4 GB limit. {S3_EXPORT_HINT}."
        )


class ExportTimeoutError(AmplitudeAPIError):
    """504 on /api/2/export after every retry; the window is halved."""

    def __init__(self, window: Window) -> None:
        self.window = window
        super().__init__(
            f"Amplitude's Export API timed out (HTTP 504) on {window}, even as a single hour "
            "and after every retry. Retry later; if it persists, the hour is too big for the "
            f"Export API: {S3_EXPORT_HINT}."
        )


class CorruptExportError(RetryableError):
    """The export body is not a readable zip of gzip JSON lines (truncated, an error page)."""

    def __init__(self, window: Window, detail: str) -> None:
        self.window = window
        self.detail = detail
        super().__init__(f"The export of {window} is corrupt or truncated: {detail}")

    def exhausted(self, attempts: int, elapsed: float, what: str) -> AmplitudeError:  # noqa: ARG002
        """Fail loudly naming the window: it is never skipped."""
        return RetriesExhaustedError(
            f"The export of {self.window} was corrupt or truncated on all {attempts} attempts "
            f"(last: {self.detail}). Nothing of this window was skipped: the run stops here and "
            "the state still points at its first hour, so the next run retries it."
        )


class ExportGatewayTimeoutError(RetryableError):
    """A 504 from /api/2/export: retried a few times, then the window is halved."""

    def __init__(self, window: Window, *, max_attempts: int) -> None:
        self.window = window
        super().__init__(
            f"Amplitude's Export API timed out (HTTP 504) on {window}", max_attempts=max_attempts
        )

    def exhausted(self, attempts: int, elapsed: float, what: str) -> AmplitudeError:  # noqa: ARG002
        """Hand the window back to be halved."""
        return ExportTimeoutError(self.window)


class InvalidRecordError(AmplitudeError):
    """A record Amplitude sent that cannot be emitted as declared (e.g. a bad timestamp)."""
