"""``thompson``: Thompson sampling from the surrogate's joint posterior.

For each of the q picks, one function is drawn from the joint posterior over a shortlist
(top ``shortlist`` by the screen's cheap acquisition) and its best not-yet-picked
candidate is taken. Joint draws respect correlations between candidates, so near-copies
rise and fall together and the batch spreads out.

When to use: large batches where a parameter-free, naturally diverse selection is wanted
and qLogNEI would be slow. With ``model`` and ``features`` the draws use the Bayesian
head's joint covariance (``model.posterior``); without them, independent draws from the
screen's mean and std (the reason says which).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from e2t_discovery.strategies.base import (
    Choice,
    Context,
    Strategy,
    check_positive,
    shortlist,
)

__all__ = ["Thompson", "pool_posterior", "sample_joint"]


def sample_joint(mean: np.ndarray, cov: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` samples (``n x k``) from ``N(mean, cov)``; a singular ``cov`` is fine.

    Uses the symmetric eigendecomposition with negative eigenvalues (round-off) set to 0,
    since a Bayesian linear head's covariance has rank at most embedding width + 1.
    """
    w, V = np.linalg.eigh((cov + cov.T) / 2)
    root = V * np.sqrt(np.clip(w, 0.0, None))
    return mean[None, :] + rng.standard_normal((n, len(mean))) @ root.T


def pool_posterior(candidates: pd.DataFrame, pool: list[int],
                   ctx: Context) -> tuple[np.ndarray, np.ndarray, bool]:
    """Mean ``k`` and covariance ``k x k`` of the candidates at ``pool``, and whether joint.

    The model's joint posterior when ``ctx`` has the model and features; else independent
    normals from the frame's ``mean`` and ``std`` (``joint`` False).
    """
    if ctx.model is not None and ctx.features is not None:
        mean, cov = ctx.model.posterior(ctx.features[pool])
        return np.asarray(mean, float), np.asarray(cov, float), True
    std = candidates["std"].to_numpy(float)[pool]
    return candidates["mean"].to_numpy(float)[pool], np.diag(std**2), False


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
