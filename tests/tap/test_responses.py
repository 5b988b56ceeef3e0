"""Unit tests of tap_amplitude.responses: what the tap does with each answer of each API (the
response table)."""

from __future__ import annotations

import pytest
from tap_amplitude.api import ApiPath
from tap_amplitude.responses import Action, classify

from tests.tap.units import fake_response

_INVALID_KEY = (
    b'{"error":{"http_code":403,"type":"unspecified","message":"Unspecified Error",'
    b'"metadata":{"details":"Invalid API Key"}}}'
)


@pytest.mark.parametrize(
    ("path", "status", "body", "url", "action"),
    [
        (ApiPath.EXPORT, 200, b"", "", None),
        (ApiPath.EXPORT, 404, b"", "", Action.TOLERATE),
        (ApiPath.EXPORT, 504, b"", "", Action.RETRY),
        (ApiPath.EXPORT, 400, b"Request exceeds 4GB", "", Action.HALVE),
        (ApiPath.EXPORT, 400, b'{"error": "Invalid start"}', "", Action.FAIL),
        (ApiPath.EXPORT, 401, b"", "", Action.AUTH),
        (ApiPath.COHORTS, 403, b"", "", Action.TOLERATE),
        (ApiPath.COHORTS, 402, b"", "", Action.TOLERATE),
        # a bad key answers 403 "Invalid API Key": never mistaken for a plan gate
        (ApiPath.COHORTS, 403, _INVALID_KEY, "", Action.AUTH),
        (ApiPath.COHORT_REQUEST, 403, b"", "", Action.TOLERATE),
        (ApiPath.COHORT_REQUEST, 403, _INVALID_KEY, "", Action.AUTH),
        (ApiPath.COHORT_REQUEST, 404, b"", "", Action.SKIP),
        (ApiPath.COHORT_STATUS, 503, b"", "", Action.RETRY),
        (ApiPath.COHORT_S3_FILE, 403, b"<Error>Request has expired</Error>", "", Action.RETRY),
        (ApiPath.TAXONOMY_CATEGORY, 404, b"", "", Action.TOLERATE),
        (ApiPath.TAXONOMY_EVENT_PROPERTY, 400, b"", "", Action.SKIP),
        (ApiPath.TAXONOMY_EVENT, 400, b"", "", Action.FAIL),
        (ApiPath.TAXONOMY_USER_PROPERTY, 429, b"", "", Action.RETRY),
        (ApiPath.EVENTS_LIST, 403, b"", "", Action.AUTH),
        (ApiPath.EVENTS_LIST, 429, b"", "", Action.RETRY),
        (ApiPath.EVENTS_LIST, 501, b"", "", Action.FAIL),  # only 429/500/502/503/504 retry
        (ApiPath.ACTIVE_USERS, 400, b"", "?g=country", Action.FAIL),
        (ApiPath.ACTIVE_USERS, 400, b"", "?m=active", Action.FAIL),
        (ApiPath.ANNOTATIONS_V3, 404, b"", "", Action.FALLBACK),
        (ApiPath.ANNOTATIONS_V2, 404, b"", "", Action.FAIL),
    ],
)
def test_the_response_table(
    path: ApiPath, status: int, body: bytes, url: str, action: Action | None
) -> None:
    rule = classify(path, fake_response(status, body, "https://amplitude.com/x" + url))
    assert (rule.action if rule else None) == action
    if path is ApiPath.ACTIVE_USERS:
        assert bool(rule and rule.fix) == ("g=country" in url)  # names the setting to change
    if action is Action.RETRY and path is ApiPath.EXPORT:
        assert rule is not None
        assert rule.max_attempts == 3
