"""A local Amplitude emulator for tests, the demo and benchmarks (see README.md)."""

from amplitude_emulator.emulator import Emulator, RequestRecord
from amplitude_emulator.generator import GeneratorSpec
from amplitude_emulator.store import Project

__all__ = ["Emulator", "GeneratorSpec", "Project", "RequestRecord"]
