"""Helpers of the tap's unit tests (no server, no subprocess)."""

from __future__ import annotations

import datetime as dt

import requests

UTC = dt.UTC
# The smallest valid tap config (the keys are placeholders).
BASE = {"api_key": "k-123", "secret_key": "s-456"}


def hour(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def fake_response(
    status: int, body: bytes = b"", url: str = "https://amplitude.com/x"
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.request = requests.Request("GET", url).prepare()
    return response
