"""``ood-ucb``: UCB weighted toward candidates far from the measured domains.

acquisition = percentile rank of UCB + ``weight`` x percentile rank of the out-of-domain
distance (the Bayesian head's leverage), both among the candidates.

When to use: when the goal is believed to lie outside the known domains and plain UCB
keeps choosing near-duplicates of measured materials. Percentile ranks make the two terms
comparable whatever the units, and robust to a few extreme distances; ``weight = 0`` is
UCB, a large ``weight`` ranks by novelty alone.
"""

from __future__ import annotations

import pandas as pd

from .base import (
    Choice,
    Context,
    Strategy,
    check_non_negative,
    percentile_rank,
    require_columns,
    top,
    ucb,
)

__all__ = ["OODUCB"]


class OODUCB(Strategy):
    """UCB plus a bonus for out-of-domain distance.

    Args:
        beta: UCB weight of the standard deviation (>= 0).
        weight: Weight of the distance's percentile rank (>= 0).
    """

    name = "ood-ucb"

    def __init__(self, beta: float = 2.0, weight: float = 1.0) -> None:
        check_non_negative(self.name, beta=beta, weight=weight)
        self.beta = float(beta)
        self.weight = float(weight)

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``ood_ucb_score``: UCB (LCB to minimize) rank + weight x distance rank."""
        return ("ood_ucb_score", 1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Return the ``q`` best UCB-plus-distance scores."""
        require_columns(candidates, ["domain_distance"], self.name)
        u = percentile_rank(ucb(candidates, ctx.sign, self.beta))
        d = percentile_rank(candidates["domain_distance"].to_numpy(float))
        values = u + self.weight * d
        return [Choice(i, float(values[i]),
                       f"UCB rank {u[i]:.2f} + {self.weight:g} x distance rank {d[i]:.2f}")
                for i in top(values, q)]
