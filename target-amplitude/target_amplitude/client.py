"""The HTTP edge: builds request bodies from pre-serialized payloads and posts them.

Events go as JSON (`{"api_key", "events", "options"}`); identifications as a form
(`api_key=...&identification=[...]`). The api_key never leaves this module in a message:
response texts are redacted before anyone else sees them.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

import requests
import requests.adapters

from target_amplitude.endpoints import IngestEndpoint
from target_amplitude.retry_after import parse_retry_after


class TransientError(Exception):
    """A failure worth retrying: 5xx, timeout, dropped connection (status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Response:
    """What Amplitude answered, with the api_key redacted from text and body."""

    status: int
    body: dict[str, t.Any]
    text: str
    retry_after: float | None


def redact(text: str, secret: str) -> str:
    """Replace every occurrence of the secret (and its URL-encoded form) with ***."""
    if not secret:
        return text
    text = text.replace(secret, "***")
    encoded = quote_from_bytes(secret.encode(), safe="")
    return text.replace(encoded, "***") if encoded != secret else text


def quote_item(payload_json: bytes) -> bytes:
    """One identification as it appears inside the form-encoded identification array."""
    return quote_from_bytes(payload_json, safe="").encode("ascii")


class IngestClient:
    """Posts batches to one ingestion base URL through a pooled session."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        pool_size: int,
        connect_timeout: float,
        read_timeout: float,
        min_id_length: int | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=max(pool_size, 1), max_retries=0
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "target-amplitude"
        key_json = json.dumps(api_key).encode()
        options = (
            b',"options":{"min_id_length":' + str(min_id_length).encode() + b"}"
            if min_id_length
            else b""
        )
        self._json_head = b'{"api_key":' + key_json + b',"events":['
        self._json_tail = b"]" + options + b"}"
        self._form_head = (
            b"api_key="
            + quote_from_bytes(api_key.encode(), safe="").encode()
            + b"&identification=%5B"
        )
        self._form_tail = b"%5D"

    def envelope_size(self, endpoint: IngestEndpoint) -> int:
        """Bytes a request adds around its items."""
        if endpoint.form:
            return len(self._form_head) + len(self._form_tail)
        return len(self._json_head) + len(self._json_tail)

    def body(self, endpoint: IngestEndpoint, items: t.Sequence[bytes]) -> bytes:
        """The request body for these wire-form items (built in one copy: bodies are MBs)."""
        head, sep, tail = (
            (self._form_head, b"%2C", self._form_tail)
            if endpoint.form
            else (self._json_head, b",", self._json_tail)
        )
        if not items:
            return head + tail
        parts = [sep] * (2 * len(items) + 1)  # head, item, sep, item, ..., item, tail
        parts[1::2] = items
        parts[0], parts[-1] = head, tail
        return b"".join(parts)

    def post(self, endpoint: IngestEndpoint, items: t.Sequence[bytes]) -> Response:
        """POST one request; raise TransientError for 5xx and transport failures."""
        content_type = "application/x-www-form-urlencoded" if endpoint.form else "application/json"
        try:
            resp = self._session.post(
                self.base_url + endpoint.path,
                data=self.body(endpoint, items),
                headers={"Content-Type": content_type, "Accept": "*/*"},
                timeout=self._timeout,
            )
            text = resp.text
        except requests.RequestException as exc:
            msg = f"{endpoint.path}: {type(exc).__name__}: {redact(str(exc), self._api_key)}"
            raise TransientError(msg) from None
        text = redact(text, self._api_key)
        if resp.status_code >= 500:
            msg = f"{endpoint.path}: HTTP {resp.status_code} {text[:200]}"
            raise TransientError(msg, resp.status_code)
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        return Response(
            status=resp.status_code,
            body=body if isinstance(body, dict) else {},
            text=text,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()
