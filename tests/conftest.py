"""Shared pytest configuration: the local Amplitude emulator fixtures."""

pytest_plugins = ["amplitude_emulator.pytest_plugin"]
