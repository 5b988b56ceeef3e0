"""Fixtures of the tap's tests.

``emu``: the module's emulator, ``make_emulator(**EMULATOR)`` with the test module's ``EMULATOR``
dict (make_emulator's arguments; its defaults when the module has none), started once per module.
``cli_emulator``/``cli_config``: the small emulator (300 events) and config of the command-line
tests and the SDK's standard tap tests (test_cli.py, test_core.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from amplitude_emulator.user_admin import DeletionJob

from tests.tap.helpers import KEY, Emulator, base_config, make_emulator


@pytest.fixture(scope="module")
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    arguments: dict[str, Any] = getattr(request.module, "EMULATOR", {})
    emulator = make_emulator(**arguments)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def cli_emulator() -> Iterator[Emulator]:
    emulator = make_emulator(events=300)
    # One deletion job (of an id no event has: the exports stay as generated), so that the
    # standard tests find a record in deletion_jobs.
    day = dt.date(2026, 1, 12)
    entry = {"amplitude_id": 999_999_999, "requester": "privacy@example.com"}
    emulator.project(KEY).admin.jobs[day] = DeletionJob(day, [entry])
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def cli_config(cli_emulator: Emulator) -> dict:
    return base_config(cli_emulator)
