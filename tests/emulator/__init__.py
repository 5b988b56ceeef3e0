"""A local Amplitude emulator for tests, the demo and benchmarks (see README.md)."""

from tests.emulator.emulator import Emulator, RequestRecord
from tests.emulator.generator import GeneratorSpec
from tests.emulator.store import Project

__all__ = ["Emulator", "GeneratorSpec", "Project", "RequestRecord"]
