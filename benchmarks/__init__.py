"""Benchmark scripts: our tap and target side by side with floors and the official SDK.

Run from the repository root, e.g. ``.venv/bin/python -m benchmarks.bench_tap``.
"""
