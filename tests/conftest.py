"""Shared pytest configuration: the local Amplitude emulator's fixtures (``emulator``,
``emulator_factory``, from amplitude_emulator.pytest_plugin) and the suite's shared ones.

Servers start in fixtures, never when a module is imported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from amplitude_emulator import Emulator

pytest_plugins = ["amplitude_emulator.pytest_plugin"]


@pytest.fixture(autouse=True)
def _own_working_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test runs in a folder of its own: files a plugin writes relative to its working
    directory by default (target-amplitude's sync ledger, .target-amplitude/ledger.sqlite, its
    rejected-records.jsonl) are never shared by tests running side by side."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="module")
def empty_emulator() -> Iterator[Emulator]:
    """One emulator for a test module: key-std/secret-std (standard, project 187520) and
    key-eu/secret-eu (EU, project 287520), both without data; the target's destination.
    Take ``clean_emulator`` in a test that reads what was stored."""
    emulator = Emulator()
    emulator.add_project("key-std", "secret-std", region="standard", project_id=187520)
    emulator.add_project("key-eu", "secret-eu", region="eu", project_id=287520)
    with emulator:
        yield emulator


@pytest.fixture
def clean_emulator(empty_emulator: Emulator) -> Emulator:
    """``empty_emulator`` with nothing stored, no request logged and no fault set."""
    empty_emulator.reset(data=True)
    return empty_emulator
