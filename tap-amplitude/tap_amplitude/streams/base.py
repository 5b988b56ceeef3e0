"""What every stream shares: its schema file and the tap's one HTTP client."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream

if TYPE_CHECKING:
    from tap_amplitude.client import AmplitudeClient
    from tap_amplitude.settings import Settings
    from tap_amplitude.tap import TapAmplitude


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON schema shipped in ``tap_amplitude/schemas/<name>.json``."""
    text = resources.files("tap_amplitude").joinpath("schemas", f"{name}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


class AmplitudeStream(Stream):
    """A stream whose schema is a packaged file and whose HTTP goes through the tap's client."""

    def __init__(self, tap: TapAmplitude) -> None:
        super().__init__(tap, schema=json.loads(json.dumps(load_schema(self.name))))
        self._amplitude_tap = tap

    @property
    def client(self) -> AmplitudeClient:
        """The tap's HTTP client (one session, one retry policy, one semaphore)."""
        return self._amplitude_tap.client

    @property
    def settings(self) -> Settings:
        """The validated settings."""
        return self._amplitude_tap.settings
