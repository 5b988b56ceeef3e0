"""Pay a Dashboard REST query's cost from the run's budgets before sending it.

Two limits apply per project (Dashboard REST API docs, Endpoint costs): "Concurrent Limit: Up to
1000 cost within a five minute period" and "Rate Limit: Up to 108,000 cost per hour". The run
keeps one :class:`tap_amplitude.pacing.CostBudget` for each, shared by every chart and dashboard
query: the hourly one at ``dashboard_cost_per_hour``, the other over a sliding five minutes. When
a budget is spent the tap waits, and says so, instead of being refused: pacing never fails a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tap_amplitude.pacing import CostBudget

__all__ = ["FIVE_MINUTES", "HOUR", "Window", "pay"]

HOUR = 3600.0
FIVE_MINUTES = 300.0


@dataclass(frozen=True)
class Window:
    """A cost budget over a sliding window of ``seconds``."""

    budget: CostBudget
    seconds: float
    label: str  # how the log names the limit

    @classmethod
    def of(
        cls,
        cost: int,
        seconds: float,
        label: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Window:
        """``cost`` per sliding ``seconds``."""
        return cls(CostBudget(cost, window=seconds, clock=clock, sleep=sleep), seconds, label)


def pay(windows: Sequence[Window], cost: int, logger: logging.Logger, what: str) -> float:
    """Spend ``cost`` units of every window's budget (waiting as needed); returns the real
    seconds waited."""
    waited = 0.0
    for window in windows:
        budget = window.budget
        announced = False
        for _ in range(cost):
            if not announced:
                ahead = budget.wait_needed()
                if ahead > 0:
                    announced = True
                    logger.info(
                        "%s costs %d: the Dashboard REST budget of %s is spent; waiting %.0fs "
                        "for it to free up",
                        what,
                        cost,
                        window.label,
                        ahead,
                    )
            waited += budget.spend()
    if waited:
        logger.info("%s: waited %.0fs in all to stay within the query cost limits", what, waited)
    return waited
