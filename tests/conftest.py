"""Shared pytest configuration: the local Amplitude emulator fixtures."""

pytest_plugins = ["tests.emulator.pytest_plugin"]
