"""Fixtures of the conformance suite: the official SDK on /2/httpapi and on /batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from amplitude_emulator import Emulator

from tests.conformance.sdk_client import SdkClient


@pytest.fixture(params=[False, True], ids=["httpapi", "batch"])
def use_batch(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def sdk_factory(emulator: Emulator, use_batch: bool) -> Iterator[Callable[..., SdkClient]]:
    clients: list[SdkClient] = []

    def make(**kwargs: Any) -> SdkClient:
        client = SdkClient(emulator.base_url, use_batch=use_batch, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sdk(sdk_factory: Callable[..., SdkClient]) -> SdkClient:
    return sdk_factory()
