"""Small client helpers for the emulator's own tests."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from typing import Any

import requests

STD_AUTH = ("key-std", "secret-std")


def export(base: str, start: str, end: str, auth: tuple[str, str] = STD_AUTH) -> requests.Response:
    return requests.get(
        f"{base}/api/2/export", params={"start": start, "end": end}, auth=auth, timeout=30
    )


def unzip_events(body: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """Entry names and the events of an export body, in order."""
    events: list[dict[str, Any]] = []
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        for name in names:
            if name.endswith("/"):
                continue
            for line in gzip.decompress(archive.read(name)).decode().splitlines():
                events.append(json.loads(line))
    return names, events


def batch(
    base: str,
    events: list[dict[str, Any]],
    path: str = "/batch",
    api_key: str = "key-std",
    **extra: Any,
) -> requests.Response:
    return requests.post(
        f"{base}{path}", json={"api_key": api_key, "events": events, **extra}, timeout=30
    )


def identify(
    base: str, identification: Any, path: str = "/identify", api_key: str = "key-std"
) -> requests.Response:
    return requests.post(
        f"{base}{path}",
        data={"api_key": api_key, "identification": json.dumps(identification)},
        timeout=30,
    )
