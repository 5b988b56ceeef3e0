"""The benchmarks alternate their contenders in a balanced order (benchmarks/README.md, Order)."""

from __future__ import annotations

import statistics

from benchmarks.rounds import paired_ratio, round_order


def test_every_other_round_runs_the_contenders_in_reverse() -> None:
    ran = [name for number in range(1, 5) for name in round_order(["A", "B", "C"], number)]
    assert "".join(ran) == "ABCCBAABCCBA"
    assert round_order(("x",), 2) == ["x"]


def test_a_ratio_round_by_round_cancels_the_machine_slowing_down() -> None:
    # B is 10% slower than A in every round; the machine halves its speed after round 2.
    a = [100.0, 100.0, 50.0, 50.0, 50.0]
    b = [90.0, 90.0, 45.0, 45.0, 45.0]
    assert paired_ratio(a, b) == 100 / 90
    b_later = [90.0, 90.0, 90.0, 45.0, 45.0]  # B's third run met the machine before it slowed
    assert paired_ratio(a, b_later) == 100 / 90
    assert statistics.median(a) / statistics.median(b_later) < 0.6  # the medians' ratio: lost
    assert paired_ratio([1.0, 3.0], [2.0, 1.0]) == (0.5 + 3.0) / 2
