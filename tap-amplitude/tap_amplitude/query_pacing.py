"""Pay a Dashboard REST query's cost from the run's hourly budget before sending it.

The budget (:class:`tap_amplitude.pacing.CostBudget`, setting ``dashboard_cost_per_hour``) is
shared by every chart and dashboard query of a run. When the last hour's budget is spent the
tap waits, and says so, instead of being refused: pacing never fails a run.
"""

from __future__ import annotations

import logging

from tap_amplitude.pacing import CostBudget

__all__ = ["pay"]


def pay(budget: CostBudget, cost: int, logger: logging.Logger, what: str) -> float:
    """Spend ``cost`` units of ``budget`` (waiting as needed); returns the seconds waited."""
    waited = 0.0
    for _ in range(cost):
        if not waited:
            ahead = budget.wait_needed()
            if ahead > 0:
                logger.info(
                    "%s costs %d: the Dashboard REST budget of %d cost per hour (setting "
                    "dashboard_cost_per_hour) is spent; waiting %.0fs for it to free up",
                    what,
                    cost,
                    budget.per_hour,
                    ahead,
                )
        waited += budget.spend()
    if waited:
        logger.info("%s: waited %.0fs in all to stay within the hourly budget", what, waited)
    return waited
