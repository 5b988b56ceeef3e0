"""The order contenders run in, round by round (no third-party import: the test suite imports it
without the benchmarks' dependency group)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def round_order(items: Sequence[T], round_number: int) -> list[T]:
    """The contenders' order in a round (1-based): as given in odd rounds, reversed in even
    ones (A B C, C B A, A B C, ...). With one order every round, the first contender always ran
    first: on a machine whose speed drifts (a shared host) that slot was systematically faster
    or slower (2026-12-07: the working tree, always first, ran at 0.85-0.89x of f2a13ef in
    bench_pipe; in this order, 1.02-1.06x)."""
    return list(items) if round_number % 2 else list(reversed(items))


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of each round's own ratio a / b (a contender's figures, round by round: each
    round runs every contender once, back to back). On a shared machine whose speed drifts over
    minutes the runs of one round met the same machine, where the medians of two series may
    come from different rounds (2026-12-08: single runs swung by up to 40%)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))
