"""``greedy``: the q candidates with the best predicted mean.

When to use: exploitation only — late in a campaign, when the model is trusted on the
candidates' domains and the budget is nearly spent. It ignores uncertainty, so it keeps
proposing look-alikes of what is already known to be good.
"""

from __future__ import annotations

import pandas as pd

from .base import Choice, Context, Strategy, top

__all__ = ["Greedy"]


class Greedy(Strategy):
    """Pick by posterior mean (``sign * mean``), best first."""

    name = "greedy"

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """None: the file's ``mean`` is what greedy ranks by."""
        return None

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Return the ``q`` best predicted means."""
        values = ctx.sign * candidates["mean"].to_numpy(float)
        return [Choice(i, float(values[i]), "highest predicted mean" if ctx.sign > 0
                       else "lowest predicted mean") for i in top(values, q)]
