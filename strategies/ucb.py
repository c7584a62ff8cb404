"""``ucb``: upper confidence bound, ``mean + beta * std`` (``-mean + beta * std`` to minimize).

When to use: the default. One knob trades exploitation (small ``beta``) for exploration
(large ``beta``); cheap, so it works on a whole screen. It picks the batch independently
(no joint posterior), so with a large ``q`` the picks can be redundant — use ``qlognei``
or ``thompson`` for diverse batches.
"""

from __future__ import annotations

import pandas as pd

from .base import (
    Choice,
    Context,
    Strategy,
    check_non_negative,
    top,
    ucb,
)

__all__ = ["UCB"]


class UCB(Strategy):
    """Upper confidence bound.

    Args:
        beta: Weight of the predictive standard deviation (>= 0).
    """

    name = "ucb"

    def __init__(self, beta: float = 2.0) -> None:
        check_non_negative(self.name, beta=beta)
        self.beta = float(beta)

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``ucb`` (mean + beta std) to maximize, ``lcb`` (mean - beta std) to minimize."""
        return ("ucb", 1.0) if objective == "maximize" else ("lcb", -1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Return the ``q`` largest UCB values."""
        values = ucb(candidates, ctx.sign, self.beta)
        return [Choice(i, float(values[i]), f"top UCB (beta={self.beta:g})")
                for i in top(values, q)]
