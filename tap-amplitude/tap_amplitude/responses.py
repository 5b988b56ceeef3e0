"""One table: endpoint x HTTP status -> what the tap does (pure; no I/O).

:meth:`tap_amplitude.streams.base.AmplitudeStream.validate_response` is the only place that
acts on it. The first matching row wins, so the order of :data:`RULES` is part of the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

import msgspec
import requests

from tap_amplitude.api import COHORT_DOWNLOAD_PATHS, TAXONOMY_PATHS, ApiPath

__all__ = ["RETRYABLE_STATUSES", "RULES", "Action", "Rule", "classify", "error_detail"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
EXPORT_504_ATTEMPTS = 3  # then the window is halved


class Action(StrEnum):
    """What a response leads to."""

    RETRY = "retry"  # transient: the SDK's backoff decorator retries it
    HALVE = "halve"  # the export window is too large: it is split in two
    TOLERATE = "tolerate"  # not an error for this endpoint: no records (logged when `fix`)
    FALLBACK = "fallback"  # read another endpoint instead
    SKIP = "skip"  # one item (a cohort, an event type) is gone: skip it, the stream goes on
    AUTH = "auth"  # fatal: credentials or region
    FAIL = "fail"  # fatal: retrying cannot fix it


def error_detail(response: requests.Response) -> str:
    """The human part of an Amplitude error body (never the request's credentials)."""
    text = response.text[:2000] if response.content else ""
    try:
        body = msgspec.json.decode(text) if text else None
    except msgspec.DecodeError:
        return text.strip()[:300] or response.reason or ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("type") or ""
            metadata = error.get("metadata")
            details = metadata.get("details") if isinstance(metadata, dict) else None
            return f"{message}: {details}" if details else str(message)
        if error:
            return str(error)
        if body.get("message"):
            return str(body["message"])
    return text.strip()[:300]


def _export_too_large(response: requests.Response) -> bool:
    # "Invalid ..." is a malformed request (a bug), anything else is Amplitude's 4 GB limit.
    return not error_detail(response).lower().startswith("invalid")


def _not_bad_credentials(response: requests.Response) -> bool:
    # A bad key answers 403 "Invalid API Key" on the read side (live curls): never a plan gate.
    return "invalid api key" not in error_detail(response).lower()


def _grouped_by_country(response: requests.Response) -> bool:
    url = response.request.url if response.request is not None else None
    return "g" in parse_qs(urlsplit(url or "").query)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: on ``paths`` (None: any) answering one of ``statuses`` (and ``when``), do
    ``action``; ``fix`` is the sentence telling the user what it means or what to change."""

    paths: frozenset[ApiPath] | None
    statuses: frozenset[int]
    action: Action
    fix: str = ""
    when: Callable[[requests.Response], bool] | None = None
    max_attempts: int | None = None  # a lower attempt limit for this row (then: halve)

    def matches(self, path: ApiPath, response: requests.Response) -> bool:
        """Whether this row applies to ``response`` from ``path``."""
        return (
            (self.paths is None or path in self.paths)
            and response.status_code in self.statuses
            and (self.when is None or self.when(response))
        )


_EXPORT = frozenset({ApiPath.EXPORT})
COHORTS_FIX = (
    "The Behavioral Cohorts add-on (Audiences) is probably not on this project's plan, or the "
    "key lacks permission for it."
)
TAXONOMY_FIX = "The Taxonomy API needs an Enterprise plan: Amplitude answers 404 to other plans."
DELETIONS_FIX = (
    "The key may read this project's data but not its User Privacy API deletion jobs; "
    "deselect deletion_jobs, or use a key with that permission."
)
RULES: tuple[Rule, ...] = (
    Rule(_EXPORT, frozenset({404}), Action.TOLERATE),  # an empty window
    Rule(_EXPORT, frozenset({504}), Action.RETRY, max_attempts=EXPORT_504_ATTEMPTS),
    Rule(_EXPORT, frozenset({400}), Action.HALVE, when=_export_too_large),
    Rule(
        frozenset({ApiPath.COHORTS}),
        frozenset({400, 402, 403, 404}),
        Action.TOLERATE,
        COHORTS_FIX,
        when=_not_bad_credentials,
    ),
    Rule(
        frozenset({ApiPath.COHORT_REQUEST}),
        frozenset({404}),
        Action.SKIP,
        "The cohort was deleted after it was listed; it is skipped.",
    ),
    Rule(
        COHORT_DOWNLOAD_PATHS,
        frozenset({402, 403}),
        Action.TOLERATE,
        COHORTS_FIX,
        when=_not_bad_credentials,
    ),
    # S3 answers 403 "Request has expired" once its one-minute link is used too late: retried
    # with a new link from /file (valid seven days).
    Rule(frozenset({ApiPath.COHORT_S3_FILE}), frozenset({400, 403, 404}), Action.RETRY),
    Rule(
        frozenset({ApiPath.TAXONOMY_EVENT_PROPERTY}),
        frozenset({400}),
        Action.SKIP,
        "The event type was deleted after it was listed; its properties are skipped.",
    ),
    Rule(TAXONOMY_PATHS, frozenset({404}), Action.TOLERATE, TAXONOMY_FIX),
    Rule(
        frozenset({ApiPath.DELETIONS}),
        frozenset({403}),
        Action.TOLERATE,
        DELETIONS_FIX,
        when=_not_bad_credentials,
    ),
    Rule(None, frozenset({401, 403}), Action.AUTH),
    Rule(
        None,
        RETRYABLE_STATUSES,
        Action.RETRY,
        "Amplitude may be degraded; rerun later or raise `max_attempts` / `max_retry_time`.",
    ),
    Rule(
        frozenset({ApiPath.ACTIVE_USERS}),
        frozenset({400}),
        Action.FAIL,
        "Set the setting `active_users_group_by_country` to false to read the stream without "
        "grouping.",
        when=_grouped_by_country,
    ),
    Rule(
        frozenset({ApiPath.ANNOTATIONS_V3}),
        frozenset({404}),
        Action.FALLBACK,
        f"reading the legacy {ApiPath.ANNOTATIONS_V2.value}",
    ),
    Rule(None, frozenset(range(400, 600)), Action.FAIL),
)


def classify(path: ApiPath, response: requests.Response) -> Rule | None:
    """The first row of :data:`RULES` for ``response``; None for a success (below 400)."""
    if response.status_code < 400:
        return None
    return next(rule for rule in RULES if rule.matches(path, response))
