"""What every stream shares: the SDK's REST machinery configured for Amplitude.

Authentication (Basic, key and secret), the base URL (region or ``api_url``), timeouts, one
table-driven ``validate_response`` (:mod:`tap_amplitude.responses`) and the SDK's backoff hooks
driven by :func:`tap_amplitude.retry.retry_waits` (Retry-After honoured, bounded in attempts
and time). Only public ``RESTStream`` members are overridden here.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Generator, Iterable
from functools import cache, cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

import backoff
import msgspec
import requests
from singer_sdk import RESTStream, metrics
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from typing_extensions import override

from tap_amplitude import __name__ as _package
from tap_amplitude.api import ApiPath
from tap_amplitude.errors import (
    AmplitudeAPIError,
    AuthenticationError,
    EndpointNotServedError,
    GroupByCountryError,
    ItemGoneError,
    RetryableError,
)
from tap_amplitude.responses import Action, Rule, classify, error_detail
from tap_amplitude.retry import retry_waits
from tap_amplitude.retry_after import parse_retry_after

if TYPE_CHECKING:
    from backoff._typing import Details
    from singer_sdk.helpers.types import RequestFunc

    from tap_amplitude.settings import TapSettings
    from tap_amplitude.tap import TapAmplitude

USER_AGENT = f"{_package.replace('_', '-')}/singer"
# The transport failures the SDK's request_decorator retries (singer-sdk rest.py).
TRANSPORT_ERRORS = (
    ConnectionResetError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON schema shipped in ``tap_amplitude/schemas/<name>.json``."""
    text = resources.files("tap_amplitude").joinpath("schemas", f"{name}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def transport_message(exc: BaseException, what: str, timeout: float) -> str:
    """A short cause of a transport failure, without URLs (their query strings are long)."""
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{what} timed out after {timeout:.0f}s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | ConnectionResetError):
        return f"{what}: the download was cut off ({type(exc).__name__})"
    text = str(exc)
    reason = text if len(text) < 200 else type(exc).__name__
    return f"{what}: connection failed or dropped ({reason})"


class AmplitudeStream(RESTStream[Any]):
    """A stream of Amplitude's read APIs, on the SDK's REST machinery."""

    path: str  # an ApiPath value: the response table keys on it
    #: Whether a 2xx body must be JSON (checked inside the retried call: a bad body is retried).
    decodes_json: ClassVar[bool] = True
    #: Declarative streams: the key of the body's list of records.
    records_key: ClassVar[str] = "data"

    def __init__(self, tap: TapAmplitude, schema: dict[str, Any] | None = None) -> None:
        """``schema``: for streams the user declares (charts, dashboard queries), whose schema
        is not a file named after the stream."""
        super().__init__(tap, schema=schema or json.loads(json.dumps(load_schema(self.name))))
        self._amplitude_tap = tap

    @property
    def settings(self) -> TapSettings:
        """The validated settings."""
        return self._amplitude_tap.settings

    @property
    @override
    def url_base(self) -> str:
        """The region's host, or ``api_url`` (see :mod:`tap_amplitude.regions`)."""
        return self.settings.base_url

    @property
    def api_path(self) -> ApiPath:
        """The endpoint this stream requests now (the table of responses keys on it)."""
        return ApiPath(self.path)

    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        """HTTP Basic with the project's API key and secret key."""
        return BasicAuthenticator(username=self.settings.api_key, password=self.settings.secret_key)

    @cached_property
    def user_agent(self) -> str:
        """``tap-amplitude/singer``."""
        return USER_AGENT

    @property
    def read_timeout(self) -> float:
        """Seconds to wait for data (the export stream overrides it)."""
        return self.settings.request_timeout

    @property
    @override
    def timeout(self) -> tuple[float, float]:  # type: ignore[override]
        """(connect, read) timeouts. singer-sdk annotates ``int`` but only passes it to
        ``requests.Session.send(timeout=...)`` (rest.py:431), which takes the pair."""
        read = self.read_timeout
        return (min(30.0, read), read)

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[Any] | None:
        """One request (the SDK's default would follow an X-Next-Page header)."""
        return SinglePagePaginator()

    # -- responses ----------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Act on :func:`tap_amplitude.responses.classify`: the one place statuses are mapped.

        Raises:
            RetryableError: transient (the backoff decorator retries it).
            AmplitudeAPIError: fatal, with a message naming the fix.
        """
        path = self.api_path
        rule = classify(path, response)
        if rule is None:
            if self.decodes_json:
                try:
                    msgspec.json.decode(response.content)
                except msgspec.DecodeError as exc:
                    msg = f"{path.value} answered 200 with a body that is not JSON ({exc})"
                    raise RetryableError(msg, response) from None
            return
        self.act_on(rule, response)

    def act_on(self, rule: Rule, response: requests.Response) -> None:
        """Raise (or log) what ``rule`` says for ``response``; the export stream extends it."""
        status, path = response.status_code, self.api_path.value
        detail = error_detail(response)
        match rule.action:
            case Action.TOLERATE:
                if rule.fix:
                    self.logger.warning(
                        "Skipping the %s stream: Amplitude did not serve %s (HTTP %d: %s). %s",
                        self.name,
                        path,
                        status,
                        detail,
                        rule.fix,
                    )
            case Action.RETRY:
                raise RetryableError(
                    f"HTTP {status} on {path}" + (f": {detail}" if detail else ""),
                    response,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    max_attempts=rule.max_attempts,
                )
            case Action.AUTH:
                settings = self.settings
                raise AuthenticationError(status, path, settings.data_region, settings.base_url)
            case Action.FALLBACK:
                msg = f"{path} is not served here (HTTP {status}); {rule.fix}"
                raise EndpointNotServedError(msg, status=status)
            case Action.SKIP:
                raise ItemGoneError(f"HTTP {status} on {path}: {detail}. {rule.fix}", status=status)
            case Action.FAIL if rule.when is not None and self.api_path is ApiPath.ACTIVE_USERS:
                raise GroupByCountryError(f"HTTP {status} on {path}: {detail}")
            case _:
                msg = f"HTTP {status} on {path}: {detail}" + (f". {rule.fix}" if rule.fix else "")
                raise AmplitudeAPIError(msg, status=status)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Status, path and Amplitude's message only (the SDK's lists headers and the body)."""
        return f"HTTP {response.status_code} on {self.path}: {error_detail(response)}"

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The records of a body ``{records_key: [...]}`` (nothing for a tolerated error).

        msgspec rather than the SDK's ``response.json(parse_float=Decimal)``: numbers stay
        floats, as they always were in this tap's output.
        """
        if response.status_code >= 400:
            return
        body = msgspec.json.decode(response.content)
        key = self.records_key
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            msg = f"{self.path} answered without a {key!r} list; Amplitude changed its API?"
            raise AmplitudeAPIError(msg)
        yield from (item for item in items if isinstance(item, dict))

    # -- retries: the SDK's backoff hooks -----------------------------------------------------

    @override
    def backoff_wait_generator(self) -> Generator[float, None, None]:
        """Full-jitter exponential waits, Retry-After honoured, within ``max_retry_time``."""
        return retry_waits(self.settings.retry_policy)

    @override
    def backoff_max_tries(self) -> int:
        """``max_attempts``."""
        return self.settings.retry_policy.max_attempts

    @override
    def backoff_jitter(self, value: float) -> float:
        """No extra jitter: :func:`retry_waits` jitters itself (but not a Retry-After)."""
        return value

    @override
    def backoff_handler(self, details: Details) -> None:
        """One WARNING per retry naming the request, the attempt and the wait."""
        exc = details.get("exception")
        limit = self.settings.retry_policy.max_attempts
        if getattr(exc, "max_attempts", None):
            limit = min(limit, exc.max_attempts)  # type: ignore[union-attr]
        self.logger.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.1fs",
            self.request_label(),
            details["tries"],
            limit,
            exc,
            details.get("wait") or 0.0,
        )

    def request_label(self) -> str:
        """How log lines and errors name the current request."""
        return f"GET {self.path}"

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry ``func`` with backoff driven by the hooks above (the SDK's public seam).

        Unlike the SDK's default, transport failures (the same exceptions it retries,
        singer-sdk rest.py) become :class:`RetryableError` with a short message,
        backoff's own "Backing off"/"Giving up" log lines are left out (:meth:`backoff_handler`
        logs each retry once), and the last failure is raised as one clear error.
        """
        attempts = 0

        def attempt(*args: Any, **kwargs: Any) -> requests.Response:
            nonlocal attempts
            attempts += 1
            try:
                return func(*args, **kwargs)
            except TRANSPORT_ERRORS as exc:
                msg = transport_message(exc, self.request_label(), self.read_timeout)
                raise RetryableError(msg) from None

        retrying: Callable[..., requests.Response] = backoff.on_exception(
            self.backoff_wait_generator,
            RetriableAPIError,
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(attempt)

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> requests.Response:
            nonlocal attempts
            attempts, started = 0, time.monotonic()
            try:
                return retrying(*args, **kwargs)
            except RetryableError as exc:
                raise exc.exhausted(
                    attempts, time.monotonic() - started, self.request_label()
                ) from exc

        return call

    # -- metrics ------------------------------------------------------------------------------

    def log_request_duration(
        self,
        response: requests.Response,
        seconds: float,
        *,
        failed: bool = False,
        context: Context | None = None,
    ) -> None:
        """The SDK's ``http_request_duration`` METRIC line, for requests made outside its
        ``request_records`` (the export download): the same Point as singer-sdk's
        rest.py, built from public API only."""
        tags: dict[str, Any] = {
            metrics.Tag.STREAM: self.name,
            metrics.Tag.ENDPOINT: self.path,
            metrics.Tag.HTTP_STATUS_CODE: response.status_code,
            metrics.Tag.STATUS: (
                metrics.Status.FAILED
                if failed or response.status_code >= 400
                else metrics.Status.SUCCEEDED
            ),
        }
        if context:
            tags[metrics.Tag.CONTEXT] = context
        point = metrics.Point(
            "timer", metric=metrics.Metric.HTTP_REQUEST_DURATION, value=seconds, tags=tags
        )
        metrics.log(self.metrics_logger, point)


__all__ = ["AmplitudeStream", "load_schema"]
