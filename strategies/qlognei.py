"""``qlognei``: BoTorch qLogNoisyExpectedImprovement, batch chosen by sequential greedy.

The joint posterior of the surrogate (through its BoTorch adapter, ``to_botorch()``)
over a shortlist (top ``shortlist`` candidates by the screen's cheap acquisition) and the
measured materials (the noisy baseline) feeds qLogNEI; ``optimize_acqf_discrete`` builds
the batch one pick at a time, each conditioned on the picks before it, so the batch is
diverse: a candidate highly correlated with an earlier pick adds little improvement.

When to use: batches (q > 1) where redundancy matters and measurements are noisy; the
default for E2T campaigns once a few measurements exist. Costs a few seconds per batch.
Shortlists longer than ``INDEXED_ABOVE`` are scored on one joint posterior over shortlist
and baseline computed up front (same posterior; no GP call per candidate set).
Needs ``model``, the candidates' ``features`` and ``measured_features``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import GenericMCObjective
from botorch.acquisition.utils import prune_inferior_points
from botorch.optim import optimize_acqf_discrete
from botorch.sampling import SobolQMCNormalSampler

from e2t_discovery.exceptions import StrategyError

from ._botorch import as_tensor, botorch_model, match_rows
from ._indexed import IndexedJointModel
from .base import (
    Choice,
    Context,
    Strategy,
    check_positive,
    shortlist,
)

__all__ = ["QLogNEI", "INDEXED_ABOVE"]

#: Shortlists longer than this are scored on one precomputed joint posterior
#: (:class:`~e2t_discovery.strategies._indexed.IndexedJointModel`) instead of the
#: surrogate's BoTorch model, which recomputes a GP posterior for every candidate set.
INDEXED_ABOVE = 500


class QLogNEI(Strategy):
    """Batch noisy expected improvement (log form) with sequential greedy selection.

    Args:
        shortlist: Candidates (top by the screen's acquisition) the batch is chosen from.
        mc_samples: Quasi-Monte-Carlo samples of the joint posterior.
        max_batch_size: Choices evaluated per forward pass (bounds memory).
    """

    name = "qlognei"
    uses_model = True
    needs_model = True

    def __init__(self, shortlist: int = 200, mc_samples: int = 256,
                 max_batch_size: int = 32) -> None:
        check_positive(self.name, shortlist=shortlist, mc_samples=mc_samples,
                       max_batch_size=max_batch_size)
        self.shortlist = int(shortlist)
        self.mc_samples = int(mc_samples)
        self.max_batch_size = int(max_batch_size)

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``qlog_nei``: the pick's qLogNEI given the picks before it (either direction)."""
        return ("qlog_nei", 1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Run qLogNEI + sequential greedy on the shortlist."""
        if ctx.measured_features is None or len(ctx.measured_features) == 0:
            raise StrategyError("strategy 'qlognei' needs the measured materials' features "
                                "(measured_features=) as its noisy baseline")
        assert ctx.features is not None and ctx.model is not None  # needs_model
        pool = shortlist(candidates, max(self.shortlist, q), ctx.sign)
        if len(pool) > INDEXED_ABOVE:  # one joint posterior, indexed (see _indexed)
            joint = np.concatenate([ctx.features[pool], ctx.measured_features])
            mean, cov = ctx.model.posterior(joint)
            model = IndexedJointModel(mean, cov, ctx.model.noise_std**2)
            choices = torch.arange(len(pool), dtype=torch.float64).unsqueeze(-1)
            measured_x = torch.arange(len(pool), len(joint), dtype=torch.float64).unsqueeze(-1)
        else:
            choices = as_tensor(ctx.features[pool])
            model = botorch_model(ctx.model, self.name)
            measured_x = as_tensor(ctx.measured_features)
        sign = ctx.sign
        def signed(samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
            return sign * samples[..., 0]

        objective = GenericMCObjective(signed)
        seed, prune_seed = (int(s) for s in ctx.rng.integers(2**31, size=2))
        # Drop baseline points that are never the best (seeded, so batches reproduce).
        baseline = prune_inferior_points(
            model, measured_x, objective=objective,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]),
                                          seed=prune_seed))
        acqf = qLogNoisyExpectedImprovement(
            model=model, X_baseline=baseline,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]),
                                          seed=seed),
            objective=objective, prune_baseline=False, cache_root=False)
        chosen, values = optimize_acqf_discrete(
            acqf, q=q, choices=choices, max_batch_size=self.max_batch_size, unique=True)
        rows = match_rows(chosen, choices)
        gains = np.atleast_1d(values.detach().numpy())
        return [Choice(pool[r], float(gains[k]),
                       f"qLogNEI pick {k + 1} of {q} (sequential greedy over "
                       f"{len(pool)} shortlisted)") for k, r in enumerate(rows)]
