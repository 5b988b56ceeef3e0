"""The benchmarks alternate their contenders in a balanced order (benchmarks/README.md, Order)."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.common import Sample, round_order, run_rounds


def test_every_other_round_runs_the_contenders_in_reverse() -> None:
    ran: list[str] = []

    def contender(name: str) -> tuple[str, Callable[[], Sample]]:
        def run() -> Sample:
            ran.append(name)
            return Sample(records=1, wall_s=1.0, peak_rss_mb=1.0, cpu_s=1.0)

        return name, run

    series = run_rounds([contender("A"), contender("B"), contender("C")], 4)
    assert ran == list("ABCCBAABCCBA")
    assert {name: len(s.samples) for name, s in series.items()} == {"A": 4, "B": 4, "C": 4}
    assert round_order(["x", "y"], 1) == ["x", "y"]
    assert round_order(["x", "y"], 2) == ["y", "x"]
