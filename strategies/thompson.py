"""``thompson``: Thompson sampling from the surrogate's joint posterior.

For each of the q picks, one function is drawn from the joint posterior over a shortlist
(top ``shortlist`` by the screen's cheap acquisition) and its best not-yet-picked
candidate is taken. Joint draws respect correlations between candidates, so near-copies
rise and fall together and the batch spreads out.

When to use: large batches where a parameter-free, naturally diverse selection is wanted
and qLogNEI would be slow. With ``model`` and ``features`` the draws use the Bayesian
head's joint covariance (``model.posterior``); without them, independent draws from the
screen's mean and std (the reason says which). Shortlists longer than ``4 * LANDMARKS``
are drawn through landmarks (:func:`~e2t_discovery.strategies._sampling.landmark_draws`),
without their ``n x n`` covariance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._sampling import (
    LANDMARKS,
    landmark_draws,
    pool_posterior,
    sample_joint,
)
from .base import (
    Choice,
    Context,
    Strategy,
    check_positive,
    shortlist,
)

__all__ = ["Thompson", "pool_posterior", "sample_joint"]


class Thompson(Strategy):
    """Thompson sampling over a shortlist.

    Args:
        shortlist: Candidates (top by the screen's acquisition) the draws cover.
    """

    name = "thompson"
    uses_model = True

    def __init__(self, shortlist: int = 500) -> None:
        check_positive(self.name, shortlist=shortlist)
        self.shortlist = int(shortlist)

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``thompson_draw``: the pick's value in its posterior draw, in the target's unit."""
        return ("thompson_draw", 1.0 if objective == "maximize" else -1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Take the argmax of one posterior draw per pick."""
        pool = shortlist(candidates, max(self.shortlist, q), ctx.sign)
        if ctx.model is not None and ctx.features is not None and len(pool) > 4 * LANDMARKS:
            draws = ctx.sign * landmark_draws(ctx.model.posterior, ctx.features[pool], q,
                                              LANDMARKS, ctx.rng)
            how = f"joint posterior draw ({LANDMARKS} landmarks)"
        else:
            mean, cov, joint = pool_posterior(candidates, pool, ctx)
            how = "joint posterior draw" if joint else "independent draw (no model given)"
            draws = ctx.sign * sample_joint(mean, cov, q, ctx.rng)
        picks: list[Choice] = []
        taken: set[int] = set()
        for k in range(q):
            order = np.argsort(-draws[k], kind="stable")
            j = next(int(j) for j in order if int(j) not in taken)
            taken.add(j)
            picks.append(Choice(pool[j], float(draws[k, j]),
                                f"best of Thompson {how} {k + 1} of {q}"))
        return picks
