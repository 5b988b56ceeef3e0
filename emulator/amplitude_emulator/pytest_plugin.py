"""pytest fixtures: ``emulator`` (a started, seeded emulator) and ``emulator_factory``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from amplitude_emulator.emulator import Emulator
from amplitude_emulator.generator import GeneratorSpec

FIXTURE_CLOCK = datetime(2026, 1, 3, tzinfo=UTC)
FIXTURE_SPEC = GeneratorSpec(seed=7, events=2000, start="2026-01-01T00", hours=24)

EmulatorFactory = Callable[..., Emulator]


def build_default_emulator(
    spec: GeneratorSpec | None = FIXTURE_SPEC, **emulator_args: Any
) -> Emulator:
    """The default projects: ``key-std`` (standard, generated data), ``key-eu`` (EU, empty)."""
    emulator = Emulator(**emulator_args)
    emulator.add_project("key-std", "secret-std", region="standard", project_id=187520, spec=spec)
    emulator.add_project("key-eu", "secret-eu", region="eu", project_id=287520)
    emulator.clock = FIXTURE_CLOCK
    return emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started emulator: key-std/secret-std (2,000 events over 24 h from 2026-01-01T00, seed 7)
    and key-eu/secret-eu (EU, empty); clock 2026-01-03T00:00:00Z. Stopped after the test."""
    emu = build_default_emulator().start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """``emulator_factory(projects=[{...add_project kwargs, "spec": GeneratorSpec}], clock=...,
    start=True)`` -> Emulator. With no ``projects``, the two default projects (``spec`` then
    overrides the generated data of key-std). Every emulator built is stopped after the test."""
    built: list[Emulator] = []

    def factory(
        projects: list[dict[str, Any]] | None = None,
        *,
        spec: GeneratorSpec | None = FIXTURE_SPEC,
        clock: datetime | None = FIXTURE_CLOCK,
        start: bool = True,
        **emulator_args: Any,
    ) -> Emulator:
        if projects is None:
            emu = build_default_emulator(spec, **emulator_args)
        else:
            emu = Emulator(**emulator_args)
            for project in projects:
                emu.add_project(**project)
        emu.clock = clock
        built.append(emu)
        return emu.start() if start else emu

    try:
        yield factory
    finally:
        for emu in built:
            emu.stop()
