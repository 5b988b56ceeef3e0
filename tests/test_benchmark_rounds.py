"""The benchmarks alternate their contenders in a balanced order (benchmarks/README.md, Order)."""

from __future__ import annotations

from benchmarks.rounds import round_order


def test_every_other_round_runs_the_contenders_in_reverse() -> None:
    ran = [name for number in range(1, 5) for name in round_order(["A", "B", "C"], number)]
    assert "".join(ran) == "ABCCBAABCCBA"
    assert round_order(("x",), 2) == ["x"]
